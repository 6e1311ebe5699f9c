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
# and xwd + ImageMagick for screenshots. Then pebble and pebble-challtestsrv: the ACME CA and
# the DNS server the custom-domain stories run against; poppler's pdftotext reads invoices back;
# prometheus brings promtool, which checks what /metrics serves; iproute2 and nftables make
# the chaos drill's network namespaces and drop packets in them.
for pkg in libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
  libsoup-3.0-dev libxdo-dev libssl-dev pkg-config build-essential file \
  xvfb x11-apps xauth imagemagick dbus webkit2gtk-driver gnome-keyring \
  pebble poppler-utils prometheus iproute2 nftables; do
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
# Test servers and checkers from PyPI, each in its own venv under /var/tmp/fdt-tools:
# pip_tool COMMAND VENV REQUIREMENT WHAT puts COMMAND on PATH, installing it if it is missing.
pip_tool() {
  local cmd=$1 venv=/var/tmp/fdt-tools/$2 req=$3 what=$4
  command -v "$cmd" >/dev/null && return
  if [ ! -x "$venv/bin/$cmd" ]; then
    echo "==> installing $what into $venv"
    mkdir -p /var/tmp/fdt-tools
    python3 -m venv "$venv" 2>/dev/null || {
      apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=900 python3-venv
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q "$req"
  fi
  export PATH="$venv/bin:$PATH"
}
# A local S3-compatible server for the traffic log's S3 body store.
pip_tool moto_server moto 'moto[server]' "moto (S3 test server)"
# SCIM compliance checks, run against the control plane by the e2e suite.
pip_tool scim2 scim2 'scim2-cli==0.6.0' "scim2-cli (SCIM compliance checks)"
# An OpenID Connect provider for the single sign-on stories.
pip_tool oidc-provider-mock oidc 'oidc-provider-mock==0.3.4' "oidc-provider-mock (OpenID Connect test provider)"
# Stripe's API for the checkout stories (customers, subscriptions, refunds, signed webhooks).
pip_tool localstripe localstripe 'localstripe==1.15.10' "localstripe (Stripe test server)"
# A real SMTP server for the outbox stories (files what it accepts into a Maildir).
pip_tool aiosmtpd aiosmtpd 'aiosmtpd==1.4.6' "aiosmtpd (SMTP test server)"
if ! command -v cargo-nextest >/dev/null; then
  echo "==> installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> import cycles between modules"
python3 scripts/import-cycles.py
echo "==> monitoring: promtool on the Prometheus config, the alert rules, their unit tests and the dashboards' queries"
installers/monitoring/check.sh
echo "==> deployment files: Containerfiles, compose.yaml, Kubernetes manifests (schemas and references)"
installers/deploy/check.sh
# The UI bundle the console, admin panel, inspector and desktop window load. First: the
# desktop app embeds it (desktop/dist) when it compiles, and the browser tests need it.
scripts/build-ui.sh
# The browser side: fdt-ui as the bundle builds it, and fdt-api (its typed client too) must
# keep building for wasm32. One command, so their common dependencies are checked once.
echo "==> clippy: fdt-api and fdt-ui for wasm32"
rustup target add wasm32-unknown-unknown
cargo clippy -q -p fdt-api -p fdt-ui --lib --target wasm32-unknown-unknown --features fdt-ui/hydrate \
  -- -D warnings

# The native side is compiled ONCE, with one feature set, for everything below: every command
# names the whole workspace with its tests (so dev-dependencies are on and features unify the
# same way: no crate is compiled twice), and clippy lints the workspace's crates while they are
# built for the tests instead of type-checking every dependency a second time. `cargo clippy`
# is `cargo check` with clippy-driver as RUSTC_WORKSPACE_WRAPPER; this is `cargo build` with
# it. The wrapper is part of the workspace crates' fingerprints, so it stays set for every
# cargo command that follows (nextest, doc tests), which then find everything built.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$clippy_driver" ] || { rustup component add clippy && clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
# `-D warnings`, in clippy-driver's argument encoding (what `cargo clippy -- -D warnings` sets).
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# The same targets as `cargo clippy --all-targets` lints (lib, bins, tests, examples; there are
# no benches: one would add a release build of the dependencies), plus the binaries themselves:
# the desktop app's window test launches target/debug/fdt-desktop, and installers/test.sh
# packages debug/fdt and debug/fdt-desktop.
echo "==> clippy -D warnings, and building the workspace, its tests and binaries"
cargo build --workspace --lib --bins --tests --examples

# A throwaway PostgreSQL: the cloud's storage and API stories run on it as well as on SQLite.
echo "==> starting a test PostgreSQL"
pg_env=$(mktemp)
scripts/pg-test-server.sh start "$pg_env"
trap 'scripts/pg-test-server.sh stop "$pg_env"; rm -f "$pg_env"' EXIT
FDT_TEST_PG_URL=$(sed -n 's/^FDT_TEST_PG_URL=//p' "$pg_env")
: "${FDT_TEST_PG_URL:?pg-test-server.sh reported no URL}"
export FDT_TEST_PG_URL

echo "==> tests"
# Builds nothing: the test binaries above are fresh.
cargo nextest run --workspace --no-fail-fast
echo "==> doc tests"
cargo test --workspace --doc --quiet
# Packages: the desktop app's and the agent's .deb, installed with dpkg and started.
echo "==> installers"
installers/test.sh
