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

# The API each Terraform resource type (or data source) of the google provider calls, by type-name
# prefix, longest first: a service's name is the host of its REST endpoint (Compute Engine
# https://compute.googleapis.com/compute/v1/, Certificate Manager https://certificatemanager.googleapis.com/v1/
# (its REST reference: https://cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest),
# Cloud KMS https://cloudkms.googleapis.com/v1/, IAM https://iam.googleapis.com/v1/ (service accounts,
# custom roles), Resource Manager https://cloudresourcemanager.googleapis.com/v1/ (a project's IAM
# policy, the project itself) ...). A call to an API the project has off fails with 403
# SERVICE_DISABLED, so every stack's types must map to a service the foundation enables
# (``services_for``; tests/test_project_services.py checks each synthesized stack against it).
# ``google_project_service`` calls Service Usage (serviceusage.googleapis.com), which must already be
# on to enable anything: it is on in projects created with the console or gcloud
# (https://cloud.google.com/service-usage/docs/enable-disable), so it is not in the list it enables.
RESOURCE_SERVICES: dict[str, str] = {
    "google_compute_": "compute.googleapis.com",
    "google_container_": "container.googleapis.com",  # GKE clusters and node pools (https://container.googleapis.com/v1/)
    "google_certificate_manager_": "certificatemanager.googleapis.com",
    "google_kms_": "cloudkms.googleapis.com",
    "google_storage_": "storage.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_project_service": "serviceusage.googleapis.com",
    "google_project": "cloudresourcemanager.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_dataproc_": "dataproc.googleapis.com",  # workflow templates, autoscaling policies (https://dataproc.googleapis.com/v1/)
    "google_billing_budget": "billingbudgets.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_scc_": "securitycenter.googleapis.com",
    "google_iap_": "iap.googleapis.com",
    "google_tpu_": "tpu.googleapis.com",
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_os_config_": "osconfig.googleapis.com",
    # The data pipeline (issue 30): Storage Transfer Service https://storagetransfer.googleapis.com/v1/, Memorystore for
    # Redis Cluster https://redis.googleapis.com/v1/, Network Connectivity (service connection policies)
    # https://networkconnectivity.googleapis.com/v1/.
    "google_storage_transfer_": "storagetransfer.googleapis.com",
    "google_redis_": "redis.googleapis.com",
    "google_network_connectivity_": "networkconnectivity.googleapis.com",
}
# Always on before a stack runs (see above): never a google_project_service of ours.
PREREQUISITE_SERVICES = ("serviceusage.googleapis.com",)


def service_for(resource_type: str) -> str | None:
    """The API a google provider resource type calls (``RESOURCE_SERVICES``); None for a type of
    another provider or one the map does not know."""
    return next((RESOURCE_SERVICES[p] for p in sorted(RESOURCE_SERVICES, key=len, reverse=True) if resource_type.startswith(p)), None)


def services_for(resource_types) -> tuple[str, ...]:
    """The APIs ``resource_types`` need enabled, sorted (Service Usage, always on, left out)."""
    found = {service_for(t) for t in resource_types}
    return tuple(sorted(s for s in found if s and s not in PREREQUISITE_SERVICES))


def stack_resource_types(stack: TerraformStack) -> set[str]:
    """The resource and data source types of ``stack`` (what ``services_for`` reads)."""
    return {n.terraform_resource_type for n in stack.node.find_all() if isinstance(n, (TerraformResource, TerraformDataSource))}


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
        self.project = project
        self.enabled: list[str] = []  # the API names, in order
        self.services = [self._service(name) for name in dict.fromkeys(services)]

    def _service(self, name: str) -> TerraformResource:
        service = resource(self, name.split(".")[0], "google_project_service", project=self.project, service=name,
                           disable_on_destroy=False, disable_dependent_services=False)
        self.enabled.append(name)
        return service

    def add(self, services: Sequence[str]) -> None:
        """Enable ``services`` too (those not enabled yet): what the project's other stacks call, found
        once they are built (``services_for`` over their resource types)."""
        for name in dict.fromkeys(services):
            if name not in self.enabled and name not in PREREQUISITE_SERVICES:
                self.services.append(self._service(name))

    def wait_for_services(self, stack: TerraformStack) -> None:
        """Every resource and data source of ``stack`` outside this construct depends on the services."""
        refs = [f"{s.terraform_resource_type}.{s.friendly_unique_id}" for s in self.services]
        for node in stack.node.find_all():
            if isinstance(node, (TerraformResource, TerraformDataSource)) and node.terraform_resource_type.startswith("google_") \
                    and node.terraform_resource_type != "google_project_service":
                node.depends_on = list(dict.fromkeys([*(node.depends_on or []), *refs]))
