#!/usr/bin/env bash
# Checks the monitoring that ships with gha-ingest:
# - deploy/prometheus/alerts.yml with `promtool check rules`, and its unit tests
#   (deploy/prometheus/alerts.test.yml) with `promtool test rules`;
# - deploy/grafana/gha-ingest.json: valid JSON, the datasource/job/instance variables, every panel
#   with a datasource and at least one query, every query valid PromQL (promtool again);
# - every gha_ingest_* metric named by the dashboard or the alerts is in docs/metrics.md, the
#   list /metrics is tested against (a name missing there is a panel that stays empty, or an alert
#   that never fires, silently);
# - every alert has a severity (page or ticket), summary, description and a runbook_url whose
#   anchor is a heading of docs/runbook.md, and a unit test where it fires and one where it does not.
#
# promtool comes from Debian's `prometheus` package, unpacked (not installed: no server, no
# service) into .tools/promtool; PROMTOOL=/path/to/promtool uses another one.
# Usage: scripts/deploy-checks/monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ALERTS=deploy/prometheus/alerts.yml
ALERT_TESTS=deploy/prometheus/alerts.test.yml
DASHBOARD=deploy/grafana/gha-ingest.json
METRICS_DOC=docs/metrics.md
RUNBOOK=docs/runbook.md
TOOLS_DIR=.tools/promtool

fail() {
  echo "error: $*" >&2
  exit 1
}

for file in "$ALERTS" "$ALERT_TESTS" "$DASHBOARD" "$METRICS_DOC" "$RUNBOOK"; do
  [ -f "$file" ] || fail "$file is missing"
done

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

install_promtool() {
  echo "==> fetching promtool (Debian's prometheus package, unpacked into $TOOLS_DIR)"
  command -v apt-get >/dev/null || fail "promtool is missing and apt-get is not available: set PROMTOOL=/path/to/promtool"
  # apt-get download needs current package lists; a fresh container has none.
  if ! apt-cache show prometheus >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || fail "apt has no package lists: run 'apt-get update' as root, or set PROMTOOL"
    apt-get update -qq
  fi
  local download="$workdir/deb"
  mkdir -p "$download"
  # As root, apt would hand the download to its sandbox user '_apt', which cannot write into a
  # private temporary folder; downloading as root is what it falls back to anyway, minus the warning.
  local sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$download" && apt-get download -qq "${sandbox[@]}" prometheus) \
    || fail "apt-get download prometheus failed"
  dpkg-deb -x "$download"/prometheus_*.deb "$download/root"
  mkdir -p "$TOOLS_DIR/bin"
  # Only promtool is kept: the server binary next to it is another 50 MB nobody runs.
  install -m 0755 "$download/root/usr/bin/promtool" "$TOOLS_DIR/bin/promtool.new"
  mv "$TOOLS_DIR/bin/promtool.new" "$TOOLS_DIR/bin/promtool"
}

if [ -n "${PROMTOOL:-}" ]; then
  [ -x "$PROMTOOL" ] || fail "PROMTOOL=$PROMTOOL is not executable"
else
  PROMTOOL="$TOOLS_DIR/bin/promtool"
  [ -x "$PROMTOOL" ] || install_promtool
fi
echo "==> $("$PROMTOOL" --version 2>&1 | head -n 1)"

# PyYAML reads the rules for the structural checks; scripts/test's .venv (moto) already has it.
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import yaml' 2>/dev/null; then
  echo "==> installing PyYAML into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check 'PyYAML>=6,<7'
fi

echo "==> promtool check rules $ALERTS"
"$PROMTOOL" check rules "$ALERTS"

echo "==> dashboard, metric names, alert labels and runbook anchors"
DASHBOARD_RULES="$workdir/dashboard-queries.yml"
.venv/bin/python - "$DASHBOARD" "$ALERTS" "$ALERT_TESTS" "$METRICS_DOC" "$RUNBOOK" "$DASHBOARD_RULES" <<'PYTHON'
import json
import re
import sys

import yaml

dashboard_path, alerts_path, tests_path, metrics_doc, runbook, rules_out = sys.argv[1:]
RUNBOOK_URL = "https://github.com/gha-ingest/gha-ingest/blob/main/docs/runbook.md#"
problems = []

# --- the documented metrics -------------------------------------------------------------------
documented = {}  # name -> type
for line in open(metrics_doc, encoding="utf-8"):
    match = re.match(r"\|\s*`(gha_ingest_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|", line)
    if match:
        documented[match.group(1)] = match.group(2)
if not documented:
    sys.exit(f"error: no metric table found in {metrics_doc}")


def undocumented(expr):
    """gha_ingest_* names in a query that docs/metrics.md does not list."""
    missing = []
    for name in re.findall(r"\bgha_ingest_[a-z0-9_]+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name in documented:
            continue
        if base != name and documented.get(base) == "histogram":
            continue
        missing.append(name)
    return missing


# --- the dashboard ----------------------------------------------------------------------------
try:
    dashboard = json.load(open(dashboard_path, encoding="utf-8"))
except ValueError as error:
    sys.exit(f"error: {dashboard_path} is not valid JSON: {error}")

variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
for name, kind in (("datasource", "datasource"), ("job", "query"), ("instance", "query")):
    if variables.get(name, {}).get("type") != kind:
        problems.append(f"{dashboard_path}: no {kind} variable named {name!r}")
if not dashboard.get("uid"):
    problems.append(f"{dashboard_path}: no uid (provisioning and links need a fixed one)")


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


queries = []
seen_ids = set()
for panel in all_panels(dashboard.get("panels", [])):
    title = f"panel {panel.get('id')} {panel.get('title')!r}"
    if panel.get("id") in seen_ids:
        problems.append(f"{dashboard_path}: {title}: duplicate panel id")
    seen_ids.add(panel.get("id"))
    if "gridPos" not in panel:
        problems.append(f"{dashboard_path}: {title}: no gridPos")
    if panel.get("type") in ("row", "text"):
        continue
    if not panel.get("datasource"):
        problems.append(f"{dashboard_path}: {title}: no datasource")
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"{dashboard_path}: {title}: no targets")
    ref_ids = [target.get("refId") for target in targets]
    if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
        problems.append(f"{dashboard_path}: {title}: refIds missing or repeated: {ref_ids}")
    for target in targets:
        expr = (target.get("expr") or "").strip()
        if not expr:
            problems.append(f"{dashboard_path}: {title}: target {target.get('refId')} has no expr")
            continue
        if not (target.get("datasource") or panel.get("datasource")):
            problems.append(f"{dashboard_path}: {title}: target {target.get('refId')} has no datasource")
        for name in undocumented(expr):
            problems.append(f"{dashboard_path}: {title}: {name} is not in {metrics_doc}")
        queries.append((f"panel_{panel.get('id')}_{target.get('refId')}", expr))

for annotation in dashboard.get("annotations", {}).get("list", []):
    if annotation.get("expr"):
        queries.append((f"annotation_{len(queries)}", annotation["expr"]))

# Grafana's variables replaced by values PromQL accepts, so promtool can parse every query.
def as_promql(expr):
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    return re.sub(r"\$\{?(job|instance)\}?", ".*", expr)

with open(rules_out, "w", encoding="utf-8") as out:
    yaml.safe_dump(
        {"groups": [{"name": "dashboard-queries", "rules": [
            {"record": f"dashboard:{where}", "expr": as_promql(expr)}
            for where, expr in queries]}]},
        out, sort_keys=False)

# --- the alerts and their tests ---------------------------------------------------------------
def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")

runbook_text = open(runbook, encoding="utf-8").read()
anchors = {slug(line.lstrip("#")) for line in runbook_text.splitlines() if re.match(r"#{1,6} ", line)}
for link in re.findall(r"\]\(#([^)]+)\)", runbook_text):
    if link not in anchors:
        problems.append(f"{runbook}: link to #{link}, which is no heading")

rules = yaml.safe_load(open(alerts_path, encoding="utf-8"))
alert_names = []
for group in rules.get("groups", []):
    for rule in group.get("rules", []):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        alert_names.append(name)
        for metric in undocumented(rule.get("expr", "")):
            problems.append(f"{alerts_path}: {name}: {metric} is not in {metrics_doc}")
        severity = rule.get("labels", {}).get("severity")
        if severity not in ("page", "ticket"):
            problems.append(f"{alerts_path}: {name}: severity is {severity!r}, not page or ticket")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                problems.append(f"{alerts_path}: {name}: no {key} annotation")
        url = annotations.get("runbook_url", "")
        if not url.startswith(RUNBOOK_URL):
            problems.append(f"{alerts_path}: {name}: runbook_url does not start with {RUNBOOK_URL}")
        elif url[len(RUNBOOK_URL):] not in anchors:
            problems.append(f"{alerts_path}: {name}: {runbook} has no heading for #{url[len(RUNBOOK_URL):]}")
if len(set(alert_names)) != len(alert_names):
    problems.append(f"{alerts_path}: an alert name is used twice")

fires, stays_quiet = set(), set()
for test in yaml.safe_load(open(tests_path, encoding="utf-8")).get("tests", []):
    for case in test.get("alert_rule_test", []):
        (fires if case.get("exp_alerts") else stays_quiet).add(case.get("alertname"))
for name in alert_names:
    if name not in fires:
        problems.append(f"{tests_path}: no test where {name} fires")
    if name not in stays_quiet:
        problems.append(f"{tests_path}: no test where {name} stays quiet")

for problem in problems:
    print(f"error: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"    {len(queries)} dashboard queries, {len(alert_names)} alerts, "
      f"{len(documented)} documented metrics, {len(anchors)} runbook headings: all consistent")
PYTHON

echo "==> promtool test rules $ALERT_TESTS"
"$PROMTOOL" test rules "$ALERT_TESTS"

echo "==> promtool check rules (every dashboard query as PromQL)"
if ! promtool_output="$("$PROMTOOL" check rules "$DASHBOARD_RULES" 2>&1)"; then
  echo "$promtool_output" >&2
  fail "a dashboard query is not valid PromQL (above: dashboard:panel_<id>_<refId> names it)"
fi

echo "==> monitoring checks passed"
