"""Checks across fields and against the catalog, after the schema has passed.

Each check adds a Problem naming the path of the offending value; all are reported together.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiinfra.catalog import Catalog, load_catalog
from aiinfra.errors import Problem
from aiinfra.spec import units

if TYPE_CHECKING:
    from aiinfra.spec import LoadedSpec

# Alert metrics the stacks know how to watch, with the kind of threshold each takes.
ALERT_METRICS: dict[str, str] = {
    "gpu_utilization": "percent",
    "gpu_memory_utilization": "percent",
    "gpu_temperature": "celsius",
    "cpu_utilization": "percent",
    "memory_utilization": "percent",
    "disk_utilization": "percent",
    "avg_inference_latency": "latency",
    "p95_inference_latency": "latency",
    "p99_inference_latency": "latency",
    "inference_error_rate": "percent",
    "requests_per_second": "rate",
    "queue_depth": "count",
    "training_job_status": "status",
    "cost_per_prediction": "usd",
    "monthly_cost": "usd",
}
JOB_STATUSES = ("failed", "succeeded", "running", "stopped")


def threshold_value(metric: str, value: str) -> float:
    """An alert threshold as a number in the metric's own unit (percent, ms, qps, count, degrees,
    USD); a job status counts as 1. Raises ValueError naming what is wrong."""
    kind = ALERT_METRICS[metric]
    if kind == "percent":
        return units.parse_percent(value)
    if kind == "latency":
        return units.parse_latency_ms(value)
    if kind == "rate":
        return units.parse_rate_qps(value)
    if kind == "status":
        if value not in JOB_STATUSES:
            raise ValueError(f"status '{value}' is not one of {', '.join(JOB_STATUSES)}")
        return 1.0
    try:
        return float(value.lstrip("$").rstrip("C°"))
    except ValueError:
        raise ValueError(f"cannot read threshold {value!r} as a number") from None


def check_spec(loaded: "LoadedSpec", catalog: Catalog | None = None) -> list[Problem]:
    from aiinfra.spec import did_you_mean

    spec = loaded.spec
    problems: list[Problem] = []

    def add(path: str, message: str) -> None:
        problems.append(Problem(path, message, loaded.line(path)))

    configured = spec.clouds.configured()
    if not configured:
        add("clouds", "configure at least one cloud: aws: {region: us-east-1} and/or gcp: {region: us-central1, project: my-project}")
        return problems
    catalog = catalog or load_catalog()

    for cloud in configured:
        region = spec.clouds.region(cloud)
        known = catalog.regions(cloud)
        if region not in known:
            add(f"clouds.{cloud}.region", did_you_mean(region, known, f"{cloud} region") + "; `aiinfra catalog refresh` adds regions and shapes the bundled catalog lacks")

    for cloud in configured:
        check_kubernetes(cloud, getattr(spec.clouds, cloud).kubernetes, add)

    seen: dict[str, int] = {}
    for i, w in enumerate(spec.workload_inventory):
        base = f"workload_inventory[{i}]"
        if w.name in seen:
            add(f"{base}.name", f"duplicate workload name '{w.name}' (also workload_inventory[{seen[w.name]}])")
        seen.setdefault(w.name, i)

        clouds = configured
        if w.cloud is not None:
            if w.cloud not in configured:
                add(f"{base}.cloud", f"workload pinned to '{w.cloud}', which is not in clouds (configured: {', '.join(configured)})")
                continue
            clouds = [w.cloud]
        if w.region is not None:
            owners = [c for c in clouds if w.region in catalog.regions(c)]
            if not owners:
                known = sorted({r for c in clouds for r in catalog.regions(c)})
                add(f"{base}.region", did_you_mean(w.region, known, "region for " + "/".join(clouds)) + "; `aiinfra catalog refresh` adds regions and shapes the bundled catalog lacks")
                continue
            clouds = owners

        ask = w.gpu_requirements
        if ask is not None:
            gpu = catalog.gpu_name(ask.model)
            if gpu is None:
                add(f"{base}.gpu_requirements", did_you_mean(ask.model, catalog.gpu_names(), "GPU") + "; `aiinfra catalog refresh` adds regions and shapes the bundled catalog lacks")
            else:
                options = catalog.gpus[gpu].memory_gib_options
                if ask.memory_gib is not None and ask.memory_gib not in options:
                    add(f"{base}.gpu_requirements", f"{gpu} comes with {' or '.join(str(o) for o in options)} GB per GPU, got {ask.memory_gib}GB")
                offering = [c for c in clouds if catalog.offers(cloud=c, gpu=gpu)]
                if not offering:
                    where = f"cloud '{clouds[0]}'" if len(clouds) == 1 else f"the configured clouds ({', '.join(clouds)})"
                    others = catalog.clouds_offering(gpu)
                    add(f"{base}.gpu_requirements", f"{gpu} is not offered on {where}; it is offered on: {', '.join(others) or 'none'}")

        if w.type == "inference" and w.expected_qps is None:
            add(f"{base}.expected_qps", "inference workloads need expected_qps to size replicas, e.g. expected_qps: \"1000\"")
        if w.type == "training" and w.gpu_requirements is None and w.model_size is None:
            add(f"{base}.gpu_requirements", "training workloads need gpu_requirements (e.g. \"8x A100\") or model_size to infer them from")
        if w.type == "data_processing" and w.dataset_size is None and w.nodes is None:
            add(f"{base}.dataset_size", "data_processing workloads need dataset_size (or nodes) to size the cluster")
        if w.type != "inference":
            for key in ("expected_qps", "latency_sla", "replica_qps", "availability_requirement", "precision",
                        "input_tokens_per_request", "output_tokens_per_request"):
                if getattr(w, key) is not None:
                    add(f"{base}.{key}", f"applies to inference workloads only; this workload is {w.type}")
        if w.type == "inference":
            for key in ("training_frequency", "estimated_runtime", "nodes", "schedule", "max_runtime", "retries", "training_method"):
                if getattr(w, key) is not None:
                    add(f"{base}.{key}", "does not apply to inference workloads (replicas run continuously)")
        else:
            for key in ("port", "health_check_path", "exposure", "autoscaling"):
                if getattr(w, key) is not None:
                    add(f"{base}.{key}", f"applies to inference workloads only (a served endpoint); this workload is {w.type}")
        if w.type == "inference" and w.autoscaling is not None:
            from aiinfra.spec.autoscaling import problems as hpa_problems

            for where, message in hpa_problems(w.autoscaling, w.name, spec.environment):
                add(f"{base}.autoscaling{where}", message)
        if w.reservation is not None:
            if w.cloud is None:
                add(f"{base}.reservation", f"a reservation belongs to one cloud: set cloud: aws (a cr-... Capacity Reservation) or cloud: gcp "
                                           f"(a reservation name) on the workload")
            elif w.cloud == "aws" and not re.fullmatch(r"cr-[0-9a-f]{8}([0-9a-f]{9})?", w.reservation):
                add(f"{base}.reservation", f"an AWS Capacity Reservation id looks like cr-0123456789abcdef0, got {w.reservation!r}")
            if w.spot:
                add(f"{base}.reservation", "spot: true and a reservation exclude each other: reserved capacity is on-demand (drop one)")
        if w.capacity_block:
            if w.reservation is None:
                add(f"{base}.capacity_block", "capacity_block: true needs the Capacity Block's id as reservation: cr-...")
            elif w.cloud != "aws":
                add(f"{base}.capacity_block", "Capacity Blocks are an AWS offering: set cloud: aws, or drop capacity_block for a GCP reservation")
        if w.max_runtime is not None and w.max_runtime < 60:
            add(f"{base}.max_runtime", f"must be at least a minute, got {w.max_runtime:g} s")

    for i, rule in enumerate(spec.alerting_rules):
        metric, _op, value = rule.parsed_condition()
        path = f"alerting_rules[{i}].condition"
        if metric not in ALERT_METRICS:
            add(path, did_you_mean(metric, list(ALERT_METRICS), "metric"))
            continue
        try:
            threshold_value(metric, value)
        except ValueError as exc:
            add(path, f"{metric}: {exc}")
            continue
        if metric == "training_job_status" and (_op, value) != ("==", "failed"):
            add(path, "training_job_status alarms on failed runs: write \"training_job_status == 'failed'\" (the job wrapper counts runs "
                      "started, succeeded, failed and restarted; the dashboards chart all four)")

    if spec.monitoring_config is not None:
        from aiinfra.observability.metrics import known_names

        known = known_names()
        for group in ("infrastructure_metrics", "ai_specific_metrics", "business_metrics"):
            seen: set[str] = set()
            for i, name in enumerate(getattr(spec.monitoring_config, group)):
                path = f"monitoring_config.{group}[{i}]"
                if name not in known:
                    add(path, did_you_mean(name, known, "metric") + " (container metrics outside this list: publish them to the node's "
                              "agent endpoint, docs/observability.md)")
                elif name in seen:
                    add(path, f"{name!r} is listed twice")
                seen.add(name)

    if spec.state is not None:
        for cloud in ("aws", "gcp"):
            if getattr(spec.state, cloud) is not None and cloud not in configured:
                add(f"state.{cloud}", f"a {cloud} state backend needs {cloud} in clouds")
    return problems


# GKE cluster names: "must start with a lowercase letter followed by up to 40 lowercase letters, numbers, or hyphens,
# and cannot end with a hyphen" (the Cloud console's rule, quoted in https://gitlab.com/gitlab-org/gitlab/-/work_items/22655),
# 40 characters in all (https://github.com/Azure/telescope/pull/989: "GCP's 40-character limit").
GKE_CLUSTER_NAME = r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"


def check_kubernetes(cloud: str, k8s, add) -> None:
    """``clouds.<cloud>.kubernetes``: the version is one the cloud's service offers (catalog/data/kubernetes_versions.csv)
    and can still create a cluster on; an existing GKE cluster's name is one GKE allows. Checked whatever the platform
    (a bad value is bad input even while the block waits for platform: kubernetes)."""
    if k8s is None:
        return
    from aiinfra.catalog.kubernetes import SERVICE, load_versions
    from aiinfra.planner import today
    from aiinfra.spec import did_you_mean

    base = f"clouds.{cloud}.kubernetes"
    if k8s.version is not None:
        versions = load_versions()
        known = versions.of(cloud)
        row = known.get(k8s.version)
        if row is None:
            add(f"{base}.version", did_you_mean(k8s.version, list(known), f"{SERVICE[cloud]} Kubernetes version")
                + f" (catalog/data/kubernetes_versions.csv, as of {versions.as_of}); leave version out for {versions.default()}")
        elif row.end_of_extended_support is not None and today() >= row.end_of_extended_support:
            newest = max(known, key=lambda v: known[v].key())
            add(f"{base}.version", f"{SERVICE[cloud]} {k8s.version} reached the end of extended support on {row.end_of_extended_support}: "
                                   f"no cluster is created on it and existing ones are upgraded; choose {newest}")
    if cloud == "gcp" and k8s.existing_cluster is not None and not re.fullmatch(GKE_CLUSTER_NAME, k8s.existing_cluster):
        add(f"{base}.existing_cluster", f"{k8s.existing_cluster!r} is not a GKE cluster name: lowercase letters, digits and hyphens, "
                                        "starting with a letter, at most 40 characters")
