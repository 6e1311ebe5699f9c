#!/usr/bin/env bash
# Checks the monitoring config with promtool (Debian's prometheus package): the Prometheus
# config, the alert rules, their unit tests, every dashboard query (extracted by
# dashboards.py), and that every alert's runbook_url names a runbook that is here. Run by
# scripts/test.sh; the e2e story `monitoring::` runs the same queries against a live
# Prometheus.
set -euo pipefail
cd "$(dirname "$0")"
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)" >&2; exit 1; }

# The scrape config names a token file that exists only where Prometheus runs: check a copy
# that points at a throwaway one.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'test-token-0123456789\n' > "$tmp/token"
sed "s#credentials_file: .*#credentials_file: $tmp/token#" prometheus.yml > "$tmp/prometheus.yml"
cp -r rules "$tmp/rules"
promtool check config "$tmp/prometheus.yml"
promtool check rules rules/*.rules.yml
for t in tests/*.test.yml; do
  promtool test rules "$t"
done
# Every dashboard query parses (as a recording rule) and the dashboards are well formed.
python3 dashboards.py rules "$tmp/dashboards.rules.yml"
promtool check rules "$tmp/dashboards.rules.yml"

# Every alert has a unit test and a runbook.
missing=0
for alert in $(sed -n 's/^ *- alert: *//p' rules/*.rules.yml); do
  grep -q "alertname: $alert\$" tests/*.test.yml || { echo "alert $alert has no unit test" >&2; missing=1; }
  [ -f "runbooks/$alert.md" ] || { echo "alert $alert has no runbooks/$alert.md" >&2; missing=1; }
  grep -q "runbooks/$alert.md\"" rules/*.rules.yml || { echo "alert $alert: runbook_url does not name runbooks/$alert.md" >&2; missing=1; }
done
exit $missing
