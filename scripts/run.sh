#!/usr/bin/env bash
# Runs the product on its embedded defaults on one machine: a relay in dev mode (own signing
# key and dev CA under .fdt-dev/), a sample local web service, and an agent exposing it.
# Prints the public URLs; Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
DATA=${FDT_DEV_DIR:-$PWD/.fdt-dev}
SAMPLE_PORT=${SAMPLE_PORT:-8000}
mkdir -p "$DATA/site"

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
echo "==> building fdt-relay and fdt (release)"
cargo build --release -q -p fdt-relay -p fdt-agent-core
BIN=$CARGO_TARGET_DIR/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The sample service: a static page served by Python's standard library.
echo "<h1>Hello through FlyingDarkDevTunnel</h1>" >"$DATA/site/index.html"
python3 -m http.server "$SAMPLE_PORT" --bind 127.0.0.1 --directory "$DATA/site" >"$DATA/sample.log" 2>&1 &
pids+=($!)

rm -f "$DATA/relay/agent-token"
"$BIN/fdt-relay" --dev --data-dir "$DATA/relay" >"$DATA/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$DATA/relay/agent-token" ] && break; sleep 0.1; done
[ -s "$DATA/relay/agent-token" ] || { cat "$DATA/relay.log"; echo "relay did not start" >&2; exit 1; }

FDT_AUTHTOKEN=$(cat "$DATA/relay/agent-token") "$BIN/fdt" http "$SAMPLE_PORT" --subdomain demo \
  --relay 127.0.0.1:7443 --relay-ca "$DATA/relay/dev-ca/ca.pem" --log-format text >"$DATA/agent.out" 2>"$DATA/agent.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "online:" "$DATA/agent.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'https://[^ ]*' "$DATA/agent.out" | head -1)
[ -n "$url" ] || { cat "$DATA/agent.log"; echo "agent did not come online" >&2; exit 1; }

cat <<MSG

FlyingDarkDevTunnel is running (relay + agent + sample service on :$SAMPLE_PORT)
  public URL (HTTPS): $url
  public URL (HTTP):  http://demo.localhost:8080
  agent API:          http://127.0.0.1:4040/api/tunnels
  try:  curl --cacert $DATA/relay/dev-ca/ca.pem $url
  logs: $DATA/*.log        Ctrl+C to stop
MSG
curl -sS --max-time 5 --cacert "$DATA/relay/dev-ca/ca.pem" "$url" && echo
wait
