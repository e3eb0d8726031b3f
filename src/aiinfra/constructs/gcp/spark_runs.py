"""Spark runs on Dataproc: a workflow template whose managed (ephemeral) cluster exists only while a
run does, an autoscaling policy holding the on-demand primary workers fixed and the Spot secondary
workers between the plan's bounds, a Cloud Scheduler job that instantiates the template on the
workload's schedule with the token of a service account allowed only that, and an alert policy on
failed runs.

Why a workflow template with a managed cluster (not a long-lived cluster, not Dataproc Serverless
batches): the cluster is created for the run and deleted when it ends ("if the workflow was running
on a managed cluster, the cluster is deleted": the template's ``dagTimeout``,
https://cloud.google.com/dataproc/docs/reference/rest/v1/projects.regions.workflowTemplates), so
nothing idles between runs, and its secondary workers can be Spot VMs, which serverless batches have
not (the planner says so with both prices, planner/spark.py).

The Terraform arguments are the hashicorp/google 6.x ``google_dataproc_workflow_template``
(``placement.managed_cluster.config``: ``gce_cluster_config`` with ``internal_ip_only``,
``subnetwork``, ``service_account``, ``service_account_scopes``, ``shielded_instance_config``;
``master_config`` / ``worker_config`` / ``secondary_worker_config`` with ``preemptibility``;
``autoscaling_config.policy``; ``encryption_config.gce_pd_kms_key_name``; ``lifecycle_config``;
``software_config.image_version``; ``jobs`` with ``pyspark_job`` / ``spark_job``; ``dag_timeout``;
the template's own ``encryption_config.kms_key`` for job arguments:
https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/dataproc_workflow_template)
and ``google_dataproc_autoscaling_policy``
(https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/dataproc_autoscaling_policy);
tests/gcp_schema.py checks each against the provider schema.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import GcpContext, check_name
from aiinfra.constructs.gcp.encryption_key import ENCRYPTER_DECRYPTER
from aiinfra.constructs.gcp.workload_identity import check_account_id
from aiinfra.cron import Cron

# Dataproc 2.3 on Debian 12: generally available since 2025/06/09, supported until 2027/06/09
# (https://cloud.google.com/dataproc/docs/concepts/versioning/dataproc-version-clusters).
DEFAULT_IMAGE_VERSION = "2.3-debian12"
# projects.regions.workflowTemplates.instantiate: POST .../{name=projects/*/regions/*/workflowTemplates/*}:instantiate,
# IAM permission dataproc.workflowTemplates.instantiate, OAuth scope cloud-platform
# (https://cloud.google.com/dataproc/docs/reference/rest/v1/projects.regions.workflowTemplates/instantiate).
INSTANTIATE_URI = "https://dataproc.googleapis.com/v1/projects/{project}/regions/{region}/workflowTemplates/{template}:instantiate"
# The request body's fields (InstantiateWorkflowTemplateRequest: version, requestId, parameters; the Dataproc v1
# discovery document, googleapis/google-api-go-client dataproc/v1/dataproc-api.json). The schedule sends none of
# them: no version pin (the template Terraform last wrote runs) and no requestId (a fixed one would make Dataproc
# treat every later run as the first one's retry).
INSTANTIATE_FIELDS = ("version", "requestId", "parameters")
INSTANTIATE_BODY: dict = {}
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The VM service account's minimum role on a user-managed account ("Dataproc Worker role ... permissions required
# for Dataproc data plane operations": https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/service-accounts).
WORKER_ROLE = "roles/dataproc.worker"
# What the scheduler's account may do: instantiate a template, nothing else
# (https://cloud.google.com/dataproc/docs/concepts/iam: workflowTemplates.instantiate).
RUNNER_PERMISSIONS = ("dataproc.workflowTemplates.instantiate",)
# Dataproc writes the cluster's metadata, job driver output and temporary files to its staging and temp buckets;
# with CMEK the Dataproc service agent and the Compute Engine service agent encrypt with the key (and the Cloud
# Storage agent for the buckets' default key, which the foundation key already grants):
# https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/customer-managed-encryption
DATAPROC_AGENT = "serviceAccount:service-{number}@dataproc-accounts.iam.gserviceaccount.com"


def dataproc_agent(project_number: str) -> str:
    """The Dataproc service agent of the project numbered ``project_number`` (an IAM member)."""
    return DATAPROC_AGENT.format(number=project_number)
# The driver's and the YARN containers' output in Cloud Logging (the cluster is gone after the run):
# https://cloud.google.com/dataproc/docs/guides/logging
LOGGING_PROPERTIES = {"dataproc:dataproc.logging.stackdriver.job.driver.enable": "true",
                      "dataproc:dataproc.logging.stackdriver.job.yarn.container.enable": "true"}
# Failed jobs and failed cluster operations of a cluster ("Failed jobs" cluster/job/failed_count, "Failed operations"
# cluster/operation/failed_count, DELTA INT64 on cloud_dataproc_cluster: https://cloud.google.com/monitoring/api/metrics_gcp_d_h).
FAILURE_METRICS = ("dataproc.googleapis.com/cluster/job/failed_count", "dataproc.googleapis.com/cluster/operation/failed_count")
# A workflow's managed cluster name is a prefix: Dataproc appends a random suffix; 2 to 35 characters
# (WorkflowTemplate ManagedCluster.clusterName, the REST reference above).
CLUSTER_NAME_LIMIT = 35
# dagTimeout: "from 10 minutes ("600s") to 24 hours ("86400s")"; lifecycle idleDeleteTtl at least 5 minutes,
# autoDeleteTtl at least 10 minutes, both at most 14 days (ClusterConfig.LifecycleConfig).
DAG_TIMEOUT_RANGE = (600, 86400)
IDLE_RANGE = (300, 14 * 86400)
# A bucket name may be a Terraform reference (another stack's output): only the scheme and the file type are checked.
GS_URI = re.compile(r"^gs://[^/\s]+/\S+\.(py|jar)$")


def main_job(main: str, args: Sequence[str], properties: Mapping[str, str]) -> dict:
    """The template's job block for a literal application: ``pyspark_job`` for a ``.py``,
    ``spark_job`` (``main_jar_file_uri``) for a ``.jar``."""
    if not GS_URI.match(main):
        raise ValueError(f"main must be the gs:// URI of a .py or .jar file, got {main!r}")
    body = {"args": list(args) or None, "properties": dict(properties) or None}
    if main.endswith(".py"):
        return {"pyspark_job": {"main_python_file_uri": main, **body}}
    return {"spark_job": {"main_jar_file_uri": main, **body}}


def expression_job(expression: str, args: Sequence[str], properties: Mapping[str, str]) -> dict:
    """The job block for an application known at apply time (``expression``, a bare Terraform
    string expression): a ``dynamic`` ``spark_job`` when it ends in ``.jar``, else a ``pyspark_job``."""
    body = {"args": list(args) or None, "properties": dict(properties) or None}
    jar = f'endswith({expression}, ".jar")'
    return {"dynamic": {
        "pyspark_job": {"for_each": f"${{{jar} ? [] : [1]}}", "content": {"main_python_file_uri": f"${{{expression}}}", **body}},
        "spark_job": {"for_each": f"${{{jar} ? [1] : []}}", "content": {"main_jar_file_uri": f"${{{expression}}}", **body}}}}


class DataprocSparkRuns(Construct):
    """Scheduled Spark runs on an ephemeral Dataproc cluster.

    Example::

        runs = DataprocSparkRuns(stack, "spark", project="acme-ml-prod", region="us-central1", name="acme-prod-etl",
                                 subnetwork=net.subnetwork_self_link, kms_key_id=key.id, service_account_email=ident.email,
                                 staging_bucket="acme-prod-etl-dataproc", primary_type="n2-standard-4", core_type="n2-standard-8",
                                 core_nodes=2, task_min=3, task_max=18, main="gs://acme-data/etl/job.py", schedule="0 */6 * * *",
                                 invoker_account_id="acme-prod-etl-run", runner_role_id="aiinfra.acme.prod.etl.sparkRunner",
                                 notification_channels=alerts.channel_ids)

    Args:
        project, region: where the template, the policy, the cluster and the scheduler job live.
        name: the template id, the autoscaling policy id and the managed cluster's name prefix
            (2 to 35 lowercase letters, digits, hyphens).
        subnetwork: the subnetwork self link the cluster's VMs join; internal IP only, always (the
            subnetwork needs Private Google Access, which the foundation's has).
        zone: the zone of the cluster; None lets Dataproc's Auto Zone placement choose in ``region``.
        service_account_email: the VMs' own service account (not the Compute Engine default one);
            it gets ``roles/dataproc.worker`` here; its data access is the caller's to grant.
        kms_key_id: the Cloud KMS key of the VMs' disks and the job arguments (CMEK, always).
        grant_key: give the Dataproc and Compute Engine service agents encrypt / decrypt on the key here
            (default). False where the key's own stack grants them (a binding is one resource: two stacks
            granting it would each remove it on destroy): ``dataproc_agent`` names the Dataproc one.
        staging_bucket, temp_bucket: Cloud Storage buckets Dataproc writes the cluster's metadata,
            driver output and temporary files to; ``temp_bucket`` defaults to ``staging_bucket``.
        release: the Dataproc image version; default ``DEFAULT_IMAGE_VERSION``.
        primary_type: the machine type of the one primary (master) node.
        core_type, core_nodes: the on-demand primary workers (2 at least: a standard cluster's minimum).
        task_type: the Spot secondary workers' machine type; default ``core_type``.
        task_min, task_max: the secondary workers' bounds; the autoscaling policy scales between them on
            YARN's pending memory. ``task_max`` 0: no secondary workers and no policy.
        task_spot: secondary workers are Spot VMs (``preemptibility`` SPOT); False: NON_PREEMPTIBLE.
        boot_disk_gib: each VM's boot disk (pd-balanced); default 100.
        idle_timeout_seconds: the cluster is deleted after this long without a running job (5 minutes
            to 14 days); default 600.
        max_runtime_hours: the hard stop: the workflow's ``dag_timeout`` (10 minutes to 24 hours) and the
            cluster's ``auto_delete_ttl`` half an hour later; None: the workflow runs until it ends.
        schedule: five-field cron in UTC when runs start; None: no scheduler job (instantiate by hand:
            ``instantiate_uri``).
        main: the application, a ``gs://`` URI of a ``.py`` (PySpark) or ``.jar`` (Spark, its manifest's
            main class) file; or main_expression: a bare Terraform string expression giving such a URI at
            apply time (e.g. a variable); exactly one of them.
        args: the application's arguments. spark_properties: Spark properties of the job.
        run_when: a bare Terraform boolean expression; while false the scheduler job is paused (no run).
        invoker_account_id: the id of the service account the scheduler calls Dataproc as (created here).
        runner_role_id: the id of the project custom role holding only ``RUNNER_PERMISSIONS`` (created here).
        notification_channels: where the failed-run policy notifies.
        network_tags, labels: the cluster VMs' network tags and the resources' labels.

    Attributes:
        template, policy (None without secondary workers), job (None without a schedule), invoker,
        invoker_email, alert, instantiate_uri.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, region: str, name: str, subnetwork: str, service_account_email: str,
                 kms_key_id: str, staging_bucket: str, primary_type: str, core_type: str, core_nodes: int, task_min: int, task_max: int,
                 invoker_account_id: str, runner_role_id: str, main: str | None = None, main_expression: str | None = None,
                 args: Sequence[str] = (), spark_properties: Mapping[str, str] | None = None, temp_bucket: str | None = None,
                 release: str = DEFAULT_IMAGE_VERSION, zone: str | None = None, task_type: str | None = None, task_spot: bool = True,
                 boot_disk_gib: int = 100, idle_timeout_seconds: int = 600, max_runtime_hours: float | None = None,
                 schedule: str | None = None, run_when: str | None = None, notification_channels: Sequence[str] = (),
                 network_tags: Sequence[str] = (), labels: Mapping[str, str] | None = None, grant_key: bool = True):
        super().__init__(scope, id)
        check_name(name, "name", CLUSTER_NAME_LIMIT)
        check_account_id(invoker_account_id)
        problems = []
        if (main is None) == (main_expression is None):
            problems.append("give exactly one of main and main_expression")
        if main_expression is not None and not main_expression.strip():
            problems.append("main_expression must be a Terraform expression, got an empty one")
        if run_when is not None and (not run_when.strip() or "${" in run_when):
            problems.append(f"run_when must be a bare Terraform expression (no ${{...}}), got {run_when!r}")
        if not service_account_email or service_account_email.endswith("-compute@developer.gserviceaccount.com"):
            problems.append("service_account_email must be the workload's own service account, not the Compute Engine default one")
        if core_nodes < 2:
            problems.append(f"core_nodes must be 2 or more (a standard Dataproc cluster's primary workers), got {core_nodes}")
        if not 0 <= task_min <= task_max:
            problems.append(f"task_min and task_max must satisfy 0 <= task_min <= task_max, got {task_min} and {task_max}")
        if not IDLE_RANGE[0] <= idle_timeout_seconds <= IDLE_RANGE[1]:
            problems.append(f"idle_timeout_seconds must be between {IDLE_RANGE[0]} and {IDLE_RANGE[1]}, got {idle_timeout_seconds}")
        dag_seconds = None
        if max_runtime_hours is not None:
            dag_seconds = round(max_runtime_hours * 3600)
            if not DAG_TIMEOUT_RANGE[0] <= dag_seconds <= DAG_TIMEOUT_RANGE[1]:
                problems.append(f"max_runtime_hours must be between {DAG_TIMEOUT_RANGE[0] / 3600:g} and {DAG_TIMEOUT_RANGE[1] / 3600:g} "
                                f"(a workflow's dag_timeout), got {max_runtime_hours:g}")
        if not re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", runner_role_id):
            problems.append(f"runner_role_id must be 3-64 letters, digits, '_' or '.', got {runner_role_id!r}")
        if boot_disk_gib < 30:
            problems.append(f"boot_disk_gib must be 30 or more, got {boot_disk_gib}")
        if problems:
            raise ValueError("; ".join(problems))
        schedule = Cron.parse(schedule).text if schedule else None
        job = main_job(main, args, spark_properties or {}) if main is not None else \
            expression_job(main_expression, args, spark_properties or {})
        labels = dict(labels or {})
        self.instantiate_uri = INSTANTIATE_URI.format(project=project, region=region, template=name)

        # The VMs' disks and the job arguments are encrypted by the Compute Engine and Dataproc service agents.
        key_grants = []
        if grant_key:
            ctx = GcpContext(self, project)
            key_grants = [resource(self, f"key-{agent}", "google_kms_crypto_key_iam_member", crypto_key_id=kms_key_id, role=ENCRYPTER_DECRYPTER,
                                   member=member)
                          for agent, member in (("dataproc-agent", dataproc_agent(ctx.number)), ("compute-agent", ctx.compute_agent))]
        worker = resource(self, "worker-role", "google_project_iam_member", project=project, role=WORKER_ROLE,
                          member=f"serviceAccount:{service_account_email}")

        self.policy = None
        if task_max > 0:
            # Primary workers fixed at core_nodes (on demand), secondary (Spot) workers between task_min and task_max,
            # scaled on YARN pending / available memory (basicAlgorithm.yarnConfig; cooldown 2 minutes, the minimum:
            # https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/autoscaling).
            self.policy = resource(
                self, "autoscaling", "google_dataproc_autoscaling_policy", project=project, location=region, policy_id=name,
                worker_config={"min_instances": core_nodes, "max_instances": core_nodes},
                secondary_worker_config={"min_instances": task_min, "max_instances": task_max},
                basic_algorithm={"cooldown_period": "120s", "yarn_config": {"graceful_decommission_timeout": "600s", "scale_up_factor": 1.0,
                                                                            "scale_down_factor": 1.0}})
        disk = {"boot_disk_type": "pd-balanced", "boot_disk_size_gb": boot_disk_gib}
        config = {
            "staging_bucket": staging_bucket, "temp_bucket": temp_bucket or staging_bucket,
            "gce_cluster_config": {"internal_ip_only": True, "subnetwork": subnetwork, "zone": zone, "service_account": service_account_email,
                                   "service_account_scopes": [SCOPE], "tags": list(network_tags) or None,
                                   "shielded_instance_config": {"enable_secure_boot": True, "enable_vtpm": True,
                                                                "enable_integrity_monitoring": True}},
            "master_config": {"num_instances": 1, "machine_type": primary_type, "disk_config": disk},
            "worker_config": {"num_instances": core_nodes, "machine_type": core_type, "disk_config": disk},
            "secondary_worker_config": {"num_instances": task_min, "machine_type": task_type or core_type, "disk_config": disk,
                                        "preemptibility": "SPOT" if task_spot else "NON_PREEMPTIBLE"} if task_max > 0 else None,
            "autoscaling_config": {"policy": self.policy.get_string_attribute("id")} if self.policy else None,
            "encryption_config": {"gce_pd_kms_key_name": kms_key_id},
            "lifecycle_config": {"idle_delete_ttl": f"{idle_timeout_seconds}s",
                                 "auto_delete_ttl": f"{dag_seconds + 1800}s" if dag_seconds else None},
            "software_config": {"image_version": release, "properties": LOGGING_PROPERTIES},
            "endpoint_config": {"enable_http_port_access": False},
        }
        self.template = resource(
            self, "template", "google_dataproc_workflow_template", project=project, location=region, name=name, labels=labels or None,
            dag_timeout=f"{dag_seconds}s" if dag_seconds else None, encryption_config={"kms_key": kms_key_id},
            placement={"managed_cluster": {"cluster_name": name, "labels": labels or None, "config": config}},
            jobs=[{"step_id": "spark", "labels": labels or None, **job}], depends_on=[*key_grants, worker])
        self.template_id: str = self.template.get_string_attribute("id")

        # The scheduler's identity: instantiate templates (Dataproc has no IAM on one template, and IAM conditions
        # on resource names are not among the services that evaluate them: cloud.google.com/iam/docs/
        # conditions-resource-attributes lists no dataproc.googleapis.com, so the grant is project-wide) and act as
        # the cluster's service account (the caller deploying a cluster needs iam.serviceAccounts.actAs on its VM
        # service account: https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/service-accounts).
        self.invoker = resource(self, "invoker", "google_service_account", project=project, account_id=invoker_account_id,
                                display_name=f"aiinfra {name} scheduler", description=f"Instantiates the Dataproc workflow template {name} only")
        self.invoker_email: str = self.invoker.get_string_attribute("email")
        invoker_member = f"serviceAccount:{self.invoker_email}"
        role = resource(self, "runner-role", "google_project_iam_custom_role", project=project, role_id=runner_role_id,
                        title="aiinfra Spark runner", description="Instantiate Dataproc workflow templates (aiinfra scheduled Spark runs)",
                        permissions=list(RUNNER_PERMISSIONS), stage="GA")
        grants = [resource(self, "runner-grant", "google_project_iam_member", project=project, role=role.get_string_attribute("name"),
                           member=invoker_member),
                  resource(self, "act-as", "google_service_account_iam_member",
                           service_account_id=f"projects/{project}/serviceAccounts/{service_account_email}",
                           role="roles/iam.serviceAccountUser", member=invoker_member)]
        self.job = None
        if schedule:
            body = base64.b64encode(json.dumps(INSTANTIATE_BODY).encode()).decode()
            # The documented pattern: a Cloud Scheduler HTTP target POSTs to :instantiate with an OAuth token
            # (Dataproc's "Workflow scheduling solutions" -> "Workflow using Cloud Scheduler":
            # https://docs.cloud.google.com/managed-spark/docs/concepts/workflows/workflow-schedule-solutions,
            # https://docs.cloud.google.com/managed-spark/docs/tutorials/workflow-scheduler; tokens:
            # https://cloud.google.com/scheduler/docs/http-target-auth).
            self.job = resource(
                self, "schedule", "google_cloud_scheduler_job", project=project, region=region, name=check_name(f"{name}-run"),
                description=f"start a Spark run: instantiate the Dataproc workflow template {name}"
                            + (f" (paused until {run_when})" if run_when else ""),
                schedule=schedule, time_zone="Etc/UTC", attempt_deadline="180s",
                paused=f"${{!({run_when})}}" if run_when else None,
                retry_config={"retry_count": 3, "min_backoff_duration": "30s", "max_backoff_duration": "300s"},
                http_target={"http_method": "POST", "uri": self.instantiate_uri, "headers": {"Content-Type": "application/json"},
                             "body": body, "oauth_token": {"service_account_email": self.invoker_email, "scope": SCOPE}},
                depends_on=[self.template, *grants])
        # A run failed: a job of the run's cluster failed, or one of its cluster operations did (the cluster could not
        # be created: quota, no Spot capacity, a refused configuration). The cluster names start with the template's.
        conditions = [{"display_name": f"{what} of a {name} run",
                       "condition_threshold": {
                           "filter": f'metric.type = "{metric}" AND resource.type = "cloud_dataproc_cluster" AND '
                                     f'resource.label.cluster_name = starts_with("{name}")',
                           "comparison": "COMPARISON_GT", "threshold_value": 0, "duration": "0s", "trigger": {"count": 1},
                           "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_SUM", "cross_series_reducer": "REDUCE_SUM",
                                             "group_by_fields": ["resource.label.cluster_name"]}]}}
                      for what, metric in zip(("failed job", "failed cluster operation"), FAILURE_METRICS)]
        self.alert = resource(
            self, "failed-runs", "google_monitoring_alert_policy", project=project, display_name=f"{name}: Spark Run Failed", combiner="OR",
            severity="ERROR", enabled=True, conditions=conditions, notification_channels=list(notification_channels) or None,
            alert_strategy={"auto_close": "86400s"},
            documentation={"content": f"A Spark run of {name} failed (a job or a cluster operation of its Dataproc cluster). The run's "
                                      f"driver output is in Cloud Logging (resource.type=\"cloud_dataproc_job\"); the workflow deleted "
                                      "its cluster.", "mime_type": "text/markdown"},
            user_labels={"severity": "error", "managed-by": "aiinfra"})
