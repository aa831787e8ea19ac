"""The checks behind .ci/check-ops: alert and SLO rules, dashboards, the metrics contract, checkov, and (--live)
the same against metrics scraped from a running stack and a real Prometheus.

Static (default):
  1. promtool check rules / check config / test rules on deploy/prometheus.
  2. Rule conventions: every alert has severity critical|warning, summary, description and a runbook_url
     docs/operations.md#<anchor> whose heading exists; every alert is unit-tested firing and not firing.
  3. The metrics contract (deploy/prometheus/metrics.txt): every metric name and label in the rules and in the
     dashboards' queries (and template variables) is in it, or is a recorded name of the rules.
  4. Dashboards (deploy/grafana/dashboards/*.json): required keys, unique uids and panel ids, panels on the
     24-column grid, targets with expr and unique refIds, every $variable defined, every query parses
     (promtool, with the variables substituted).
  5. checkov on the rendered production overlay: no failed check but the accepted ones (ACCEPTED, with their
     reasons); skips are reported with the reason written in the manifest. The digest check must pass on the
     overlay pinned by digest.

Live (--live SCRAPE_DIR [TARGET ...]):
  1. Every contract metric the rules or dashboards use is in some scrape of SCRAPE_DIR (files of /metrics
     text), except those in deploy/prometheus/pending-metrics.txt (reported); a pending one that is present
     fails (empty the list as the metrics arrive). The contract's labels and the SLO buckets are there.
  2. A real Prometheus (the `prometheus` binary) on a free port with a temporary config and data dir scrapes
     TARGET (host:port, path /metrics) or, without targets, the scrape files themselves served locally; it
     evaluates alerts.yaml and slo.yaml. Fails when a target is down, a rule group evaluates with an error,
     or a dashboard query or variable query errors; reports alerts firing and queries without data.
"""

from __future__ import annotations

import argparse
import glob
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Iterable

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.dirname(HERE)
REPO = os.path.dirname(DEPLOY)
PROM_DIR = os.path.join(DEPLOY, "prometheus")
RULE_FILES = [os.path.join(PROM_DIR, "alerts.yaml"), os.path.join(PROM_DIR, "slo.yaml")]
TEST_FILES = sorted(glob.glob(os.path.join(PROM_DIR, "tests", "*.yaml")))
CONTRACT = os.path.join(PROM_DIR, "metrics.txt")
PENDING = os.path.join(PROM_DIR, "pending-metrics.txt")
DASHBOARDS = sorted(glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")))
OPERATIONS_MD = os.path.join(REPO, "docs", "operations.md")
sys.path.insert(0, HERE)

# Labels a series gets from being scraped (compose: job, instance; Kubernetes: namespace, pod too).
SCRAPE_LABELS = {"job", "instance", "namespace", "pod"}
SEVERITIES = {"critical", "warning"}
# checkov findings accepted on the production overlay, and why. NetworkPolicy (CKV2_K8S_6) and secrets as
# environment variables (CKV_K8S_35) may never be accepted here: a skip of those is an annotation on the
# resource itself, with its reason, reported by this script.
ACCEPTED = {
    "CKV_K8S_43": "image should use a digest: the overlay in git carries the release tag; the release pipeline "
                  "sets the digest (images: digest in the overlay); checked below on the pinned render",
    "CKV_K8S_15": "imagePullPolicy Always: IfNotPresent on purpose, the images are pinned by digest (immutable) "
                  "and pods must start while the registry is unreachable; use the AlwaysPullImages admission "
                  "plugin in a multi-tenant cluster",
}
NEVER_ACCEPTED = {"CKV2_K8S_6", "CKV_K8S_35"}
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
                    "__interval_ms": "60000", "__range_ms": "3600000"}


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def note(self, what: str) -> None:
        self.notes.append(what)


def rel(path: str) -> str:
    return os.path.relpath(path, REPO)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------------------------------------
# the contract


def read_contract() -> dict[str, tuple[str, set[str]]]:
    """metrics.txt: name -> (type, labels)."""
    out: dict[str, tuple[str, set[str]]] = {}
    with open(CONTRACT, encoding="utf-8") as f:
        for line in f:
            s = line.split("#", 1)[0].strip()
            if not s:
                continue
            parts = s.split()
            if len(parts) < 3:
                raise SystemExit(f"{rel(CONTRACT)}: cannot parse {line.strip()!r}")
            labels = set() if parts[2] == "-" else set(parts[2].split(","))
            out[parts[0]] = (parts[1], labels)
    return out


def read_pending() -> dict[str, str]:
    """pending-metrics.txt: name -> why (the comment on its line)."""
    out: dict[str, str] = {}
    if not os.path.isfile(PENDING):
        return out
    with open(PENDING, encoding="utf-8") as f:
        for line in f:
            body, _, why = line.partition("#")
            if body.strip():
                out[body.split()[0]] = why.strip()
    return out


def series_names(contract: dict[str, tuple[str, set[str]]]) -> dict[str, str]:
    """Every series name a contract metric produces -> the contract name."""
    out = {}
    for name, (kind, _) in contract.items():
        out[name] = name
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out[name + suffix] = name
    return out


# --------------------------------------------------------------------------------------------------------
# a small PromQL reader: metric names and label names (promtool proves the expressions parse)

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
            "unless", "atan2", "inf", "nan", "start", "end"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
               "quantile", "limitk", "limit_ratio"}
TOKEN = re.compile(r"""
    (?P<ws>\s+) | (?P<comment>\#[^\n]*) |
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`) |
    (?P<range>\[[^\]]*\]) |
    (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)) |
    (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*) |
    (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){},@])
""", re.X)


def promql_refs(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """(metric name -> label names matched on it, label names used in by/without/on/ignoring/group_*)."""
    tokens = []
    pos = 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read {expr[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        tokens.append((kind, m.group(0)))
    metrics: dict[str, set[str]] = {}
    grouping: set[str] = set()
    i = 0
    last_metric: str | None = None
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text.lower() in LABEL_LIST_KEYWORDS and nxt == "(":
            j = i + 2
            while j < len(tokens) and tokens[j][1] != ")":
                if tokens[j][0] == "ident":
                    grouping.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if text == "{":
            j = i + 1
            while j < len(tokens) and tokens[j][1] != "}":
                if tokens[j][0] == "ident" and j + 1 < len(tokens) and tokens[j + 1][1] in ("=", "!=", "=~", "!~"):
                    if last_metric is not None:
                        metrics[last_metric].add(tokens[j][1])
                    else:
                        metrics.setdefault("{}", set()).add(tokens[j][1])
                j += 1
            i = j + 1
            last_metric = None
            continue
        if kind == "ident":
            if nxt == "(" or text.lower() in KEYWORDS or (text in AGGREGATORS and nxt.lower() in ("by", "without")):
                last_metric = None
            else:
                metrics.setdefault(text, set())
                last_metric = text
                i += 1
                continue
        else:
            last_metric = None
        i += 1
    return metrics, grouping


# --------------------------------------------------------------------------------------------------------
# rules


def load_rules() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in RULE_FILES:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        for g in doc.get("groups") or []:
            for r in g.get("rules") or []:
                out.append((f"{rel(path)} group {g.get('name')}", r))
    return out


def github_anchors(path: str) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    in_code = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def check_rule_conventions(rules: list[tuple[str, dict[str, Any]]], rep: Report) -> None:
    anchors = github_anchors(OPERATIONS_MD)
    seen: dict[str, set[str]] = {}
    for where, r in rules:
        if "alert" not in r:
            continue
        name = r["alert"]
        w = f"{where} alert {name}"
        sev = (r.get("labels") or {}).get("severity")
        if sev not in SEVERITIES:
            rep.fail(w, f"labels.severity must be one of {sorted(SEVERITIES)}")
        if sev in seen.setdefault(name, set()):
            rep.fail(w, f"a second rule of the same alert with the same severity {sev!r}")
        seen[name].add(str(sev))
        ann = r.get("annotations") or {}
        for k in ("summary", "description", "runbook_url"):
            if not str(ann.get(k, "")).strip():
                rep.fail(w, f"annotations.{k} is missing")
        url = str(ann.get("runbook_url", ""))
        m = re.fullmatch(r"docs/operations\.md#([\w-]+)", url)
        if not m:
            rep.fail(w, f"runbook_url {url!r} must be docs/operations.md#<anchor>")
        elif m.group(1) not in anchors:
            rep.fail(w, f"runbook_url anchor #{m.group(1)} is no heading of docs/operations.md")
        elif m.group(1) != name.lower():
            rep.fail(w, f"runbook_url anchor must be the alert's name in lower case (#{name.lower()})")
    # Every alert tested firing and not firing.
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        for t in doc.get("tests") or []:
            for a in t.get("alert_rule_test") or []:
                (fired if a.get("exp_alerts") else quiet).add(a.get("alertname"))
    for name in sorted(seen):
        if name not in fired:
            rep.fail(f"alert {name}", "no promtool test expects it to fire (deploy/prometheus/tests)")
        if name not in quiet:
            rep.fail(f"alert {name}", "no promtool test expects it to stay quiet (deploy/prometheus/tests)")
    rep.note(f"{len(seen)} alerts, each with severity, summary, description, a runbook in docs/operations.md, "
             f"and tests firing and not firing")


# --------------------------------------------------------------------------------------------------------
# dashboards

VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, variables: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return variables.get(name, GRAFANA_BUILTINS.get(name, m.group(0)))
    return VAR_RE.sub(sub, expr)


def dashboard_queries(path: str, rep: Report) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Checks one dashboard's structure; returns ([(where, expr)], [(where, variable query)]) with variables
    substituted."""
    where0 = rel(path)
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        rep.fail(where0, f"is not valid JSON: {e}")
        return [], []
    for k, t in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list), ("templating", dict),
                 ("time", dict)):
        if not isinstance(d.get(k), t):
            rep.fail(where0, f"needs {k} ({t.__name__})")
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", str(d.get("uid", ""))):
        rep.fail(where0, "uid must be 1-40 letters, digits, - or _")
    if "id" in d and d["id"] is not None:
        rep.fail(where0, "a provisioned dashboard must not carry a numeric id (set it to null or leave it out)")
    variables: dict[str, str] = {}
    var_queries: list[tuple[str, str]] = []
    for v in (d.get("templating") or {}).get("list") or []:
        name = v.get("name")
        if not name:
            rep.fail(where0, "a template variable has no name")
            continue
        if v.get("type") == "datasource":
            if v.get("query") != "prometheus":
                rep.fail(f"{where0} ${name}", "the data source variable must be of type prometheus")
            variables[name] = "prometheus"
        elif v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if not q:
                rep.fail(f"{where0} ${name}", "query variable without a query")
            else:
                var_queries.append((f"{where0} variable ${name}", q))
            variables[name] = ".*" if v.get("includeAll") or v.get("multi") else "x"
        else:
            variables[name] = "x"
    for where, q in var_queries:
        m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", q.strip())
        if not m:
            rep.fail(where, f"only label_values(...) variable queries are supported here: {q!r}")
    var_queries = [(w, substitute(q, variables)) for w, q in var_queries]

    exprs: list[tuple[str, str]] = []
    ids: set[int] = set()

    def walk(panels: list[Any]) -> Iterable[dict[str, Any]]:
        for p in panels:
            yield p
            yield from walk(p.get("panels") or [])

    for p in walk(d.get("panels") or []):
        pid = p.get("id")
        pw = f"{where0} panel {pid} {p.get('title')!r}"
        if not isinstance(pid, int):
            rep.fail(pw, "needs an integer id")
        elif pid in ids:
            rep.fail(pw, "id is used twice")
        ids.add(pid if isinstance(pid, int) else -1)
        for k in ("type", "title", "gridPos"):
            if k not in p:
                rep.fail(pw, f"needs {k}")
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")) or gp.get("w", 0) < 1 \
                or gp.get("x", 0) + gp.get("w", 0) > 24:
            rep.fail(pw, "gridPos must have integer h, w, x, y within 24 columns")
        if p.get("type") == "row":
            continue
        ds = p.get("datasource") or {}
        if ds.get("uid") not in ("${datasource}", "$datasource", "prometheus"):
            rep.fail(pw, "datasource must be the ${datasource} variable or the provisioned uid 'prometheus'")
        targets = p.get("targets") or []
        if not targets:
            rep.fail(pw, "has no targets")
        refs: set[str] = set()
        for t in targets:
            if t.get("refId") in refs or not t.get("refId"):
                rep.fail(pw, f"refId {t.get('refId')!r} missing or used twice")
            refs.add(t.get("refId"))
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                rep.fail(pw, f"target {t.get('refId')} has no expr")
                continue
            for m in VAR_RE.finditer(expr):
                name = m.group(1) or m.group(2) or m.group(3)
                if name not in variables and name not in GRAFANA_BUILTINS:
                    rep.fail(pw, f"target {t.get('refId')} uses ${name}, which is not a variable of the dashboard")
            exprs.append((f"{pw} target {t.get('refId')}", substitute(expr, variables)))
    return exprs, var_queries


def promtool_parse(exprs: list[tuple[str, str]], rep: Report) -> None:
    """Parses every expression with promtool (as recording rules of a temporary rule file)."""
    if not exprs:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for i, (where, expr) in enumerate(exprs):
            path = os.path.join(tmp, f"q{i}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [{"name": "q", "rules": [{"record": "q", "expr": expr}]}]}, f)
        r = run(["promtool", "check", "rules"] + [os.path.join(tmp, f"q{i}.yaml") for i in range(len(exprs))])
        if r.returncode != 0:
            for i, (where, expr) in enumerate(exprs):
                one = run(["promtool", "check", "rules", os.path.join(tmp, f"q{i}.yaml")])
                if one.returncode != 0:
                    msg = (one.stdout + one.stderr).strip().splitlines()
                    rep.fail(where, f"does not parse: {msg[-1] if msg else expr}")


# --------------------------------------------------------------------------------------------------------
# references against the contract


def collect_refs(rep: Report) -> tuple[dict[str, set[str]], set[str], set[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Reads rules and dashboards. Returns (metric -> labels matched, recorded names, labels added by rules,
    dashboard exprs, variable queries), after checking names and labels against the contract."""
    contract = read_contract()
    names = series_names(contract)
    rules = load_rules()
    recorded = {r["record"] for _, r in rules if "record" in r}
    rule_labels = {k for _, r in rules for k in (r.get("labels") or {})}
    all_labels = set().union(*(labels for _, labels in contract.values())) | SCRAPE_LABELS | rule_labels | {"le"}
    used: dict[str, set[str]] = {}

    def check_expr(where: str, expr: str) -> None:
        try:
            metrics, grouping = promql_refs(expr)
        except ValueError as e:
            rep.fail(where, f"cannot read the expression: {e}")
            return
        for metric, labels in metrics.items():
            if metric == "{}":
                rep.fail(where, "a selector without a metric name")
                continue
            if metric in recorded:
                allowed = all_labels
            elif metric in names:
                base = names[metric]
                allowed = contract[base][1] | SCRAPE_LABELS | ({"le"} if metric.endswith("_bucket") else set())
                used.setdefault(base, set()).update(labels)
            else:
                rep.fail(where, f"metric {metric} is not in deploy/prometheus/metrics.txt (nor recorded by a rule)")
                continue
            for label in labels - allowed:
                rep.fail(where, f"label {label!r} is not a label of {metric} in the contract")
        for label in grouping - all_labels:
            rep.fail(where, f"groups by label {label!r}, which no contract metric has")

    for where, r in rules:
        check_expr(f"{where} {r.get('alert') or r.get('record')}", str(r.get("expr", "")))
    exprs: list[tuple[str, str]] = []
    var_queries: list[tuple[str, str]] = []
    uids: dict[str, str] = {}
    if not DASHBOARDS:
        rep.fail("deploy/grafana/dashboards", "has no dashboard")
    for path in DASHBOARDS:
        e, v = dashboard_queries(path, rep)
        with open(path, encoding="utf-8") as f:
            try:
                uid = json.load(f).get("uid")
            except json.JSONDecodeError:
                uid = None
        if uid in uids:
            rep.fail(rel(path), f"uid {uid!r} is also the uid of {uids[uid]}")
        uids[str(uid)] = rel(path)
        exprs += e
        var_queries += v
    for where, expr in exprs:
        check_expr(where, expr)
    for where, q in var_queries:
        m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", q.strip())
        if m:
            if m.group(1):
                check_expr(where, m.group(1))
            if m.group(2) not in all_labels:
                rep.fail(where, f"label {m.group(2)!r} is not in the contract")
    pending = read_pending()
    for name in pending:
        if name not in contract:
            rep.fail(rel(PENDING), f"{name} is not a contract metric (deploy/prometheus/metrics.txt)")
    rep.note(f"{len(used)} of {len(contract)} contract metrics used by {len(rules)} rules and {len(exprs)} dashboard "
             f"queries in {len(DASHBOARDS)} dashboards; every name and label is in the contract")
    return used, recorded, rule_labels, exprs, var_queries


# --------------------------------------------------------------------------------------------------------
# static mode


def promtool_checks(rep: Report) -> None:
    for cmd in (["promtool", "check", "rules", *RULE_FILES],
                ["promtool", "check", "config", os.path.join(PROM_DIR, "prometheus.yaml")],
                ["promtool", "test", "rules", *TEST_FILES]):
        r = run(cmd, cwd=PROM_DIR)
        label = " ".join(cmd[:3]) if cmd[1] != "check" or cmd[2] != "config" else "promtool check config"
        if r.returncode != 0:
            rep.fail(label, "\n" + (r.stdout + r.stderr).strip())
        else:
            rep.note(f"{label}: OK")


def render_production(pinned: bool) -> str:
    """The production overlay rendered as YAML text (kubectl kustomize when it works, else kustomize_lite)."""
    import kustomize_lite
    import ops_checks
    import validate

    tmp = None
    folder = os.path.join(DEPLOY, "k8s", "overlays", "production")
    if pinned:
        tmp, folder = ops_checks.pin_production_copy(DEPLOY)
    try:
        if validate.kubectl_kustomize_works():
            r = run(["kubectl", "kustomize", folder], timeout=120)
            if r.returncode != 0:
                raise SystemExit(f"kubectl kustomize failed: {r.stderr}")
            return r.stdout
        return yaml.safe_dump_all(kustomize_lite.render(folder), sort_keys=False)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def checkov_results(checkov: str, text: str, extra: list[str]) -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "production.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = run([checkov, "-f", path, "--framework", "kubernetes", "-o", "json", "--skip-download", *extra],
                env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_LOG_LEVEL": "ERROR"}, timeout=900)
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"checkov produced no JSON (exit {r.returncode}): {r.stderr[-2000:]}")
    if isinstance(doc, list):
        doc = next((d for d in doc if d.get("check_type") == "kubernetes"), doc[0] if doc else {})
    return doc.get("results") or {}


def checkov_checks(checkov: str, rep: Report) -> None:
    res = checkov_results(checkov, render_production(False), [])
    failed = res.get("failed_checks") or []
    accepted = []
    for c in failed:
        cid, resource = c.get("check_id"), c.get("resource")
        if cid in ACCEPTED and cid not in NEVER_ACCEPTED:
            accepted.append(f"{cid} {resource}")
        else:
            rep.fail(f"checkov {cid}", f"{c.get('check_name')} fails for {resource}")
    for c in res.get("skipped_checks") or []:
        cid = c.get("check_id")
        why = (c.get("check_result") or {}).get("suppress_comment") or ""
        if not why.strip():
            rep.fail(f"checkov {cid}", f"skipped for {c.get('resource')} without a reason")
        rep.note(f"checkov {cid} skipped for {c.get('resource')}: {why}")
    passed = {c.get("check_id") for c in res.get("passed_checks") or []}
    for cid in sorted(NEVER_ACCEPTED):
        n_failed = sum(1 for c in failed if c.get("check_id") == cid)
        n_passed = sum(1 for c in res.get("passed_checks") or [] if c.get("check_id") == cid)
        n_skipped = sum(1 for c in res.get("skipped_checks") or [] if c.get("check_id") == cid)
        rep.note(f"checkov {cid}: {n_passed} passed, {n_skipped} skipped with a reason, {n_failed} failed")
    for cid in sorted({a.split()[0] for a in accepted}):
        rep.note(f"checkov {cid} accepted ({sum(1 for a in accepted if a.startswith(cid))} resources): {ACCEPTED[cid]}")
    pinned = checkov_results(checkov, render_production(True), ["--check", "CKV_K8S_43"])
    for c in pinned.get("failed_checks") or []:
        rep.fail("checkov CKV_K8S_43 (production pinned by digest)", f"fails for {c.get('resource')}")
    if not pinned.get("passed_checks"):
        rep.fail("checkov CKV_K8S_43 (production pinned by digest)", "was not evaluated")
    else:
        rep.note(f"checkov CKV_K8S_43 passes on the production overlay pinned by digest "
                 f"({len(pinned['passed_checks'])} resources)")
    rep.note(f"checkov on the rendered production overlay: {len(passed)} distinct checks passed, "
             f"{len(accepted)} accepted findings, {len(res.get('skipped_checks') or [])} skips with reasons")


# --------------------------------------------------------------------------------------------------------
# live mode


def parse_scrape(text: str) -> dict[str, set[frozenset[tuple[str, str]]]]:
    """Prometheus text format -> series name -> label sets."""
    out: dict[str, set[frozenset[tuple[str, str]]]] = {}
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"')
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            continue
        labels = frozenset(label_re.findall(m.group(3) or ""))
        out.setdefault(m.group(1), set()).add(labels)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, params: dict[str, str] | None = None) -> Any:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except json.JSONDecodeError:
            return {"status": "error", "error": f"HTTP {e.code}"}


def live_checks(scrape_dir: str, targets: list[str], rep: Report) -> None:
    contract = read_contract()
    names = series_names(contract)
    pending = read_pending()
    used, recorded, _, exprs, var_queries = collect_refs(rep)
    files = sorted(p for p in glob.glob(os.path.join(scrape_dir, "*")) if os.path.isfile(p))
    if not files:
        rep.fail(scrape_dir, "holds no scrape files")
        return
    seen: dict[str, set[frozenset[tuple[str, str]]]] = {}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for series, labelsets in parse_scrape(f.read()).items():
                seen.setdefault(series, set()).update(labelsets)
    present = {names[s] for s in seen if s in names}
    missing_pending, missing = [], []
    for metric in sorted(used):
        if metric in present:
            if metric in pending and "[timing]" not in pending[metric]:
                rep.fail(rel(PENDING), f"{metric} is exported now: remove it from the pending list")
            continue
        (missing_pending if metric in pending else missing).append(metric)
    for metric in missing:
        rep.fail(f"live scrape ({scrape_dir})", f"{metric} is used by the rules or dashboards but in no scrape "
                                                f"(and not in {rel(PENDING)})")
    for metric in missing_pending:
        rep.note(f"pending (allowed, {rel(PENDING)}): {metric} not in any scrape - {pending[metric]}")
    unused = sorted(set(contract) - set(used))
    if unused:
        rep.note(f"contract metrics no rule or dashboard uses: {', '.join(unused)}")
    # The contract's labels and the SLO buckets, for the metrics that are there.
    for metric in sorted(present):
        kind, labels = contract[metric]
        series = metric + ("_count" if kind == "histogram" else "")
        have = {k for ls in seen.get(series, set()) for k, _ in ls}
        for label in sorted(labels - have):
            rep.fail(f"live scrape {metric}", f"has no label {label!r} (deploy/prometheus/metrics.txt)")
    buckets = {(m.group(1), m.group(2)) for _, r in load_rules()
               for m in re.finditer(r'([a-z_:]+)_bucket\{le=~?"([^"]+)"\}', str(r.get("expr", "")))}
    for metric, le in sorted(buckets):
        if metric not in present:
            continue
        les = {v for ls in seen.get(metric + "_bucket", set()) for k, v in ls if k == "le"}
        pattern = le.replace("\\\\", "\\")  # the PromQL string's escaping -> the regular expression
        if not any(re.fullmatch(pattern, v) for v in les):
            rep.fail(f"live scrape {metric}", f"has no bucket matching le=~{pattern!r} (an SLO needs it); buckets: "
                                              f"{sorted(les, key=lambda x: float(x.replace('+Inf', 'inf')))}")
    rep.note(f"live: {len(files)} scrape files, {len(present)} contract metrics present, {len(missing_pending)} "
             f"pending, {len(missing)} missing")
    run_prometheus(files, targets, exprs, var_queries, rep)


class _ScrapeFiles(http.server.BaseHTTPRequestHandler):
    files: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.files.get(self.path)
        if path is None:
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def run_prometheus(files: list[str], targets: list[str], exprs: list[tuple[str, str]],
                   var_queries: list[tuple[str, str]], rep: Report) -> None:
    prom = shutil.which("prometheus")
    if not prom:
        rep.fail("prometheus", "the prometheus binary is not installed (Debian package prometheus)")
        return
    tmp = tempfile.mkdtemp(prefix="continuum-prom-")
    server = None
    proc = None
    try:
        scrape_configs = []
        if targets:
            for i, t in enumerate(targets):
                scrape_configs.append({"job_name": f"target{i}", "static_configs": [{"targets": [t]}]})
        else:
            _ScrapeFiles.files = {"/" + os.path.basename(p): p for p in files}
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ScrapeFiles)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            addr = f"127.0.0.1:{server.server_address[1]}"
            for p in files:
                job = re.sub(r"[^a-zA-Z0-9_]", "_", os.path.splitext(os.path.basename(p))[0])
                scrape_configs.append({"job_name": job, "metrics_path": "/" + os.path.basename(p),
                                       "static_configs": [{"targets": [addr]}]})
        cfg = {"global": {"scrape_interval": "2s", "evaluation_interval": "2s", "scrape_timeout": "2s"},
               "rule_files": RULE_FILES, "scrape_configs": scrape_configs}
        with open(os.path.join(tmp, "prometheus.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(os.path.join(tmp, "prometheus.log"), "w", encoding="utf-8")
        proc = subprocess.Popen([prom, f"--config.file={tmp}/prometheus.yaml", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        groups: list[dict[str, Any]] = []
        active: list[dict[str, Any]] = []
        ready_at = None
        while time.time() < deadline and proc.poll() is None:
            time.sleep(1)
            try:
                rules = api(base, "/api/v1/rules")
                tgts = api(base, "/api/v1/targets")
            except (urllib.error.URLError, ConnectionError, OSError):
                continue
            groups = (rules.get("data") or {}).get("groups") or []
            active = (tgts.get("data") or {}).get("activeTargets") or []
            evaluated = bool(groups) and all(not str(g.get("lastEvaluation", "0001")).startswith("0001")
                                             for g in groups)
            scraped = bool(active) and all(t.get("health") != "unknown" for t in active)
            if ready_at is None and evaluated and scraped:
                ready_at = time.time()
            # A few more scrapes and evaluations, so that rate() has samples to work with.
            if ready_at is not None and time.time() - ready_at >= 8:
                groups = (api(base, "/api/v1/rules").get("data") or {}).get("groups") or []
                break
        if ready_at is None and proc.poll() is None:
            rep.fail("prometheus", "did not scrape and evaluate within 90 s")
        if proc.poll() is not None:
            with open(os.path.join(tmp, "prometheus.log"), encoding="utf-8") as f:
                rep.fail("prometheus", "exited early:\n" + f.read()[-3000:])
            return
        for t in active:
            if t.get("health") != "up":
                rep.fail(f"prometheus target {t.get('scrapeUrl')}", f"is {t.get('health')}: {t.get('lastError')}")
        n_rules = 0
        for g in groups:
            for r in g.get("rules") or []:
                n_rules += 1
                if r.get("health") != "ok" or r.get("lastError"):
                    rep.fail(f"prometheus rule {r.get('name')}", f"health {r.get('health')}: {r.get('lastError')}")
        firing = api(base, "/api/v1/alerts").get("data", {}).get("alerts") or []
        for a in firing:
            rep.note(f"prometheus alert {a['labels'].get('alertname')} {a.get('state')} "
                     f"{ {k: v for k, v in a['labels'].items() if k != 'alertname'} }")
        empty = []
        for where, expr in exprs:
            r = api(base, "/api/v1/query", {"query": expr})
            if r.get("status") != "success":
                rep.fail(where, f"query fails in Prometheus: {r.get('error')}")
            elif not (r.get("data") or {}).get("result"):
                empty.append(where)
        for where, q in var_queries:
            m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", q.strip())
            if not m:
                continue
            params = {"match[]": m.group(1)} if m.group(1) else None
            r = api(base, f"/api/v1/label/{m.group(2)}/values", params)
            if r.get("status") != "success":
                rep.fail(where, f"fails in Prometheus: {r.get('error')}")
        version = (run([prom, "--version"]).stdout.split() or ["", "", "?"])[2]
        rep.note(f"prometheus {version}: {len(active)} targets, "
                 f"{len(groups)} rule groups / {n_rules} rules evaluated, {len(firing)} alerts pending or firing, "
                 f"{len(exprs)} dashboard queries run ({len(empty)} without data yet)")
        pending = read_pending()
        names = series_names(read_contract())
        by_where = dict(exprs)
        for where in empty:
            metrics = {names.get(m, m) for m in promql_refs(by_where[where])[0]}
            waiting = sorted(m for m in metrics if m in pending)
            rep.note(f"no data yet: {where}" + (f" (pending: {', '.join(waiting)})" if waiting else ""))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None:
            server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--live", metavar="SCRAPE_DIR", help="check against /metrics scrapes taken from a running stack")
    ap.add_argument("targets", nargs="*", help="with --live: host:port targets for the real Prometheus to scrape")
    ap.add_argument("--checkov", default=os.environ.get("CONTINUUM_CHECKOV", ""),
                    help="the checkov executable (static mode); empty: skip checkov")
    args = ap.parse_args()
    rep = Report()
    if args.live:
        live_checks(args.live, args.targets, rep)
    else:
        promtool_checks(rep)
        rules = load_rules()
        check_rule_conventions(rules, rep)
        _, _, _, exprs, _ = collect_refs(rep)
        promtool_parse(exprs, rep)
        rep.note(f"{len(exprs)} dashboard queries parse (promtool)")
        if args.checkov:
            checkov_checks(args.checkov, rep)
        else:
            rep.fail("checkov", "not run (--checkov PATH)")
    for n in rep.notes:
        print(f"check-ops: {n}")
    if rep.problems:
        for p in rep.problems:
            print(f"check-ops: FAIL {p}", file=sys.stderr)
        print(f"check-ops: FAILED with {len(rep.problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-ops: OK" + (" (live)" if args.live else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
