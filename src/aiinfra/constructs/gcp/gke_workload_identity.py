"""A workload's own Google service account on GKE, bound to one Kubernetes namespace and service
account through Workload Identity, with the grants a VM workload's identity has
(``workload_identity.grant_workload_access``: its bucket prefix, its key, its image registry)."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._k8s_names import service_account_problems
from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.workload_identity import TELEMETRY_ROLES, check_account_id, grant_workload_access
from aiinfra.naming import short

# The annotation that tells GKE which Google service account a Kubernetes service account acts as
# (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#kubernetes-sa-to-iam).
ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


def workload_member(project: str, namespace: str, service_account: str) -> str:
    """The IAM member of a Kubernetes service account in the project's workload pool:
    ``serviceAccount:<project>.svc.id.goog[<namespace>/<service account>]``."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


class WorkloadIdentityBinding(Construct):
    """A Google service account for one workload's pods, which the Kubernetes service account
    ``namespace/service_account`` may act as (``roles/iam.workloadIdentityUser`` on the account for
    the member ``serviceAccount:<project>.svc.id.goog[<namespace>/<service_account>]``).

    Example::

        ident = WorkloadIdentityBinding(stack, "identity", project="acme-ml-prod", namespace="training",
                                        service_account="fraud-detection", bucket=storage.bucket_name,
                                        prefix="fraud-detection", kms_key_id=key.id, repository=None,
                                        depends_on=[cluster.cluster])
        # The Kubernetes ServiceAccount carries ident.annotations (the workload layer renders it).

    Grants, the ones ``WorkloadIdentity`` gives a VM workload (one function writes both): objects
    under ``prefix/`` in ``bucket`` (and listing the bucket), encrypt / decrypt with ``kms_key_id``,
    reading ``repository``'s images. Image pulls for the pod's containers are made by the node
    (``NodeServiceAccount``); ``repository`` is for a workload that reads the registry itself (an
    image signature check, a model pushed as an OCI artifact).

    The workload pool ``<project>.svc.id.goog`` exists once a cluster of the project has Workload
    Identity: give the cluster in ``depends_on`` when both are created by one apply, or IAM refuses
    the member. (GKE can also grant IAM roles to the Kubernetes service account directly, as a
    ``principal://`` member, without a Google service account; not every Google API accepts those
    principals yet, so this construct binds a Google account:
    https://cloud.google.com/kubernetes-engine/docs/concepts/workload-identity#supported-products.)

    Args:
        project: the project id (its workload pool is ``<project>.svc.id.goog``).
        namespace, service_account: the Kubernetes namespace and service account of the pods.
        bucket, prefix: the data bucket and the workload's folder in it.
        kms_key_id: the key the workload encrypts and decrypts with directly.
        repository: an Artifact Registry repository id (``projects/P/locations/L/repositories/R``)
            the workload reads; None: no registry grant.
        account_id: the Google account's id; default ``<namespace>-<service_account>``, cut to 30
            characters with a stable hash.
        signing_key_ids: Cloud KMS signing keys whose public key the workload reads (cosign).
        telemetry: log and metric writing on the project for the pods' own API calls; default off
            (the node's agents ship stdout and Prometheus metrics with the node's account).
        depends_on: what the binding waits for (the cluster that creates the workload pool).

    Attributes:
        email, member (``serviceAccount:<email>``), workload_member (the Kubernetes service
        account's member), annotations (``{"iam.gke.io/gcp-service-account": email}``), account.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, namespace: str, service_account: str, bucket: str, prefix: str,
                 kms_key_id: str, repository: str | None, account_id: str | None = None, signing_key_ids: Sequence[str] = (),
                 telemetry: bool = False, depends_on: Sequence = ()):
        super().__init__(scope, id)
        problems = service_account_problems(namespace, service_account)
        account_id = account_id or short(f"{namespace}-{service_account}".replace(".", "-"), 30)
        if len(account_id) < 6:
            account_id = f"wi-{account_id}".ljust(6, "0")
        try:
            check_account_id(account_id)
        except ValueError as e:
            problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))
        self.account = resource(self, "account", "google_service_account", project=project, account_id=account_id,
                                display_name=f"aiinfra pods {namespace}/{service_account}"[:100],
                                description=f"Pods of Kubernetes service account {namespace}/{service_account}; grants on its own resources only")
        self.email: str = self.account.get_string_attribute("email")
        self.member: str = f"serviceAccount:{self.email}"
        self.workload_member: str = workload_member(project, namespace, service_account)
        self.annotations: dict[str, str] = {ANNOTATION: self.email}
        # https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#kubernetes-sa-to-iam:
        # roles/iam.workloadIdentityUser on the Google account, for the Kubernetes service account's member.
        self.binding = resource(self, "workload-identity-user", "google_service_account_iam_member",
                                service_account_id=self.account.get_string_attribute("name"), role=WORKLOAD_IDENTITY_USER,
                                member=self.workload_member, depends_on=list(depends_on) or None)
        grant_workload_access(self, self.member, project=project, bucket_names=[bucket], object_prefix=prefix, kms_key_ids=[kms_key_id],
                              signing_key_ids=signing_key_ids, project_roles=TELEMETRY_ROLES if telemetry else (),
                              repositories=[repository] if repository else ())
