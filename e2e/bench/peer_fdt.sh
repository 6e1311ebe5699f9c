# peer_fdt.sh - FlyingDarkDevTunnel as a peer of the shared loopback benchmark.
#
# Sourced by ../shared/bench/bench.sh through PEERS_EXTRA (see e2e/bench/run.sh); defines
# `peer_fdt ACTION` after the template `peer_mytunnel` in bench.sh.
#
#   relay:  fdt-relay --dev, agent endpoint udp/127.0.0.1:$CTRL (QUIC), HTTP edge on $PUB_HTTP
#           (routes by Host: bench.localhost), HTTPS edge off, TCP tunnel port range = $PUB_TCP.
#   agent:  ONE `fdt start` process with two tunnels from a generated fdt.toml:
#           web   (http, subdomain bench)  -> 127.0.0.1:$ORIGIN_HTTP (nginx)
#           iperf (tcp, remote_port $PUB_TCP) -> 127.0.0.1:$ORIGIN_TCP (iperf3 -s)
#
# Binaries: ${FDT_BIN:-/var/tmp/fdt-target/release}/{fdt-relay,fdt}.
# INSPECT=on|off (default on, like fdt itself): traffic capture for the inspector; with "on" the
# capture database is $W/inspect.db (removed at each server start; bench.sh starts a client only
# after a server), so runs with it on and off can be compared in one benchmark run.
# The agent endpoint is UDP, which bench.sh's TCP listen check cannot see, so the relay's HTTP
# edge port (opened by the relay once its keys, dev CA and token are ready) is the "server is
# up" signal.  Logs: $W/server.log, $W/client.log (W = $PEERS_WORK/run/fdt).

FDT_BIN=${FDT_BIN:-/var/tmp/fdt-target/release}
INSPECT=${INSPECT:-on}

# The fdt flags for $INSPECT, into the array FDT_INSPECT_ARGS. Builtins only, and no command
# substitution (a fork): the client start is inside m_ready's timed window. The capture
# database is removed when the server starts instead (each client start follows one).
fdt_inspect_args() {
  case $INSPECT in
    on) FDT_INSPECT_ARGS=(--inspect=true --inspect-db "$W/inspect.db") ;;
    off) FDT_INSPECT_ARGS=(--inspect=false) ;;
    *) echo "peer_fdt: INSPECT must be on or off, not $INSPECT" >>"$W/client.log"; return 1 ;;
  esac
}

fdt_write_agent_config() {   # waits (bounded) for the relay's dev token and CA, writes $W/fdt.toml
  local tok=$W/relay/agent-token ca=$W/relay/dev-ca/ca.pem n=0
  while { [ ! -s "$tok" ] || [ ! -s "$ca" ]; } && [ $n -lt 300 ]; do sleep 0.05; n=$((n + 1)); done
  if [ ! -s "$tok" ] || [ ! -s "$ca" ]; then
    echo "peer_fdt: relay did not write $tok / $ca within 15 s" >>"$W/client.log"
    return 1
  fi
  # builtins only: this runs inside the timed "client start -> first 200" window of m_ready
  local token; read -r token <"$tok"
  {
    echo "authtoken = \"$token\""
    echo "relay = \"127.0.0.1:$CTRL\""
    echo "relay_ca = \"$ca\""
    echo
    echo "[tunnels.web]"
    echo "proto = \"http\""
    echo "addr = \"127.0.0.1:$ORIGIN_HTTP\""
    echo "subdomain = \"bench\""
    echo
    echo "[tunnels.iperf]"
    echo "proto = \"tcp\""
    echo "addr = \"127.0.0.1:$ORIGIN_TCP\""
    echo "remote_port = $PUB_TCP"
  } >"$W/fdt.toml"
}

peer_fdt() {
  case $1 in
    info) HTTP_PORT=$PUB_HTTP; HOSTHDR=bench.localhost; TCP_PORT=$PUB_TCP; CTRL_LISTEN=$PUB_HTTP ;;
    server)
      mkdir -p "$W/relay"
      # a fresh token each start, so the client never picks up a stale one; a fresh capture
      # database for the client that follows (removed here, outside the timed client start)
      rm -f "$W/relay/agent-token" "$W/inspect.db" "$W/inspect.db-journal"
      "$FDT_BIN/fdt-relay" --dev --data-dir "$W/relay" --base-domain localhost \
        --agent-listen "127.0.0.1:$CTRL" --http-listen "127.0.0.1:$PUB_HTTP" \
        --https-listen off --tcp-ports "$PUB_TCP-$PUB_TCP" \
        >>"$W/server.log" 2>&1 & addpid server $! ;;
    client)
      fdt_write_agent_config || return 0
      fdt_inspect_args || return 0
      "$FDT_BIN/fdt" --config "$W/fdt.toml" --api-addr off "${FDT_INSPECT_ARGS[@]}" start \
        >>"$W/client.log" 2>&1 </dev/null & addpid client $! ;;
  esac
}

# fdt with inspection off, as its own peer, so one run measures both:
#   e2e/bench/run.sh fdt fdt_noinspect
peer_fdt_noinspect() {
  INSPECT=off peer_fdt "$@"
}
