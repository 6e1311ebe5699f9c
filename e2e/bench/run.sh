#!/usr/bin/env bash
# run.sh - build FDT (release) and run the shared peer benchmark with FDT as one of the peers.
#
#   e2e/bench/run.sh [PEER...]     default peers: direct rathole rathole_noise bore fdt
#
# Peers from this repository (PEERS_EXTRA=peer_wan.sh, which sources peer_fdt.sh): fdt,
# fdt_noinspect, and fdt_wan, rathole_wan, bore_wan behind a simulated WAN (fdt-impair, WAN_SPEC,
# default delay=25ms,loss=1%; see peer_wan.sh). fdt-impair is built when a *_wan peer is asked for.
#
# Each run's table is saved to e2e/bench/results/DATE-COMMIT.md (RESULTS=0: not saved).
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
[ $# -gt 0 ] || set -- direct rathole rathole_noise bore fdt
# fdt-impair lives in the e2e crate, whose dependencies (the in-process cloud, its databases, the
# WebDriver client) make a long release build: it is built in the dev profile the test suite
# already built, and only when a WAN peer needs it.
export IMPAIR_BIN=${IMPAIR_BIN:-$CARGO_TARGET_DIR/debug/fdt-impair}
bins=("$FDT_BIN/fdt-relay" "$FDT_BIN/fdt"); wan=0
for p in "$@"; do case $p in *_wan) wan=1 ;; esac; done
[ $wan = 0 ] || bins+=("$IMPAIR_BIN")
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$REPO" && cargo build --release -p fdt-relay -p fdt-agent-core)
  [ $wan = 0 ] || (cd "$REPO" && cargo build -p fdt-e2e --bin fdt-impair)
fi
for b in "${bins[@]}"; do
  [ -x "$b" ] || [ "${1:-}" = table ] || [ "${1:-}" = list ] ||
    { echo "run.sh: $b missing (build failed?)" >&2; exit 1; }
done

PEER_BIN=${PEERS_WORK:-/var/tmp/fdt-peers}/bin/bin
for p in "$@"; do
  case $p in
    bore|bore_wan|rathole|rathole_noise|rathole_wan)
      b=${p%_noise}; b=${b%_wan}
      [ -x "$PEER_BIN/$b" ] ||
        echo "run.sh: warning: $PEER_BIN/$b missing; run bash $SHARED/setup.sh" >&2 ;;
  esac
done

# bench.sh sources one PEERS_EXTRA file; peer_wan.sh sources peer_fdt.sh, so both are defined.
export PEERS_EXTRA=$HERE/peer_wan.sh
case ${1:-} in list|table|-h|--help|"") exec bash "$SHARED/bench.sh" "$@" ;; esac
bash "$SHARED/bench.sh" "$@"

# Every full run's table is kept in the repository (RESULTS=0 skips), named by date and commit,
# so a later slowdown shows in review. Only the peers of this run, from bench.sh's saved results.
if [ "${RESULTS:-1}" != 0 ]; then
  commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)
  out=$REPO/e2e/bench/results/$(date -u +%F)-$commit$dirty.md
  mkdir -p "$(dirname "$out")"
  {
    echo "# Benchmark $(date -u '+%F %H:%M UTC'), commit $commit$dirty"
    echo
    echo "\`e2e/bench/run.sh $*\` on $(nproc) cores ($(uname -m), $(uname -r)); knobs:" \
      "RUNS=${RUNS:-default} DUR=${DUR:-default} CONN_N=${CONN_N:-default}" \
      "HOLD_N=${HOLD_N:-default} HOLD_S=${HOLD_S:-default} ONLY=${ONLY:-all}" \
      "WAN_SPEC=${WAN_SPEC:-delay=25ms,loss=1%}. Values with their ratio to direct;" \
      "compare only figures from the same run."
    echo
    bash "$SHARED/bench.sh" table "$@"
  } >"$out"
  echo "run.sh: table saved to ${out#"$REPO"/}"
fi
