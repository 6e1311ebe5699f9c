#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs
# formatting and lint checks, unit/property tests and the whole-system e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
# Incremental caches grow with every source state built (tens of GB over a day of CI runs in
# one target dir) and buy nothing for a from-scratch test run.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# System tools the e2e tests drive as real clients.
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
# The browser tests drive Debian's Chromium through its WebDriver.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
# The desktop app (Tauri 2 on WebKitGTK): build libraries, then what its window test runs:
# a virtual display, a session bus with a Secret Service (gnome-keyring), WebKit's WebDriver,
# and xwd + ImageMagick for screenshots.
for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
  libsoup-3.0-dev libxdo-dev libssl-dev pkg-config build-essential file \
  xvfb x11-apps xauth imagemagick dbus webkit2gtk-driver gnome-keyring; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=900 "${missing[@]}"
fi
# curl must speak HTTP/2 for the h2 edge tests.
curl --version | grep -q HTTP2 || { echo "curl without HTTP/2 support" >&2; exit 1; }
# A local S3-compatible server (moto, from PyPI) for the traffic log's S3 body store.
if ! command -v moto_server >/dev/null; then
  venv=/var/tmp/fdt-tools/moto
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "==> installing moto (S3 test server) into $venv"
    mkdir -p /var/tmp/fdt-tools
    python3 -m venv "$venv" 2>/dev/null || {
      apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=900 python3-venv
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q 'moto[server]'
  fi
  export PATH="$venv/bin:$PATH"
fi
if ! command -v cargo-nextest >/dev/null; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
# The UI bundle the console, admin panel, inspector and desktop window load. First: the
# desktop app embeds it (desktop/dist) when it compiles, and the browser tests need it.
scripts/build-ui.sh
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# fdt-api must keep building for the browser (the UI uses it).
echo "==> fdt-api and fdt-ui for wasm32"
rustup target add wasm32-unknown-unknown
cargo check -q -p fdt-api --target wasm32-unknown-unknown
cargo clippy -q -p fdt-ui --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings
# The desktop app's window test launches the real binary.
echo "==> building fdt-desktop"
cargo build -q -p fdt-desktop

# A throwaway PostgreSQL: the cloud's storage and API stories run on it as well as on SQLite.
echo "==> starting a test PostgreSQL"
pg_env=$(mktemp)
scripts/pg-test-server.sh start "$pg_env"
trap 'scripts/pg-test-server.sh stop "$pg_env"; rm -f "$pg_env"' EXIT
FDT_TEST_PG_URL=$(sed -n 's/^FDT_TEST_PG_URL=//p' "$pg_env")
: "${FDT_TEST_PG_URL:?pg-test-server.sh reported no URL}"
export FDT_TEST_PG_URL

echo "==> tests"
cargo nextest run --workspace --no-fail-fast
echo "==> doc tests"
cargo test --workspace --doc --quiet
# Packages: the desktop app's and the agent's .deb, installed with dpkg and started.
echo "==> installers"
installers/test.sh
