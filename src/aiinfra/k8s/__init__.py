"""The workloads' in-cluster objects on the Kubernetes platform (issue 29; SPEC.md v3 "Platforms"; STYLE.md
"Kubernetes platform"): plain Kubernetes documents (``dict``s, no CDK here), derived once from the spec and the
plan, cloud-neutral except where a cloud's controller asks for its own (the serving exposure, the scrape config).

The same documents go two ways: ``constructs/k8s`` puts each one in Terraform (``kubernetes_manifest``, in the
cluster's objects stack), and synth writes them as YAML under ``<out>/kubernetes/<cluster stack>/`` for teams that
deploy them with Argo CD or Flux.

Names every module here shares (one place, so the queue a Job names is the queue that exists):

- the namespace of a spec's workloads is its environment (``namespace``);
- the Kueue ClusterQueue of an environment is ``<project>-<environment>`` (``cluster_queue``), its LocalQueue in
  the namespace is ``LOCAL_QUEUE``;
- a workload's Kubernetes service account is ``<namespace>/<workload>`` (the identity stacks bind that name);
- every document carries ``labels(...)`` (``app.kubernetes.io/managed-by: aiinfra`` ...).
"""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]

MANAGED_BY = "aiinfra"
# The LocalQueue of a namespace that every run of the namespace names (kueue.x-k8s.io/queue-name).
LOCAL_QUEUE = "runs"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# The node labels every pool carries (constructs/aws/eks_node_pool.py, constructs/gcp/gke_node_pool.py).
POOL_LABEL = "aiinfra.dev/pool"
CAPACITY_LABEL = "aiinfra.dev/capacity-type"


def namespace(spec) -> str:
    """The Kubernetes namespace of the environment's workloads: the environment's name (a DNS label)."""
    return spec.environment


def cluster_queue(spec) -> str:
    """The Kueue ClusterQueue of the spec's environment."""
    return f"{spec.project}-{spec.environment}"


def labels(spec, component: str, workload: str | None = None) -> dict[str, str]:
    """The recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/)."""
    out = {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/part-of": spec.project, "app.kubernetes.io/component": component}
    if workload:
        out["app.kubernetes.io/name"] = workload
    return out
