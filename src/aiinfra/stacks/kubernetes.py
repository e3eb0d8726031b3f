"""What the Kubernetes platform's stacks share on both clouds (SPEC.md v3 "Platforms"; STYLE.md
"Kubernetes platform": ``stacks/`` chooses by platform, cluster infrastructure is a layer of its own).

On a cloud with ``platform: kubernetes`` each planned cluster (``plan.clusters``) is a stack of its
own, ``<project>-<environment>-<cloud>-cluster`` (``-cluster-<region>`` outside the cloud's primary
region), applied after the region's foundation, whose network and key it reads through the guarded
cross-stack reads every stack uses (``stacks/state.py``); and each workload keeps a stack of its own,
``<project>-<environment>-<cloud>-<workload>``, with its cloud identity bound to the Kubernetes
service account ``<environment>/<workload>``. Each cluster then has two in-cluster stacks
(``stacks/kubernetes_objects.py``): ``...-cluster-addons`` (the pinned add-ons) and ``...-cluster-objects``
(the namespace, quota, queues and the workloads' Jobs / Deployments, Services and exposure), never the
VM platform's instance group, launch template or load balancer.
Clouds on ``vm`` never import the cloud modules (``kubernetes_aws.py``, ``kubernetes_gcp.py``).
"""

from __future__ import annotations

from aiinfra.k8s import namespace  # noqa: F401  (the stacks' namespace, one definition)
from aiinfra.naming import stack_name
from aiinfra.planner.model import Plan
from aiinfra.planner.platform import ClusterPlan


def cluster_part(cluster: ClusterPlan, primary_region: str) -> str:
    """The stack part of a cluster: ``cluster`` in the cloud's primary region, else ``cluster-<region>``."""
    return "cluster" if cluster.region == primary_region else f"cluster-{cluster.region}"


def cluster_stack_name(spec, cluster: ClusterPlan, primary_region: str) -> str:
    return stack_name(spec.project, spec.environment, cluster.cloud, cluster_part(cluster, primary_region))


def cluster_of(plan: Plan, cloud: str, region: str) -> ClusterPlan:
    """The planned cluster of ``cloud`` and ``region`` (the planner makes one for every region with a workload)."""
    found = next((c for c in plan.clusters if c.cloud == cloud and c.region == region), None)
    if found is None:
        raise ValueError(f"the plan has no {cloud} cluster in {region}: plan the spec again (aiinfra plan) before synth")
    return found

