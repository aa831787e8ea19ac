"""Validates everything under deploy/: run through .ci/validate-deploy, which installs the dependencies.

  1. Renders the Kustomize overlays (dev, production) and the base: `kubectl kustomize` when it works,
     otherwise the subset renderer in kustomize_lite.py (CONTINUUM_KUSTOMIZE=kubectl|python|compare|auto).
  2. Validates every rendered object, and every example in deploy/k8s/examples, against the Kubernetes
     OpenAPI schemas of fixed versions (kubernetes-validate, strict: unknown fields are errors).
  3. Checks what the schemas cannot: consistent naming per service (Deployment, Service, ServiceAccount,
     container, image, OTEL_SERVICE_NAME), ports, gRPC probes, the security context the namespaces enforce
     (Pod Security "restricted"), references to ConfigMaps and Secrets, Service selectors, peer addresses,
     replicas / autoscaler / disruption budget per overlay.
  4. Checks compose.yaml (services present, build or image, every ${VARIABLE} defined in .env, unique host
     ports, peers and URLs pointing at real compose services; Prometheus and Grafana wired to deploy/prometheus
     and deploy/grafana), the collector configuration (pipelines refer to defined components, traces only;
     the dev overlay's copy is identical), and the Dockerfile.
  5. The operations checks in ops_checks.py: the PrometheusRule (a CRD kubernetes-validate has no schema for:
     validated structurally, and identical to deploy/prometheus/alerts.yaml + slo.yaml), the NetworkPolicies
     (each service reachable only from its callers, the ingress and, on its metrics port, the monitoring
     namespace), one metrics path (OTEL_METRICS_EXPORTER=none, no collector metrics pipeline), secrets as
     mounted files where the binaries read files, production images on a release tag and renderable pinned by
     digest.

Prints one line on success; every problem, one per line, and exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from typing import Any, Iterable
from urllib.parse import urlparse

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.dirname(HERE)
REPO = os.path.dirname(DEPLOY)
sys.path.insert(0, HERE)

import kustomize_lite  # noqa: E402
import ops_checks  # noqa: E402

Obj = dict[str, Any]

# The four services: gRPC port and the health-check service name (continuum-proto service_names).
SERVICES = {
    "intake": (50051, "continuum.intake.v1.IntakeService"),
    "matching": (50052, "continuum.matching.v1.MatchingService"),
    "referral": (50053, "continuum.referral.v1.ReferralService"),
    "waitlist": (50054, "continuum.waitlist.v1.WaitlistService"),
}
# The HTTP gateway (FHIR edge, console): its HTTP port. No database; one secret (the Redis URL, for console
# sessions); probes over HTTP (/livez, /healthz).
HTTP_SERVICES = {"gateway": 8080}
# Every workload Prometheus scrapes (the one metrics path).
SCRAPED = {**SERVICES, **{name: (port, None) for name, port in HTTP_SERVICES.items()}}
METRICS_PORT = 9464
RUN_AS_USER = 10001
# Optional Secret: files for authentication / TLS (JWKS, certificates); the dev overlay needs none.
OPTIONAL_SECRETS = {"continuum-auth-files"}
# What the services refuse to start without (continuum-runtime, continuum-auth, intake with PostgreSQL).
AUTH_REQUIRED = ["CONTINUUM_AUTH_SERVICE_SECRET", "CONTINUUM_ENCRYPTION_KEYS"]
AUTH_ONE_OF = ["CONTINUUM_AUTH_JWKS_URL", "CONTINUUM_AUTH_JWKS_FILE", "CONTINUUM_AUTH_DEV_SECRET"]

OVERLAYS = {
    "dev": {"namespace": "continuum-dev", "replicas": 1, "hpa": False, "pdb": False, "external": set(),
            "collector_in_cluster": True},
    "production": {"namespace": "continuum", "replicas": 3, "hpa": True, "pdb": True,
                   "external": {"continuum-secrets", "continuum-auth"}, "collector_in_cluster": False},
}

COMPOSE_REQUIRED = ["intake", "matching", "referral", "waitlist", "gateway", "postgres", "redis", "otel-collector", "jaeger",
                    "prometheus", "grafana"]
COMPOSE_TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include", "version"}
COMPOSE_SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose",
    "extends", "external_links", "extra_hosts", "group_add", "healthcheck", "hostname", "image", "init", "ipc",
    "isolation", "labels", "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
    "memswap_limit", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "privileged", "profiles", "pull_policy", "read_only", "restart", "runtime", "scale",
    "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
    "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}
DOCKERFILE_SERVICES = set(SERVICES) | set(HTTP_SERVICES) | {"continuum"}


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def __bool__(self) -> bool:
        return bool(self.items)


def rel(path: str) -> str:
    return os.path.relpath(path, REPO)


# --------------------------------------------------------------------------------------------------------
# rendering


def kubectl_kustomize_works() -> bool:
    if not shutil.which("kubectl"):
        return False
    try:
        r = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def render_kubectl(folder: str) -> list[Obj]:
    r = subprocess.run(["kubectl", "kustomize", folder], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise kustomize_lite.KustomizeError(f"kubectl kustomize {rel(folder)} failed: {r.stderr.strip()}")
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def obj_key(o: Obj) -> tuple[str, str, str]:
    return (o.get("kind", "?"), o.get("metadata", {}).get("namespace", ""), o.get("metadata", {}).get("name", "?"))


def compare_renders(folder: str, real: list[Obj], lite: list[Obj], problems: Problems) -> None:
    r = {obj_key(o): o for o in real}
    lt = {obj_key(o): o for o in lite}
    for k in sorted(set(r) - set(lt)):
        problems.add(rel(folder), f"kustomize_lite misses {k} that kubectl kustomize renders")
    for k in sorted(set(lt) - set(r)):
        problems.add(rel(folder), f"kustomize_lite renders {k} that kubectl kustomize does not")
    for k in sorted(set(r) & set(lt)):
        if r[k] != lt[k]:
            problems.add(rel(folder), f"kustomize_lite renders {k} differently from kubectl kustomize")


def render_all(mode: str, problems: Problems) -> tuple[dict[str, list[Obj]], str]:
    targets = {"base": os.path.join(DEPLOY, "k8s", "base")}
    targets.update({name: os.path.join(DEPLOY, "k8s", "overlays", name) for name in OVERLAYS})
    have_kubectl = kubectl_kustomize_works()
    if mode == "auto":
        mode = "kubectl" if have_kubectl else "python"
    if mode in ("kubectl", "compare") and not have_kubectl:
        problems.add("renderer", f"CONTINUUM_KUSTOMIZE={mode} but `kubectl kustomize` is not available")
        return {}, mode
    out: dict[str, list[Obj]] = {}
    for name, folder in targets.items():
        try:
            if mode == "python":
                out[name] = kustomize_lite.render(folder)
            else:
                out[name] = render_kubectl(folder)
                if mode == "compare":
                    compare_renders(folder, out[name], kustomize_lite.render(folder), problems)
        except (kustomize_lite.KustomizeError, OSError, yaml.YAMLError) as e:
            problems.add(rel(folder), f"cannot render: {e}")
    label = {"kubectl": "kubectl kustomize", "python": "kustomize_lite (no kubectl)",
             "compare": "kubectl kustomize = kustomize_lite"}[mode]
    return out, label


# --------------------------------------------------------------------------------------------------------
# schemas


def schema_validate(docs: Iterable[Obj], where: str, versions: list[str], problems: Problems) -> int:
    from kubernetes_validate import utils as kv

    n = 0
    for doc in docs:
        n += 1
        name = f"{doc.get('kind', '?')}/{doc.get('metadata', {}).get('name', '?')}"
        custom = ops_checks.CUSTOM_KINDS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        if custom is not None:
            # A custom resource (CRD) the Kubernetes schemas do not have: validated structurally instead.
            custom(doc, f"{where} {name}", problems.add)
            continue
        for version in versions:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(top)"
                problems.add(f"{where} {name}", f"invalid for Kubernetes {version} (strict): {path}: {e.message}")
            except kv.SchemaNotFoundError as e:
                problems.add(f"{where} {name}", f"no schema: {e.message}")
            except kv.VersionNotSupportedError:
                problems.add("kubernetes-validate", f"does not know Kubernetes {version}")
                return n
            except Exception as e:  # noqa: BLE001 - anything else is a problem to report, not a crash
                problems.add(f"{where} {name}", f"could not be validated against {version}: {e}")
    return n


# --------------------------------------------------------------------------------------------------------
# Kubernetes semantics


def pod_template(o: Obj) -> Obj | None:
    if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return o.get("spec", {}).get("template")
    if o["kind"] == "CronJob":
        return o.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
    return None


def env_value(container: Obj, name: str) -> str | None:
    for e in container.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_restricted(where: str, tmpl: Obj, problems: Problems) -> None:
    """The namespaces enforce Pod Security "restricted": a pod that breaks it is never created."""
    spec = tmpl.get("spec", {})
    psc = spec.get("securityContext") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        csc = c.get("securityContext") or {}
        cw = f"{where} container {c.get('name')}"
        if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            problems.add(cw, "runAsNonRoot must be true (pod or container)")
        if csc.get("runAsUser", psc.get("runAsUser")) == 0:
            problems.add(cw, "runs as uid 0")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.add(cw, "allowPrivilegeEscalation must be false")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.add(cw, "capabilities must drop ALL")
        if (csc.get("capabilities") or {}).get("add"):
            problems.add(cw, "adds capabilities")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.add(cw, "seccompProfile must be RuntimeDefault (pod or container)")
        if csc.get("privileged"):
            problems.add(cw, "is privileged")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.add(cw, "readOnlyRootFilesystem must be true")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    problems.add(cw, f"resources.{part}.{r} is missing")
        image = c.get("image", "")
        if ":" not in image.rsplit("/", 1)[-1] and "@" not in image or image.endswith(":latest"):
            problems.add(cw, f"image {image!r} must carry a fixed tag or digest")
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            problems.add(where, f"volume {v.get('name')} uses hostPath")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.add(where, "uses host namespaces")


def check_references(where: str, tmpl: Obj, index: dict[tuple[str, str], Obj], external: set[str],
                     problems: Problems) -> None:
    spec = tmpl.get("spec", {})
    refs: list[tuple[str, str, bool]] = []
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                refs.append(("ConfigMap", ef["configMapRef"]["name"], bool(ef["configMapRef"].get("optional"))))
            if "secretRef" in ef:
                refs.append(("Secret", ef["secretRef"]["name"], bool(ef["secretRef"].get("optional"))))
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in vf:
                    refs.append((kind, vf[field]["name"], bool(vf[field].get("optional"))))
    for v in spec.get("volumes") or []:
        if "configMap" in v:
            refs.append(("ConfigMap", v["configMap"]["name"], bool(v["configMap"].get("optional"))))
        if "secret" in v:
            refs.append(("Secret", v["secret"]["secretName"], bool(v["secret"].get("optional"))))
    for kind, name, optional in refs:
        if name in OPTIONAL_SECRETS:
            if not optional:
                problems.add(where, f"{kind} {name} must be referenced with optional: true")
            continue
        if (kind, name) in index or optional:
            continue
        if kind == "Secret" and name in external:
            continue  # documented: must exist in the cluster before the overlay is applied
        problems.add(where, f"refers to {kind} {name}, which is neither rendered nor optional")


def check_env_expansion(where: str, tmpl: Obj, index: dict[tuple[str, str], Obj], problems: Problems) -> None:
    """$(VAR) in an env value must name a variable defined before it (envFrom ConfigMaps, earlier env)."""
    spec = tmpl.get("spec", {})
    for c in spec.get("containers") or []:
        known: set[str] = set()
        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                cm = index.get(("ConfigMap", ef["configMapRef"]["name"]))
                known |= set((cm or {}).get("data") or {})
        for e in c.get("env") or []:
            for var in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(e.get("value", ""))):
                if var not in known:
                    problems.add(f"{where} env {e['name']}", f"$({var}) is not defined before it")
            known.add(e["name"])


def check_auth_keys(where: str, keys: set[str], problems: Problems) -> None:
    for k in AUTH_REQUIRED:
        if k not in keys:
            problems.add(where, f"{k} is missing (the services refuse to start without it)")
    if not any(k in keys for k in AUTH_ONE_OF):
        problems.add(where, f"needs one of {', '.join(AUTH_ONE_OF)} (the services refuse to start without it)")


def check_overlay(name: str, docs: list[Obj], problems: Problems) -> None:
    cfg = OVERLAYS[name]
    where0 = f"overlays/{name}"
    index: dict[tuple[str, str], Obj] = {}
    for o in docs:
        index[(o["kind"], o["metadata"]["name"])] = o
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != cfg["namespace"]:
            problems.add(f"{where0} {o['kind']}/{o['metadata']['name']}", f"namespace is not {cfg['namespace']}")
    if ("Namespace", cfg["namespace"]) not in index:
        problems.add(where0, f"renders no Namespace {cfg['namespace']}")

    config = (index.get(("ConfigMap", "continuum-config")) or {}).get("data")
    if config is None:
        # Generated names carry a hash suffix: find it by prefix.
        for (kind, n), o in index.items():
            if kind == "ConfigMap" and re.fullmatch(r"continuum-config(-[a-z0-9]{10})?", n):
                config = o.get("data") or {}
    if config is None:
        problems.add(where0, "renders no continuum-config ConfigMap")
        config = {}

    # A generated continuum-auth (dev) must hold what the services refuse to start without.
    for (kind, n), o in index.items():
        if kind == "Secret" and re.fullmatch(r"continuum-auth(-[a-z0-9]{10})?", n):
            check_auth_keys(f"{where0} Secret/{n}", set((o.get("data") or {})) | set((o.get("stringData") or {})), problems)
    if not any(k == "Secret" and re.fullmatch(r"continuum-auth(-[a-z0-9]{10})?", n) for k, n in index) \
            and "continuum-auth" not in cfg["external"]:
        problems.add(where0, "renders no continuum-auth Secret and does not expect one to exist")

    services = {o["metadata"]["name"]: o for o in docs if o["kind"] == "Service"}
    templates = [(o, pod_template(o)) for o in docs if pod_template(o) is not None]

    # Every workload: restricted, references resolve, $(VAR) defined.
    for o, tmpl in templates:
        w = f"{where0} {o['kind']}/{o['metadata']['name']}"
        check_restricted(w, tmpl, problems)
        check_references(w, tmpl, index, cfg["external"], problems)
        check_env_expansion(w, tmpl, index, problems)
        if o["kind"] != "Job" and not selector_matches(o["spec"].get("selector", {}).get("matchLabels", {}),
                                                        tmpl.get("metadata", {}).get("labels", {})):
            problems.add(w, "selector does not match its pod template labels")

    # Every Service selects some pods, and its named target ports exist on them.
    for sname, svc in services.items():
        sel = svc.get("spec", {}).get("selector") or {}
        hits = [t for _, t in templates if selector_matches(sel, t.get("metadata", {}).get("labels", {}))]
        if not hits:
            problems.add(f"{where0} Service/{sname}", f"selector {sel} matches no pod template")
            continue
        port_names = {p.get("name") for t in hits for c in t["spec"]["containers"] for p in c.get("ports") or []}
        for p in svc["spec"].get("ports") or []:
            tp = p.get("targetPort")
            if isinstance(tp, str) and tp not in port_names:
                problems.add(f"{where0} Service/{sname}", f"targetPort {tp!r} is not a named container port")

    # Peers: CONTINUUM_*_ADDR are host:port of a Service here with that port.
    for key in ("CONTINUUM_INTAKE_ADDR", "CONTINUUM_MATCHING_ADDR", "CONTINUUM_REFERRAL_ADDR", "CONTINUUM_WAITLIST_ADDR"):
        value = config.get(key)
        want = key.split("_")[1].lower()
        if not value:
            problems.add(f"{where0} continuum-config", f"{key} is not set")
            continue
        host, _, port = value.rpartition(":")
        svc = services.get(host.split(".")[0])
        if host.split(".")[0] != want or svc is None or int(port or 0) not in [p["port"] for p in svc["spec"]["ports"]]:
            problems.add(f"{where0} continuum-config", f"{key}={value} is not the {want} Service and port")
    endpoint = config.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not endpoint.startswith(("http://", "https://")):
        problems.add(f"{where0} continuum-config", "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s):// URL")
    elif cfg["collector_in_cluster"]:
        u = urlparse(endpoint)
        svc = services.get(u.hostname or "")
        if svc is None or u.port not in [p["port"] for p in svc["spec"]["ports"]]:
            problems.add(f"{where0} continuum-config", f"OTEL_EXPORTER_OTLP_ENDPOINT {endpoint} is no Service here")
    grace = int(config.get("CONTINUUM_SHUTDOWN_GRACE_SECS", "10"))

    # Operations: NetworkPolicies, one metrics path, secrets as files, the rules, production images.
    ops_checks.check_network_policies(name, docs, SERVICES, METRICS_PORT, pod_template, problems.add)
    ops_checks.check_metrics_path(name, config, docs, SCRAPED, METRICS_PORT, problems.add)
    ops_checks.check_file_settings(name, config, docs, SERVICES, name == "production", problems.add)
    ops_checks.check_rules_copy(DEPLOY, name, docs, problems.add)
    if name == "production":
        ops_checks.check_production_images(docs, SCRAPED, problems.add)
    check_gateway(name, index, services, cfg, grace, problems)

    # The four services.
    for svc_name, (port, health) in SERVICES.items():
        w = f"{where0} {svc_name}"
        dep = index.get(("Deployment", svc_name))
        if dep is None:
            problems.add(w, "no Deployment")
            continue
        if ("ServiceAccount", svc_name) not in index:
            problems.add(w, "no ServiceAccount")
        elif index[("ServiceAccount", svc_name)].get("automountServiceAccountToken") is not False:
            problems.add(w, "ServiceAccount must set automountServiceAccountToken: false")
        if dep["spec"].get("replicas") != cfg["replicas"]:
            problems.add(w, f"replicas is {dep['spec'].get('replicas')}, expected {cfg['replicas']}")
        pod = dep["spec"]["template"]["spec"]
        if pod.get("serviceAccountName") != svc_name:
            problems.add(w, "serviceAccountName differs from the service name")
        if pod.get("automountServiceAccountToken") is not False:
            problems.add(w, "pod must set automountServiceAccountToken: false")
        psc = pod.get("securityContext") or {}
        if psc.get("runAsUser") != RUN_AS_USER or psc.get("runAsNonRoot") is not True:
            problems.add(w, f"pod securityContext must be runAsNonRoot with runAsUser {RUN_AS_USER}")
        if not pod.get("topologySpreadConstraints"):
            problems.add(w, "no topologySpreadConstraints")
        containers = pod.get("containers") or []
        if len(containers) != 1 or containers[0].get("name") != svc_name:
            problems.add(w, "must have exactly one container named after the service")
            continue
        c = containers[0]
        image = c.get("image", "")
        if image.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1] != svc_name:
            problems.add(w, f"image {image!r} is not named after the service")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if ports.get("grpc") != port or ports.get("metrics") != METRICS_PORT:
            problems.add(w, f"container ports must be grpc={port} and metrics={METRICS_PORT}, got {ports}")
        if env_value(c, "OTEL_SERVICE_NAME") != svc_name:
            problems.add(w, "OTEL_SERVICE_NAME differs from the service name")
        if (env_value(c, "CONTINUUM_LISTEN_ADDR") or "").rpartition(":")[2] != str(port):
            problems.add(w, f"CONTINUUM_LISTEN_ADDR must listen on {port}")
        if (env_value(c, "CONTINUUM_METRICS_ADDR") or "").rpartition(":")[2] != str(METRICS_PORT):
            problems.add(w, f"CONTINUUM_METRICS_ADDR must listen on {METRICS_PORT}")
        froms = [ef.get("configMapRef", ef.get("secretRef", {})).get("name", "") for ef in c.get("envFrom") or []]
        for wanted in ("continuum-config", "continuum-secrets", "continuum-auth"):
            if not any(re.fullmatch(rf"{wanted}(-[a-z0-9]{{10}})?", f) for f in froms):
                problems.add(w, f"envFrom must include {wanted}")
        for probe, want_service in (("readinessProbe", health), ("livenessProbe", ""), ("startupProbe", None)):
            p = c.get(probe)
            if not p or "grpc" not in p:
                problems.add(w, f"{probe} must be a native grpc probe")
                continue
            if p["grpc"].get("port") != port:
                problems.add(w, f"{probe} checks port {p['grpc'].get('port')}, not {port}")
            if want_service is not None and p["grpc"].get("service", "") != want_service:
                problems.add(w, f"{probe} must check service {want_service!r}")
        pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        tgps = pod.get("terminationGracePeriodSeconds", 30)
        if pre_stop + grace >= tgps:
            problems.add(w, f"preStop {pre_stop}s + CONTINUUM_SHUTDOWN_GRACE_SECS {grace}s must be < terminationGracePeriodSeconds {tgps}s")

        svc = services.get(svc_name)
        if svc is None:
            problems.add(w, "no Service")
        else:
            sp = {p.get("name"): p for p in svc["spec"].get("ports") or []}
            g, m = sp.get("grpc"), sp.get("metrics")
            if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
                problems.add(w, "Service must be ClusterIP")
            if not g or g.get("port") != port or g.get("appProtocol") != "grpc" or g.get("targetPort") != "grpc":
                problems.add(w, f"Service port 'grpc' must be {port} -> grpc with appProtocol grpc")
            if not m or m.get("port") != METRICS_PORT or m.get("targetPort") != "metrics":
                problems.add(w, f"Service port 'metrics' must be {METRICS_PORT} -> metrics")

        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        pdb = index.get(("PodDisruptionBudget", svc_name))
        if cfg["pdb"] and pdb is None:
            problems.add(w, "no PodDisruptionBudget")
        elif not cfg["pdb"] and pdb is not None:
            problems.add(w, "a PodDisruptionBudget over one replica blocks node drains")
        elif pdb is not None:
            if not selector_matches(pdb["spec"].get("selector", {}).get("matchLabels", {}), labels):
                problems.add(w, "PodDisruptionBudget selects no pod of the Deployment")
            if pdb["spec"].get("minAvailable", 0) >= cfg["replicas"]:
                problems.add(w, "PodDisruptionBudget minAvailable leaves no disruption allowed")
        hpa = index.get(("HorizontalPodAutoscaler", svc_name))
        if cfg["hpa"] and hpa is None:
            problems.add(w, "no HorizontalPodAutoscaler")
        elif not cfg["hpa"] and hpa is not None:
            problems.add(w, "unexpected HorizontalPodAutoscaler")
        elif hpa is not None:
            ref = hpa["spec"].get("scaleTargetRef", {})
            if ref.get("kind") != "Deployment" or ref.get("name") != svc_name:
                problems.add(w, "HorizontalPodAutoscaler does not scale the Deployment")
            if hpa["spec"].get("minReplicas") != cfg["replicas"] or hpa["spec"].get("maxReplicas", 0) < cfg["replicas"]:
                problems.add(w, f"HorizontalPodAutoscaler minReplicas must be {cfg['replicas']}")
            cpu = [m for m in hpa["spec"].get("metrics") or []
                   if m.get("type") == "Resource" and m["resource"].get("name") == "cpu"]
            if not cpu or cpu[0]["resource"]["target"].get("averageUtilization") != 70:
                problems.add(w, "HorizontalPodAutoscaler must target 70% CPU")


def check_gateway(name: str, index: dict[tuple[str, str], Obj], services: dict[str, Obj], cfg: dict[str, Any],
                  grace: int, problems: Problems) -> None:
    """The HTTP gateway: named after itself, HTTP probes, its ports, the overlay's replicas/HPA/PDB, and a
    NetworkPolicy admitting only the ingress namespace (HTTP) and the monitoring namespace (metrics)."""
    for gw_name, port in HTTP_SERVICES.items():
        w = f"overlays/{name} {gw_name}"
        dep = index.get(("Deployment", gw_name))
        if dep is None:
            problems.add(w, "no Deployment")
            continue
        if dep["spec"].get("replicas") != cfg["replicas"]:
            problems.add(w, f"replicas is {dep['spec'].get('replicas')}, expected {cfg['replicas']}")
        pod = dep["spec"]["template"]["spec"]
        if pod.get("serviceAccountName") != gw_name or pod.get("automountServiceAccountToken") is not False:
            problems.add(w, "must run as its own ServiceAccount without a mounted token")
        containers = pod.get("containers") or []
        if len(containers) != 1 or containers[0].get("name") != gw_name:
            problems.add(w, "must have exactly one container named after the service")
            continue
        c = containers[0]
        image = c.get("image", "")
        if image.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1] != gw_name:
            problems.add(w, f"image {image!r} is not named after the service")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if ports.get("http") != port or ports.get("metrics") != METRICS_PORT:
            problems.add(w, f"container ports must be http={port} and metrics={METRICS_PORT}, got {ports}")
        if env_value(c, "OTEL_SERVICE_NAME") != gw_name:
            problems.add(w, "OTEL_SERVICE_NAME differs from the service name")
        if (env_value(c, "CONTINUUM_LISTEN_ADDR") or "").rpartition(":")[2] != str(port):
            problems.add(w, f"CONTINUUM_LISTEN_ADDR must listen on {port}")
        froms = [ef.get("configMapRef", ef.get("secretRef", {})).get("name", "") for ef in c.get("envFrom") or []]
        if not any(re.fullmatch(r"continuum-config(-[a-z0-9]{10})?", f) for f in froms):
            problems.add(w, "envFrom must include continuum-config (the services' addresses)")
        if any("secretRef" in ef for ef in c.get("envFrom") or []):
            problems.add(w, "the gateway holds no secrets: no secretRef in envFrom")
        by_key = {e.get("name"): ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("key")
                  for e in c.get("env") or [] if (e.get("valueFrom") or {}).get("secretKeyRef")}
        if by_key != {"CONTINUUM_REDIS_URL": "CONTINUUM_REDIS_URL"}:
            problems.add(w, "the gateway's one secret is CONTINUUM_REDIS_URL (shared console sessions), by secretKeyRef; "
                            f"got {by_key}")
        for probe, path in (("readinessProbe", "/healthz"), ("livenessProbe", "/livez"), ("startupProbe", "/livez")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or get.get("port") not in ("http", port):
                problems.add(w, f"{probe} must be an HTTP GET of {path} on the http port")
        pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        if pre_stop + grace >= pod.get("terminationGracePeriodSeconds", 30):
            problems.add(w, "preStop + CONTINUUM_SHUTDOWN_GRACE_SECS must be < terminationGracePeriodSeconds")
        svc = services.get(gw_name)
        sp = {p.get("name"): p for p in (svc or {}).get("spec", {}).get("ports") or []}
        if svc is None or (sp.get("http") or {}).get("port") != port or (sp.get("metrics") or {}).get("port") != METRICS_PORT:
            problems.add(w, f"Service must expose http {port} and metrics {METRICS_PORT}")
        pdb = index.get(("PodDisruptionBudget", gw_name))
        hpa = index.get(("HorizontalPodAutoscaler", gw_name))
        if bool(pdb) != cfg["pdb"]:
            problems.add(w, "PodDisruptionBudget present" if pdb else "no PodDisruptionBudget")
        if bool(hpa) != cfg["hpa"]:
            problems.add(w, "unexpected HorizontalPodAutoscaler" if hpa else "no HorizontalPodAutoscaler")
        elif hpa is not None and hpa["spec"].get("minReplicas") != cfg["replicas"]:
            problems.add(w, f"HorizontalPodAutoscaler minReplicas must be {cfg['replicas']}")
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        admitted: set[tuple[Any, str]] = set()
        for (kind, _), pol in index.items():
            spec = pol.get("spec") or {}
            if kind != "NetworkPolicy" or not selector_matches((spec.get("podSelector") or {}).get("matchLabels") or {}, labels):
                continue
            for rule in spec.get("ingress") or []:
                for peer in rule.get("from") or []:
                    who = str(((peer.get("namespaceSelector") or {}).get("matchLabels") or {}).get(ops_checks.NS_LABEL))
                    for rp in rule.get("ports") or []:
                        admitted.add((rp.get("port"), who))
        want = {("http", ops_checks.INGRESS_NS), ("metrics", ops_checks.MONITORING_NS)}
        if admitted != want:
            problems.add(w, f"NetworkPolicy admits {sorted(map(str, admitted))}, expected {sorted(map(str, want))}")


# --------------------------------------------------------------------------------------------------------
# compose, collector, Dockerfile


def read_env_file(path: str, problems: Problems) -> dict[str, str]:
    env: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", s)
            if not m:
                problems.add(f"{rel(path)}:{n}", "is not VARIABLE=value")
                continue
            if m.group(1) in env:
                problems.add(f"{rel(path)}:{n}", f"{m.group(1)} is defined twice")
            env[m.group(1)] = m.group(2)
    return env


def walk_strings(node: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1) or m.group(3), "")

    return VAR_RE.sub(sub, value)


def parse_port(spec: Any) -> tuple[str, int | None, int]:
    """A compose short port syntax entry: (host ip, host port or None, container port)."""
    s = str(spec).split("/")[0]
    parts = s.rsplit(":", 2) if s.count(":") >= 2 else s.split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return "", int(parts[0]), int(parts[1])
    return "", None, int(parts[0])


def check_compose(problems: Problems) -> tuple[int, int]:
    path = os.path.join(DEPLOY, "compose.yaml")
    env_path = os.path.join(DEPLOY, ".env")
    where = rel(path)
    for p in (path, env_path):
        if not os.path.isfile(p):
            problems.add(rel(p), "is missing")
            return 0, 0
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problems.add(where, f"is not valid YAML: {e}")
        return 0, 0
    env = read_env_file(env_path, problems)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        problems.add(where, "has no services mapping")
        return 0, len(env)

    for k in doc:
        if k not in COMPOSE_TOP_KEYS and not str(k).startswith("x-"):
            problems.add(where, f"unknown top-level key {k!r}")

    # Every ${VARIABLE} (outside comments: comments are not in the parsed document) is defined in .env.
    used: set[str] = set()
    for p, s in walk_strings({k: v for k, v in doc.items() if not str(k).startswith("x-")}):
        for m in VAR_RE.finditer(s):
            if m.group(0) == "$$":
                continue
            var = m.group(1) or m.group(3)
            used.add(var)
            if var not in env:
                problems.add(f"{where} {p}", f"uses ${{{var}}}, which deploy/.env does not define")
    for var in sorted(set(env) - used):
        if not var.startswith("COMPOSE_"):
            problems.add(rel(env_path), f"defines {var}, which compose.yaml never uses")

    services: dict[str, Obj] = doc["services"]
    for name in COMPOSE_REQUIRED:
        if name not in services:
            problems.add(where, f"has no service {name!r}")
    host_ports: dict[tuple[str, int], str] = {}
    listen: dict[str, set[int]] = {}
    for name, svc in services.items():
        w = f"{where} services.{name}"
        if not isinstance(svc, dict):
            problems.add(w, "is not a mapping")
            continue
        for k in svc:
            if k not in COMPOSE_SERVICE_KEYS:
                problems.add(w, f"unknown key {k!r}")
        if "image" not in svc and "build" not in svc:
            problems.add(w, "has neither image nor build")
        if "no-new-privileges:true" not in (svc.get("security_opt") or []):
            problems.add(w, "security_opt must include no-new-privileges:true")
        ports_here: set[int] = set()
        for spec in svc.get("ports") or []:
            try:
                ip, host, container = parse_port(interpolate(str(spec), env))
            except ValueError:
                problems.add(w, f"port {spec!r} does not parse")
                continue
            ports_here.add(container)
            if host is not None:
                key = (ip or "0.0.0.0", host)
                if key in host_ports or ("0.0.0.0", host) in host_ports:
                    problems.add(w, f"host port {host} is also published by {host_ports.get(key) or host_ports.get(('0.0.0.0', host))}")
                host_ports[key] = name
        listen[name] = ports_here
        for dep_name in (svc.get("depends_on") or {}):
            if dep_name not in services:
                problems.add(w, f"depends_on unknown service {dep_name!r}")
        for vol in svc.get("volumes") or []:
            src = str(vol).split(":")[0]
            if src.startswith((".", "/")) and not os.path.exists(os.path.normpath(os.path.join(DEPLOY, src))):
                problems.add(w, f"bind-mounts {src}, which does not exist")

    for name, (port, _) in SERVICES.items():
        svc = services.get(name)
        if not isinstance(svc, dict):
            continue
        w = f"{where} services.{name}"
        build = svc.get("build") or {}
        if not isinstance(build, dict):
            problems.add(w, "build must be a mapping with context, dockerfile and args.SERVICE")
            build = {}
        ctx = os.path.normpath(os.path.join(DEPLOY, str(build.get("context", "."))))
        if not os.path.isfile(os.path.join(ctx, "Cargo.toml")):
            problems.add(w, "build.context is not the repository root (no Cargo.toml there)")
        if not os.path.isfile(os.path.join(ctx, str(build.get("dockerfile", "Dockerfile")))):
            problems.add(w, "build.dockerfile does not exist relative to build.context")
        if (build.get("args") or {}).get("SERVICE") != name:
            problems.add(w, f"build.args.SERVICE must be {name}")
        if f"/{name}:" not in interpolate(str(svc.get("image", "")), env):
            problems.add(w, f"image must be named continuum/{name}:<tag>")
        envs = {k: interpolate(str(v), env) for k, v in (svc.get("environment") or {}).items()}
        if envs.get("OTEL_SERVICE_NAME") != name:
            problems.add(w, "OTEL_SERVICE_NAME differs from the service name")
        if envs.get("CONTINUUM_LISTEN_ADDR", "").rpartition(":")[2] != str(port):
            problems.add(w, f"CONTINUUM_LISTEN_ADDR must listen on {port}")
        if port not in listen.get(name, set()):
            problems.add(w, f"does not publish its gRPC port {port}")
        if svc.get("read_only") is not True or "ALL" not in (svc.get("cap_drop") or []):
            problems.add(w, "must run read_only with cap_drop ALL")
        deps = svc.get("depends_on") or {}
        for d in ("postgres", "redis"):
            if (deps.get(d) or {}).get("condition") != "service_healthy":
                problems.add(w, f"must depend on {d} being healthy")
        for key in ("CONTINUUM_INTAKE_ADDR", "CONTINUUM_MATCHING_ADDR", "CONTINUUM_REFERRAL_ADDR", "CONTINUUM_WAITLIST_ADDR"):
            host, _, p = envs.get(key, "").rpartition(":")
            peer = key.split("_")[1].lower()
            peer_env = {k: interpolate(str(v), env) for k, v in ((services.get(peer) or {}).get("environment") or {}).items()}
            if host != peer or peer_env.get("CONTINUUM_LISTEN_ADDR", "").rpartition(":")[2] != p:
                problems.add(w, f"{key}={envs.get(key)} is not where {peer} listens")
        check_auth_keys(w, {k for k, v in envs.items() if v}, problems)
        db = urlparse(envs.get("CONTINUUM_DATABASE_URL", ""))
        pg_env = {k: interpolate(str(v), env) for k, v in ((services.get("postgres") or {}).get("environment") or {}).items()}
        if db.scheme not in ("postgres", "postgresql") or db.hostname != "postgres" or db.username != pg_env.get("POSTGRES_USER") \
                or db.password != pg_env.get("POSTGRES_PASSWORD") or db.path.lstrip("/") != pg_env.get("POSTGRES_DB"):
            problems.add(w, "CONTINUUM_DATABASE_URL does not match the postgres service and its credentials")
        if urlparse(envs.get("CONTINUUM_REDIS_URL", "")).hostname != "redis":
            problems.add(w, "CONTINUUM_REDIS_URL does not point at the redis service")
        otlp = urlparse(envs.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
        if otlp.hostname != "otel-collector" or otlp.port not in (4317, 4318):
            problems.add(w, "OTEL_EXPORTER_OTLP_ENDPOINT does not point at the otel-collector service")
    for name in ("postgres", "redis"):
        if isinstance(services.get(name), dict) and not services[name].get("healthcheck"):
            problems.add(f"{where} services.{name}", "needs a healthcheck (the services wait for it)")
    ops_checks.check_compose_monitoring(DEPLOY, services, env, METRICS_PORT, interpolate, problems.add)
    collector = services.get("otel-collector") or {}
    if not any(str(v).startswith("./otel-collector.yaml:") for v in collector.get("volumes") or []):
        problems.add(f"{where} services.otel-collector", "must mount ./otel-collector.yaml")
    jaeger_env = (services.get("jaeger") or {}).get("environment") or {}
    if str(jaeger_env.get("COLLECTOR_OTLP_ENABLED", "")).lower() != "true":
        problems.add(f"{where} services.jaeger", "must set COLLECTOR_OTLP_ENABLED=true")
    return len(services), len(env)


def check_collector_config(path: str, problems: Problems) -> None:
    where = rel(path)
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        problems.add(where, f"cannot be read: {e}")
        return
    if not isinstance(cfg, dict):
        problems.add(where, "is not a mapping")
        return
    for k in cfg:
        if k not in ("receivers", "processors", "exporters", "extensions", "connectors", "service"):
            problems.add(where, f"unknown top-level key {k!r}")
    service = cfg.get("service") or {}
    for ext in service.get("extensions") or []:
        if ext not in (cfg.get("extensions") or {}):
            problems.add(where, f"service.extensions uses undefined extension {ext!r}")
    pipelines = service.get("pipelines") or {}
    if "traces" not in pipelines:
        problems.add(where, "has no traces pipeline")
    ops_checks.check_collector_metrics_free(where, cfg, problems.add)
    used: set[tuple[str, str]] = set()
    for pname, p in pipelines.items():
        if pname.split("/")[0] not in ("traces", "metrics", "logs"):
            problems.add(where, f"pipeline {pname!r} is not traces, metrics or logs")
        for section in ("receivers", "processors", "exporters"):
            for comp in (p or {}).get(section) or []:
                used.add((section, comp))
                if comp not in (cfg.get(section) or {}):
                    problems.add(where, f"pipeline {pname} uses undefined {section[:-1]} {comp!r}")
        if not (p or {}).get("receivers") or not (p or {}).get("exporters"):
            problems.add(where, f"pipeline {pname} needs receivers and exporters")
    for section in ("receivers", "processors", "exporters"):
        for comp in cfg.get(section) or {}:
            if (section, comp) not in used:
                problems.add(where, f"{section[:-1]} {comp!r} is defined but no pipeline uses it")
    otlp = ((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    if "grpc" not in otlp or "http" not in otlp:
        problems.add(where, "the otlp receiver must accept grpc and http")


def check_dockerfile(problems: Problems) -> None:
    path = os.path.join(DEPLOY, "Dockerfile")
    where = rel(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        problems.add(where, f"cannot be read: {e}")
        return
    # Join continuation lines, drop comments.
    logical = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "")
             for l in logical.splitlines() if l.strip()]
    froms = [a for i, a in instr if i == "FROM"]
    if len(froms) < 2:
        problems.add(where, "must be multi-stage (a builder and a runtime stage)")
    elif not re.match(r"rust:\S+-bookworm\s+AS\s+builder", froms[0], re.I):
        problems.add(where, "the first stage must be rust:<version>-bookworm AS builder")
    elif not re.match(r"(gcr\.io/distroless/cc-debian12|debian:bookworm-slim)", froms[-1]):
        problems.add(where, "the runtime stage must be distroless/cc-debian12 or debian:bookworm-slim")
    if not any(i == "ARG" and a.strip().startswith("SERVICE") for i, a in instr):
        problems.add(where, "has no ARG SERVICE")
    users = [a.strip() for i, a in instr if i == "USER"]
    if not users or users[-1].split(":")[0] != str(RUN_AS_USER):
        problems.add(where, f"the final USER must be {RUN_AS_USER}")
    entry = [a.strip() for i, a in instr if i == "ENTRYPOINT"]
    if not entry or not entry[-1].startswith("["):
        problems.add(where, "needs an exec-form ENTRYPOINT")
    exposed = {int(p.split("/")[0]) for i, a in instr if i == "EXPOSE" for p in a.split()}
    for port in [p for p, _ in SERVICES.values()] + list(HTTP_SERVICES.values()) + [METRICS_PORT]:
        if port not in exposed:
            problems.add(where, f"does not EXPOSE {port}")
    if "--locked" not in logical or "--release" not in logical:
        problems.add(where, "must build with --release --locked")
    for i, a in instr:
        if i == "COPY" and "--from=" not in a:
            for src in a.split()[:-1]:
                if not src.startswith("--") and not os.path.exists(os.path.join(REPO, src)):
                    problems.add(where, f"COPY {src}: not in the repository")
    names = set(re.findall(r"\b(intake|matching|referral|waitlist|gateway|continuum)\b(?=[|)])", logical))
    if names != DOCKERFILE_SERVICES:
        problems.add(where, f"the SERVICE check must accept exactly {sorted(DOCKERFILE_SERVICES)}, found {sorted(names)}")
    for name in DOCKERFILE_SERVICES:
        manifest = os.path.join(REPO, "services", name, "Cargo.toml")
        try:
            with open(manifest, encoding="utf-8") as f:
                if not re.search(rf'^name\s*=\s*"{name}"', f.read(), re.M):
                    problems.add(where, f"{rel(manifest)} does not define package {name}")
        except OSError:
            problems.add(where, f"SERVICE={name} has no {rel(manifest)}")
    if not os.path.isfile(os.path.join(DEPLOY, "Dockerfile.dockerignore")):
        problems.add(where, "deploy/Dockerfile.dockerignore is missing (target/ would be sent as build context)")


# --------------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kube-versions", default=os.environ.get("KUBE_VERSIONS", "1.30 1.33"),
                    help="Kubernetes versions to validate against (space separated)")
    ap.add_argument("--renderer", default=os.environ.get("CONTINUUM_KUSTOMIZE", "auto"),
                    choices=["auto", "kubectl", "python", "compare"])
    args = ap.parse_args()
    versions = args.kube_versions.split()
    problems = Problems()

    rendered, renderer = render_all(args.renderer, problems)
    counts = {}
    for name, docs in rendered.items():
        if name == "base":
            continue
        counts[name] = schema_validate(docs, f"overlays/{name}", versions, problems)
        check_overlay(name, docs, problems)

    # Production as the release pipeline renders it: every image pinned by digest.
    if rendered:
        tmp, pinned_dir = ops_checks.pin_production_copy(DEPLOY)
        try:
            pinned = kustomize_lite.render(pinned_dir) if renderer.startswith("kustomize_lite") else render_kubectl(pinned_dir)
            ops_checks.check_pinned_render(pinned, SERVICES, problems.add)
        except (kustomize_lite.KustomizeError, OSError, yaml.YAMLError) as e:
            problems.add("overlays/production (pinned by digest)", f"cannot be rendered: {e}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    examples_dir = os.path.join(DEPLOY, "k8s", "examples")
    ops_checks.check_example_secrets(examples_dir, problems.add)
    n_examples = 0
    for fname in sorted(os.listdir(examples_dir)) if os.path.isdir(examples_dir) else []:
        if fname.endswith((".yaml", ".yml")):
            with open(os.path.join(examples_dir, fname), encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d]
            n_examples += schema_validate(docs, f"examples/{fname}", versions, problems)

    n_compose, n_env = check_compose(problems)
    main_cfg = os.path.join(DEPLOY, "otel-collector.yaml")
    dev_cfg = os.path.join(DEPLOY, "k8s", "overlays", "dev", "otel-collector-config.yaml")
    check_collector_config(main_cfg, problems)
    try:
        with open(main_cfg, "rb") as a, open(dev_cfg, "rb") as b:
            if a.read() != b.read():
                problems.add(rel(dev_cfg), f"differs from {rel(main_cfg)}: copy it over (cp {rel(main_cfg)} {rel(dev_cfg)})")
    except OSError as e:
        problems.add(rel(dev_cfg), f"cannot be read: {e}")
    check_dockerfile(problems)
    if not os.path.isfile(os.path.join(REPO, "docs", "operations.md")):
        problems.add("docs/operations.md", "is missing")

    if problems:
        for p in problems.items:
            print(f"validate-deploy: FAIL {p}", file=sys.stderr)
        print(f"validate-deploy: FAILED with {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    objects = ", ".join(f"{k} {v} objects" for k, v in counts.items())
    print(f"validate-deploy: OK - overlays ({objects}) rendered by {renderer} and valid against Kubernetes "
          f"{', '.join(versions)} (strict); {n_examples} example objects; compose.yaml {n_compose} services with "
          f"{n_env} variables from .env; collector config; Dockerfile; NetworkPolicies, PrometheusRule, one "
          f"metrics path, secrets as files, production pinnable by digest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
