"""The guide's ``alerting_rules`` as Prometheus alerting rules, for the Kubernetes platform (issue 29): one
translation, used by the Amazon Managed Service for Prometheus rule groups (``constructs/aws/managed_prometheus.py``)
and by the Cloud Monitoring PromQL alert policies over Google Managed Prometheus data
(``constructs/gcp/prometheus_alerts.py``). No CDK here (the plan and the document modules import it).

What each condition watches on a cluster, and who produces it:

- GPU metrics: NVIDIA's DCGM exporter, field names as its default counters list them
  (https://github.com/NVIDIA/dcgm-exporter/blob/main/etc/default-counters.csv: ``DCGM_FI_DEV_GPU_UTIL`` (%),
  ``DCGM_FI_DEV_FB_FREE`` / ``DCGM_FI_DEV_FB_USED`` (MiB), ``DCGM_FI_DEV_GPU_TEMP`` (C), ``DCGM_FI_DEV_POWER_USAGE`` (W)).
  GKE runs the exporter itself and writes the same names to Managed Prometheus
  (https://cloud.google.com/kubernetes-engine/docs/how-to/dcgm-metrics: Cloud Monitoring type
  ``prometheus.googleapis.com/DCGM_FI_DEV_FB_USED/gauge``, whose PromQL name is ``DCGM_FI_DEV_FB_USED``); on EKS the
  add-ons stack installs the exporter's chart and the AMP collector scrapes it (``scrape_configuration``).
  GPU memory utilization is used / (used + free), as the exporter publishes no total by default.
- The model server's latency, request rate and errors: the container contract of the Kubernetes platform (this
  module states it; SPEC.md's contract names no metrics endpoint): an inference container serves Prometheus
  metrics at ``/metrics`` on its ``port`` and records its requests in the OpenTelemetry HTTP server histogram
  ``http.server.request.duration`` (seconds, stable semantic convention:
  https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration), which the
  OpenTelemetry Prometheus exporter names ``http_server_request_duration_seconds`` with the label
  ``http_response_status_code`` (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/:
  "." becomes "_", the unit is a suffix). Its pods are scraped with the target label ``workload`` (their
  ``app.kubernetes.io/name``) and ``namespace``.
- The container's own metrics (``queue_depth``, ``model_accuracy``...): gauges of the vocabulary's name on the same
  endpoint (the VM platform's StatsD / OTLP names).
- A failed run: JobSet's ``Failed`` condition as kube-state-metrics publishes it,
  ``kube_jobset_status_condition{condition="Failed"}`` (GKE's managed kube state metrics, JobSet package:
  https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics#jobset-metrics: "The Failed condition
  indicates that the JobSet failed its execution"); on EKS kube-state-metrics with ``JOBSET_CUSTOM_RESOURCE_STATE``,
  which publishes the same name and labels. JobSet sets Failed once its restarts are spent, which is when the VM
  platform raises the training failure (SPEC.md: "until retries are spent, then ... raises the training-failure
  alert").

A condition without a cluster metric (node disk, CPU of a node, cost per prediction...) is never dropped silently:
``kubernetes_rules`` returns it in its second list with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiinfra.observability.workload import applicable_alerts, nvidia_gpus
from aiinfra.planner.model import WorkloadPlan

LATENCY_HISTOGRAM = "http_server_request_duration_seconds"
STATUS_LABEL = "http_response_status_code"
WORKLOAD_LABEL = "workload"   # the scrape's target label: the pod's app.kubernetes.io/name
NAME_LABEL = "app.kubernetes.io/name"
METRICS_PATH = "/metrics"
SCRAPE_INTERVAL = "30s"       # the AMP collector refuses less than 30 s (AMP-collector-how-to.html, "Scraper limitations")
RATE_WINDOW = "5m"
JOBSET_FAILED = "kube_jobset_status_condition"
DCGM = {"used": "DCGM_FI_DEV_FB_USED", "free": "DCGM_FI_DEV_FB_FREE", "util": "DCGM_FI_DEV_GPU_UTIL",
        "temp": "DCGM_FI_DEV_GPU_TEMP", "power": "DCGM_FI_DEV_POWER_USAGE"}
# The container's own gauges (observability/metrics.py producer "app") a rule may name.
APP_GAUGES = ("queue_depth", "training_loss_progression", "batch_processing_time", "model_accuracy", "revenue_per_model",
              "user_satisfaction_score")

# kube-state-metrics' custom resource configuration that publishes JobSet conditions under GKE's managed names
# (metricNamePrefix + metric name; labels jobset_name, namespace, condition), for the kube-state-metrics add-on on
# EKS (its chart's ``customResourceState.config``). Format: kube-state-metrics docs/metrics/extend/
# customresourcestate-metrics.md ("kind: CustomResourceStateMetrics", ``each.type: Gauge`` with ``path`` to the
# conditions list, ``labelsFromPath`` and ``valueFrom: [status]``, "True" read as 1). kube-state-metrics needs
# list / watch on jobsets.jobset.x-k8s.io for it.
JOBSET_CUSTOM_RESOURCE_STATE: dict[str, Any] = {
    "kind": "CustomResourceStateMetrics",
    "spec": {"resources": [{
        "groupVersionKind": {"group": "jobset.x-k8s.io", "version": "v1alpha2", "kind": "JobSet"},
        "metricNamePrefix": "kube_jobset",
        "labelsFromPath": {"jobset_name": ["metadata", "name"], "namespace": ["metadata", "namespace"]},
        "metrics": [{"name": "status_condition", "help": "The current status conditions of a JobSet.",
                     "each": {"type": "Gauge", "gauge": {"path": ["status", "conditions"], "labelsFromPath": {"condition": ["type"]},
                                                         "valueFrom": ["status"]}}}]}]},
}

_NOT_ON_CLUSTER = {
    "cpu_utilization": "no node CPU metric is scraped on the kubernetes platform (no node exporter; cAdvisor's are per container)",
    "memory_utilization": "no node memory metric is scraped on the kubernetes platform (no node exporter; cAdvisor's are per container)",
    "disk_utilization": "no node disk metric is scraped on the kubernetes platform (no node exporter)",
    "cost_per_prediction": "cost per prediction needs the node-hour price and the request count in one query; Prometheus has no price",
}
_OPS = (">", ">=", "<", "<=", "==", "!=")


@dataclass(frozen=True)
class PromRule:
    """One Prometheus alerting rule from one guide rule (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/)."""

    name: str                 # the guide's rule name
    alert: str                # the alert's name (the rule name in CamelCase: a Prometheus metric name)
    expr: str                 # PromQL: the series that breach
    for_seconds: int          # the guide's duration (0: fires at the first evaluation)
    severity: str             # the guide's severity, as the label ``severity``
    condition: str            # the guide's condition, word for word
    workloads: tuple[str, ...]
    action: str | None = None

    @property
    def for_(self) -> str:
        return duration(self.for_seconds)

    def rule(self) -> dict[str, Any]:
        """The rule as a Prometheus rules file writes it."""
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_seconds:
            out["for"] = self.for_
        out["labels"] = {"severity": self.severity}
        notes = {"summary": f"{self.name}: {self.condition}", "workloads": ", ".join(self.workloads)}
        if self.action:
            notes["action"] = self.action
        out["annotations"] = notes
        return out


@dataclass(frozen=True)
class NotTranslated:
    """A guide rule no Prometheus rule watches on the cluster, and why."""

    name: str
    condition: str
    reason: str


def duration(seconds: int) -> str:
    """A Prometheus duration: ``5m``, ``1h``, ``90s``."""
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def alert_name(name: str) -> str:
    """``GPU Memory Exhaustion`` -> ``GpuMemoryExhaustion`` (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    out = "".join(w[:1].upper() + w[1:].lower() for w in words) or "Alert"
    return out if out[0].isalpha() else f"A{out}"


def _number(v: float) -> str:
    return f"{v:g}"


def _cluster(cluster: str | None) -> list[str]:
    return [f'cluster="{cluster}"'] if cluster else []


def _selector(namespace: str, workloads: Iterable[str], extra: str = "", cluster: str | None = None) -> str:
    names = sorted(set(workloads))
    # workload names are DNS labels (spec checks): no regex metacharacter to escape ("-" is literal outside [])
    bad = [n for n in names if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n)]
    if bad:
        raise ValueError(f"workload names must be DNS labels to select their series, got {bad}")
    parts = [*_cluster(cluster), f'namespace="{namespace}"', f'{WORKLOAD_LABEL}=~"{"|".join(names)}"']
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}"


def _by() -> str:
    return f"by (namespace, {WORKLOAD_LABEL})"


def expression(metric: str, op: str, threshold: float, namespace: str, workloads: Iterable[str], cluster: str | None = None) -> str | None:
    """The PromQL of ``metric op threshold`` (threshold in the spec's unit: %, ms, requests/s, count, C, W) over the
    pods of ``workloads`` in ``namespace`` (and the series of ``cluster`` only, where one store holds several
    clusters' series: Google Managed Prometheus labels each with ``cluster``); None when no cluster metric has it.
    GPU series are every GPU of the cluster (the exporter's, not a workload's)."""
    t = _number(threshold)
    rate = f"[{RATE_WINDOW}]"
    sel = _selector(namespace, workloads, cluster=cluster)
    gpu = "{" + ", ".join(_cluster(cluster)) + "}" if cluster else ""
    h = LATENCY_HISTOGRAM
    if metric in ("gpu_memory_utilization", "gpu_memory_usage"):
        return f"100 * {DCGM['used']}{gpu} / ({DCGM['used']}{gpu} + {DCGM['free']}{gpu}) {op} {t}"
    if metric == "gpu_utilization":
        return f"{DCGM['util']}{gpu} {op} {t}"
    if metric == "gpu_temperature":
        return f"{DCGM['temp']}{gpu} {op} {t}"
    if metric == "gpu_power":
        return f"{DCGM['power']}{gpu} {op} {t}"
    if metric in ("avg_inference_latency", "model_inference_latency"):
        return f"1000 * sum {_by()} (rate({h}_sum{sel}{rate})) / sum {_by()} (rate({h}_count{sel}{rate})) {op} {t}"
    if metric in ("p95_inference_latency", "p99_inference_latency"):
        q = "0.95" if metric.startswith("p95") else "0.99"
        return f"1000 * histogram_quantile({q}, sum by (namespace, {WORKLOAD_LABEL}, le) (rate({h}_bucket{sel}{rate}))) {op} {t}"
    if metric in ("inference_error_rate", "error_rate"):
        errors = _selector(namespace, workloads, f'{STATUS_LABEL}=~"5.."', cluster)
        return f"100 * sum {_by()} (rate({h}_count{errors}{rate})) / sum {_by()} (rate({h}_count{sel}{rate})) {op} {t}"
    if metric in ("requests_per_second", "request_rate"):
        return f"sum {_by()} (rate({h}_count{sel}{rate})) {op} {t}"
    if metric in APP_GAUGES:
        return f"max {_by()} ({metric}{sel}) {op} {t}"
    return None


def _failed_runs(op: str, namespace: str, cluster: str | None) -> str:
    # ">= 1" (== 'failed'): a JobSet of the namespace is Failed; "< 1" (!= 'failed'): none is.
    matchers = ", ".join([*_cluster(cluster), f'namespace="{namespace}"', 'condition="Failed"'])
    return f"max by (namespace, jobset_name) ({JOBSET_FAILED}{{{matchers}}}) {op} 1"


def untranslatable(rule) -> str | None:
    """Why no cluster metric watches ``rule`` (the spec's ``AlertRule``) on the kubernetes platform; None: one does
    (``kubernetes_rules`` translates it where it applies)."""
    metric, op, value = rule.parsed_condition()
    if metric == "training_job_status":
        if value == "failed" and op in ("==", "!="):
            return None
        return f"only training_job_status == 'failed' has a cluster metric (JobSet's Failed condition), not {op} '{value}'"
    if metric in _NOT_ON_CLUSTER:
        return _NOT_ON_CLUSTER[metric]
    if op not in _OPS:
        return f"operator {op!r} has no PromQL comparison"
    if expression(metric, op, 0, "namespace", ["workload"]) is None:
        return f"no metric of a cluster measures {metric}"
    return None


def kubernetes_rules(rules, workloads: list[WorkloadPlan], namespace: str,
                     cluster: str | None = None) -> tuple[list[PromRule], list[NotTranslated]]:
    """The guide's ``rules`` (``spec.alerting_rules``) as Prometheus rules over ``workloads`` (the workloads of one
    cluster) in ``namespace``: a rule applies to the workloads ``observability.workload.applicable_alerts`` gives it
    (GPU metrics on NVIDIA GPUs, endpoint metrics on inference, job status on batch work); one Prometheus rule per
    guide rule that applies to any of them; ``monthly_cost`` is the foundation's budget, not a cluster rule.
    ``cluster``: match only that cluster's series (a Cloud Monitoring project holds every cluster's).
    Also returns the rules no cluster metric watches, each with its reason (never silently dropped)."""
    out: list[PromRule] = []
    skipped: list[NotTranslated] = []
    for rule in rules:
        metric, op, _value = rule.parsed_condition()
        if metric == "monthly_cost":
            continue
        applies = [(w, m_op, threshold) for w in workloads for r, _m, m_op, threshold in applicable_alerts([rule], w)]
        if not applies:
            continue
        names = tuple(sorted({w.name for w, _o, _t in applies}))
        _w, mapped_op, threshold = applies[0]
        why = untranslatable(rule)
        if why:
            skipped.append(NotTranslated(rule.name, rule.condition, why))
            continue
        if metric == "training_job_status":
            expr = _failed_runs(mapped_op, namespace, cluster)
        else:
            found = expression(metric, op, threshold, namespace, names, cluster)
            assert found is not None  # untranslatable() said there is one
            expr = found
        out.append(PromRule(rule.name, alert_name(rule.name), expr, int(rule.duration or 0), rule.severity, rule.condition, names,
                            rule.action))
    taken: dict[str, str] = {}
    for r in out:
        if r.alert in taken:
            raise ValueError(f"alert rules {taken[r.alert]!r} and {r.name!r} have the same Prometheus alert name {r.alert}")
        taken[r.alert] = r.name
    return out, skipped


# ---- what is scraped (monitoring_config decides) -------------------------------------------------------------

SERVED = ("model_inference_latency", "request_rate", "error_rate", *APP_GAUGES)


def scraped(spec, workloads: list[WorkloadPlan]) -> dict[str, Any]:
    """What the cluster's managed Prometheus collects for the spec's ``monitoring_config`` (all of the default set
    without one) and its alert rules: ``gpu`` (DCGM: an NVIDIA GPU workload monitors a GPU metric), ``servers``
    (inference workloads whose model server is scraped: a latency, request, error or container metric is monitored;
    name -> port), ``jobsets`` (a batch workload monitors its runs: kube-state-metrics' JobSet conditions)."""
    from aiinfra.observability.workload import monitored_metrics

    gpu, jobsets, servers = False, False, {}
    for w in workloads:
        names = set(monitored_metrics(spec, w))
        if nvidia_gpus(w) and any(n.startswith("gpu_") for n in names):
            gpu = True
        if w.type == "inference" and names & set(SERVED):
            servers[w.name] = _port(spec, w)
        if w.type != "inference" and "training_runs" in names:
            jobsets = True
    return {"gpu": gpu, "servers": dict(sorted(servers.items())), "jobsets": jobsets}


def _port(spec, w: WorkloadPlan) -> int:
    from aiinfra.planner.rules import DEFAULT_MODEL_PORT

    return w.port or DEFAULT_MODEL_PORT  # SPEC.md: "the port the container serves on (default 8080)"
