#!/usr/bin/env bash
# sessions.sh - what N idle agent sessions cost a relay: resident memory and CPU, for the
# capacity figures in installers/CAPACITY.md. Loopback only, bounded in time.
#
#   e2e/bench/sessions.sh [N]        (default N=200; release binaries in $FDT_BIN)
#
# Starts `fdt-relay --dev` (HTTP edge only) and one origin, measures the relay's RSS, then
# starts N `fdt start` processes, each with one HTTP tunnel (subdomain sI, inspection and
# local API off) to the origin, waits until every tunnel answers 200 through the relay,
# lets them settle, and measures the relay's RSS again and its CPU time over IDLE seconds
# with the N sessions quiet (their keep-alives are all that runs). Prints one table.
set -euo pipefail
N=${1:-200}
IDLE=${IDLE:-30}
FDT_BIN=${FDT_BIN:-/var/tmp/fdt-target/release}
W=$(mktemp -d /tmp/fdt-sessions.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HTTP=$(free_port); CTRL=$(free_port); ORIGIN=$(free_port)

mkdir -p "$W/origin" && echo ok >"$W/origin/index.html"
python3 -m http.server "$ORIGIN" --bind 127.0.0.1 --directory "$W/origin" >/dev/null 2>&1 &
pids+=($!)
"$FDT_BIN/fdt-relay" --dev --data-dir "$W/relay" --base-domain localhost \
  --agent-listen "127.0.0.1:$CTRL" --http-listen "127.0.0.1:$HTTP" --https-listen off \
  --admin-listen off >"$W/relay.log" 2>&1 &
RELAY=$!; pids+=($RELAY)
for _ in $(seq 300); do [ -s "$W/relay/agent-token" ] && [ -s "$W/relay/dev-ca/ca.pem" ] && break; sleep 0.05; done
TOKEN=$(cat "$W/relay/agent-token")
sleep 1
RSS0=$(rss_kib $RELAY)

for i in $(seq 1 "$N"); do
  printf 'authtoken = "%s"\nrelay = "127.0.0.1:%s"\nrelay_ca = "%s"\n\n[tunnels.web]\nproto = "http"\naddr = "127.0.0.1:%s"\nsubdomain = "s%s"\n' \
    "$TOKEN" "$CTRL" "$W/relay/dev-ca/ca.pem" "$ORIGIN" "$i" >"$W/a$i.toml"
  "$FDT_BIN/fdt" --config "$W/a$i.toml" --api-addr off --inspect=false start >"$W/a$i.log" 2>&1 </dev/null &
  pids+=($!)
done
started=$(date +%s)
for i in $(seq 1 "$N"); do
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: s$i.localhost" "http://127.0.0.1:$HTTP/")" = 200 ]; do
    if [ $(( $(date +%s) - started )) -gt 300 ]; then echo "session $i not serving after 300 s" >&2; exit 1; fi
    sleep 0.2
  done
done
ready=$(( $(date +%s) - started ))
sleep 5
RSS1=$(rss_kib $RELAY)
T0=$(cpu_ticks $RELAY); sleep "$IDLE"; T1=$(cpu_ticks $RELAY)
HZ=$(getconf CLK_TCK)
echo "| N sessions | all serving after | relay RSS idle | relay RSS with N | per session | relay CPU while quiet |"
echo "|---|---|---|---|---|---|"
awk -v n="$N" -v r="$ready" -v a="$RSS0" -v b="$RSS1" -v t="$((T1 - T0))" -v hz="$HZ" -v idle="$IDLE" 'BEGIN {
  printf "| %d | %d s | %.1f MiB | %.1f MiB | %.1f KiB | %.2f %% of a core (%.1f us/s per session) |\n",
    n, r, a/1024, b/1024, (b-a)/n, 100*t/hz/idle, 1e6*t/hz/idle/n }'
