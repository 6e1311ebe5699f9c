#!/usr/bin/env bash
# Tests the installers for real, on a throwaway Debian machine, as root: builds both .debs from
# the debug binaries already in $CARGO_TARGET_DIR (installers/deb/build.sh, FDT_DEB_PROFILE=dev),
# checks their metadata and contents, installs them with apt, runs what they installed, runs
# install-agent.sh into a temporary root, then removes and purges the packages; last,
# `fdt service` against a real systemd (installers/service-test.sh).
#
# Needs: $CARGO_TARGET_DIR/debug/fdt, fdt-desktop and fdt-cloud built (the test suite builds
# them) and the UI bundle in $CARGO_TARGET_DIR/site (scripts/build-ui.sh; built here when
# missing). About 25 s on a warm target dir. Every check runs; the failures are listed at the end.
# `cond && ok … || fail …` is used throughout: ok only prints, so fail runs exactly when cond fails.
# shellcheck disable=SC2015
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
export FDT_DEB_PROFILE=dev

failures=()
fail() { failures+=("$*"); printf 'installers/test.sh: FAIL: %s\n' "$*" >&2; }
ok() { printf '  ok: %s\n' "$*"; }
die() { printf 'installers/test.sh: FAIL: %s\n' "$*" >&2; exit 1; }
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=900 "$@"; }

[ "$(id -u)" -eq 0 ] || die "run as root: the test installs and removes the packages"
for bin in fdt fdt-desktop fdt-relay fdt-cloud; do
  [ -x "$CARGO_TARGET_DIR/debug/$bin" ] ||
    die "$CARGO_TARGET_DIR/debug/$bin is missing: build the workspace first (cargo build --workspace)"
done
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  apt_get update -qq && apt_get install -qq "${need[@]}"
fi

work=$(mktemp -d)
installed=false
cleanup() {
  local rc=$?
  if $installed; then
    # Whatever happened above, leave the machine without our packages.
    dpkg --purge fdt-desktop fdt-agent fdt-relay fdt-cloud >/dev/null 2>&1 || true
  fi
  for pid in "${agent_pid:-}" "${server_pid:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# --- Build -----------------------------------------------------------------------------------
echo "==> building the packages (installers/deb/build.sh, profile dev)"
built=$(installers/deb/build.sh all) || die "installers/deb/build.sh failed"
mapfile -t debs <<<"$built"
agent_deb="" desktop_deb="" relay_deb="" cloud_deb=""
for d in "${debs[@]}"; do
  case "$(basename "$d")" in
    fdt-agent_*.deb) agent_deb=$d ;;
    fdt-desktop_*.deb) desktop_deb=$d ;;
    fdt-relay_*.deb) relay_deb=$d ;;
    fdt-cloud_*.deb) cloud_deb=$d ;;
  esac
done
for p in agent desktop relay cloud; do
  var="${p}_deb"
  [ -f "${!var}" ] || die "build.sh made no fdt-$p .deb (it printed: ${debs[*]:-nothing})"
done

# --- Package metadata and contents ------------------------------------------------------------
# Checks that the .deb's field $2 lists each of the rest.
check_field() {
  local deb=$1 field=$2 value
  shift 2
  value=$(dpkg-deb --field "$deb" "$field")
  for want in "$@"; do
    # One item of a comma-separated list (a version constraint may follow the name).
    if [[ ", $value," == *", $want"[\ ,]* ]]; then
      ok "$(basename "$deb"): $field has $want"
    else
      fail "$(basename "$deb"): $field is '$value', expected $want"
    fi
  done
}
# Checks that the .deb holds each path (mode prefix optional: "-rwxr-xr-x ./usr/bin/fdt").
check_contents() {
  local deb=$1 listing
  shift
  listing=$(dpkg-deb --contents "$deb" | awk '{ print $1, $6 }')
  for want in "$@"; do
    if grep -qxF -- "$want" <<<"$listing" || grep -q -- " ${want}\$" <<<"$listing"; then
      ok "$(basename "$deb") holds $want"
    else
      fail "$(basename "$deb") does not hold $want"
    fi
  done
}

echo "==> checking $agent_deb"
dpkg-deb --info "$agent_deb" | sed 's/^/    /'
check_field "$agent_deb" Package fdt-agent
check_field "$agent_deb" Depends libc6
check_contents "$agent_deb" \
  "-rwxr-xr-x ./usr/bin/fdt" \
  "-rw-r--r-- ./usr/lib/systemd/system/fdt-agent.service" \
  ./usr/share/doc/fdt-agent/fdt.toml.example \
  ./usr/share/doc/fdt-agent/copyright \
  ./usr/share/fdt/site/pkg/fdt_ui.js \
  ./usr/share/fdt/site/pkg/fdt_ui_bg.wasm \
  ./usr/share/fdt/site/pkg/fdt_ui_bg.wasm.gz
dpkg-deb --ctrl-tarfile "$agent_deb" | tar -x -C "$work" ./postinst ./prerm ./postrm ||
  fail "fdt-agent has no postinst/prerm/postrm (systemd-units and maintainer-scripts in agent-core/Cargo.toml)"
grep -q 'install -d -m 0700 /etc/fdt' "$work/postinst" 2>/dev/null || fail "fdt-agent postinst does not create /etc/fdt"
grep -q 'deb-systemd-helper' "$work/postinst" 2>/dev/null || fail "fdt-agent postinst has no systemd fragment"
grep -q 'deb-systemd-helper enable' "$work/postinst" 2>/dev/null && grep -q 'was-enabled' "$work/postinst" ||
  fail "fdt-agent postinst should only re-enable a unit the admin enabled"
grep -q 'deb-systemd-invoke stop fdt-agent.service' "$work/prerm" 2>/dev/null || fail "fdt-agent prerm does not stop the service"

echo "==> checking $desktop_deb"
dpkg-deb --info "$desktop_deb" | sed 's/^/    /'
check_field "$desktop_deb" Package fdt-desktop
check_field "$desktop_deb" Depends libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1
check_contents "$desktop_deb" \
  "-rwxr-xr-x ./usr/bin/fdt-desktop" \
  ./usr/share/applications/fdt-desktop.desktop \
  ./usr/share/icons/hicolor/32x32/apps/fdt-desktop.png \
  ./usr/share/icons/hicolor/128x128/apps/fdt-desktop.png \
  ./usr/share/icons/hicolor/512x512/apps/fdt-desktop.png \
  ./usr/share/fdt-desktop/site/pkg/fdt_ui.js \
  ./usr/share/fdt-desktop/site/pkg/fdt_ui_bg.wasm
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate installers/desktop/fdt-desktop.desktop || fail "fdt-desktop.desktop is not a valid desktop entry"
fi
# The servers: binary, unit, example config, maintainer scripts (and the console's bundle).
for p in relay cloud; do
  var="${p}_deb"
  deb=${!var}
  echo "==> checking $deb"
  check_field "$deb" Package "fdt-$p"
  check_field "$deb" Depends libc6
  check_contents "$deb" \
    "-rwxr-xr-x ./usr/bin/fdt-$p" \
    "-rw-r--r-- ./usr/lib/systemd/system/fdt-$p.service" \
    "./usr/share/doc/fdt-$p/$p.toml.example" \
    "./usr/share/doc/fdt-$p/copyright"
  rm -f "$work/postinst" "$work/prerm" "$work/postrm"
  dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$work" ./postinst ./prerm ./postrm ||
    fail "fdt-$p has no postinst/prerm/postrm"
  grep -q "install -d -m 0700 /etc/fdt-$p" "$work/postinst" 2>/dev/null || fail "fdt-$p postinst does not create /etc/fdt-$p"
  grep -q 'deb-systemd-helper enable' "$work/postinst" 2>/dev/null && grep -q 'was-enabled' "$work/postinst" ||
    fail "fdt-$p postinst should only re-enable a unit the admin enabled"
  grep -q "deb-systemd-invoke stop fdt-$p.service" "$work/prerm" 2>/dev/null || fail "fdt-$p prerm does not stop the service"
done
check_contents "$cloud_deb" ./usr/share/fdt-cloud/site/pkg/fdt_ui.js ./usr/share/fdt-cloud/site/pkg/fdt_ui_bg.wasm

for d in "$agent_deb" "$desktop_deb" "$relay_deb" "$cloud_deb"; do
  printf '    %s: %s bytes, installed size %s KiB\n' "$(basename "$d")" "$(stat -c %s "$d")" \
    "$(dpkg-deb --field "$d" Installed-Size)"
done

# --- Install and run what was installed -------------------------------------------------------
for p in fdt-agent fdt-desktop fdt-relay fdt-cloud; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    echo "    note: $p was already installed; this build replaces it and the test removes it"
  fi
done
echo "==> apt-get install ./fdt-agent ./fdt-desktop ./fdt-relay ./fdt-cloud"
installed=true
apt_log="$work/apt.log"
if ! apt_get install "$agent_deb" "$desktop_deb" "$relay_deb" "$cloud_deb" >"$apt_log" 2>&1; then
  # Stale package lists can name dependency versions the mirror no longer has.
  apt_get update -qq >>"$apt_log" 2>&1 || true
  apt_get install "$agent_deb" "$desktop_deb" "$relay_deb" "$cloud_deb" >>"$apt_log" 2>&1 ||
    { tail -n 30 "$apt_log" >&2; die "apt-get install of the packages failed"; }
fi
for p in fdt-agent fdt-desktop fdt-relay fdt-cloud; do
  dpkg-query -W -f='${Status}' "$p" | grep -q 'ok installed' && ok "$p installed" || fail "$p is not installed"
done

deb_version=$(dpkg-deb --field "$agent_deb" Version)
out=$(/usr/bin/fdt --version 2>&1) && [[ "$out" == "fdt ${deb_version%-*}" ]] &&
  ok "/usr/bin/fdt --version: $out" || fail "/usr/bin/fdt --version printed '$out', expected 'fdt ${deb_version%-*}'"

# No display: --version must answer before any window or tray is made.
set +e
out=$(env -u DISPLAY -u WAYLAND_DISPLAY timeout 20 /usr/bin/fdt-desktop --version 2>&1 </dev/null)
rc=$?
set -e
first=${out%%$'\n'*}
if [ "$rc" -eq 0 ] && [[ "$first" == *"${deb_version%-*}"* ]]; then
  ok "/usr/bin/fdt-desktop --version: $first"
else
  fail "/usr/bin/fdt-desktop --version exited $rc and printed '${first:0:200}', expected a version ${deb_version%-*} and status 0"
fi
missing=$(ldd /usr/bin/fdt-desktop | grep 'not found' || true)
[ -z "$missing" ] && ok "fdt-desktop finds all its libraries" || fail "fdt-desktop libraries missing: $missing"

for d in /etc/fdt /etc/fdt-relay /etc/fdt-cloud; do
  [ "$(stat -c %a "$d" 2>/dev/null)" = 700 ] && ok "$d is 0700 (postinst)" ||
    fail "$d is not a 0700 directory after install"
done

if command -v systemd-analyze >/dev/null; then
  for unit in fdt-agent fdt-relay fdt-cloud; do
    if out=$(systemd-analyze verify "/usr/lib/systemd/system/$unit.service" 2>&1); then
      ok "systemd-analyze verify $unit.service"
    else
      fail "systemd-analyze verify $unit.service: $out"
    fi
    # The unit's hardening, scored offline; keep it at "OK" (below 2.0) or better.
    score=$(systemd-analyze security --offline=yes "/usr/lib/systemd/system/$unit.service" 2>/dev/null |
      sed -n "s/.*Overall exposure level for $unit.service: \([0-9.]*\).*/\1/p")
    if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s < 2.0) }'; then
      ok "systemd-analyze security $unit.service: exposure $score"
    else
      fail "systemd-analyze security $unit.service: exposure '${score:-unknown}', expected below 2.0"
    fi
  done
else
  echo "    note: systemd-analyze not found (apt package systemd): unit not verified"
fi

# The installed agent serves the inspector's bundle from /usr/share/fdt/site. The relay is a
# closed port: the agent keeps retrying it, which is all this needs.
cat >"$work/agent.toml" <<'EOF'
authtoken = "test-token"
relay = "127.0.0.1:9"
[tunnels.web]
proto = "http"
addr = "8080"
EOF
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u FDT_UI_SITE /usr/bin/fdt --config "$work/agent.toml" --api-addr "127.0.0.1:$port" --inspect=false start \
  </dev/null >"$work/agent.log" 2>&1 &
agent_pid=$!
code=""
for _ in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/pkg/fdt_ui_bg.wasm" || true)
  [ "$code" = 000 ] || break
  sleep 0.2
done
kill "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true
agent_pid=""
[ "$code" = 200 ] && ok "installed fdt serves /pkg/fdt_ui_bg.wasm from /usr/share/fdt/site" ||
  fail "installed fdt answered $code for /pkg/fdt_ui_bg.wasm (log: $(head -c 300 "$work/agent.log"))"

# The installed relay serves its admin listener; the installed control plane its API and the
# console's bundle from /usr/share/fdt-cloud/site (the path its unit names).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # URL → the status code once something answers (000 after 10 s of nothing)
  local code=000
  for _ in $(seq 1 50); do
    code=$(curl -s -o "$work/body" -w '%{http_code}' "$1" || true)
    [ "$code" = 000 ] || break
    sleep 0.2
  done
  echo "$code"
}
admin=$(free_port)
/usr/bin/fdt-relay --dev --data-dir "$work/relay" --agent-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --https-listen off --admin-listen "127.0.0.1:$admin" </dev/null >"$work/relay.log" 2>&1 &
server_pid=$!
code=$(wait_http "http://127.0.0.1:$admin/healthz")
[ "$code" = 200 ] && ok "installed fdt-relay answers /healthz" || fail "installed fdt-relay /healthz: $code ($(head -c 300 "$work/relay.log"))"
code=$(wait_http "http://127.0.0.1:$admin/metrics")
[ "$code" = 200 ] && grep -q '^fdt_relay_agent_sessions 0' "$work/body" && ok "installed fdt-relay serves /metrics" ||
  fail "installed fdt-relay /metrics: $code"
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
api=$(free_port)
env FDT_UI_SITE=/usr/share/fdt-cloud/site /usr/bin/fdt-cloud --data-dir "$work/cloud" serve --listen "127.0.0.1:$api" \
  </dev/null >"$work/cloud.log" 2>&1 &
server_pid=$!
code=$(wait_http "http://127.0.0.1:$api/healthz")
[ "$code" = 200 ] && ok "installed fdt-cloud answers /healthz" || fail "installed fdt-cloud /healthz: $code ($(head -c 300 "$work/cloud.log"))"
code=$(wait_http "http://127.0.0.1:$api/pkg/fdt_ui_bg.wasm")
[ "$code" = 200 ] && ok "installed fdt-cloud serves the console's bundle from /usr/share/fdt-cloud/site" ||
  fail "installed fdt-cloud answered $code for /pkg/fdt_ui_bg.wasm"
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

# --- install-agent.sh -------------------------------------------------------------------------
echo "==> installers/install-agent.sh into a temporary root"
token="fdt_test_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
root="$work/root"
log="$work/install.log"
if installers/install-agent.sh --binary /usr/bin/fdt --root "$root" --authtoken "$token" >"$log" 2>&1; then
  ok "install-agent.sh --authtoken exited 0"
else
  fail "install-agent.sh exited non-zero: $(sed "s/$token/***/g" "$log")"
fi
sed 's/^/    /; s/'"$token"'/***/g' "$log"
grep -qF -- "$token" "$log" && fail "install-agent.sh printed the authtoken" || ok "the authtoken was not printed"
cfg="$root/etc/fdt/fdt.toml"
[ "$(stat -c %a "$cfg" 2>/dev/null)" = 600 ] && ok "fdt.toml is 0600" || fail "fdt.toml mode is $(stat -c %a "$cfg" 2>&1), expected 600"
[ "$(stat -c %a "$root/etc/fdt" 2>/dev/null)" = 700 ] && ok "/etc/fdt is 0700" || fail "/etc/fdt is not 0700"
grep -qxF "authtoken = \"$token\"" "$cfg" 2>/dev/null && ok "fdt.toml holds the authtoken" || fail "fdt.toml does not hold the authtoken"
"$root/usr/local/bin/fdt" --version >/dev/null 2>&1 && ok "usr/local/bin/fdt runs" || fail "usr/local/bin/fdt was not installed"
grep -q '^ExecStart=/usr/local/bin/fdt --config %d/fdt.toml ' "$root/etc/systemd/system/fdt-agent.service" 2>/dev/null &&
  ok "the unit runs /usr/local/bin/fdt" || fail "the installed unit's ExecStart does not run /usr/local/bin/fdt"

# Idempotent: a second run changes nothing.
sums() { find "$root" -type f -exec sha256sum {} + | sort; find "$root" -exec stat -c '%a %n' {} + | sort; }
before=$(sums)
installers/install-agent.sh --binary /usr/bin/fdt --root "$root" --authtoken "$token" >"$log" 2>&1 ||
  fail "install-agent.sh failed on a second run"
[ "$(sums)" = "$before" ] && ok "a second run changes nothing" || fail "a second run changed files"
grep -qF -- "$token" "$log" && fail "install-agent.sh printed the authtoken on a second run"

# A token from standard input replaces the old one and keeps the rest of the file.
printf '%s\n' "${token}_2" | installers/install-agent.sh --binary /usr/bin/fdt --root "$root" --authtoken - >"$log" 2>&1 ||
  fail "install-agent.sh --authtoken - failed"
grep -qxF "authtoken = \"${token}_2\"" "$cfg" && [ "$(grep -c '^authtoken' "$cfg")" = 1 ] &&
  ok "--authtoken - replaced the authtoken" || fail "--authtoken - did not replace the authtoken line"
grep -qF -- "$token" "$log" && fail "install-agent.sh printed the authtoken read from stdin"

# Without a token: an example config, still root-only; a prefix elsewhere.
root2="$work/root2"
installers/install-agent.sh --binary /usr/bin/fdt --root "$root2" --prefix /opt/fdt >"$log" 2>&1 ||
  fail "install-agent.sh without --authtoken failed: $(cat "$log")"
[ "$(stat -c %a "$root2/etc/fdt/fdt.toml" 2>/dev/null)" = 600 ] && cmp -s "$root2/etc/fdt/fdt.toml" installers/systemd/fdt.toml.example &&
  ok "without --authtoken: the example, 0600" || fail "without --authtoken the config is not the 0600 example"
[ -x "$root2/opt/fdt/bin/fdt" ] && grep -q '^ExecStart=/opt/fdt/bin/fdt ' "$root2/etc/systemd/system/fdt-agent.service" &&
  ok "--prefix /opt/fdt" || fail "--prefix /opt/fdt did not place the binary and ExecStart"

# Clear errors, non-zero status, and still no secret in the output.
expect_status() {
  local want=$1 what=$2 rc=0
  shift 2
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" = "$want" ]; then ok "$what: exit $rc"; else fail "$what: exit $rc, expected $want ($(head -c 300 "$log"))"; fi
  grep -qF -- "$token" "$log" && fail "$what: the authtoken was printed" || true
}
expect_status 2 "unknown option" installers/install-agent.sh --bogus
expect_status 2 "authtoken with a space" installers/install-agent.sh --binary /usr/bin/fdt --root "$work/r3" --authtoken "$token x"
expect_status 1 "missing binary" installers/install-agent.sh --binary "$work/nope" --root "$work/r3" --authtoken "$token"
expect_status 1 "not an fdt binary" installers/install-agent.sh --binary /bin/true --root "$work/r3" --authtoken "$token"
expect_status 0 "--help" installers/install-agent.sh --help
[ ! -e "$work/r3" ] && ok "failed runs installed nothing" || fail "a failed run left files in its root"

# --- Remove ----------------------------------------------------------------------------------
echo "==> dpkg -r fdt-desktop fdt-agent fdt-relay fdt-cloud"
dpkg -r fdt-desktop fdt-agent fdt-relay fdt-cloud >/dev/null || fail "dpkg -r failed"
[ ! -e /usr/bin/fdt ] && [ ! -e /usr/bin/fdt-desktop ] && [ ! -e /usr/lib/systemd/system/fdt-agent.service ] &&
  [ ! -e /usr/bin/fdt-relay ] && [ ! -e /usr/bin/fdt-cloud ] && [ ! -e /usr/lib/systemd/system/fdt-relay.service ] &&
  ok "removed: binaries and units gone" || fail "dpkg -r left files behind"
dpkg --purge fdt-agent fdt-relay fdt-cloud >/dev/null || fail "dpkg --purge failed"
for d in /etc/fdt /etc/fdt-relay /etc/fdt-cloud; do
  [ ! -e "$d" ] && ok "purged: $d gone" || fail "dpkg --purge left $d"
done
installed=false

# --- fdt service, against a real systemd --------------------------------------------------
# A systemd user manager of the test's own (this machine need not boot systemd); see the
# script's header. It uses the debug fdt and fdt-cloud and prints its own checks.
echo "==> installers/service-test.sh: fdt service install/start/status/stop/uninstall"
rc=0
installers/service-test.sh "$CARGO_TARGET_DIR/debug/fdt" "$CARGO_TARGET_DIR/debug/fdt-cloud" || rc=$?
case $rc in
  0) ok "fdt service runs its unit under systemd" ;;
  # Skipped: it said why, loudly. Not a failure of the product, but not a pass either.
  77) echo "    SKIPPED: fdt service was not run under systemd (see the message above)" ;;
  *) fail "installers/service-test.sh exited $rc" ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
  printf '\ninstallers/test.sh: %d check(s) failed:\n' "${#failures[@]}" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "installers/test.sh: all checks passed"
