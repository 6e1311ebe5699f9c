#!/usr/bin/env bash
# profile.sh - perf profile of relay + agent under wrk (1 KiB, 32 connections), loopback, bounded.
#
#   e2e/bench/profile.sh OUTDIR      # INSPECT=on|off (default on), FDT_BIN (default release dir)
#   PERF=0 REPS=3 e2e/bench/profile.sh OUTDIR   # A/B runs without perf
#
# Needs the shared bench's nginx origin (../shared/bench/setup.sh), wrk, perf (run as root or
# with perf_event_paranoid <= 1), and the release binaries (e2e/bench/run.sh builds them).
# Starts nginx, a dev relay and an agent, warms up with 3 s of wrk, then records both
# processes with `perf record --call-graph dwarf` during 5 s of wrk into OUTDIR/{relay,agent}.data
# and appends req/s, p99 and CPU us per request per process (from /proc) to OUTDIR/summary.txt.
# Read the data with `perf report -i OUTDIR/agent.data --no-children`.
set -u
OUT=${1:?out}; INSPECT=${INSPECT:-on}; BIN=${FDT_BIN:-/var/tmp/fdt-target/release}
mkdir -p "$OUT"; W=$(mktemp -d)
nginx -c /var/tmp/fdt-peers/origin/nginx.conf & NG=$!
sleep 0.5
"$BIN/fdt-relay" --dev --data-dir "$W/relay" --base-domain localhost --agent-listen 127.0.0.1:22333 \
  --http-listen 127.0.0.1:28080 --https-listen off --tcp-ports 25201-25201 >"$OUT/relay.log" 2>&1 & RP=$!
for i in $(seq 100); do [ -s "$W/relay/agent-token" ] && [ -s "$W/relay/dev-ca/ca.pem" ] && break; sleep 0.1; done
cat >"$W/fdt.toml" <<T
authtoken = "$(cat $W/relay/agent-token)"
relay = "127.0.0.1:22333"
relay_ca = "$W/relay/dev-ca/ca.pem"
[tunnels.web]
proto = "http"
addr = "127.0.0.1:18080"
subdomain = "bench"
T
if [ "$INSPECT" = on ]; then IA=(--inspect=true --inspect-db "$W/inspect.db"); else IA=(--inspect=false); fi
"$BIN/fdt" --config "$W/fdt.toml" --api-addr off "${IA[@]}" start >"$OUT/agent.log" 2>&1 </dev/null & AP=$!
for i in $(seq 100); do curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.localhost' http://127.0.0.1:28080/1k | grep -q 200 && break; sleep 0.1; done
timeout 10 wrk -t2 -c32 -d3s -H 'Host: bench.localhost' http://127.0.0.1:28080/1k >/dev/null
c0r=$(awk '{print $14+$15}' /proc/$RP/stat); c0a=$(awk '{print $14+$15}' /proc/$AP/stat)
if [ "${PERF:-1}" = 1 ]; then
perf record -F 1999 -g --call-graph dwarf,16384 -p $RP -o "$OUT/relay.data" -- sleep 6 >/dev/null 2>&1 &
PR1=$!
perf record -F 1999 -g --call-graph dwarf,16384 -p $AP -o "$OUT/agent.data" -- sleep 6 >/dev/null 2>&1 &
PR2=$!
sleep 0.5
fi
for i in $(seq ${REPS:-1}); do
c0r=$(awk '{print $14+$15}' /proc/$RP/stat); c0a=$(awk '{print $14+$15}' /proc/$AP/stat)
timeout 20 wrk -t2 -c32 -d5s --latency -H 'Host: bench.localhost' http://127.0.0.1:28080/1k >"$OUT/wrk.txt"
c1r=$(awk '{print $14+$15}' /proc/$RP/stat); c1a=$(awk '{print $14+$15}' /proc/$AP/stat)
n=$(awk '/requests in/{print $1}' "$OUT/wrk.txt"); rps=$(awk '/Requests\/sec/{print $2}' "$OUT/wrk.txt"); p99=$(awk '$1=="99%"{print $2}' "$OUT/wrk.txt")
echo "rps=$rps p99=$p99 relay_us_per_req=$(( (c1r-c0r)*10000000/n/1000 )) agent_us_per_req=$(( (c1a-c0a)*10000000/n/1000 )) agent_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$AP/status)" | tee -a "$OUT/summary.txt"
done
[ "${PERF:-1}" = 1 ] && wait $PR1 $PR2
kill $AP $RP; wait $AP $RP 2>/dev/null; kill $NG; wait $NG 2>/dev/null
rm -rf "$W"
