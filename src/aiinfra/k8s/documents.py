"""Every in-cluster document of one cluster, in apply order (issue 29): the environment's governance objects
(namespace, quota, service accounts, Kueue queues: ``k8s/queues.py``), then per workload of the cluster its run
objects (``k8s/jobs.py``: training / data processing) or its serving objects (``k8s/serving.py``), then what
managed Prometheus scrapes (``k8s/monitoring.py``).

The cluster's objects stack puts each one in Terraform (``constructs/k8s/objects.py``) and synth writes the same
documents as YAML under ``<out>/kubernetes/<cluster stack>/`` (``aiinfra.k8s.export``)."""

from __future__ import annotations

from aiinfra.k8s import Doc
from aiinfra.k8s.jobs import batch_documents, storage_config
from aiinfra.k8s.monitoring import cluster_workloads, monitoring_documents
from aiinfra.k8s.queues import governance_documents
from aiinfra.k8s.serving import serving_documents

BATCH = ("training", "data_processing")


def cluster_documents(spec, plan, cluster, exposure=None, data_bucket: str | None = None) -> list[Doc]:
    """The documents of ``cluster``: governance first, then each workload's in plan order, then the scrape
    configuration. ``exposure``: per serving workload's name, what its objects read of the cloud
    (``k8s/serving.py``'s ``exposure``: literal values, or Terraform tokens of the objects stack); a serving
    workload without one is refused by ``serving_documents`` (its certificate is required); a batch workload's
    ``{"image": token}`` when the spec names none (its stack's required variable). ``data_bucket``: the
    foundation's data bucket (a literal or a token), kept once in the namespace's ConfigMap that the runs read
    (``k8s/jobs.py`` ``storage_config``), so the run documents a launcher keeps stay literal; without it a run's
    pods would wait for that ConfigMap."""
    docs: list[Doc] = list(governance_documents(spec, plan, cluster))
    runs: list[Doc] = []
    for w in cluster_workloads(plan, cluster):
        if w.type in BATCH:
            runs += batch_documents(spec, plan, w, cluster, image=(exposure or {}).get(w.name, {}).get("image"))
        elif w.type == "inference":
            runs += serving_documents(spec, plan, w, cluster, (exposure or {}).get(w.name, {}))
    batch = any(d["kind"] == "CronJob" for d in runs)
    if batch and data_bucket:
        docs.append(storage_config(spec, data_bucket))
    return docs + runs + monitoring_documents(spec, plan, cluster)
