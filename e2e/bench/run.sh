#!/usr/bin/env bash
# run.sh - build FDT (release) and run the shared peer benchmark with FDT as one of the peers.
#
#   e2e/bench/run.sh [PEER...]     default peers: direct rathole rathole_noise bore fdt
#
# Env: CARGO_TARGET_DIR (default /var/tmp/fdt-target), FDT_BIN (default $CARGO_TARGET_DIR/release),
#      FDT_SHARED_BENCH (default <repo>/../shared/bench), SKIP_BUILD=1 to use existing binaries,
#      plus bench.sh's knobs: RUNS DUR CONN_N HOLD_N HOLD_S ONLY PEERS_WORK.
# Peers (bore, rathole, iperf3, wrk, nginx...) are installed once by $FDT_SHARED_BENCH/setup.sh.
# Quick trial:  RUNS=1 DUR=3 HOLD_S=1 e2e/bench/run.sh direct fdt
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))
SHARED=${FDT_SHARED_BENCH:-$REPO/../shared/bench}
if [ ! -f "$SHARED/bench.sh" ]; then
  echo "run.sh: no bench.sh in $SHARED; set FDT_SHARED_BENCH to the shared/bench directory" >&2
  exit 2
fi
SHARED=$(cd "$SHARED" && pwd)

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
export FDT_BIN=${FDT_BIN:-$CARGO_TARGET_DIR/release}

case ${1:-} in list|table|-h|--help) SKIP_BUILD=1 ;; esac   # nothing to run: no build needed
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$REPO" && cargo build --release -p fdt-relay -p fdt-agent-core)
fi
for b in fdt-relay fdt; do
  [ -x "$FDT_BIN/$b" ] || [ "${1:-}" = table ] || [ "${1:-}" = list ] ||
    { echo "run.sh: $FDT_BIN/$b missing (build failed?)" >&2; exit 1; }
done

[ $# -gt 0 ] || set -- direct rathole rathole_noise bore fdt
PEER_BIN=${PEERS_WORK:-/var/tmp/fdt-peers}/bin/bin
for p in "$@"; do
  case $p in
    bore|rathole|rathole_noise)
      [ -x "$PEER_BIN/${p%_noise}" ] ||
        echo "run.sh: warning: $PEER_BIN/${p%_noise} missing; run bash $SHARED/setup.sh" >&2 ;;
  esac
done

PEERS_EXTRA=$HERE/peer_fdt.sh exec bash "$SHARED/bench.sh" "$@"
