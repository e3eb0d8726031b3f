"""Every in-cluster document of one cluster, in apply order (issue 29): the environment's governance objects
(namespace, quota, service accounts, Kueue queues: ``k8s/queues.py``), then per workload of the cluster its run
objects (``k8s/jobs.py``: training / data processing) or its serving objects (``k8s/serving.py``), then what
managed Prometheus scrapes (``k8s/monitoring.py``).

The cluster's objects stack puts each one in Terraform (``constructs/k8s/objects.py``) and synth writes the same
documents as YAML under ``<out>/kubernetes/<cluster stack>/`` (``aiinfra.k8s.export``)."""

from __future__ import annotations

from aiinfra.k8s import Doc
from aiinfra.k8s.jobs import batch_documents
from aiinfra.k8s.monitoring import cluster_workloads, monitoring_documents
from aiinfra.k8s.queues import governance_documents
from aiinfra.k8s.serving import serving_documents

BATCH = ("training", "data_processing")


def cluster_documents(spec, plan, cluster, exposure=None) -> list[Doc]:
    """The documents of ``cluster``: governance first, then each workload's in plan order, then the scrape
    configuration. ``exposure``: per serving workload's name, what its objects read of the cloud
    (``k8s/serving.py``'s ``exposure``: literal values, or Terraform tokens of the objects stack); a serving
    workload without one is refused by ``serving_documents`` (its certificate is required)."""
    docs: list[Doc] = list(governance_documents(spec, plan, cluster))
    for w in cluster_workloads(plan, cluster):
        if w.type in BATCH:
            docs += batch_documents(spec, plan, w, cluster)
        elif w.type == "inference":
            docs += serving_documents(spec, plan, w, cluster, (exposure or {}).get(w.name, {}))
    return docs + monitoring_documents(spec, plan, cluster)
