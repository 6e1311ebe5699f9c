#!/usr/bin/env bash
# Runs the product on its embedded defaults on one machine: `fdt-cloud dev` (control plane and
# an embedded relay in one process; SQLite, keys and dev CA under .fdt-dev/), a sample local web
# service, and `fdt http` configured by nothing but the agent config `fdt-cloud dev` wrote.
# Prints the public URLs; Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
DATA=${FDT_DEV_DIR:-$PWD/.fdt-dev}
SAMPLE_PORT=${SAMPLE_PORT:-8000}
mkdir -p "$DATA/site"
# The agent config (authtoken, api_url, relay_ca) goes under $DATA too, so this demo leaves
# your own ~/.config/fdt/fdt.toml alone; both programs read XDG_CONFIG_HOME.
export XDG_CONFIG_HOME="$DATA/config"

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
# The web console's and inspector's browser bundle (wasm), found by both programs next to
# their target directory.
scripts/build-ui.sh
echo "==> building fdt-cloud and fdt (release)"
cargo build --release -q -p fdt-cloud -p fdt-agent-core
BIN=$CARGO_TARGET_DIR/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The sample service: a static page served by Python's standard library.
echo "<h1>Hello through FlyingDarkDevTunnel</h1>" >"$DATA/site/index.html"
python3 -m http.server "$SAMPLE_PORT" --bind 127.0.0.1 --directory "$DATA/site" >"$DATA/sample.log" 2>&1 &
pids+=($!)

# Control plane + embedded relay; it prints `fdt http 8000` as the next step once it is ready.
rm -f "$DATA/cloud.out"
"$BIN/fdt-cloud" dev --data-dir "$DATA/cloud" >"$DATA/cloud.out" 2>"$DATA/cloud.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "fdt http" "$DATA/cloud.out" 2>/dev/null && break; sleep 0.1; done
grep -q "fdt http" "$DATA/cloud.out" 2>/dev/null || { cat "$DATA/cloud.log"; echo "fdt-cloud dev did not start" >&2; exit 1; }
CA="$DATA/cloud/relay/dev-ca/ca.pem"

"$BIN/fdt" http "$SAMPLE_PORT" --subdomain demo --log-format text >"$DATA/agent.out" 2>"$DATA/agent.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "online:" "$DATA/agent.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'https://[^ ]*' "$DATA/agent.out" | head -1)
[ -n "$url" ] || { cat "$DATA/agent.log"; echo "agent did not come online" >&2; exit 1; }

cat <<MSG

FlyingDarkDevTunnel is running (fdt-cloud dev + agent + sample service on :$SAMPLE_PORT)
  public URL (HTTPS): $url
  public URL (HTTP):  http://demo.localhost:8080
  web console:        http://127.0.0.1:8780   (sign in as dev@fdt.localhost, password in $DATA/cloud/dev-password)
  control plane API:  http://127.0.0.1:8780/v1   (dev account and authtoken: $DATA/cloud.out)
  local inspector:    http://127.0.0.1:4040   (agent API: /api/tunnels)
  try:  curl --cacert $CA $url
  logs: $DATA/*.log        Ctrl+C to stop
MSG
curl -sS --max-time 5 --cacert "$CA" "$url" && echo
wait
