#!/usr/bin/env bash
# Builds the UI's browser bundle: fdt-ui for wasm32 (feature `hydrate`), then wasm-bindgen at
# the exact version in Cargo.lock (installed once into /var/tmp/fdt-tools), then wasm-opt -Oz
# (npm's binaryen@132; Debian's binaryen 108 produces bundles Chromium refuses), then brotli
# and gzip twins of each file. Output: $FDT_UI_SITE/pkg (default $CARGO_TARGET_DIR/site/pkg), where fdt-cloud and
# fdt find it (see fdt_ui::site::Site::discover). Prints the sizes. Then copies the raw bundle and
# the stylesheet into desktop/dist/ (pkg/, assets/) for the desktop window.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
SITE=${FDT_UI_SITE:-$CARGO_TARGET_DIR/site}
TOOLS_ROOT=${FDT_TOOLS:-/var/tmp/fdt-tools}

# The CLI must match the wasm-bindgen crate the bundle links, to the patch version.
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wbg_version" ] || { echo "wasm-bindgen not found in Cargo.lock" >&2; exit 1; }
wbg_root="$TOOLS_ROOT/wasm-bindgen-$wbg_version"
if [ ! -x "$wbg_root/bin/wasm-bindgen" ]; then
  echo "==> installing wasm-bindgen-cli $wbg_version into $wbg_root (once; ~10 min on 2 cores)"
  # Not --locked: the CLI's own lock file pins a crate missing from the registry.
  cargo install wasm-bindgen-cli --version "$wbg_version" --root "$wbg_root"
fi
binaryen="$TOOLS_ROOT/binaryen-132"
if [ ! -x "$binaryen/node_modules/binaryen/bin/wasm-opt" ]; then
  echo "==> installing wasm-opt (npm binaryen@132) into $binaryen"
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
  mkdir -p "$binaryen"
  (cd "$binaryen" && npm install --no-audit --no-fund --silent binaryen@132)
fi
need=()
command -v gzip >/dev/null || need+=(gzip)
command -v brotli >/dev/null || need+=(brotli)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=900 "${need[@]}"
fi
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

echo "==> building the UI bundle (fdt-ui, wasm32, profile wasm-release)"
cargo build -q -p fdt-ui --lib --target wasm32-unknown-unknown --features hydrate --profile wasm-release
raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/fdt_ui.wasm"

# Build next to the live directory and swap, so a running server never sees half a bundle.
tmp="$SITE/pkg.new"
rm -rf "$tmp"
mkdir -p "$tmp"
"$wbg_root/bin/wasm-bindgen" --target web --no-typescript --out-dir "$tmp" --out-name fdt_ui "$raw"
echo "==> wasm-opt -Oz"
node "$binaryen/node_modules/binaryen/bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$tmp/fdt_ui_bg.wasm" -o "$tmp/fdt_ui_bg.opt.wasm"
mv "$tmp/fdt_ui_bg.opt.wasm" "$tmp/fdt_ui_bg.wasm"
for f in "$tmp/fdt_ui.js" "$tmp/fdt_ui_bg.wasm"; do
  gzip -9 -k -f -n "$f"
  brotli -q 11 -k -f "$f"
done
rm -rf "$SITE/pkg.old"
[ -d "$SITE/pkg" ] && mv "$SITE/pkg" "$SITE/pkg.old"
mv "$tmp" "$SITE/pkg"
rm -rf "$SITE/pkg.old"

size() { stat -c %s "$1"; }
printf 'UI bundle in %s/pkg: wasm %d B raw, %d B gzip, %d B brotli; js %d B raw, %d B gzip, %d B brotli\n' "$SITE" \
  "$(size "$SITE/pkg/fdt_ui_bg.wasm")" "$(size "$SITE/pkg/fdt_ui_bg.wasm.gz")" "$(size "$SITE/pkg/fdt_ui_bg.wasm.br")" \
  "$(size "$SITE/pkg/fdt_ui.js")" "$(size "$SITE/pkg/fdt_ui.js.gz")" "$(size "$SITE/pkg/fdt_ui.js.br")"

# The desktop window's copy (desktop/dist, embedded by fdt-desktop at compile time): the raw
# files only (the webview reads them from the app, uncompressed). A file is rewritten only
# when its content changed, since a new mtime would make cargo rebuild the desktop app.
sync_file() {
  mkdir -p "$(dirname "$2")"
  if ! cmp -s "$1" "$2"; then
    cp "$1" "$2.tmp" && mv "$2.tmp" "$2"
    echo "==> updated $2"
  fi
}
sync_file "$SITE/pkg/fdt_ui.js" desktop/dist/pkg/fdt_ui.js
sync_file "$SITE/pkg/fdt_ui_bg.wasm" desktop/dist/pkg/fdt_ui_bg.wasm
sync_file ui/style/fdt.css desktop/dist/assets/fdt.css
