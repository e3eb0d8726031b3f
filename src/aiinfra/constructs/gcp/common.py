"""Project lookups and name rules shared by the GCP constructs (one lookup per stack)."""

from __future__ import annotations

import re

from aiinfra.cdk import Construct, TerraformStack

from aiinfra.constructs._tf import data

# Compute Engine, Cloud KMS and most GCP resource names: RFC 1035 labels, 63 characters at most.
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_name(value: str, what: str = "name", limit: int = 63) -> str:
    """``value`` if it is a valid GCP resource name of at most ``limit`` characters, else ValueError."""
    if len(value) > limit or not NAME_RE.match(value):
        raise ValueError(f"{what} must be lowercase letters, digits and hyphens, start with a letter, end with a letter or digit "
                         f"and be at most {limit} characters, got {value!r}")
    return value


class GcpContext:
    """The project's number (for service-agent addresses), looked up once per stack."""

    def __init__(self, scope: Construct, project: str):
        stack = TerraformStack.of(scope)
        cache = getattr(stack, "_aiinfra_gcp_projects", None)
        if cache is None:
            cache = {}
            stack._aiinfra_gcp_projects = cache  # type: ignore[attr-defined]
        if project not in cache:
            found = data(stack, f"gcp-project-{project}", "google_project", project_id=project)
            cache[project] = found.get_string_attribute("number")
        self.project = project
        self.number: str = cache[project]

    @property
    def compute_agent(self) -> str:
        """The Compute Engine service agent, which encrypts disks with a customer key."""
        return f"serviceAccount:service-{self.number}@compute-system.iam.gserviceaccount.com"

    def storage_agent(self, scope: Construct) -> str:
        """The Cloud Storage service agent, which encrypts objects with a bucket's default key.
        Looked up through ``google_storage_project_service_account``, which also creates the
        agent in a project that has never used Cloud Storage."""
        stack = TerraformStack.of(scope)
        cache = getattr(stack, "_aiinfra_gcs_agents", None)
        if cache is None:
            cache = {}
            stack._aiinfra_gcs_agents = cache  # type: ignore[attr-defined]
        if self.project not in cache:
            found = data(stack, f"gcs-agent-{self.project}", "google_storage_project_service_account", project=self.project)
            cache[self.project] = f"serviceAccount:{found.get_string_attribute('email_address')}"
        return cache[self.project]
