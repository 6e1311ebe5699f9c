#!/usr/bin/env bash
# The chaos drill: every scenario of the e2e `chaos::` stories (e2e/tests/chaos/) one after
# another against real relays, a real control plane and agents, then a table of what each
# scenario measured.
#
#   e2e/chaos/drill.sh [full|ci]    (default: full, about 6 minutes; bounded to 10)
#
# `ci` is the short profile the test command runs anyway (inside `cargo nextest run`); `full`
# repeats the relay kill ten times and lasts longer under loss and without the cloud. The
# drill fails when a scenario fails or when a relay kill took an agent 2 s or more to be back
# on the next relay (the target of issue 18; the stories themselves assert no timing).
# Set RESULTS=FILE to also write the table there (Markdown); tables of past drills are kept in
# e2e/chaos/results/.
set -euo pipefail
profile=${1:-full}
case "$profile" in full | ci) ;; *) echo "usage: $0 [full|ci]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/fdt-target}
# Failover target, milliseconds.
TARGET_MS=2000
# The drill's own bound, seconds (builds come before it and are not counted).
LIMIT=600

echo "==> building the binaries the drill runs (fdt-relay, fdt-cloud) and the stories"
cargo build --bin fdt-relay --bin fdt-cloud
cargo nextest run -p fdt-e2e --test e2e --no-run

report=$(mktemp)
trap 'rm -f "$report"' EXIT
started=$(date +%s)
echo "==> chaos drill, profile $profile (at most ${LIMIT}s)"
status=0
FDT_CHAOS_PROFILE=$profile FDT_CHAOS_REPORT=$report timeout "$LIMIT" \
  cargo nextest run -p fdt-e2e --test e2e -E 'test(/^chaos::/)' --test-threads 1 \
  --no-fail-fast || status=$?
took=$(($(date +%s) - started))

table=$(
  echo "| scenario | result |"
  echo "|---|---|"
  sed -n 's/^chaos| \([a-z_]*\) | \(.*\)$/| \1 | \2 |/p' "$report"
)
echo
echo "$table"
echo
echo "drill: profile $profile, ${took}s, nextest exit $status"

# The worst failover of the runs: "max NNN ms" in the sigkill summary row.
worst=$(sed -n 's/^chaos| sigkill | failover over .*agent on us-1 .* max \([0-9]*\) ms; serving.*/\1/p' "$report")
verdict="failover: no figure (the sigkill scenario did not finish)"
if [ -n "$worst" ]; then
  if [ "$worst" -lt "$TARGET_MS" ]; then
    verdict="failover: worst ${worst} ms < ${TARGET_MS} ms target: PASS"
  else
    verdict="failover: worst ${worst} ms >= ${TARGET_MS} ms target: FAIL"
    status=1
  fi
else
  status=1
fi
echo "$verdict"
if [ -n "${RESULTS:-}" ]; then
  {
    echo "# Chaos drill, profile $profile, $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD)"
    echo
    echo "$table"
    echo
    echo "$verdict; drill ${took}s; nextest exit $status"
  } >"$RESULTS"
  echo "table written to $RESULTS"
fi
exit "$status"
