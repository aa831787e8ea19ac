"""A small Kustomize renderer: only the subset that deploy/k8s uses, for machines without `kubectl kustomize`.

.ci/validate-deploy renders the overlays with the real Kustomize (`kubectl kustomize`) when it is there and
falls back to this module otherwise; `CONTINUUM_KUSTOMIZE=compare` renders with both and fails when they
disagree, which is how this module is kept honest.

Supported (anything else in a kustomization.yaml is an error, never silently ignored):
  resources (files and folders holding a kustomization.yaml), namespace, labels (pairs, includeSelectors,
  includeTemplates; selectors of workloads, Services, PodDisruptionBudgets and NetworkPolicies), commonLabels,
  images (name, newName, newTag, digest), patches (strategic merge, from
  `path` or inline `patch`, optional `target` by kind / name / labelSelector, `$patch: delete`),
  configMapGenerator and secretGenerator (literals, files, envs; behavior create / merge / replace; type),
  generatorOptions.disableNameSuffixHash.
Generated ConfigMaps and Secrets get Kustomize's content-hash suffix (same algorithm, so the same names) and
every reference to them in pod templates is renamed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion", "kind", "resources", "namespace", "labels", "commonLabels", "images", "patches",
    "configMapGenerator", "secretGenerator", "generatorOptions",
}

CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
}

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# Strategic-merge keys of the lists deploy/k8s patches (Kubernetes' patchMergeKey for each field).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
    "volumeMounts": "mountPath", "envFrom": None, "topologySpreadConstraints": "topologyKey",
    "imagePullSecrets": "name",
}


class KustomizeError(Exception):
    """The kustomization uses something this renderer does not support, or is wrong."""


# --------------------------------------------------------------------------------------------------------
# loading


def _load_yaml_docs(path: str) -> list[Obj]:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        if not isinstance(d, dict):
            raise KustomizeError(f"{path}: a document is not a mapping")
    return docs


def _kustomization_file(folder: str) -> str:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise KustomizeError(f"{folder}: no kustomization.yaml")


def _within(root: str, path: str) -> str:
    """Kustomize's default load restrictor: files must be inside the kustomization's folder."""
    full = os.path.normpath(os.path.join(root, path))
    if not (full == root or full.startswith(root + os.sep)):
        raise KustomizeError(f"{path}: outside {root} (Kustomize refuses files outside the kustomization root)")
    return full


# --------------------------------------------------------------------------------------------------------
# generators


def _kustomize_hash(obj: Obj) -> str:
    # Kustomize's api/hasher: json.Marshal of {kind, name, data[, type, binaryData/stringData]} with sorted
    # keys, sha256, first 10 hex digits with 0 1 3 a e mapped to g h k m t. Kustomize looks the name up as
    # the single field "metadata/name", which does not exist, so the name it hashes is always "".
    kind = obj["kind"]
    m: dict[str, Any] = {"kind": kind, "name": "", "data": obj.get("data") or ""}
    if kind == "Secret":
        m["type"] = obj.get("type", "")
        if obj.get("stringData"):
            m["stringData"] = obj["stringData"]
    elif obj.get("binaryData"):
        m["binaryData"] = obj["binaryData"]
    text = json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoding/json escapes these three for HTML safety.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _b64(value: str) -> str:
    # Kustomize (kyaml) wraps base64 of 70 characters or more into 70-character lines, each ending in a newline;
    # the wrapped form is what it hashes and prints.
    enc = base64.b64encode(value.encode("utf-8")).decode("ascii")
    if len(enc) < 70:
        return enc
    return "\n".join(enc[i : i + 70] for i in range(0, len(enc), 70)) + "\n"


def _generator_data(root: str, spec: Obj, where: str) -> dict[str, str]:
    unknown = set(spec) - {"name", "literals", "files", "envs", "behavior", "type", "options", "namespace"}
    if unknown:
        raise KustomizeError(f"{where}: unsupported generator fields {sorted(unknown)}")
    if spec.get("options"):
        raise KustomizeError(f"{where}: generator options are not supported by this renderer")
    data: dict[str, str] = {}
    for lit in spec.get("literals") or []:
        if "=" not in lit:
            raise KustomizeError(f"{where}: literal {lit!r} is not KEY=VALUE")
        k, v = lit.split("=", 1)
        data[k] = v
    for env_file in spec.get("envs") or []:
        with open(_within(root, env_file), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    k, _, v = line.partition("=")
                    data[k] = v
    for entry in spec.get("files") or []:
        key, _, path = entry.partition("=") if "=" in entry else (os.path.basename(entry), "", entry)
        with open(_within(root, path), encoding="utf-8") as f:
            data[key] = f.read()
    return data


def _generate(root: str, kust: Obj, resources: list[Obj]) -> None:
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for i, spec in enumerate(kust.get(field) or []):
            where = f"{root}: {field}[{i}]"
            name = spec.get("name")
            if not name:
                raise KustomizeError(f"{where}: no name")
            data = _generator_data(root, spec, where)
            behavior = spec.get("behavior", "create")
            existing = [r for r in resources if r["kind"] == kind and r.get("__generated__") == name]
            if behavior == "create":
                if existing:
                    raise KustomizeError(f"{where}: {kind} {name} already exists (use behavior: merge)")
                obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "__generated__": name}
                if kind == "Secret":
                    obj["type"] = spec.get("type", "Opaque")
                    obj["data"] = {k: _b64(v) for k, v in data.items()}
                else:
                    obj["data"] = data
                resources.append(obj)
            elif behavior in ("merge", "replace"):
                if len(existing) != 1:
                    raise KustomizeError(f"{where}: behavior {behavior} needs exactly one {kind} {name} from a base")
                obj = existing[0]
                encoded = data if kind == "ConfigMap" else {k: _b64(v) for k, v in data.items()}
                if behavior == "replace":
                    obj["data"] = encoded
                else:
                    obj.setdefault("data", {}).update(encoded)
            else:
                raise KustomizeError(f"{where}: unknown behavior {behavior!r}")


# --------------------------------------------------------------------------------------------------------
# strategic merge patches


def _merge(base: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, dict) and isinstance(base, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        out = dict(base)
        for k, v in patch.items():
            if k == "$patch":
                continue
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = _merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(patch, list) and isinstance(base, list):
        key = MERGE_KEYS.get(field)
        if key is None or not all(isinstance(x, dict) for x in base + patch):
            return copy.deepcopy(patch)
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            match = [i for i, x in enumerate(out) if x.get(key) == item.get(key)]
            if item.get("$patch") == "delete":
                out = [x for x in out if x.get(key) != item.get(key)]
            elif match:
                out[match[0]] = _merge(out[match[0]], item, field)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _matches_target(obj: Obj, target: Obj | None, patch: Obj) -> bool:
    if target is None:
        return obj["kind"] == patch.get("kind") and obj["metadata"]["name"] == patch.get("metadata", {}).get("name")
    unknown = set(target) - {"kind", "name", "labelSelector", "group", "version"}
    if unknown:
        raise KustomizeError(f"patch target fields {sorted(unknown)} are not supported")
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and obj["metadata"]["name"] != target["name"]:
        return False
    if "labelSelector" in target:
        labels = obj["metadata"].get("labels") or {}
        for term in str(target["labelSelector"]).split(","):
            k, _, v = term.strip().partition("=")
            if labels.get(k) != v:
                return False
    return True


def _apply_patches(root: str, kust: Obj, resources: list[Obj]) -> list[Obj]:
    for i, p in enumerate(kust.get("patches") or []):
        unknown = set(p) - {"path", "patch", "target", "options"}
        if unknown or p.get("options"):
            raise KustomizeError(f"{root}: patches[{i}]: unsupported fields {sorted(unknown) or ['options']}")
        if "path" in p:
            docs = _load_yaml_docs(_within(root, p["path"]))
        else:
            docs = [d for d in yaml.safe_load_all(p["patch"]) if d is not None]
        for doc in docs:
            if isinstance(doc, list):
                raise KustomizeError(f"{root}: patches[{i}]: JSON 6902 patches are not supported")
            hits = [r for r in resources if _matches_target(r, p.get("target"), doc)]
            if not hits:
                raise KustomizeError(f"{root}: patches[{i}] matches no resource")
            if doc.get("$patch") == "delete":
                resources = [r for r in resources if not any(r is h for h in hits)]
                continue
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            meta = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in ("name", "namespace")}
            for h in hits:
                merged = _merge(h, body)
                if meta:
                    merged["metadata"] = _merge(h["metadata"], meta, "metadata")
                h.clear()
                h.update(merged)
    return resources


# --------------------------------------------------------------------------------------------------------
# labels, images, namespace, name references


def _pod_template(obj: Obj) -> Obj | None:
    if obj["kind"] in WORKLOADS:
        return obj.get("spec", {}).get("template")
    if obj["kind"] == "CronJob":
        return obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
    return None


def _add_labels(resources: list[Obj], pairs: dict[str, str], selectors: bool, templates: bool) -> None:
    for r in resources:
        r["metadata"].setdefault("labels", {}).update(pairs)
        tmpl = _pod_template(r)
        if selectors:
            spec = r.get("spec", {})
            if r["kind"] == "Service":
                spec.setdefault("selector", {}).update(pairs)
            elif r["kind"] in WORKLOADS - {"Job"} or r["kind"] == "PodDisruptionBudget":
                spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
            elif r["kind"] == "NetworkPolicy":
                # Kustomize's field specs for NetworkPolicy have create: false: only an existing matchLabels
                # gets the labels (an empty podSelector {} still selects every pod; namespaceSelector untouched).
                selectors = [spec.get("podSelector")]
                for rule in spec.get("ingress") or []:
                    selectors += [peer.get("podSelector") for peer in rule.get("from") or []]
                for rule in spec.get("egress") or []:
                    selectors += [peer.get("podSelector") for peer in rule.get("to") or []]
                for sel in selectors:
                    if isinstance(sel, dict) and isinstance(sel.get("matchLabels"), dict):
                        sel["matchLabels"].update(pairs)
            if tmpl is not None:
                for c in tmpl.get("spec", {}).get("topologySpreadConstraints") or []:
                    c.setdefault("labelSelector", {}).setdefault("matchLabels", {}).update(pairs)
        if tmpl is not None and (selectors or templates):
            tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _labels(kust: Obj, resources: list[Obj]) -> None:
    if kust.get("commonLabels"):
        _add_labels(resources, kust["commonLabels"], True, True)
    for i, entry in enumerate(kust.get("labels") or []):
        unknown = set(entry) - {"pairs", "includeSelectors", "includeTemplates"}
        if unknown:
            raise KustomizeError(f"labels[{i}]: unsupported fields {sorted(unknown)}")
        pairs = {str(k): str(v) for k, v in (entry.get("pairs") or {}).items()}
        _add_labels(resources, pairs, bool(entry.get("includeSelectors")), bool(entry.get("includeTemplates")))


def _images(kust: Obj, resources: list[Obj]) -> None:
    for img in kust.get("images") or []:
        unknown = set(img) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise KustomizeError(f"images: unsupported fields {sorted(unknown)}")
        for r in resources:
            tmpl = _pod_template(r)
            if tmpl is None:
                continue
            spec = tmpl.get("spec", {})
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                ref = c.get("image", "")
                name, tag, digest = ref, "", ""
                if "@" in name:
                    name, digest = name.split("@", 1)
                if ":" in name.rsplit("/", 1)[-1]:
                    name, tag = name.rsplit(":", 1)
                if name != img["name"]:
                    continue
                name = img.get("newName", name)
                if "digest" in img and "newTag" in img:
                    # Kustomize keeps both: name:tag@digest (the runtime pulls by digest).
                    c["image"] = f"{name}:{img['newTag']}@{img['digest']}"
                elif "digest" in img:
                    c["image"] = f"{name}@{img['digest']}"
                elif "newTag" in img:
                    c["image"] = f"{name}:{img['newTag']}"
                else:
                    c["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _namespace(ns: str, resources: list[Obj]) -> None:
    for r in resources:
        if r["kind"] not in CLUSTER_SCOPED:
            r["metadata"]["namespace"] = ns


def _rename_references(resources: list[Obj], renames: dict[tuple[str, str], str]) -> None:
    def cm(name: str) -> str:
        return renames.get(("ConfigMap", name), name)

    def sec(name: str) -> str:
        return renames.get(("Secret", name), name)

    for r in resources:
        tmpl = _pod_template(r)
        if tmpl is None:
            continue
        spec = tmpl.get("spec", {})
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef:
                    ef["configMapRef"]["name"] = cm(ef["configMapRef"]["name"])
                if "secretRef" in ef:
                    ef["secretRef"]["name"] = sec(ef["secretRef"]["name"])
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "configMapKeyRef" in vf:
                    vf["configMapKeyRef"]["name"] = cm(vf["configMapKeyRef"]["name"])
                if "secretKeyRef" in vf:
                    vf["secretKeyRef"]["name"] = sec(vf["secretKeyRef"]["name"])
        for v in spec.get("volumes") or []:
            if "configMap" in v:
                v["configMap"]["name"] = cm(v["configMap"]["name"])
            if "secret" in v:
                v["secret"]["secretName"] = sec(v["secret"]["secretName"])
            for src in (v.get("projected") or {}).get("sources") or []:
                if "configMap" in src:
                    src["configMap"]["name"] = cm(src["configMap"]["name"])
                if "secret" in src:
                    src["secret"]["name"] = sec(src["secret"]["name"])
        for ips in spec.get("imagePullSecrets") or []:
            ips["name"] = sec(ips["name"])


# --------------------------------------------------------------------------------------------------------
# build


def _build(folder: str, stack: tuple[str, ...]) -> tuple[list[Obj], bool]:
    folder = os.path.normpath(os.path.abspath(folder))
    if folder in stack:
        raise KustomizeError(f"{folder}: kustomization cycle")
    path = _kustomization_file(folder)
    with open(path, encoding="utf-8") as f:
        kust = yaml.safe_load(f) or {}
    unknown = set(kust) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{path}: fields not supported by this renderer: {sorted(unknown)}")
    if kust.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{path}: kind must be Kustomization")

    resources: list[Obj] = []
    no_hash = bool((kust.get("generatorOptions") or {}).get("disableNameSuffixHash"))
    for entry in kust.get("resources") or []:
        full = os.path.normpath(os.path.join(folder, entry))
        if os.path.isdir(full):
            sub, sub_no_hash = _build(full, stack + (folder,))
            no_hash = no_hash or sub_no_hash
            resources.extend(sub)
        else:
            for doc in _load_yaml_docs(_within(folder, entry)):
                for field in ("apiVersion", "kind", "metadata"):
                    if field not in doc:
                        raise KustomizeError(f"{full}: a document has no {field}")
                resources.append(doc)

    _generate(folder, kust, resources)
    resources = _apply_patches(folder, kust, resources)
    _labels(kust, resources)
    _images(kust, resources)
    if kust.get("namespace"):
        _namespace(kust["namespace"], resources)
    return resources, no_hash


def render(folder: str) -> list[Obj]:
    """Renders the kustomization in `folder` into plain resource dicts."""
    resources, no_hash = _build(folder, ())
    renames: dict[tuple[str, str], str] = {}
    for r in resources:
        original = r.pop("__generated__", None)
        if original and not no_hash:
            new = f"{original}-{_kustomize_hash(r)}"
            r["metadata"]["name"] = new
            renames[(r["kind"], original)] = new
    _rename_references(resources, renames)
    seen: set[tuple[str, str, str]] = set()
    for r in resources:
        key = (r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{folder}: duplicate resource {key}")
        seen.add(key)
    return resources


if __name__ == "__main__":
    import sys

    for target in sys.argv[1:]:
        sys.stdout.write(yaml.safe_dump_all(render(target), sort_keys=False))
