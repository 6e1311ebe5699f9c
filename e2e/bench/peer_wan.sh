# peer_wan.sh - fdt, rathole and bore behind a simulated WAN, as peers of the shared benchmark.
#
# Sourced by ../shared/bench/bench.sh through PEERS_EXTRA (see e2e/bench/run.sh). It sources
# peer_fdt.sh beside it, so this one file defines every FDT-side peer: fdt, fdt_noinspect and
# the three below. Each *_wan peer is its base peer with `fdt-impair` between the agent/client
# and the relay/server (the tunnel's own path); visitors (iperf3, wrk, curl) still reach the
# relay/server directly, as with a relay in a data centre and an agent behind a long link:
#
#   fdt_wan      agent  --QUIC--> fdt-impair udp 127.0.0.1:$WAN_PORT --> relay  127.0.0.1:$CTRL
#   rathole_wan  client --TCP-->  fdt-impair tcp 127.0.0.1:$WAN_PORT --> server 127.0.0.1:$CTRL
#   bore_wan     client --TCP-->  fdt-impair tcp $WAN_BORE_HOST:7835 --> server 127.0.0.1:7835
#                (bore's control port is always 7835, so the proxy takes a second loopback
#                address, and the client is given it with --to)
#
# WAN_SPEC   impairment in each direction (default delay=25ms,loss=1%: 50 ms RTT, 1 % loss each
#            way); syntax in e2e/src/impair/spec.rs, e.g. delay=25ms,jitter=2ms,loss=1%,rate=100mbit
# WAN_PORT   the proxy's port for fdt_wan and rathole_wan (default 22334)
# WAN_BORE_HOST  the proxy's address for bore_wan (default 127.0.0.2)
#
# Over UDP a loss drops the datagram and QUIC recovers. TCP never loses bytes, so for rathole
# and bore a loss holds the chunk (and the stream behind it) back one RTO, 200 ms: what a lost
# segment looks like to the application (e2e/src/impair/tcp.rs has the whole model).
#
# The proxy is not in $W/server.pids or $W/client.pids, so bench.sh's RSS and CPU figures stay
# those of the tunnel alone. It is started after the server (each server start, so ready_ms
# runs see a fresh one), its pid is in $W/wan.pids, and a watcher stops it within ~10 ms of that
# server's exit, i.e. when bench.sh's stop_tunnel runs. Log: $W/wan.log (its counters are written there
# when it stops).
#
# Binary: ${IMPAIR_BIN:-/var/tmp/fdt-target/debug/fdt-impair} (cargo build -p fdt-e2e --bin
# fdt-impair; run.sh builds it when a *_wan peer is asked for). The dev profile: it reuses the
# test suite's build (dependencies are built at opt-level 2 there), where a release build would
# compile the e2e crate's whole dependency tree again; a proxy at 25 ms per hop is not the
# bottleneck.

# shellcheck source=peer_fdt.sh
source "$(dirname "${BASH_SOURCE[0]}")/peer_fdt.sh"

WAN_SPEC=${WAN_SPEC:-delay=25ms,loss=1%}
IMPAIR_BIN=${IMPAIR_BIN:-${CARGO_TARGET_DIR:-/var/tmp/fdt-target}/debug/fdt-impair}
WAN_PORT=${WAN_PORT:-22334}
WAN_BORE_HOST=${WAN_BORE_HOST:-127.0.0.2}

wan_bound() {   # $1 tcp|udp, $2 ip:port -> the socket is bound (listening, for TCP)
  local flag=t; [ "$1" = udp ] && flag=u
  ss -Hln$flag "src $2" 2>/dev/null | grep -q .
}

wan_wait_bound() {   # $1 tcp|udp, $2 ip:port, $3 timeout s
  local n=0
  while [ $n -lt $(($3 * 50)) ]; do wan_bound "$1" "$2" && return 0; sleep 0.02; n=$((n + 1)); done
  return 1
}

# wan_start udp|tcp LISTEN UPSTREAM: start fdt-impair for the server just started (the last pid
# in $W/server.pids). Waits (bounded) until the proxy is bound, so the client never meets a
# closed port; for TCP also until the server listens, since bore's client gives up at once
# when its first connection is refused.
wan_start() {
  local proto=$1 listen=$2 upstream=$3 server_pid
  server_pid=$(tail -n 1 "$W/server.pids")
  stop_pids "$W/wan.pids"   # the proxy of the previous start, if its watcher has not yet run
  if [ "$proto" = tcp ] && ! wan_wait_bound tcp "$upstream" 30; then
    echo "peer_wan: $upstream not listening within 30 s" >>"$W/wan.log"
    return 0
  fi
  "$IMPAIR_BIN" "$proto" --listen "$listen" --upstream "$upstream" --spec "$WAN_SPEC" \
    >>"$W/wan.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >>"$W/wan.pids"
  # The watcher stops the proxy with the server, within ~10 ms: bench.sh checks that port 7835
  # is free right after stopping a peer (plus a python step), so bore_wan's proxy must be gone
  # by then. Its output goes nowhere: bench.sh reads some steps through $(...), which would
  # otherwise wait for it.
  ( tail --pid="$server_pid" -s 0.01 -f /dev/null; kill "$pid" 2>/dev/null ) \
    >/dev/null 2>&1 </dev/null &
  wan_wait_bound "$proto" "$listen" 10 ||
    echo "peer_wan: fdt-impair not bound to $listen within 10 s" >>"$W/wan.log"
}

peer_fdt_wan() {
  case $1 in
    info) peer_fdt info ;;
    server) peer_fdt server
      wan_start udp "127.0.0.1:$WAN_PORT" "127.0.0.1:$CTRL" ;;
    # the agent's relay address is the proxy's: fdt_write_agent_config writes relay = $CTRL
    client) CTRL=$WAN_PORT peer_fdt client ;;
  esac
}

peer_rathole_wan() {
  case $1 in
    info) peer_rathole info ;;
    server) peer_rathole server
      # rathole_conf wrote the server's own address into the client's config: point it at the proxy
      sed -i "s/^remote_addr = .*/remote_addr = \"127.0.0.1:$WAN_PORT\"/" "$W/client.toml"
      wan_start tcp "127.0.0.1:$WAN_PORT" "127.0.0.1:$CTRL" ;;
    client) peer_rathole client ;;
  esac
}

peer_bore_wan() {
  case $1 in
    info) peer_bore info ;;
    server) peer_bore server
      wan_start tcp "$WAN_BORE_HOST:7835" "127.0.0.1:7835" ;;
    client)   # peer_bore's client with --to the proxy (bore has no control-port option)
      "$BIN/bore" local "$ORIGIN_HTTP" --local-host 127.0.0.1 --to "$WAN_BORE_HOST" \
        --port "$PUB_HTTP" >>"$W/client-http.log" 2>&1 & addpid client $!
      "$BIN/bore" local "$ORIGIN_TCP" --local-host 127.0.0.1 --to "$WAN_BORE_HOST" \
        --port "$PUB_TCP" >>"$W/client-tcp.log" 2>&1 & addpid client $! ;;
  esac
}
