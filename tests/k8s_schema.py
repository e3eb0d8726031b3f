"""Schema check of the in-cluster documents, the way kubeconform checks manifests (issue 29; STYLE.md "Kubernetes
platform": "against the OpenAPI schema of the targeted Kubernetes version and the CRD schemas of the pinned add-ons").

* Built-in kinds (Deployment, Service, ResourceQuota, CronJob, ...) are checked against the strict JSON schemas
  PyPI ``kubernetes-validate`` ships per Kubernetes minor version (``additionalProperties: false`` everywhere, so a
  misspelt field is a problem).  Its schema files and its version choice are used through its API
  (``kubernetes_validate.utils``); its own ``validate()`` reloads the schemas on every call and stops at the first
  error, so the validators are built here once per (version, kind) and report every error.
* Custom resources (Kueue, JobSet, Google Managed Prometheus, Gateway API, GKE's policies) are checked against the
  ``openAPIV3Schema`` of the served version in the CRDs kept under ``tests/data/crds/<addon>-<version>/`` (each
  folder's SOURCE.md names the repository, path and tag), with the API server's structural-schema semantics
  (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
  fields a schema does not declare are rejected unless ``x-kubernetes-preserve-unknown-fields: true`` (the API
  server prunes them, or refuses them under strict field validation, which is what kubectl and server-side apply
  ask for); ``x-kubernetes-int-or-string`` takes an integer or a string; ``nullable`` takes null;
  ``x-kubernetes-embedded-resource`` carries apiVersion / kind / metadata; ``metadata`` of the object is checked as
  the ObjectMeta of the targeted Kubernetes version.  CEL rules (``x-kubernetes-validations``) are not evaluated.
* Any other kind / apiVersion is a problem: nothing passes unchecked.

Speed: the schemas are loaded once per process (the CRDs' derived schemas are cached on disk), validators are built
once per (version, kind); a document then takes well under a millisecond.

API: ``problems(doc, kubernetes_version) -> list[str]``; ``check_all(docs, kubernetes_version) -> list[str]`` (each
line prefixed ``<Kind>/<name>: ``); ``crd_kinds() -> {(apiVersion, kind): source folder}``;
``supported_versions() -> list[str]``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from packaging.version import Version
from referencing import Registry, Resource

try:  # `python -m pytest` puts the repo root on sys.path; bare `pytest` only tests/
    from tests.gcp_schema import write_cache
except ModuleNotFoundError:  # pragma: no cover
    from gcp_schema import write_cache

CRD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "crds")
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Validator = jsonschema.validators.Draft202012Validator


# ------------------------------------------------------------------------------------------------
# Kubernetes versions (kubernetes-validate's schema folders)


def supported_versions() -> list[str]:
    """The Kubernetes minor versions kubernetes-validate ships schemas for ("1.25" ... "1.37")."""
    return [kv.major_minor(v) for v in kv.all_versions()]


@functools.lru_cache(maxsize=None)
def _schema_version(kubernetes_version: str) -> str:
    """The kubernetes-validate schema release for a minor version ("1.35" -> "1.35.0"); ValueError if not shipped.

    kubernetes-validate takes the newest schema not newer than the version asked; a version newer than all it ships
    is refused (as its ``validate`` refuses it), and so is one older than all of them.
    """
    want = Version(kv.major_minor(kubernetes_version.lstrip("v")))
    older = [v for v in kv.all_versions() if Version(kv.major_minor(v)) <= want]
    if want > Version(kv.major_minor(kv.latest_version())) or not older:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version} "
                         f"(it ships {supported_versions()[0]}-{supported_versions()[-1]})")
    return older[-1]


@functools.lru_cache(maxsize=None)
def _registry(version: str) -> tuple[Registry, dict]:
    defs = kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    return Resource.from_contents(defs) @ Registry(), defs


_MISSING = object()


@functools.lru_cache(maxsize=None)
def _builtin_validator(version: str, kind: str, api_version: str):
    """The validator of a built-in kind, or None when kubernetes-validate has no schema for it."""
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    # the file name drops the group's domain (networking.gke.io/v1 -> networking-v1): only the exact apiVersion counts
    if api_version not in ((schema.get("properties") or {}).get("apiVersion") or {}).get("enum", ()):
        return None
    registry, _ = _registry(version)
    return _Validator(schema, registry=registry)


@functools.lru_cache(maxsize=None)
def _object_meta_validator(version: str):
    registry, defs = _registry(version)
    return _Validator({"$ref": f"{defs.get('$id', '')}#/$defs/{OBJECT_META}"}, registry=registry)


# ------------------------------------------------------------------------------------------------
# CRDs (tests/data/crds)


def _structural(node: Any) -> Any:
    """An openAPIV3Schema (structural) as a JSON schema with the API server's semantics (see the module doc)."""
    if isinstance(node, list):
        return [_structural(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _structural(v) for k, v in node.items()
           if k not in ("description", "default", "example", "format", "x-kubernetes-validations")}
    for key in ("properties", "patternProperties", "$defs", "definitions"):
        if isinstance(node.get(key), dict):  # a field named "description" / "default" is a field, keep it
            out[key] = {name: _structural(sub) for name, sub in node[key].items()}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        # controller-gen spells it again as anyOf [{type: integer}, {type: string}]: one check, one message
        if all(set(alt) == {"type"} for alt in out.get("anyOf", [{}])):
            out.pop("anyOf", None)
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if node.get("x-kubernetes-preserve-unknown-fields"):
        if out.get("additionalProperties") is False:  # as openapi2jsonschema adds it (see _crd_documents)
            del out["additionalProperties"]
    elif out.get("type") == "object" and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        t = out["type"]
        out["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
    return out


class Crd:
    """One served version of a CRD: the JSON schema of its objects, the scope, the folder it came from."""

    __slots__ = ("api_version", "kind", "namespaced", "source", "validator")

    def __init__(self, api_version: str, kind: str, namespaced: bool | None, source: str, schema: dict):
        """``schema``: the JSON schema ``object_schema`` made of the CRD's openAPIV3Schema."""
        self.api_version, self.kind, self.namespaced, self.source = api_version, kind, namespaced, source
        self.validator = _Validator(schema)


def object_schema(openapi_v3_schema: dict) -> dict:
    """The JSON schema of a custom resource's objects (``_structural``; metadata is checked apart, as ObjectMeta)."""
    schema = _structural(copy.deepcopy(openapi_v3_schema))
    (schema.get("properties") or {}).pop("metadata", None)
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return schema


def _crd_documents(folder: str, path: str):
    """(apiVersion, kind, namespaced, openAPIV3Schema) of each served version a CRD file holds.

    Two forms: a CRD YAML as its project publishes it; or, for CRDs only a cluster has (GKE's), a JSON schema of the
    datreeio/CRDs-catalog layout ``<group>/<kind>_<version>.json`` (kubeconform's openapi2jsonschema of the
    cluster's CRD: the openAPIV3Schema with ``additionalProperties: false`` added), whose scope is unknown (None).
    """
    if path.endswith(".json"):
        group = os.path.basename(os.path.dirname(path))
        kind_lower, _, version = os.path.basename(path)[:-5].rpartition("_")
        with open(path, encoding="utf-8") as fh:
            schema = json.load(fh)
        kinds = ((schema.get("properties") or {}).get("kind") or {}).get("enum")
        described = re.match(r"(\w+) ", schema.get("description") or "")
        kind = kinds[0] if kinds else described.group(1) if described and described.group(1).lower() == kind_lower else None
        if kind is None:
            raise RuntimeError(f"{path}: cannot tell the kind ({kind_lower}) from the schema")
        yield f"{group}/{version}", kind, None, schema
        return
    with open(path, encoding="utf-8") as fh:
        docs = [d for d in yaml.load_all(fh, Loader=_Loader) if d]
    for crd in docs:
        if crd.get("kind") != "CustomResourceDefinition":
            raise RuntimeError(f"{path}: {crd.get('kind')} is not a CustomResourceDefinition")
        spec = crd["spec"]
        for ver in spec["versions"]:
            if ver.get("served"):
                schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or {}
                yield f"{spec['group']}/{ver['name']}", spec["names"]["kind"], spec.get("scope") == "Namespaced", schema


@functools.lru_cache(maxsize=1)
def _crds() -> dict[tuple[str, str], Crd]:
    """Every served (apiVersion, kind) of the CRD test data.  Reading the YAML (the JobSet CRD alone is 0.8 MB) takes
    seconds, so the derived schemas are cached as JSON under ``tempfile.gettempdir()``, keyed by the files' names,
    sizes and mtimes and this module's text."""
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(CRD_DIR) for name in names
                   if name.endswith((".yaml", ".yml", ".json")))
    with open(__file__, "rb") as fh:  # a change to the derivation invalidates the cache too
        key = hashlib.sha1(fh.read())
    for path in files:
        st = os.stat(path)
        key.update(f"{os.path.relpath(path, CRD_DIR)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    cache = os.path.join(tempfile.gettempdir(), f"aiinfra-k8s-crds-{key.hexdigest()[:16]}.json")
    try:
        with open(cache, encoding="utf-8") as fh:
            rows = json.load(fh)
    except (OSError, ValueError):
        rows = []
        for path in files:
            folder = os.path.relpath(path, CRD_DIR).split(os.sep)[0]
            rows += [[api_version, kind, namespaced, folder, object_schema(schema)]
                     for api_version, kind, namespaced, schema in _crd_documents(folder, path)]
        write_cache(cache, rows)
    crds: dict[tuple[str, str], Crd] = {}
    for api_version, kind, namespaced, folder, schema in rows:
        if (api_version, kind) in crds:
            raise RuntimeError(f"{(api_version, kind)} defined twice: {crds[(api_version, kind)].source} and {folder}")
        crds[(api_version, kind)] = Crd(api_version, kind, namespaced, folder, schema)
    return crds


def crd_kinds() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> the tests/data/crds folder whose CRD serves it."""
    return {key: crd.source for key, crd in _crds().items()}


# ------------------------------------------------------------------------------------------------
# checking


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and error.validator_value is False:
        extra = sorted(set(error.instance) - set(error.schema.get("properties") or {})) if isinstance(error.instance, dict) else []
        return f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(repr(e) for e in extra)}"
    msg = error.message
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _leaf_errors(errors: Iterable[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    """The most specific errors (an anyOf/oneOf failure reports its branches' best match)."""
    out = []
    for e in errors:
        if e.context:
            best = jsonschema.exceptions.best_match(e.context)
            out.append(best if best is not None else e)
        else:
            out.append(e)
    return out


def _report(validator, doc: Any, at: str = "") -> list[str]:
    """One line per error, ``<path>: <message>``, the path prefixed with ``at`` (e.g. "metadata")."""
    errors = sorted(_leaf_errors(validator.iter_errors(doc)), key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for e in errors:
        where = ".".join([at] * bool(at) + [str(p) for p in e.absolute_path]) or "(top)"
        line = f"{where}: {_message(e)}"
        if line not in lines:
            lines.append(line)
    return lines


def problems(doc: dict, kubernetes_version: str) -> list[str]:
    """Every schema problem of one Kubernetes document for a cluster of ``kubernetes_version`` ("1.35"); [] if none.

    Each line names the field path (``spec.template.spec.containers.0.imagePullPolicy: ...``).
    """
    if not isinstance(doc, dict):
        return [f"(top): a Kubernetes document is an object, got {type(doc).__name__}"]
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        return [f"(top): apiVersion and kind are required strings (got apiVersion={api_version!r}, kind={kind!r})"]
    try:
        version = _schema_version(kubernetes_version)
    except ValueError as e:
        return [f"(top): {e}"]
    crd = _crds().get((api_version, kind))
    if crd is not None:
        out = []
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            out.append("metadata: required object missing")
        else:
            out += _report(_object_meta_validator(version), meta, "metadata")
            if not meta.get("name") and not meta.get("generateName"):
                out.append("metadata.name: required")
            if crd.namespaced is False and meta.get("namespace"):
                out.append(f"metadata.namespace: {kind} is cluster-scoped ({crd.source}), it takes no namespace")
        return out + _report(crd.validator, doc)
    validator = _builtin_validator(version, kind, api_version)
    if validator is None:
        known = sorted({k for (_, k) in _crds()})
        crd_versions = sorted(av for (av, k) in _crds() if k == kind)
        hint = (f"; the pinned CRDs serve {kind} as {', '.join(crd_versions)}" if crd_versions
                else f"; not a built-in kind of Kubernetes {kv.major_minor(version)} nor one of the CRD kinds {known}")
        return [f"(top): unknown kind {kind} of apiVersion {api_version}{hint}"]
    out = _report(validator, doc)
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        out.append("metadata.name: required")
    return out


def _name(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "?/?"
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name") or "?"
    return f"{doc.get('kind') or '?'}/{name}" if not meta.get("namespace") else f"{doc.get('kind') or '?'}/{meta['namespace']}/{name}"


def check_all(docs: Iterable[dict], kubernetes_version: str) -> list[str]:
    """``problems`` of every document, each line prefixed ``<Kind>/<name>: `` (``<Kind>/<namespace>/<name>``)."""
    return [f"{_name(d)}: {p}" for d in docs for p in problems(d, kubernetes_version)]


if __name__ == "__main__":  # python tests/k8s_schema.py 1.35 file.yaml [...]
    import sys

    version, files = sys.argv[1], sys.argv[2:]
    found = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            found += [f"{f}: {p}" for p in check_all([d for d in yaml.load_all(fh, Loader=_Loader) if d], version)]
    print("\n".join(found) or "ok")
    sys.exit(1 if found else 0)
