"""The Google APIs a project must have on before anything else in a stack can be created."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct, TerraformDataSource, TerraformResource, TerraformStack

from aiinfra.constructs._tf import resource

# What the aiinfra stacks call: Compute Engine (VMs, networks, load balancers), Cloud KMS (keys),
# Cloud Storage, Cloud Monitoring and Logging (alerts, agents), IAM (service accounts, custom
# roles), Resource Manager (project lookups), Cloud Scheduler (batch runs), Artifact Registry
# (image pulls). A new project has most of them off
# (https://cloud.google.com/service-usage/docs/enable-disable).
DEFAULT_SERVICES = ("compute.googleapis.com", "cloudkms.googleapis.com", "storage.googleapis.com", "monitoring.googleapis.com",
                    "logging.googleapis.com", "iam.googleapis.com", "cloudresourcemanager.googleapis.com",
                    "cloudscheduler.googleapis.com", "artifactregistry.googleapis.com")


class ProjectServices(Construct):
    """``google_project_service`` for each API, left on when the stack is destroyed (other
    things in the project may use them), and ``wait_for_services`` makes every other resource and
    data source of the stack wait for them.

    Args:
        project: the project id.
        services: API names; default ``DEFAULT_SERVICES``.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, services: Sequence[str] = DEFAULT_SERVICES):
        super().__init__(scope, id)
        self.services = [resource(self, name.split(".")[0], "google_project_service", project=project, service=name,
                                  disable_on_destroy=False, disable_dependent_services=False) for name in dict.fromkeys(services)]

    def wait_for_services(self, stack: TerraformStack) -> None:
        """Every resource and data source of ``stack`` outside this construct depends on the services."""
        refs = [f"{s.terraform_resource_type}.{s.friendly_unique_id}" for s in self.services]
        for node in stack.node.find_all():
            if isinstance(node, (TerraformResource, TerraformDataSource)) and node.terraform_resource_type.startswith("google_") \
                    and node.terraform_resource_type != "google_project_service":
                node.depends_on = list(dict.fromkeys([*(node.depends_on or []), *refs]))
