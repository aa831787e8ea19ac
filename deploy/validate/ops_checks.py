"""The operations checks of .ci/validate-deploy (called from validate.py): what the Kubernetes schemas and the
older checks do not cover.

  - PrometheusRule (a Prometheus Operator CRD that kubernetes-validate does not know): validated structurally
    here (CUSTOM_KINDS; any other kind without a schema still fails), and its groups must be exactly those
    of deploy/prometheus/alerts.yaml + slo.yaml, as written by sync_rules.py.
  - NetworkPolicies: every Continuum service admits its gRPC port from exactly its callers (PEERS) and the
    ingress namespace, its metrics port from the monitoring namespace only, nothing else; every pod of an
    overlay is selected by some policy.
  - One metrics path: OTEL_METRICS_EXPORTER=none wherever the pods are scraped, no metrics pipeline in the
    collector configurations.
  - Secrets as files: the settings the binaries can read from files (*_FILE) point into mounted volumes; the
    env-only ones are the only secrets in the example env Secret.
  - Production images: a fixed tag, never latest/dev; the overlay still renders when pinned by digest.
  - Compose: Prometheus and Grafana wired to the files in deploy/prometheus and deploy/grafana.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any, Callable

import yaml

Obj = dict[str, Any]

# Who calls whom: the peers each service is configured with (CONTINUUM_*_ADDR in services/*/src/config.rs).
# The NetworkPolicy of a service must admit exactly these on its gRPC port.
CALLERS = {
    "intake": {"matching", "referral", "waitlist", "gateway"},
    "matching": {"intake", "referral", "waitlist", "gateway"},
    "referral": {"intake", "waitlist", "gateway"},
    "waitlist": {"intake", "matching", "referral", "gateway"},
}
INGRESS_NS = "ingress-nginx"      # placeholder namespaces of the base NetworkPolicies
MONITORING_NS = "monitoring"
NS_LABEL = "kubernetes.io/metadata.name"

# Settings the binaries read as files, and the ones they can only read from the environment (docs/operations.md
# "Secrets"). A secret of the first kind must never be put in an env Secret.
FILE_SETTINGS = ["CONTINUUM_AUTH_JWKS_FILE", "CONTINUUM_TLS_CERT_FILE", "CONTINUUM_TLS_KEY_FILE",
                 "CONTINUUM_TLS_CA_FILE", "CONTINUUM_ORGANIZATIONS_FILE"]
ENV_ONLY_SECRETS = {"CONTINUUM_AUTH_SERVICE_SECRET", "CONTINUUM_ENCRYPTION_KEYS", "CONTINUUM_ENCRYPTION_ACTIVE_KEY",
                    "CONTINUUM_DATABASE_URL", "CONTINUUM_REDIS_URL", "CONTINUUM_AUTH_DEV_SECRET"}

DURATION = re.compile(r"^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?|0)$")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


# --------------------------------------------------------------------------------------------------------
# PrometheusRule


def _check_rule_groups(where: str, groups: Any, add: Callable[[str, str], None]) -> None:
    if not isinstance(groups, list) or not groups:
        add(where, "groups must be a non-empty list")
        return
    names: set[str] = set()
    for gi, g in enumerate(groups):
        gw = f"{where} groups[{gi}]"
        if not isinstance(g, dict):
            add(gw, "is not a mapping")
            continue
        for k in set(g) - {"name", "interval", "rules", "partial_response_strategy", "limit", "query_offset"}:
            add(gw, f"unknown key {k!r}")
        name = g.get("name")
        if not isinstance(name, str) or not name:
            add(gw, "needs a name")
        elif name in names:
            add(gw, f"group name {name!r} is used twice")
        names.add(str(name))
        if "interval" in g and not DURATION.match(str(g["interval"])):
            add(gw, f"interval {g['interval']!r} is not a duration")
        rules = g.get("rules")
        if not isinstance(rules, list) or not rules:
            add(gw, "rules must be a non-empty list")
            continue
        for ri, r in enumerate(rules):
            rw = f"{gw}.rules[{ri}]"
            if not isinstance(r, dict):
                add(rw, "is not a mapping")
                continue
            for k in set(r) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}:
                add(rw, f"unknown key {k!r}")
            if ("alert" in r) == ("record" in r):
                add(rw, "needs exactly one of alert and record")
            if not isinstance(r.get("expr"), str) or not r["expr"].strip():
                add(rw, "expr must be a non-empty string")
            for k in ("for", "keep_firing_for"):
                if k in r and not DURATION.match(str(r[k])):
                    add(rw, f"{k} {r[k]!r} is not a duration")
            if "record" in r and ("for" in r or "annotations" in r):
                add(rw, "a recording rule has no for or annotations")
            for k in ("labels", "annotations"):
                v = r.get(k, {})
                if not isinstance(v, dict) or not all(isinstance(x, str) and isinstance(y, str) for x, y in v.items()):
                    add(rw, f"{k} must map strings to strings")


def validate_prometheus_rule(doc: Obj, where: str, add: Callable[[str, str], None]) -> None:
    """Structural validation of monitoring.coreos.com/v1 PrometheusRule (what its CRD's schema requires)."""
    for k in set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
        add(where, f"unknown top-level key {k!r}")
    meta = doc.get("metadata") or {}
    if not DNS1123.match(str(meta.get("name", ""))):
        add(where, "metadata.name must be a DNS-1123 name")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        add(where, "has no spec")
        return
    for k in set(spec) - {"groups"}:
        add(where, f"unknown key spec.{k}")
    _check_rule_groups(f"{where} spec", spec.get("groups"), add)


# Kinds that kubernetes-validate has no schema for, and how they are validated instead. Any other kind without
# a schema is an error.
CUSTOM_KINDS: dict[tuple[str, str], Callable[[Obj, str, Callable[[str, str], None]], None]] = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): validate_prometheus_rule,
}


def check_rules_copy(deploy: str, overlay: str, docs: list[Obj], add: Callable[[str, str], None]) -> None:
    """The overlay renders one PrometheusRule whose groups are those of deploy/prometheus, and its file is what
    sync_rules.py writes."""
    import sync_rules

    where = f"overlays/{overlay}"
    rules = [o for o in docs if o.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        add(where, f"must render exactly one PrometheusRule (the Continuum rules), renders {len(rules)}")
        return
    groups: list[Any] = []
    for path in sync_rules.RULE_FILES:
        try:
            with open(path, encoding="utf-8") as f:
                groups += (yaml.safe_load(f) or {}).get("groups") or []
        except (OSError, yaml.YAMLError) as e:
            add(os.path.relpath(path, os.path.dirname(deploy)), f"cannot be read: {e}")
            return
    if (rules[0].get("spec") or {}).get("groups") != groups:
        add(f"{where} PrometheusRule/{rules[0]['metadata'].get('name')}",
            "groups differ from deploy/prometheus/alerts.yaml + slo.yaml: run python3 deploy/validate/sync_rules.py")
    path = os.path.join(deploy, "k8s", "overlays", overlay, sync_rules.TARGET)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() != sync_rules.render():
                add(os.path.relpath(path, os.path.dirname(deploy)),
                    "is not what sync_rules.py writes from deploy/prometheus: run python3 deploy/validate/sync_rules.py")
    except OSError as e:
        add(os.path.relpath(path, os.path.dirname(deploy)), f"cannot be read: {e}")


# --------------------------------------------------------------------------------------------------------
# NetworkPolicies


def _selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if selector.get("matchExpressions"):
        return False  # not used here; treat as not matching rather than guess
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _port_names(container_ports: list[Obj]) -> dict[Any, Any]:
    """name -> number and number -> number for a container's ports."""
    out: dict[Any, Any] = {}
    for p in container_ports:
        out[p.get("containerPort")] = p.get("containerPort")
        if p.get("name"):
            out[p["name"]] = p.get("containerPort")
    return out


def check_network_policies(overlay: str, docs: list[Obj], services: dict[str, tuple[int, str]], metrics_port: int,
                           pod_template: Callable[[Obj], Obj | None], add: Callable[[str, str], None]) -> None:
    where0 = f"overlays/{overlay}"
    policies = [o for o in docs if o.get("kind") == "NetworkPolicy"]
    templates = [(o, pod_template(o)) for o in docs if pod_template(o) is not None]
    ns_of_pods = {(o.get("metadata") or {}).get("namespace") for o, _ in templates}
    for o, tmpl in templates:
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        if not any(_selects((p.get("spec") or {}).get("podSelector"), labels) for p in policies):
            add(f"{where0} {o['kind']}/{o['metadata']['name']}", "no NetworkPolicy selects its pods")
    for p in policies:
        spec = p.get("spec") or {}
        pw = f"{where0} NetworkPolicy/{p['metadata']['name']}"
        if "Ingress" not in (spec.get("policyTypes") or []):
            add(pw, "policyTypes must include Ingress")
        if p["metadata"].get("namespace") not in ns_of_pods:
            add(pw, "is not in the namespace of the pods")
        for rule in spec.get("ingress") or []:
            if not rule.get("from"):
                add(pw, "an ingress rule without `from` admits everyone")
            if not rule.get("ports"):
                add(pw, "an ingress rule without `ports` admits every port")
            for peer in rule.get("from") or []:
                if "ipBlock" in peer:
                    add(pw, "ipBlock peers are not expected here")
                ns = peer.get("namespaceSelector")
                if ns is not None and not (ns.get("matchLabels") or {}).get(NS_LABEL):
                    add(pw, f"a namespaceSelector must name one namespace by {NS_LABEL} (an empty one admits all)")

    # The four services: who reaches which port.
    for svc, (grpc_port, _) in services.items():
        w = f"{where0} {svc}"
        dep = next((o for o, _ in templates if o["kind"] == "Deployment" and o["metadata"]["name"] == svc), None)
        if dep is None:
            continue
        labels = dep["spec"]["template"]["metadata"].get("labels") or {}
        containers = dep["spec"]["template"]["spec"].get("containers") or []
        ports = _port_names([cp for c in containers for cp in c.get("ports") or []])
        admitted: dict[int, set[str]] = {}
        selecting = [p for p in policies if _selects((p.get("spec") or {}).get("podSelector"), labels)]
        if not selecting:
            continue  # reported above
        for p in selecting:
            for rule in (p.get("spec") or {}).get("ingress") or []:
                rule_ports = {ports.get(rp.get("port"), rp.get("port")) for rp in rule.get("ports") or []}
                for rp in rule.get("ports") or []:
                    if rp.get("port") not in ports:
                        add(f"{where0} NetworkPolicy/{p['metadata']['name']}", f"port {rp.get('port')!r} is not a port of {svc}")
                for peer in rule.get("from") or []:
                    if "namespaceSelector" in peer:
                        name = "ns:" + str((peer["namespaceSelector"].get("matchLabels") or {}).get(NS_LABEL))
                        if "podSelector" in peer:
                            name += "+pods"
                    else:
                        pl = (peer.get("podSelector") or {}).get("matchLabels") or {}
                        name = pl.get("app.kubernetes.io/name") or f"pods:{pl}"
                    for port in rule_ports:
                        admitted.setdefault(port, set()).add(name)
        want_grpc = CALLERS[svc] | {f"ns:{INGRESS_NS}"}
        if admitted.get(grpc_port, set()) != want_grpc:
            add(w, f"gRPC port {grpc_port} admits {sorted(admitted.get(grpc_port, set()))}, expected its callers "
                   f"and the ingress namespace {sorted(want_grpc)}")
        if admitted.get(metrics_port, set()) != {f"ns:{MONITORING_NS}"}:
            add(w, f"metrics port {metrics_port} admits {sorted(admitted.get(metrics_port, set()))}, expected only "
                   f"the monitoring namespace {MONITORING_NS!r}")
        for port in set(admitted) - {grpc_port, metrics_port}:
            add(w, f"port {port} is admitted by a NetworkPolicy but is not a service port")


# --------------------------------------------------------------------------------------------------------
# metrics path, secrets as files, images


def check_metrics_path(overlay: str, config: dict[str, str], docs: list[Obj], services: dict[str, Any],
                       metrics_port: int, add: Callable[[str, str], None]) -> None:
    where0 = f"overlays/{overlay}"
    if config.get("OTEL_METRICS_EXPORTER") != "none":
        add(f"{where0} continuum-config", "OTEL_METRICS_EXPORTER must be none: the pods are scraped, so metrics "
                                          "pushed over OTLP as well would be counted twice")
    for o in docs:
        if o.get("kind") == "Deployment" and o["metadata"]["name"] in services:
            ann = (o["spec"]["template"].get("metadata") or {}).get("annotations") or {}
            if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(metrics_port) \
                    or ann.get("prometheus.io/path") != "/metrics":
                add(f"{where0} {o['metadata']['name']}", f"pod must be annotated for scraping /metrics on {metrics_port}")
        if o.get("kind") in ("Deployment", "StatefulSet") and o["metadata"]["name"] not in services:
            ann = (o["spec"]["template"].get("metadata") or {}).get("annotations") or {}
            if ann.get("prometheus.io/scrape") == "true":
                add(f"{where0} {o['kind']}/{o['metadata']['name']}",
                    "is annotated for scraping: only the services' own /metrics is the metrics path")


def check_collector_metrics_free(where: str, cfg: Obj, add: Callable[[str, str], None]) -> None:
    pipelines = ((cfg.get("service") or {}).get("pipelines") or {})
    for name in pipelines:
        if name.split("/")[0] == "metrics":
            add(where, f"pipeline {name!r}: the collector must carry no metrics (Prometheus scrapes the services; "
                       "a metrics pipeline re-exporting them counts every series twice)")
    for exp in (cfg.get("exporters") or {}):
        if exp.split("/")[0] in ("prometheus", "prometheusremotewrite"):
            add(where, f"exporter {exp!r}: the collector must not export metrics")


def check_file_settings(overlay: str, config: dict[str, str], docs: list[Obj], services: dict[str, Any],
                        require_jwks: bool, add: Callable[[str, str], None]) -> None:
    """Every *_FILE setting in continuum-config points into a volume every service mounts."""
    where0 = f"overlays/{overlay}"
    if require_jwks and not (config.get("CONTINUUM_AUTH_JWKS_FILE") or config.get("CONTINUUM_AUTH_JWKS_URL")):
        add(f"{where0} continuum-config", "needs CONTINUUM_AUTH_JWKS_FILE (a mounted file) or CONTINUUM_AUTH_JWKS_URL")
    for key in FILE_SETTINGS:
        path = config.get(key)
        if not path:
            continue
        for o in docs:
            if o.get("kind") != "Deployment" or o["metadata"]["name"] not in services:
                continue
            spec = o["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in spec.get("volumes") or []}
            mounts = [m for c in spec.get("containers") or [] for m in c.get("volumeMounts") or []]
            ok = False
            for m in mounts:
                if path.startswith(m["mountPath"].rstrip("/") + "/"):
                    v = volumes.get(m["name"]) or {}
                    ok = "secret" in v or "configMap" in v or "projected" in v
            if not ok:
                add(f"{where0} {o['metadata']['name']}", f"{key}={path} is not inside a mounted Secret or ConfigMap")
    for key in ENV_ONLY_SECRETS:
        if key in config:
            add(f"{where0} continuum-config", f"{key} is a secret: it belongs in a Secret, not the ConfigMap")


def check_example_secrets(examples_dir: str, add: Callable[[str, str], None]) -> None:
    """The env Secret examples hold env-only settings only; file-capable secrets go to continuum-auth-files."""
    for fname in sorted(os.listdir(examples_dir)) if os.path.isdir(examples_dir) else []:
        if not fname.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(examples_dir, fname), encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for d in docs:
            if d.get("kind") != "Secret" or d["metadata"]["name"] not in ("continuum-secrets", "continuum-auth"):
                continue
            keys = set(d.get("stringData") or {}) | set(d.get("data") or {})
            for k in sorted(keys - ENV_ONLY_SECRETS):
                add(f"examples/{fname} Secret/{d['metadata']['name']}",
                    f"{k} is not an env-only secret: put files in continuum-auth-files and settings in continuum-config")


def check_production_images(docs: list[Obj], services: dict[str, Any], add: Callable[[str, str], None]) -> None:
    for o in docs:
        if o.get("kind") != "Deployment" or o["metadata"]["name"] not in services:
            continue
        for c in o["spec"]["template"]["spec"].get("containers") or []:
            image = c.get("image", "")
            name, _, digest = image.partition("@")
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
            if digest and not DIGEST.match(digest):
                add(f"overlays/production {o['metadata']['name']}", f"image {image!r}: malformed digest")
            if not digest and (not tag or tag in ("latest", "dev", "main", "master")):
                add(f"overlays/production {o['metadata']['name']}",
                    f"image {image!r} must be a release tag or pinned by digest (images: in the overlay)")


def pin_production_copy(deploy: str) -> tuple[str, str]:
    """A copy of deploy/k8s with a digest on every image of the production overlay (what the release pipeline
    does). Returns (temporary root, path of the pinned production overlay); the caller renders and removes it."""
    tmp = tempfile.mkdtemp(prefix="continuum-pinned-")
    shutil.copytree(os.path.join(deploy, "k8s"), os.path.join(tmp, "k8s"))
    kpath = os.path.join(tmp, "k8s", "overlays", "production", "kustomization.yaml")
    with open(kpath, encoding="utf-8") as f:
        kust = yaml.safe_load(f)
    for i, img in enumerate(kust.get("images") or []):
        img["digest"] = "sha256:" + f"{i + 1:x}" * 64
    with open(kpath, "w", encoding="utf-8") as f:
        yaml.safe_dump(kust, f, sort_keys=False)
    return tmp, os.path.dirname(kpath)


def check_pinned_render(docs: list[Obj], services: dict[str, Any], add: Callable[[str, str], None]) -> None:
    for o in docs:
        if o.get("kind") != "Deployment" or o["metadata"]["name"] not in services:
            continue
        for c in o["spec"]["template"]["spec"].get("containers") or []:
            if not re.fullmatch(r"\S+/" + o["metadata"]["name"] + r"(:[\w.-]+)?@sha256:[0-9a-f]{64}", c.get("image", "")):
                add(f"overlays/production (pinned by digest) {o['metadata']['name']}",
                    f"image {c.get('image')!r} is not pinned by the images: digest")


# --------------------------------------------------------------------------------------------------------
# compose: Prometheus and Grafana


def check_compose_monitoring(deploy: str, services: dict[str, Obj], env: dict[str, str], metrics_port: int,
                             interpolate: Callable[[str, dict[str, str]], str], add: Callable[[str, str], None]) -> None:
    where = "deploy/compose.yaml"
    for name in ("intake", "matching", "referral", "waitlist"):
        envs = (services.get(name) or {}).get("environment") or {}
        if interpolate(str(envs.get("OTEL_METRICS_EXPORTER", "")), env) != "none":
            add(f"{where} services.{name}", "OTEL_METRICS_EXPORTER must be none (Prometheus scrapes /metrics: one path)")
    prom = services.get("prometheus") or {}
    vols = [str(v) for v in prom.get("volumes") or []]
    if not any(v.startswith("./prometheus:/etc/prometheus") for v in vols):
        add(f"{where} services.prometheus", "must mount ./prometheus at /etc/prometheus")
    if "--config.file=/etc/prometheus/prometheus.yaml" not in [str(a) for a in prom.get("command") or []]:
        add(f"{where} services.prometheus", "must run with --config.file=/etc/prometheus/prometheus.yaml")
    cfg_path = os.path.join(deploy, "prometheus", "prometheus.yaml")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        add("deploy/prometheus/prometheus.yaml", f"cannot be read: {e}")
        cfg = {}
    for rf in cfg.get("rule_files") or []:
        if not os.path.isfile(os.path.join(deploy, "prometheus", rf)):
            add("deploy/prometheus/prometheus.yaml", f"rule file {rf} does not exist next to it")
    if sorted(cfg.get("rule_files") or []) != ["alerts.yaml", "slo.yaml"]:
        add("deploy/prometheus/prometheus.yaml", "must load alerts.yaml and slo.yaml")
    targets = {}
    for sc in cfg.get("scrape_configs") or []:
        for st in sc.get("static_configs") or []:
            for t in st.get("targets") or []:
                targets[str(t)] = sc.get("job_name")
    for name in ("intake", "matching", "referral", "waitlist"):
        if targets.get(f"{name}:{metrics_port}") != name:
            add("deploy/prometheus/prometheus.yaml", f"must scrape {name}:{metrics_port} as job {name!r}")
    graf = services.get("grafana") or {}
    gvols = {str(v).split(":")[1]: str(v).split(":")[0] for v in graf.get("volumes") or [] if str(v).count(":") >= 1}
    if gvols.get("/etc/grafana/provisioning") != "./grafana/provisioning":
        add(f"{where} services.grafana", "must mount ./grafana/provisioning at /etc/grafana/provisioning")
    prov_path = os.path.join(deploy, "grafana", "provisioning", "dashboards", "continuum.yaml")
    try:
        with open(prov_path, encoding="utf-8") as f:
            prov = yaml.safe_load(f) or {}
        dash_dir = ((prov.get("providers") or [{}])[0].get("options") or {}).get("path")
    except (OSError, yaml.YAMLError, IndexError) as e:
        add("deploy/grafana/provisioning/dashboards/continuum.yaml", f"cannot be read: {e}")
        dash_dir = None
    if dash_dir and gvols.get(dash_dir) != "./grafana/dashboards":
        add(f"{where} services.grafana", f"must mount ./grafana/dashboards at {dash_dir} (the provider's path)")
    ds_path = os.path.join(deploy, "grafana", "provisioning", "datasources", "prometheus.yaml")
    try:
        with open(ds_path, encoding="utf-8") as f:
            ds = (yaml.safe_load(f) or {}).get("datasources") or []
    except (OSError, yaml.YAMLError) as e:
        add("deploy/grafana/provisioning/datasources/prometheus.yaml", f"cannot be read: {e}")
        ds = []
    if not any(d.get("type") == "prometheus" and d.get("uid") == "prometheus"
               and d.get("url") == "http://prometheus:9090" for d in ds):
        add("deploy/grafana/provisioning/datasources/prometheus.yaml",
            "must define the Prometheus data source uid 'prometheus' at http://prometheus:9090")
