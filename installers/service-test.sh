#!/usr/bin/env bash
# Tests `fdt service` against a real systemd: install, start, a request through the tunnel the
# service runs, status, stop, uninstall.
#
# Test machines do not boot systemd, so this starts a systemd *user manager* of its own (the
# `systemd --user` that normally runs per login), isolated from the machine:
#   - in a cgroup of its own (made below the test's current one), seen through a new cgroup
#     namespace and a cgroup2 mount of that namespace: the manager can only manage (and move)
#     processes below that cgroup. Without that, a manager started in the root cgroup moves
#     every process of the machine into its init.scope;
#   - in a private mount namespace, with a tmpfs at /run/systemd holding /run/systemd/system,
#     the marker without which a user manager refuses to run ("not booted with systemd");
#   - with HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_RUNTIME_DIR in a scratch directory,
#     which is where `systemctl --user` finds it (XDG_RUNTIME_DIR/systemd/private): no D-Bus.
# The local stack is `fdt-cloud dev` (control plane and relay on SQLite, ports picked by the
# kernel) and a Python http.server; both run outside the namespaces (same network).
#
# Usage: installers/service-test.sh [FDT_BINARY [FDT_CLOUD_BINARY]]
#   (default: $CARGO_TARGET_DIR/debug/fdt and fdt-cloud; nothing is built here)
# Needs root (namespaces, cgroups) and the Debian packages systemd (systemd, systemctl,
# systemd-analyze), util-linux and mount (unshare, findmnt, mount), curl and python3; missing
# ones are installed with apt-get. About 10 s.
# Exit status: 0 passed, 1 failed, 77 skipped (the message says what is missing).
# `cond && ok … || fail …` is used throughout: ok only prints, so fail runs exactly when cond fails.
# shellcheck disable=SC2015
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}

# --- Inside the namespaces: the user manager and the checks ----------------------------------
if [ "${1:-}" = --inner ]; then
  # Exported by the outer part: $work, $fdt, $fdt_tmp, $config, $sub, $http_port, $page.
  failures=0
  fail() { failures=$((failures + 1)); printf 'service-test: FAIL: %s\n' "$*" >&2; }
  ok() { printf '  ok: %s\n' "$*"; }
  # Runs the rest of the line, prints its output indented, sets $rc and $out.
  run() {
    rc=0
    out=$("$@" 2>&1) || rc=$?
    printf '    $ %s  -> exit %s\n' "${*//$work/\$work}" "$rc"
    [ -z "$out" ] || sed 's/^/      /' <<<"$out"
  }

  mount -t tmpfs -o mode=0755 tmpfs /run/systemd
  mkdir /run/systemd/system
  # What PID 1 creates at boot and sandboxing options (ProtectKernelTunables=…) bind-mount
  # over what they hide: inaccessible nodes of each type, mode 0000.
  (
    cd /run/systemd && mkdir -m 0755 inaccessible && cd inaccessible
    mkdir -m 0000 dir && install -m 0000 /dev/null reg && mkfifo -m 0000 fifo
    # Not every container may make device nodes; the unit's options need dir and reg.
    mknod -m 0000 chr c 0 0 || true
    mknod -m 0000 blk b 0 0 || true
    python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")' && chmod 0000 sock
  )
  # A user manager started like this logs to /dev/console: to a file here, not the machine's.
  touch "$work/systemd.log" && mount --bind "$work/systemd.log" /dev/console
  # Mounted from inside the new cgroup namespace, cgroup2's root is the test's own cgroup.
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  export HOME=$work/home XDG_RUNTIME_DIR=$work/run
  export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share XDG_STATE_HOME=$HOME/.local/state
  unset DBUS_SESSION_BUS_ADDRESS
  mkdir -p "$HOME" "$XDG_CONFIG_HOME" && install -d -m 0700 "$XDG_RUNTIME_DIR"

  /lib/systemd/systemd --user --log-target=console </dev/null >>"$work/systemd.log" 2>&1 &
  manager=$!
  # There is no journald here: the agent's output goes to a file, through a drop-in in the
  # runtime unit directory (not where `fdt service` writes, whose cleanup is checked).
  mkdir -p "$XDG_RUNTIME_DIR/systemd/user/fdt.service.d"
  printf '[Service]\nStandardOutput=append:%s\nStandardError=inherit\n' "$work/agent.log" \
    >"$XDG_RUNTIME_DIR/systemd/user/fdt.service.d/log.conf"
  for _ in $(seq 100); do [ -S "$XDG_RUNTIME_DIR/systemd/private" ] && break; sleep 0.1; done
  state=$(timeout 30 systemctl --user is-system-running --wait 2>&1 || true)
  case "$state" in
    running | degraded) ok "systemd user manager (PID $manager) is $state" ;;
    *)
      tail -n 20 "$work/systemd.log" >&2
      echo "service-test: FAIL: the systemd user manager did not come up ($state)" >&2
      exit 1
      ;;
  esac
  unit=$XDG_CONFIG_HOME/systemd/user/fdt.service

  echo "==> before install"
  run "$fdt" service status --user
  [ "$rc" = 4 ] && ok "status: not installed, exit 4" || fail "status before install exited $rc, expected 4"
  run "$fdt" service install --user --config "$work/missing.toml"
  [ "$rc" = 2 ] && [[ "$out" == *"does not exist"* ]] && [ ! -e "$unit" ] &&
    ok "a missing config: exit 2, no unit" || fail "install with a missing config exited $rc"
  if [ -n "$fdt_tmp" ]; then
    run "$fdt_tmp" service install --user --config "$config"
    [ "$rc" = 2 ] && [[ "$out" == *"PrivateTmp"* ]] && [ ! -e "$unit" ] &&
      ok "a binary under /var/tmp (PrivateTmp hides it): exit 2, no unit" ||
      fail "install of a binary under $(dirname "$fdt_tmp") exited $rc, expected 2"
  fi

  echo "==> install"
  run "$fdt" service install --user --config "$config"
  [ "$rc" = 0 ] && [ -f "$unit" ] && ok "install: exit 0, $unit written" || fail "install exited $rc"
  [ "$(systemctl --user is-enabled fdt.service 2>&1)" = enabled ] && ok "enabled" ||
    fail "fdt.service is not enabled: $(systemctl --user is-enabled fdt.service 2>&1)"
  grep -q "^ExecStart=\"$fdt\" --config \"$config\" " "$unit" && ok "ExecStart runs $fdt with the config" ||
    fail "unexpected ExecStart: $(grep ExecStart "$unit")"
  run "$fdt" service status --user
  [ "$rc" = 3 ] && [[ "$out" == *inactive* ]] && ok "installed, not started: exit 3" ||
    fail "status after install exited $rc, expected 3"

  echo "==> start"
  run "$fdt" service start --user
  [ "$rc" = 0 ] && ok "start: exit 0" || fail "start exited $rc"
  body=""
  for _ in $(seq 150); do
    body=$(curl -s --max-time 2 "http://$sub.localhost:$http_port/" || true)
    [ "$body" = "$page" ] && break
    sleep 0.2
  done
  if [ "$body" = "$page" ]; then
    ok "the service's tunnel serves http://$sub.localhost:$http_port/"
  else
    fail "no page through the tunnel (last answer: '${body:0:200}')"
    systemctl --user status --no-pager --lines 30 fdt.service >&2 || true
  fi
  run "$fdt" service status --user
  [ "$rc" = 0 ] && [[ "$out" == *"active (running), main PID "* ]] && ok "status: active, exit 0" ||
    fail "status of the running service exited $rc"
  pid=$(systemctl --user show -p MainPID --value fdt.service || true)
  if [ "${pid:-0}" != 0 ]; then
    [ "$(readlink "/proc/$pid/exe")" = "$fdt" ] && ok "the main process runs $fdt" ||
      fail "the main process runs $(readlink "/proc/$pid/exe")"
    grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" && ok "NoNewPrivileges is in force" ||
      fail "the service may gain privileges"
    [ "$(stat -L -c %d:%i "/proc/$pid/root/tmp")" != "$(stat -c %d:%i /tmp)" ] &&
      ok "PrivateTmp: the service has its own /tmp" || fail "the service sees the machine's /tmp"
  fi
  [ -f "$XDG_DATA_HOME/fdt/inspect.db" ] && ok "the inspection database was written (ReadWritePaths)" ||
    fail "no inspection database in $XDG_DATA_HOME/fdt"

  echo "==> stop"
  run "$fdt" service stop --user
  [ "$rc" = 0 ] && ok "stop: exit 0" || fail "stop exited $rc"
  run "$fdt" service status --user
  [ "$rc" = 3 ] && [[ "$out" == *"inactive (dead)"* ]] && ok "status: inactive, exit 3" ||
    fail "status after stop exited $rc, expected 3"
  [ "${pid:-0}" != 0 ] && ! kill -0 "$pid" 2>/dev/null && ok "the agent (PID $pid) has exited" ||
    fail "the agent (PID ${pid:-?}) still runs after stop"
  # The relay holds a request for a name whose agent went away (10 s, for reconnects): no
  # answer within 2 s, where a tunnel answers at once.
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$sub.localhost:$http_port/" || true)
  [ "$code" != 200 ] && ok "the tunnel no longer serves the page (HTTP $code)" || fail "the tunnel still answers after stop"

  echo "==> uninstall"
  run "$fdt" service uninstall --user
  [ "$rc" = 0 ] && [ ! -e "$unit" ] && ok "uninstall: exit 0, unit removed" || fail "uninstall exited $rc"
  run "$fdt" service status --user
  [ "$rc" = 4 ] && ok "status: not installed, exit 4" || fail "status after uninstall exited $rc, expected 4"
  run "$fdt" service uninstall --user
  [ "$rc" = 1 ] && ok "uninstall again: exit 1" || fail "a second uninstall exited $rc, expected 1"

  echo "==> --name and --unit-dir (a unit outside systemd's directories)"
  run "$fdt" service install --user --name fdt-elsewhere --unit-dir "$work/units" --config "$config"
  [ "$rc" = 0 ] && [ -f "$work/units/fdt-elsewhere.service" ] && ok "written to $work/units" ||
    fail "install --unit-dir exited $rc"
  [ -L "$XDG_CONFIG_HOME/systemd/user/fdt-elsewhere.service" ] && ok "linked into the user unit directory" ||
    fail "install --unit-dir did not link the unit"
  systemctl --user is-enabled fdt-elsewhere.service >/dev/null 2>&1 && ok "enabled" || fail "fdt-elsewhere.service is not enabled"
  run "$fdt" service uninstall --user --name fdt-elsewhere --unit-dir "$work/units"
  [ "$rc" = 0 ] && [ ! -e "$work/units/fdt-elsewhere.service" ] &&
    [ ! -e "$XDG_CONFIG_HOME/systemd/user/fdt-elsewhere.service" ] && ok "uninstalled: file and link gone" ||
    fail "uninstall --unit-dir exited $rc or left files"

  echo "==> a system unit: written and verified; no system manager runs here to enable it"
  run "$fdt" service install --name fdt-system --unit-dir "$work/system-units" --config "$config"
  [ "$rc" = 1 ] && [[ "$out" == *"Checked it with systemd-analyze verify"* ]] &&
    [[ "$out" == *"systemctl enable"*"failed"* ]] && ok "passes systemd-analyze verify (system), then enable fails: exit 1" ||
    fail "system install exited $rc, expected verify to pass and enable to fail"
  grep -q '^WantedBy=multi-user.target$' "$work/system-units/fdt-system.service" &&
    grep -q '^StateDirectory=fdt-system$' "$work/system-units/fdt-system.service" &&
    ok "system unit: multi-user.target, StateDirectory" || fail "unexpected system unit"

  systemctl --user exit 2>/dev/null || kill "$manager" 2>/dev/null || true
  wait "$manager" 2>/dev/null || true
  exit $((failures > 0))
fi

# --- Outside: preconditions, the local stack, the namespaces ---------------------------------
skip() {
  printf '\nservice-test: SKIPPED: %s\n  `fdt service` was NOT tested against a running systemd.\n\n' "$*" >&2
  exit 77
}
die() { printf 'service-test: FAIL: %s\n' "$*" >&2; exit 1; }
fdt_built=${1:-$CARGO_TARGET_DIR/debug/fdt}
cloud=${2:-$CARGO_TARGET_DIR/debug/fdt-cloud}
for bin in "$fdt_built" "$cloud"; do
  [ -x "$bin" ] || die "$bin is missing: build the workspace first (cargo build --workspace)"
done
[ "$(id -u)" -eq 0 ] || skip "needs root: it makes mount and cgroup namespaces and a cgroup"
need=()
{ [ -x /lib/systemd/systemd ] && command -v systemctl >/dev/null && command -v systemd-analyze >/dev/null; } ||
  need+=(systemd)
command -v unshare >/dev/null || need+=(util-linux)
command -v findmnt >/dev/null || need+=(mount)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=900 "${need[@]}"
fi
cg_root=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
[ -n "$cg_root" ] || skip "no cgroup2 file system is mounted (systemd needs cgroup2 to track the service)"
cg_self=$(sed -n 's/^0:://p' /proc/self/cgroup)
cg="$cg_root${cg_self%/}/fdt-service-test.$$"
mkdir "$cg" 2>/dev/null || skip "cannot create the cgroup $cg (read-only cgroup2 mount?)"
unshare --mount --cgroup true 2>/dev/null || { rmdir "$cg"; skip "unshare --mount --cgroup is refused (no namespaces in this container?)"; }

# Not under /tmp or /var/tmp: the service runs with PrivateTmp=yes and would not see it.
work=$(mktemp -d /var/lib/fdt-service-test.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  # Whatever is left in the test's cgroup (the manager, the service) goes with it.
  if [ -d "$cg" ]; then
    if [ -e "$cg/cgroup.kill" ]; then
      echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
    else
      find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    fi
    for _ in $(seq 50); do
      [ -z "$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
      sleep 0.1
    done
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# The binary as a user would install it: where the service can see it.
mkdir -p "$work/bin"
cp "$fdt_built" "$work/bin/fdt"
fdt=$work/bin/fdt
fdt_tmp=""
case "$fdt_built" in /tmp/* | /var/tmp/*) fdt_tmp=$fdt_built ;; esac

echo "==> local stack: fdt-cloud dev and a sample web page"
mkdir -p "$work/site"
page="fdt service test $$"
echo "$page" >"$work/site/index.html"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/site" >"$work/site.log" 2>&1 &
pids+=($!)
config=$work/agent/fdt.toml
"$cloud" dev --data-dir "$work/cloud" --listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 --https-listen 127.0.0.1:0 --agent-config "$config" \
  >"$work/cloud.out" 2>"$work/cloud.log" &
pids+=($!)
for _ in $(seq 150); do grep -q "http edge" "$work/cloud.out" 2>/dev/null && break; sleep 0.1; done
http_port=$(sed -n 's/.*http edge: *http:.*:\([0-9]*\)$/\1/p' "$work/cloud.out")
[ -n "$http_port" ] || { tail -n 20 "$work/cloud.log" >&2; die "fdt-cloud dev did not start"; }
# `fdt-cloud dev` wrote authtoken, api_url and relay_ca; the service runs this tunnel.
sub="svc$$"
printf '\n[tunnels.web]\nproto = "http"\naddr = "%s"\nsubdomain = "%s"\n' "$port" "$sub" >>"$config"
echo "    relay HTTP edge on :$http_port, sample page on :$port, config $config"

echo "==> systemd user manager in its own cgroup and mount namespaces"
export work fdt fdt_tmp config sub http_port page
rc=0
# The subshell moves itself into the new cgroup, then becomes unshare: the namespaces' root
# cgroup is the new one.
(echo "$BASHPID" >"$cg/cgroup.procs" && exec unshare --mount --cgroup --propagation private "$0" --inner) || rc=$?
if [ "$rc" != 0 ]; then
  for log in systemd agent; do
    echo "---- $log.log (last 30 lines)" >&2
    tail -n 30 "$work/$log.log" >&2 2>/dev/null || true
  done
  die "fdt service checks failed"
fi
echo "service-test: all checks passed"
