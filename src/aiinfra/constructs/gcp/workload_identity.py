"""A workload's own service account, with grants on its own resources only: objects under its
prefix in the data bucket, its keys, and writing its logs and metrics."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource

ACCOUNT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Project-level roles a node needs to report on itself; nothing broader.
TELEMETRY_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
# Image pulls (https://cloud.google.com/artifact-registry/docs/access-control#roles): read only.
REGISTRY_ROLE = "roles/artifactregistry.reader"
# Verifying an image signed with a Cloud KMS key: cosign's GCP client calls GetCryptoKey, then
# GetCryptoKeyVersion (or ListCryptoKeyVersions) and GetPublicKey, and checks the signature locally
# (https://github.com/sigstore/sigstore/blob/bd0ad71258e946a1f5728c2248e06d1524a403e7/pkg/signature/kms/gcp/client.go).
# publicKeyViewer holds cryptoKeyVersions.viewPublicKey (https://cloud.google.com/kms/docs/retrieve-public-key);
# the key and version reads are in roles/cloudkms.viewer (https://cloud.google.com/iam/docs/roles-permissions/cloudkms).
# roles/cloudkms.verifier is not needed: nothing is verified by Cloud KMS itself.
SIGNING_KEY_ROLES = ("roles/cloudkms.publicKeyViewer", "roles/cloudkms.viewer")
CRYPTO_KEY_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
REPOSITORY_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/repositories/(?P<repository>[^/]+)$")
FORBIDDEN_ROLES = ("roles/owner", "roles/editor", "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator")


def check_account_id(account_id: str) -> str:
    """``account_id`` if it is a valid service account id, else ValueError."""
    if not ACCOUNT_ID_RE.match(account_id):
        raise ValueError(f"account_id must be 6-30 lowercase letters, digits or hyphens, start with a letter, got {account_id!r}")
    return account_id


def grant_workload_access(scope: Construct, member: str, *, project: str, bucket_names: Sequence[str] = (), object_prefix: str | None = None,
                          kms_key_ids: Sequence[str] = (), signing_key_ids: Sequence[str] = (), project_roles: Sequence[str] = (),
                          repositories: Sequence[str] = ()) -> None:
    """The least-privilege grants of one workload's identity, in ``scope``: what a workload's VM
    nodes (``WorkloadIdentity``) and its Kubernetes pods (``WorkloadIdentityBinding``) are given
    alike. ``member`` (``serviceAccount:<email>``) may use, under ``object_prefix`` only, the objects
    of ``bucket_names`` and list them; encrypt and decrypt with ``kms_key_ids``; read the public key
    of ``signing_key_ids``; hold ``project_roles`` on the project (telemetry, image pulls); and read
    the images of ``repositories`` (Artifact Registry repository ids
    ``projects/<p>/locations/<l>/repositories/<r>``: the reader role on that repository only).
    Construct ids are the ones WorkloadIdentity always had (they are part of its contract)."""
    bad_keys = [k for k in signing_key_ids if not isinstance(k, str) or not CRYPTO_KEY_RE.match(k)]
    if bad_keys:
        raise ValueError("signing_key_ids must be crypto keys projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k> "
                         f"(no key version: roles are granted on the key), got {bad_keys!r}")
    if object_prefix is not None and (not object_prefix or object_prefix.startswith("/") or "*" in object_prefix):
        raise ValueError(f"object_prefix must be a plain folder name, got {object_prefix!r}")
    bad_repos = [r for r in repositories if not isinstance(r, str) or not REPOSITORY_RE.match(r)]
    if bad_repos:
        raise ValueError(f"repositories must be Artifact Registry repository ids projects/<p>/locations/<l>/repositories/<r>, got {bad_repos!r}")
    forbidden = [r for r in project_roles if r in FORBIDDEN_ROLES]
    if forbidden:
        raise ValueError(f"a workload identity never holds {', '.join(forbidden)}")
    for i, bucket in enumerate(bucket_names):
        condition = None
        if object_prefix:
            condition = {"title": f"only-{object_prefix}"[:100], "description": f"objects under {object_prefix}/ only",
                         "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{object_prefix}/")'}
        resource(scope, f"bucket-{i}-objects", "google_storage_bucket_iam_member", bucket=bucket, role="roles/storage.objectUser",
                 member=member, condition=condition)
        # Listing is a bucket-level permission: it cannot be narrowed to a prefix by IAM.
        resource(scope, f"bucket-{i}-list", "google_storage_bucket_iam_member", bucket=bucket, role="roles/storage.legacyBucketReader",
                 member=member)
    for i, key in enumerate(kms_key_ids):
        resource(scope, f"key-{i}", "google_kms_crypto_key_iam_member", crypto_key_id=key, role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                 member=member)
    for i, key in enumerate(signing_key_ids):
        for role in SIGNING_KEY_ROLES:
            resource(scope, f"signing-key-{i}-{role.split('.')[-1].lower()}", "google_kms_crypto_key_iam_member", crypto_key_id=key,
                     role=role, member=member)
    for role in project_roles:
        resource(scope, role.split("/")[1].replace(".", "-").lower(), "google_project_iam_member", project=project, role=role, member=member)
    for i, repo in enumerate(repositories):
        # The repository's own IAM: reads of its images only, not every repository of the project
        # (https://cloud.google.com/artifact-registry/docs/access-control#grant-repo,
        # https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/artifact_registry_repository_iam).
        m = REPOSITORY_RE.match(repo)
        resource(scope, f"repository-{i}", "google_artifact_registry_repository_iam_member", project=m["project"], location=m["location"],
                 repository=m["repository"], role=REGISTRY_ROLE, member=member)


class WorkloadIdentity(Construct):
    """The service account a workload's nodes run as.

    Example::

        ident = WorkloadIdentity(stack, "identity", project="acme-ml-prod", account_id="acme-prod-reco",
                                 bucket_names=[storage.bucket_name], object_prefix="recommendation-inference",
                                 kms_key_ids=[key.id])
        GpuInstanceGroup(..., service_account_email=ident.email)

    Args:
        project: the GCP project id.
        account_id: the account's id (6 to 30 characters).
        bucket_names: buckets the workload reads and writes, under ``object_prefix`` only.
        object_prefix: the workload's folder in those buckets (objects ``<prefix>/...``);
            None: the whole bucket.
        kms_key_ids: keys the workload may encrypt and decrypt with directly (application-level
            encryption); buckets with a default key need none.
        telemetry: grant log and metric writing on the project (the Ops Agent); default on.
        container_registry: let the nodes pull images from the project's Artifact Registry
            repositories (``roles/artifactregistry.reader``); default on.
        signing_key_ids: Cloud KMS signing keys (``projects/P/locations/L/keyRings/R/cryptoKeys/K``)
            cosign reads the public key of to verify the image's signature at boot: the public key
            viewer and the key viewer role on each key only (no signing, no decryption). Left out,
            none.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, account_id: str, bucket_names: Sequence[str] = (),
                 object_prefix: str | None = None, kms_key_ids: Sequence[str] = (), telemetry: bool = True, container_registry: bool = True,
                 display_name: str | None = None, signing_key_ids: Sequence[str] = ()):
        super().__init__(scope, id)
        check_account_id(account_id)
        self.account = resource(self, "account", "google_service_account", project=project, account_id=account_id,
                                display_name=display_name or f"aiinfra workload {account_id}",
                                description="Nodes of one aiinfra workload; grants on its own resources only")
        self.email: str = self.account.get_string_attribute("email")
        self.member: str = f"serviceAccount:{self.email}"
        grant_workload_access(self, self.member, project=project, bucket_names=bucket_names, object_prefix=object_prefix,
                              kms_key_ids=kms_key_ids, signing_key_ids=signing_key_ids,
                              project_roles=(TELEMETRY_ROLES if telemetry else ()) + ((REGISTRY_ROLE,) if container_registry else ()))
