"""The ``hashicorp/kubernetes`` and ``hashicorp/helm`` providers of an in-cluster stack, configured from
the cluster it targets, read by name (a data source), so that the stack depends on the cluster stack
for its name only, not for any output at plan time.

* EKS: ``host`` = the cluster's endpoint, ``cluster_ca_certificate`` = its CA (base64-decoded), and a
  token from ``aws eks get-token`` at every Terraform run (an exec credential plugin: the token lives
  15 minutes, longer than none of the applies that install charts). The provider's own docs, "Exec
  plugins" (https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs#exec-plugins), and
  terraform-aws-modules/eks's examples configure it so; ``--region`` is passed so that the token is
  asked of the cluster's region whatever ``AWS_REGION`` the runner has.
* GKE: ``host`` = ``https://<endpoint>``, ``token`` = the google provider's own OAuth access token
  (``data "google_client_config"``), ``cluster_ca_certificate`` = ``master_auth[0].cluster_ca_certificate``
  (base64-decoded), as terraform-google-modules/kubernetes-engine's README ("Configure kubernetes
  provider with Oauth2 access token") and the provider's GKE example (``_examples/gke``) do; no
  gke-gcloud-auth-plugin on the runner.

helm 3.x takes the same settings as its ``kubernetes`` attribute (an object, no longer a block:
https://registry.terraform.io/providers/hashicorp/helm/latest/docs/guides/v3-upgrade-guide).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiinfra.cdk import Construct, Fn
from aiinfra.constructs._tf import HELM, KUBERNETES, ProviderBlock, clean, data

# The exec credential API every current client-go speaks (client.authentication.k8s.io/v1beta1:
# https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class ClusterAccess:
    """How a provider reaches one cluster's API server: its URL, the CA that signs it (PEM), and either an
    exec credential plugin (``exec``: api_version, command, args) or a bearer ``token``; ``source``: the data
    source that read the cluster (for its other attributes, e.g. the EKS cluster's VPC)."""

    host: str
    cluster_ca_certificate: str
    exec: dict[str, Any] | None = None
    token: str | None = None
    source: Any = field(default=None, compare=False)  # the data source the cluster was read with (its other attributes)

    def settings(self) -> dict[str, Any]:
        """The provider arguments (the kubernetes provider's block, the helm provider's ``kubernetes`` object)."""
        return clean({"host": self.host, "cluster_ca_certificate": self.cluster_ca_certificate, "exec": self.exec, "token": self.token})


def eks_access(scope: Construct, id: str, *, cluster_name: str, region: str) -> ClusterAccess:
    """The EKS cluster ``cluster_name`` of ``region``, read by name (``data "aws_eks_cluster"``:
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/eks_cluster, its
    ``endpoint`` and ``certificate_authority[0].data``), with ``aws eks get-token`` as the credential."""
    cluster = data(scope, id, "aws_eks_cluster", name=cluster_name)
    return ClusterAccess(
        host=cluster.get_string_attribute("endpoint"),
        cluster_ca_certificate=Fn.base64decode(cluster.get_string_attribute("certificate_authority[0].data")),
        exec={"api_version": EXEC_API_VERSION, "command": "aws",
              "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region]},
        source=cluster)


def gke_access(scope: Construct, id: str, *, cluster_name: str, location: str, project: str) -> ClusterAccess:
    """The GKE cluster ``cluster_name`` in ``location``, read by name (``data "google_container_cluster"``:
    https://registry.terraform.io/providers/hashicorp/google/latest/docs/data-sources/container_cluster),
    with the google provider's access token (``data "google_client_config"``:
    https://registry.terraform.io/providers/hashicorp/google/latest/docs/data-sources/client_config)."""
    cluster = data(scope, id, "google_container_cluster", name=cluster_name, location=location, project=project)
    client = data(scope, f"{id}-client", "google_client_config")
    return ClusterAccess(
        host=f"https://{cluster.get_string_attribute('endpoint')}",
        cluster_ca_certificate=Fn.base64decode(cluster.get_string_attribute("master_auth[0].cluster_ca_certificate")),
        token=client.get_string_attribute("access_token"), source=cluster)


class KubernetesProvider(ProviderBlock):
    """The kubernetes provider block for one cluster (``hashicorp/kubernetes ~> 2.38``, the version the
    prebuilt bindings' schema the tests check against was generated from).

        access = eks_access(stack, "cluster", cluster_name="ml-prod", region="us-east-1")
        KubernetesProvider(stack, "kubernetes", access=access)

    Args:
        access: ``eks_access`` / ``gke_access`` (or a ``ClusterAccess`` of your own).
        alias: for a second cluster in one stack.
        **arguments: any other argument of the provider block (``ignore_annotations`` ...).
    """

    def __init__(self, scope: Construct, id: str = "kubernetes", *, access: ClusterAccess, alias: str | None = None, **arguments: Any):
        super().__init__(scope, id, KUBERNETES, alias, {**access.settings(), **arguments})


class HelmProvider(ProviderBlock):
    """The helm provider block for one cluster (``hashicorp/helm ~> 3.1``: ``kubernetes`` is an object).

    Args:
        access: as ``KubernetesProvider``'s.
        alias: for a second cluster in one stack.
        **arguments: any other argument of the provider block (``registries``, ``burst_limit`` ...).
    """

    def __init__(self, scope: Construct, id: str = "helm", *, access: ClusterAccess, alias: str | None = None, **arguments: Any):
        super().__init__(scope, id, HELM, alias, {"kubernetes": access.settings(), **arguments})
