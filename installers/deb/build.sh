#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb: fdt-desktop (the Tauri app), fdt-agent (the `fdt`
# command, its systemd unit and the inspector's browser bundle), and the servers fdt-relay and
# fdt-cloud (each with its hardened systemd unit; the cloud with the console's bundle). Their
# metadata is the [package.metadata.deb] table at the end of desktop/, agent-core/, relay/ and
# cloud/Cargo.toml.
#
#   installers/deb/build.sh [desktop|agent|relay|cloud|servers|all]      (default: all)
#
# FDT_DEB_PROFILE=release (default) builds the binaries with `--locked` and splits their debug
# info into -dbgsym .ddeb packages. FDT_DEB_PROFILE=dev builds nothing: it packages the debug
# binaries already in $CARGO_TARGET_DIR/debug (what the test suite built), stripped and with
# light compression, for installers/test.sh.
#
# cargo-deb is installed once, at a pinned version, into $FDT_TOOLS/cargo-deb-<version>.
# Output: $CARGO_TARGET_DIR/debian/. The path of each package is printed on stdout, one a
# line; progress goes to stderr.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
TOOLS_ROOT=${FDT_TOOLS:-/var/tmp/fdt-tools}
PROFILE=${FDT_DEB_PROFILE:-release}
CARGO_DEB_VERSION=3.8.0
OUT="$CARGO_TARGET_DIR/debian"

usage() { sed -n '2,18s/^# \{0,1\}//p' "$self"; }
case "${1:-all}" in
  desktop|agent|relay|cloud) which=("$1") ;;
  servers) which=(relay cloud) ;;
  all) which=(agent desktop relay cloud) ;;
  -h|--help) usage; exit 0 ;;
  *) echo "build.sh: unknown package set '$1' (desktop, agent, relay, cloud, servers or all)" >&2; exit 2 ;;
esac
case "$PROFILE" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "build.sh: FDT_DEB_PROFILE must be release or dev, not '$PROFILE'" >&2; exit 2 ;;
esac

cargo_deb="$TOOLS_ROOT/cargo-deb-$CARGO_DEB_VERSION/bin/cargo-deb"
if [ ! -x "$cargo_deb" ]; then
  echo "==> installing cargo-deb $CARGO_DEB_VERSION into ${cargo_deb%/bin/*} (once; a few minutes)" >&2
  mkdir -p "$TOOLS_ROOT"
  # Without CARGO_TARGET_DIR, cargo install builds in a temporary directory it removes: the
  # tool's build has nothing to share with ours.
  env -u CARGO_TARGET_DIR \
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --root "${cargo_deb%/bin/*}" >&2
fi
command -v dpkg-shlibdeps >/dev/null || {
  echo "build.sh: dpkg-shlibdeps is missing (apt-get install dpkg-dev): cargo-deb needs it for Depends" >&2
  exit 1
}

if [ "$PROFILE" = release ]; then
  # --dbgsym: stripped binaries, with their line tables ([profile.release] debug) in a
  # separate -dbgsym.ddeb for symbolising crash reports.
  flags=(--profile release --locked --dbgsym)
else
  # cargo-deb warns that the dev profile is unsupported: it is, for this test-only use.
  flags=(--profile dev --no-build --strip --fast)
fi

# Checks the binary a dev-profile package would take, since --no-build will not make it.
need_binary() {
  local bin="$CARGO_TARGET_DIR/$profile_dir/$1"
  if [ "$PROFILE" = dev ] && [ ! -x "$bin" ]; then
    echo "build.sh: $bin not found; FDT_DEB_PROFILE=dev packages existing binaries: run \`cargo build -p $2\` first" >&2
    exit 1
  fi
}

# The inspector's bundle that the agent package ships: a release package gets a fresh one; a
# dev package reuses the one the test suite built when there is one.
ensure_site() {
  local site="$CARGO_TARGET_DIR/site"
  if [ "$PROFILE" = release ] || [ ! -f "$site/pkg/fdt_ui_bg.wasm" ]; then
    echo "==> building the UI bundle (scripts/build-ui.sh)" >&2
    FDT_UI_SITE="$site" scripts/build-ui.sh >&2
  fi
}

package() {
  local crate=$1 deb
  echo "==> cargo deb -p $crate (profile $PROFILE)" >&2
  # cargo-deb prints the path of what it wrote on stdout (with --dbgsym, two paths).
  deb=$("$cargo_deb" -p "$crate" "${flags[@]}" --output "$OUT/" </dev/null)
  [ -n "$deb" ] || { echo "build.sh: cargo-deb reported no package for $crate" >&2; exit 1; }
  printf '%s\n' "$deb"
}

mkdir -p "$OUT"
for w in "${which[@]}"; do
  case "$w" in
    agent)
      need_binary fdt fdt-agent-core
      ensure_site
      package fdt-agent-core
      ;;
    desktop)
      need_binary fdt-desktop fdt-desktop
      package fdt-desktop
      ;;
    relay)
      need_binary fdt-relay fdt-relay
      package fdt-relay
      ;;
    cloud)
      need_binary fdt-cloud fdt-cloud
      ensure_site
      package fdt-cloud
      ;;
  esac
done
