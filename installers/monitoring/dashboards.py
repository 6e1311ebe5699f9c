#!/usr/bin/env python3
"""Extracts every query of the Grafana dashboards in dashboards/ and checks their shape.

  dashboards.py rules OUT            every query as a recording rule, for `promtool check rules`
  dashboards.py queries [INTERVAL]   every query as JSON lines, `$__rate_interval` set to
                                     INTERVAL (default 1m), for running against a Prometheus

Grafana is not available here, so a dashboard is checked through its queries: promtool
parses each one (check.sh), and the e2e story `monitoring::` runs each against a Prometheus
scraping the real binaries and wants data back. Shape rules: unique dashboard uids and panel
ids, a Prometheus datasource on every panel and target, at least one query per panel, and no
template variable but `$__rate_interval` (queries must run unedited in Prometheus).
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
VARIABLE = re.compile(r"\$\{?(\w+)")


def load():
    """[(file name, dashboard)], checked; exits 1 naming every problem."""
    problems, out, uids = [], [], set()
    for path in sorted((HERE / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        where = path.name
        uid = d.get("uid")
        if not uid or uid in uids:
            problems.append(f"{where}: missing or repeated uid {uid!r}")
        uids.add(uid)
        ids = set()
        panels = d.get("panels") or []
        if not panels:
            problems.append(f"{where}: no panels")
        for p in panels:
            pid = p.get("id")
            at = f"{where} panel {pid} ({p.get('title')!r})"
            if pid in ids or not isinstance(pid, int):
                problems.append(f"{at}: missing or repeated id")
            ids.add(pid)
            if p.get("datasource") != DATASOURCE:
                problems.append(f"{at}: datasource is not {DATASOURCE}")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"{at}: no queries")
            refs = set()
            for t in targets:
                ref, expr = t.get("refId"), (t.get("expr") or "").strip()
                if not ref or ref in refs:
                    problems.append(f"{at}: missing or repeated refId {ref!r}")
                refs.add(ref)
                if not expr:
                    problems.append(f"{at} {ref}: empty query")
                if t.get("datasource", DATASOURCE) != DATASOURCE:
                    problems.append(f"{at} {ref}: datasource is not {DATASOURCE}")
                for var in VARIABLE.findall(expr):
                    if var != "__rate_interval":
                        problems.append(f"{at} {ref}: variable ${var} (only $__rate_interval)")
        out.append((path.name, d))
    if not out:
        problems.append("no dashboards in dashboards/")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    return out


def queries(interval):
    for name, d in load():
        for p in d["panels"]:
            for t in p["targets"]:
                yield {
                    "dashboard": name,
                    "panel": p["title"],
                    "record": f"dashboard:{d['uid'].replace('-', '_')}:p{p['id']}_{t['refId']}",
                    "expr": t["expr"].replace("$__rate_interval", interval),
                }


def main(argv):
    if len(argv) == 3 and argv[1] == "rules":
        groups = {}
        for q in queries("5m"):
            groups.setdefault(q["dashboard"], []).append({"record": q["record"], "expr": q["expr"]})
        rules = {"groups": [{"name": f"dashboard {n}", "rules": r} for n, r in groups.items()]}
        # JSON is YAML: promtool reads it as a rules file.
        pathlib.Path(argv[2]).write_text(json.dumps(rules, indent=2) + "\n")
        return 0
    if len(argv) in (2, 3) and argv[1] == "queries":
        for q in queries(argv[2] if len(argv) == 3 else "1m"):
            print(json.dumps(q))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
