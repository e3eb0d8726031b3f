"""A workload's ``autoscaling`` key (SPEC.md v3 "Platforms"): the guide's HorizontalPodAutoscaler, kept verbatim.

The spec takes it in either of the guide's two shapes and stores the mapping as written (``Workload.autoscaling``),
so what the user pasted is what the cluster gets, key for key:

- the HPA's ``spec`` (``minReplicas``, ``maxReplicas``, ``metrics``, ``behavior``; ``scaleTargetRef`` left out: the
  workload's Deployment is filled in);
- the whole ``autoscaling/v2`` HorizontalPodAutoscaler document (``apiVersion``, ``kind``, ``metadata``, ``spec``),
  as the guide's Step 2 prints it.

``problems`` checks it against the ``autoscaling/v2`` API
(https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/) and returns
every problem at once, each at its path under the key; ``hpa_spec`` and ``bounds`` read a valid one. Pure Python:
the planner (the replica bounds) and ``k8s/serving.py`` (the HPA document) read it too.
"""

from __future__ import annotations

import re
from typing import Any

API_VERSION = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"
DOCUMENT_KEYS = ("apiVersion", "kind", "metadata", "spec")
SPEC_KEYS = ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior")
# MetricSpec's types and the member each one fills (the API reference above: "type is the type of metric source. It
# should be one of "ContainerResource", "External", "Object", "Pods" or "Resource", each mapping to a matching field").
METRIC_SOURCES = {"Resource": "resource", "Pods": "pods", "Object": "object", "External": "external",
                  "ContainerResource": "containerResource"}
# Resource metrics an HPA reads from the metrics server (the pods' requests): cpu and memory.
RESOURCE_NAMES = ("cpu", "memory")
# MetricTarget: type Utilization (averageUtilization, resource metrics only), Value or AverageValue; Pods metrics
# support AverageValue only, Resource metrics Utilization and AverageValue (same page, MetricSpec).
TARGETS = {"Utilization": "averageUtilization", "Value": "value", "AverageValue": "averageValue"}
ALLOWED_TARGETS = {"Resource": ("Utilization", "AverageValue"), "ContainerResource": ("Utilization", "AverageValue"),
                   "Pods": ("AverageValue",), "Object": ("Value", "AverageValue"), "External": ("Value", "AverageValue")}
# HPAScalingRules (same page): stabilizationWindowSeconds 0..3600, selectPolicy Max | Min | Disabled, policies of type
# Pods | Percent with value > 0 and periodSeconds 1..1800; tolerance is a quantity.
SCALING_RULE_KEYS = ("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance")
SELECT_POLICIES = ("Max", "Min", "Disabled")
POLICY_TYPES = ("Pods", "Percent")
# A resource.Quantity: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
# (<signedNumber><suffix>, the suffix binary Ki..Ei, decimal m, k, M..E, or an exponent e3 / E3).
QUANTITY = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
# metadata.name of the HPA: a DNS-1123 subdomain (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_document(raw: dict[str, Any]) -> bool:
    """Whether ``raw`` is the whole HPA document (it names its apiVersion, kind or spec), not its spec alone."""
    return any(k in raw for k in ("apiVersion", "kind", "spec"))


def hpa_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """The HPA's ``spec`` of a valid ``autoscaling`` value (the mapping itself, or the document's ``spec``)."""
    return raw["spec"] if is_document(raw) else raw


def bounds(raw: dict[str, Any]) -> tuple[int, int]:
    """(minReplicas, maxReplicas) of a valid ``autoscaling`` value; minReplicas defaults to 1 as the API's does."""
    spec = hpa_spec(raw)
    return int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _quantity(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v == v and v not in (float("inf"), float("-inf"))
    return isinstance(v, str) and bool(QUANTITY.match(v))


def _unknown(node: dict[str, Any], allowed: tuple[str, ...] | list[str], path: str, add) -> None:
    from aiinfra.spec import did_you_mean

    for key in node:
        if key not in allowed:
            add(f"{path}.{key}", did_you_mean(str(key), list(allowed), "key").replace(" known: ", " allowed: "))


def problems(raw: Any, workload: str, namespace: str) -> list[tuple[str, str]]:
    """Every problem of an ``autoscaling`` value as (path under the key, message): '' is the key itself,
    '.spec.maxReplicas' a value in it. ``workload`` names the Deployment it scales, ``namespace`` the one it lives in."""
    out: list[tuple[str, str]] = []

    def add(path: str, message: str) -> None:
        out.append((path, message))

    if not isinstance(raw, dict):
        add("", f"expected the HPA's spec (minReplicas, maxReplicas, metrics) or the whole {KIND} document, got {type(raw).__name__}")
        return out
    base = ""
    spec: Any = raw
    if is_document(raw):
        _unknown(raw, DOCUMENT_KEYS, "", add)
        if raw.get("apiVersion") != API_VERSION:
            add(".apiVersion", f"expected {API_VERSION!r} (the HPA API this cluster version serves; autoscaling/v2beta2 was removed "
                               f"in Kubernetes 1.26), got {raw.get('apiVersion')!r}")
        if raw.get("kind") != KIND:
            add(".kind", f"expected {KIND!r}, got {raw.get('kind')!r}")
        meta = raw.get("metadata", {})
        if not isinstance(meta, dict):
            add(".metadata", f"expected a mapping (name, labels, annotations), got {type(meta).__name__}")
        else:
            _unknown(meta, ("name", "namespace", "labels", "annotations"), ".metadata", add)
            name = meta.get("name")
            if name is not None and (not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name)):
                add(".metadata.name", f"{name!r} is not a Kubernetes name (lowercase letters, digits, '-' and '.', at most 253 characters)")
            if meta.get("namespace") not in (None, namespace):
                add(".metadata.namespace", f"the HPA lives beside its Deployment in namespace {namespace!r} (the environment), "
                                           f"got {meta.get('namespace')!r}: leave namespace out")
            for key in ("labels", "annotations"):
                value = meta.get(key)
                if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
                    add(f".metadata.{key}", "expected a mapping of names to text values")
        base, spec = ".spec", raw.get("spec")
        if not isinstance(spec, dict):
            add(".spec", "the document needs its spec: minReplicas, maxReplicas, metrics" if spec is None else
                f"expected a mapping (minReplicas, maxReplicas, metrics), got {type(spec).__name__}")
            return out
    _unknown(spec, SPEC_KEYS, base, add)
    ref = spec.get("scaleTargetRef")
    if ref is not None:
        want = {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload}
        if not isinstance(ref, dict):
            add(f"{base}.scaleTargetRef", f"expected {want}, or leave it out (the workload's Deployment is filled in)")
        else:
            _unknown(ref, tuple(want), f"{base}.scaleTargetRef", add)
            for key, value in want.items():
                if key in ref and ref[key] != value or key != "apiVersion" and key not in ref:
                    add(f"{base}.scaleTargetRef.{key}", f"the HPA scales this workload's Deployment ({key}: {value}), got "
                                                        f"{ref.get(key)!r}; or leave scaleTargetRef out")
    lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if "minReplicas" in spec and not (_is_int(lo) and lo >= 1):
        add(f"{base}.minReplicas", f"expected a whole number of replicas, at least 1, got {lo!r} (0 needs the alpha feature gate "
                                   "HPAScaleToZero, which EKS and GKE do not turn on)")
        lo = None
    if hi is None:
        add(f"{base}.maxReplicas", "required: the most replicas the HPA may scale to (the guide's 20)")
    elif not (_is_int(hi) and hi >= 1):
        add(f"{base}.maxReplicas", f"expected a whole number of replicas, at least 1, got {hi!r}")
    elif _is_int(lo) and lo > hi:
        add(f"{base}.minReplicas", f"minReplicas {lo} is more than maxReplicas {hi}")
    metrics = spec.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, list):
            add(f"{base}.metrics", f"expected a list of metrics, got {type(metrics).__name__}")
        else:
            for i, m in enumerate(metrics):
                _metric(m, f"{base}.metrics[{i}]", add)
    behavior = spec.get("behavior")
    if behavior is not None:
        if not isinstance(behavior, dict):
            add(f"{base}.behavior", f"expected a mapping (scaleUp, scaleDown), got {type(behavior).__name__}")
        else:
            _unknown(behavior, ("scaleUp", "scaleDown"), f"{base}.behavior", add)
            for key in ("scaleUp", "scaleDown"):
                if key in behavior:
                    _rules(behavior[key], f"{base}.behavior.{key}", add)
    return out


def _metric(m: Any, path: str, add) -> None:
    if not isinstance(m, dict):
        add(path, f"expected a metric (type and its source), got {type(m).__name__}")
        return
    kind = m.get("type")
    if kind not in METRIC_SOURCES:
        from aiinfra.spec import did_you_mean

        add(f"{path}.type", did_you_mean(str(kind), list(METRIC_SOURCES), "metric type").replace(" known: ", " allowed: ")
            if isinstance(kind, str) else f"required: one of {', '.join(METRIC_SOURCES)}")
        return
    member = METRIC_SOURCES[kind]
    _unknown(m, ("type", member), path, add)
    source = m.get(member)
    if not isinstance(source, dict):
        add(f"{path}.{member}", f"a {kind} metric needs its {member}: mapping")
        return
    where = f"{path}.{member}"
    if kind in ("Resource", "ContainerResource"):
        _unknown(source, ("name", "target") + (("container",) if kind == "ContainerResource" else ()), where, add)
        if source.get("name") not in RESOURCE_NAMES:
            add(f"{where}.name", f"a {kind} metric is cpu or memory (the pods' requests), got {source.get('name')!r}")
        if kind == "ContainerResource" and not (isinstance(source.get("container"), str) and source["container"]):
            add(f"{where}.container", "required: the container whose usage is read")
    else:
        _unknown(source, ("metric", "target") + (("describedObject",) if kind == "Object" else ()), where, add)
        ident = source.get("metric")
        if not (isinstance(ident, dict) and isinstance(ident.get("name"), str) and ident["name"]):
            add(f"{where}.metric.name", "required: the metric's name (e.g. requests_per_second)")
        elif set(ident) - {"name", "selector"}:
            _unknown(ident, ("name", "selector"), f"{where}.metric", add)
        if kind == "Object":
            obj = source.get("describedObject")
            if not (isinstance(obj, dict) and all(isinstance(obj.get(k), str) and obj[k] for k in ("kind", "name"))):
                add(f"{where}.describedObject", "required: the object the metric describes (apiVersion, kind, name)")
    _target(source.get("target"), kind, f"{where}.target", add)


def _target(t: Any, kind: str, path: str, add) -> None:
    if not isinstance(t, dict):
        add(path, f"required: the target (type {' or '.join(ALLOWED_TARGETS[kind])} with its value)")
        return
    ttype = t.get("type")
    allowed = ALLOWED_TARGETS[kind]
    if ttype not in allowed:
        add(f"{path}.type", f"a {kind} metric's target is {' or '.join(allowed)}, got {ttype!r}")
        return
    field = TARGETS[ttype]
    _unknown(t, ("type", field), path, add)
    value = t.get(field)
    if field == "averageUtilization":
        if not (_is_int(value) and value >= 1):
            add(f"{path}.{field}", f"expected a whole percentage of the pods' requests, at least 1, got {value!r}")
    elif value is None:
        add(f"{path}.{field}", f"required with type {ttype}")
    elif not _quantity(value):
        add(f"{path}.{field}", f"{value!r} is not a Kubernetes quantity (e.g. \"100\", \"500m\", \"2k\")")
    elif quantity_value(value) <= 0:
        add(f"{path}.{field}", f"the target must be above 0, got {value!r}")


def _rules(rules: Any, path: str, add) -> None:
    if not isinstance(rules, dict):
        add(path, f"expected a mapping ({', '.join(SCALING_RULE_KEYS)}), got {type(rules).__name__}")
        return
    _unknown(rules, SCALING_RULE_KEYS, path, add)
    window = rules.get("stabilizationWindowSeconds")
    if window is not None and not (_is_int(window) and 0 <= window <= 3600):
        add(f"{path}.stabilizationWindowSeconds", f"expected whole seconds from 0 to 3600, got {window!r}")
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        add(f"{path}.selectPolicy", f"expected one of {', '.join(SELECT_POLICIES)}, got {select!r}")
    if "tolerance" in rules and not _quantity(rules["tolerance"]):
        add(f"{path}.tolerance", f"{rules['tolerance']!r} is not a Kubernetes quantity (e.g. \"0.05\")")
    policies = rules.get("policies")
    if policies is None:
        return
    if not isinstance(policies, list):
        add(f"{path}.policies", f"expected a list of policies (type, value, periodSeconds), got {type(policies).__name__}")
        return
    for i, p in enumerate(policies):
        where = f"{path}.policies[{i}]"
        if not isinstance(p, dict):
            add(where, "expected a policy (type, value, periodSeconds)")
            continue
        _unknown(p, ("type", "value", "periodSeconds"), where, add)
        if p.get("type") not in POLICY_TYPES:
            add(f"{where}.type", f"expected Pods or Percent, got {p.get('type')!r}")
        if not (_is_int(p.get("value")) and p["value"] > 0):
            add(f"{where}.value", f"expected a whole number above 0, got {p.get('value')!r}")
        if not (_is_int(p.get("periodSeconds")) and 0 < p["periodSeconds"] <= 1800):
            add(f"{where}.periodSeconds", f"expected whole seconds from 1 to 1800, got {p.get('periodSeconds')!r}")


# ---- the HPA on the vm platform ------------------------------------------------------------------
# SPEC.md v3 "Platforms": on vm, the HPA's replica bounds and targets map to the group's scaling: a cpu Utilization
# target to CPU target tracking, the requests_per_second Pods target (the guide's) to requests per target / replica.
REQUESTS_METRIC = "requests_per_second"
_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_value(q: Any) -> float:
    """The number a resource.Quantity (``"100"``, ``"500m"``, ``"1.5k"``, ``"2e3"``) or a plain number stands for."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return float(q)
    m = QUANTITY.match(str(q))
    if m is None:
        raise ValueError(f"{q!r} is not a Kubernetes quantity")
    number, suffix = m.group(1), m.group(3) or ""
    if suffix[:1] in ("e", "E") and suffix not in _SUFFIX:
        return float(number + suffix)
    return float(number) * _SUFFIX.get(suffix, 1.0)


def vm_scaling(raw: dict[str, Any]) -> tuple[float | None, float | None, list[str]]:
    """What the vm platform's group scaling takes of a valid HPA: (the cpu Utilization target in percent or None,
    the requests_per_second Pods target per replica or None, the parts it cannot map, each named by its path
    under the key: other metrics, ``behavior``)."""
    spec = hpa_spec(raw)
    base = ".spec" if is_document(raw) else ""
    cpu: float | None = None
    rps: float | None = None
    unmapped: list[str] = []
    for i, m in enumerate(spec.get("metrics") or []):
        kind = m.get("type")
        source = m.get(METRIC_SOURCES.get(kind, ""), {}) or {}
        target = source.get("target", {}) or {}
        if kind == "Resource" and source.get("name") == "cpu" and target.get("type") == "Utilization":
            cpu = float(target["averageUtilization"])
        elif kind == "Pods" and (source.get("metric") or {}).get("name") == REQUESTS_METRIC and target.get("type") == "AverageValue":
            rps = quantity_value(target["averageValue"])
        else:
            unmapped.append(f"{base}.metrics[{i}]")
    if spec.get("behavior"):
        unmapped.append(f"{base}.behavior")
    return cpu, rps, unmapped
