"""Cloud KMS key ring and key with rotation, protected from destroy, and encrypt/decrypt
grants for exactly the service agents that use it (Cloud Storage, Compute Engine)."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import GcpContext, check_name

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
SERVICE_AGENTS = ("storage", "compute")
MAX_ROTATION_DAYS = 90


class EncryptionKey(Construct):
    """A customer-managed encryption key (CMEK) for buckets and disks.

    Example::

        key = EncryptionKey(stack, "key", project="acme-ml-prod", location="us-central1", name="acme-ml-prod-data")
        TieredStorage(stack, "storage", ..., kms_key_id=key.id, depends_on=key.grants)

    Args:
        project: the GCP project id.
        location: the key ring's location; must be the region of the buckets and disks it
            encrypts (CMEK keys are regional).
        name: key ring and key name.
        rotation_period_days: 1 to 90; default 90 (rotation is always on).
        service_agents: which Google service agents may encrypt and decrypt with the key:
            ``"storage"`` (bucket default keys) and / or ``"compute"`` (disks). Default both.
        protection_level: ``SOFTWARE`` (default) or ``HSM``.
        destroy_scheduled_days: how long a destroyed key version waits before it is gone;
            default 30 (the longest Cloud KMS allows is 120).
        prevent_destroy: Terraform refuses to destroy the key (losing it loses the data);
            default on.

    Attributes:
        id: the key's id (``projects/.../cryptoKeys/<name>``), for ``kms_key_self_link`` and
            ``default_kms_key_name``.
        grants: the IAM members; resources encrypted with the key should depend on them.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, location: str, name: str, rotation_period_days: int = MAX_ROTATION_DAYS,
                 service_agents: Sequence[str] = SERVICE_AGENTS, protection_level: str = "SOFTWARE", destroy_scheduled_days: int = 30,
                 prevent_destroy: bool = True, labels: dict[str, str] | None = None):
        super().__init__(scope, id)
        check_name(name, "name")
        if not 1 <= rotation_period_days <= MAX_ROTATION_DAYS:
            raise ValueError(f"rotation_period_days must be between 1 and {MAX_ROTATION_DAYS}, got {rotation_period_days}")
        unknown = [a for a in service_agents if a not in SERVICE_AGENTS]
        if unknown:
            raise ValueError(f"unknown service agent {unknown[0]!r}; known: {', '.join(SERVICE_AGENTS)}")
        if protection_level not in ("SOFTWARE", "HSM"):
            raise ValueError(f"protection_level must be SOFTWARE or HSM, got {protection_level!r}")
        if not 1 <= destroy_scheduled_days <= 120:
            raise ValueError(f"destroy_scheduled_days must be between 1 and 120, got {destroy_scheduled_days}")
        ctx = GcpContext(self, project)
        self.key_ring = resource(self, "ring", "google_kms_key_ring", project=project, name=name, location=location,
                                 lifecycle={"prevent_destroy": prevent_destroy})
        self.key = resource(self, "key", "google_kms_crypto_key", name=name, key_ring=self.key_ring.get_string_attribute("id"),
                            purpose="ENCRYPT_DECRYPT", rotation_period=f"{rotation_period_days * 86400}s",
                            destroy_scheduled_duration=f"{destroy_scheduled_days * 86400}s",
                            version_template={"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protection_level": protection_level},
                            labels=labels, lifecycle={"prevent_destroy": prevent_destroy})
        self.id: str = self.key.get_string_attribute("id")
        self.grants = []
        members = {"storage": lambda: ctx.storage_agent(self), "compute": lambda: ctx.compute_agent}
        for agent in dict.fromkeys(service_agents):
            self.grants.append(resource(self, f"{agent}-agent", "google_kms_crypto_key_iam_member", crypto_key_id=self.id,
                                        role=ENCRYPTER_DECRYPTER, member=members[agent]()))
