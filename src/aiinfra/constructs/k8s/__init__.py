"""Cloud-neutral constructs of the in-cluster stacks (STYLE.md "Kubernetes platform"): the kubernetes and
helm providers configured from a cluster read by name (``provider``), the add-ons as pinned Helm releases
(``addons``), and plain Kubernetes documents as ``kubernetes_manifest`` resources (``objects``)."""

from aiinfra.constructs.k8s.addons import AddOns, ClusterPools, Release, releases
from aiinfra.constructs.k8s.objects import KubernetesObjects, object_address
from aiinfra.constructs.k8s.provider import ClusterAccess, HelmProvider, KubernetesProvider, eks_access, gke_access

__all__ = ["AddOns", "ClusterAccess", "ClusterPools", "HelmProvider", "KubernetesObjects", "KubernetesProvider", "Release", "eks_access",
           "gke_access", "object_address", "releases"]
