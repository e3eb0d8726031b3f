"""A Spark data_processing workload on GCP (the plan's ``spark`` pipeline part, engine ``dataproc``):
its own stack with its least-privilege service account, a CMEK staging bucket, its firewall, and
``constructs.gcp.DataprocSparkRuns`` (a Dataproc workflow template with an ephemeral managed cluster,
its autoscaling policy, the Cloud Scheduler job that instantiates it, the failed-run alert) in place
of the instance groups a container workload gets (stacks/gcp.py ``GcpWorkload``).

The job's code is the workload's ``command`` (``PipelinePartPlan.settings["main"]`` and ``["args"]``):
a ``gs://`` URI, or a path under the workload's prefix of the data bucket. Without it the stack has a
``spark_main`` variable (default ""), and the schedule exists but is paused until it is given (no code,
no spend, as the image variable of stacks/nodes.py).
"""

from __future__ import annotations

import re

from aiinfra.cdk import App, Construct, TerraformOutput, TerraformStack, TerraformVariable, stack_id

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.node_firewall import NodeFirewall
from aiinfra.constructs.gcp.common import GcpContext
from aiinfra.constructs.gcp.encryption_key import ENCRYPTER_DECRYPTER
from aiinfra.constructs.gcp.spark_runs import DAG_TIMEOUT_RANGE, DEFAULT_IMAGE_VERSION, DataprocSparkRuns, dataproc_agent
from aiinfra.constructs.gcp.workload_identity import WorkloadIdentity
from aiinfra.constructs.gcp.alerts import PolicyTarget
from aiinfra.naming import COST_SCOPE_KEY, ENV_SHORT, cost_labels, short
from aiinfra.planner.model import PipelinePartPlan, Plan, WorkloadPlan
from aiinfra.spec.models import Spec

WORKLOAD_LABEL = "aiinfra-workload"
MAIN_VARIABLE = "spark_main"
MAIN_VARIABLE_REF = f"var.{MAIN_VARIABLE}"
HAS_MAIN = f'{MAIN_VARIABLE_REF} != ""'
# Where the application is looked for when the variable names a path without a scheme, and what the template
# names while no application is given (the schedule is paused then).
DEFAULT_MAIN = "spark/main.py"
# Staging and temporary files of the runs' clusters (driver output, job history) are kept this long.
STAGING_RETENTION_DAYS = 30
DATAPROC_API = "dataproc.googleapis.com"


def _prefix(value: str | None) -> str | None:
    """A prefix of the data bucket as a plain folder name (``staging/`` -> ``staging``); None when the
    value is not a folder of that bucket (another bucket's URI)."""
    if not value:
        return None
    value = value.strip()
    if "://" in value:
        return None
    value = value.strip("/")
    return value if value and "*" not in value else None


def resolve_main(main: str, bucket: str, prefix: str) -> str:
    """``main`` as a ``gs://`` URI: as it is when it is one, else under ``gs://<bucket>/<prefix>/``."""
    if main.startswith("gs://"):
        return main
    if re.match(r"^[a-z][a-z0-9+.-]*://", main):
        raise ValueError(f"the Spark application {main!r} must be a gs:// URI or a path under the workload's prefix of the data bucket")
    return f"gs://{bucket}/{prefix}/{main.lstrip('/')}"


def dataproc_key_grant(foundation, project: str):
    """The Dataproc service agent's encrypt / decrypt grant on the foundation's key, in the foundation's stack
    (next to the Compute Engine and Cloud Storage agents' grants: construct id ``key/dataproc-agent``), made once."""
    found = getattr(foundation, "_dataproc_key_grant", None)
    if found is None:
        key, services = foundation.key, foundation.services
        # The agent exists once the Dataproc API is on: the grant waits for it (the foundation's other resources were
        # made to wait for the services enabled when it was built).
        services.add((DATAPROC_API,))
        api = services.services[services.enabled.index(DATAPROC_API)]
        found = resource(key, "dataproc-agent", "google_kms_crypto_key_iam_member", crypto_key_id=key.id, role=ENCRYPTER_DECRYPTER,
                         member=dataproc_agent(GcpContext(key, project).number), depends_on=[api])
        foundation._dataproc_key_grant = found
    return found


class GcpSparkWorkload:
    """One Spark workload's stack on Dataproc: identity (its prefixes of the data bucket, the key, the
    Dataproc worker role), staging bucket, firewall, the scheduled runs and their alert.

    Attributes: ``stack``, ``notes``, ``identity``, ``runs`` (``DataprocSparkRuns``), ``staging_bucket``, and for the
    environment's dashboard row ``target`` and ``charted`` (empty), as ``GcpWorkload`` has them.
    """

    def __init__(self, app: App, spec: Spec, plan: Plan, w: WorkloadPlan, part: PipelinePartPlan, foundation, make_stack):
        if part.part != "spark" or part.settings.get("engine") != "dataproc":
            raise ValueError(f"{w.name}: GcpSparkWorkload builds the spark part on dataproc, got {part.part} on {part.settings.get('engine')!r}")
        s = part.settings
        self.stack: TerraformStack = make_stack(app, spec, w.region, w.name)
        sid = stack_id(self.stack)
        self.notes: list[str] = []
        gcp = spec.clouds.gcp
        project = gcp.project
        name = short(f"{foundation.name}-{w.name}", 35)
        net, key, storage = foundation.network, foundation.key, foundation.storage
        bucket = storage.bucket_name
        labels = {WORKLOAD_LABEL: w.name, "workload-type": w.type.replace("_", "-"), **cost_labels(spec.project, spec.environment)}

        # The cluster's VMs run as the workload's own account: the key, telemetry, no image pulls (Dataproc's image).
        self.identity = WorkloadIdentity(self.stack, "identity", project=project, account_id=short(f"{spec.project}-{w.name}", 30),
                                         kms_key_ids=[key.id], container_registry=False,
                                         display_name=f"{spec.project} {spec.environment} {w.name} (Dataproc)")
        prefixes = list(dict.fromkeys(p for p in (w.name, _prefix(s.get("input_prefix")), _prefix(s.get("output_prefix"))) if p))
        for what in ("input_prefix", "output_prefix"):
            if s.get(what) and _prefix(s.get(what)) is None:
                self.notes.append(f"{sid}: {w.name}'s {what} {s[what]!r} is not a folder of the data bucket: its Dataproc service account "
                                  "gets no access to it (grant it where that data lives)")
        self._grant_prefixes(self.identity.member, bucket, prefixes)

        # Dataproc writes cluster metadata and temporary files at the top of its staging and temp buckets (not under a
        # prefix), so they are a bucket of the workload's own, with the foundation key, rather than the data bucket.
        self.staging_bucket = short(f"{project}-{spec.project}-{ENV_SHORT[spec.environment]}-{w.name}-dataproc", 63)
        staging = resource(self.stack, "staging", "google_storage_bucket", project=project, name=self.staging_bucket, location=w.region,
                           storage_class="STANDARD", uniform_bucket_level_access=True, public_access_prevention="enforced",
                           encryption={"default_kms_key_name": key.id}, versioning={"enabled": True}, force_destroy=True, labels=labels,
                           lifecycle_rule=[{"condition": {"age": STAGING_RETENTION_DAYS}, "action": {"type": "Delete"}},
                                           {"condition": {"days_since_noncurrent_time": 7}, "action": {"type": "Delete"}}])
        staging_name = staging.get_string_attribute("name")
        for role in ("roles/storage.objectAdmin", "roles/storage.legacyBucketReader"):
            resource(self.stack, f"staging-{role.split('.')[-1].lower()}", "google_storage_bucket_iam_member", bucket=staging_name, role=role,
                     member=self.identity.member)

        # Cluster VMs reach each other (YARN, HDFS, Spark shuffle) and HTTPS out; rules on the service account.
        self.firewall = NodeFirewall(self.stack, "firewall", project=project, network=net.network_id, name=short(f"{name}-fw", 40),
                                     service_account_email=self.identity.email, collective=True, peer_ranges=[net.cidr])

        main, main_expression, run_when = self._main(s.get("main"), bucket, w.name)
        core_nodes = int(s.get("core_nodes") or 0)
        if core_nodes < 2:
            self.notes.append(f"{sid}: {w.name}'s Dataproc cluster has 2 primary workers (a standard cluster's minimum), the plan "
                              f"asked {core_nodes}")
            core_nodes = 2
        task_types = list(s.get("task_types") or [])
        if len(task_types) > 1:
            self.notes.append(f"{sid}: Dataproc's secondary workers are one machine type: {task_types[0]} (of {', '.join(task_types)})")
        max_hours = s.get("max_runtime_hours")
        if max_hours is not None and max_hours * 3600 > DAG_TIMEOUT_RANGE[1]:
            self.notes.append(f"{sid}: {w.name}'s hard stop of {max_hours:g} h is over a Dataproc workflow's 24 h dag_timeout: its runs "
                              "end when their job does, and the cluster after it idles")
            max_hours = None
        elif max_hours is not None:
            max_hours = max(max_hours, DAG_TIMEOUT_RANGE[0] / 3600)
        schedule = s.get("schedule")
        self.runs = DataprocSparkRuns(
            self.stack, "spark", project=project, region=w.region, name=name, zone=w.zones[0] if w.zones else None,
            subnetwork=net.subnetwork_self_link, service_account_email=self.identity.email, kms_key_id=key.id,
            staging_bucket=staging_name, release=s.get("release") or DEFAULT_IMAGE_VERSION, primary_type=s["primary_type"],
            core_type=s["core_type"], core_nodes=core_nodes, task_type=task_types[0] if task_types else None,
            task_min=int(s.get("task_min") or 0), task_max=int(s.get("task_max") or 0), task_spot=bool(s.get("task_spot", True)),
            idle_timeout_seconds=min(max(int(s.get("idle_timeout_seconds") or 600), 300), 14 * 86400), max_runtime_hours=max_hours,
            schedule=schedule, main=main, main_expression=main_expression, args=[str(a) for a in s.get("args") or []], run_when=run_when,
            invoker_account_id=short(f"{spec.project}-{w.name}-run", 30),
            runner_role_id=re.sub(r"[^A-Za-z0-9_.]", "_", f"aiinfra.{spec.project}.{ENV_SHORT[spec.environment]}.{w.name}.sparkRunner")[:64],
            notification_channels=foundation.alerts.channel_ids, labels=labels, grant_key=False)
        # The foundation key already lets the Compute Engine and Cloud Storage agents encrypt; the Dataproc agent is
        # added beside them, once a foundation (one binding, one resource: a grant in each workload's stack would be
        # removed with the first of them destroyed).
        dataproc_key_grant(foundation, project)
        if not schedule:
            self.notes.append(f"{sid}: {w.name} runs on demand only (no schedule): start a run with POST {self.runs.instantiate_uri} "
                              "(gcloud dataproc workflow-templates instantiate)")
        if not foundation.alerts.channel_ids:
            self.notes.append(f"{sid}: the failed-run policy of {w.name} notifies nobody: set clouds.gcp.alert_emails")
        # What the environment's dashboard row reads (stacks/gcp.py add_gcp_stacks): no chart of node or job metrics (the
        # cluster's VMs are Dataproc's, no instance group or job wrapper of ours), the title and the plan's figures only.
        self.charted: tuple[str, ...] = ()
        self.target = PolicyTarget(workload=w.name, labels={COST_SCOPE_KEY: foundation.name}, groups=(), job=name,
                                   job_types=foundation.descriptors.types, node_hour_usd=w.hourly_usd / max(w.nodes, 1), serving=False)
        TerraformOutput(self.stack, "workflow_template", value=name)
        TerraformOutput(self.stack, "staging_bucket", value=staging_name)

    def _grant_prefixes(self, member: str, bucket: str, prefixes: list[str]) -> None:
        """Objects under ``prefixes`` of the data bucket (one conditional grant) and listing the bucket."""
        scope = Construct(self.stack, "data-access")
        names = " || ".join(f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}/")' for p in prefixes)
        resource(scope, "objects", "google_storage_bucket_iam_member", bucket=bucket, role="roles/storage.objectUser", member=member,
                 condition={"title": "only its prefixes", "description": ", ".join(f"{p}/" for p in prefixes)[:256], "expression": names})
        # Listing is a bucket-level permission: it cannot be narrowed to a prefix by IAM.
        resource(scope, "list", "google_storage_bucket_iam_member", bucket=bucket, role="roles/storage.legacyBucketReader", member=member)

    def _main(self, main: str | None, bucket: str, prefix: str) -> tuple[str | None, str | None, str | None]:
        """(literal application URI, or a Terraform expression of the ``spark_main`` variable; the schedule's run condition)."""
        if main:
            return resolve_main(main, bucket, prefix), None, None
        TerraformVariable(self.stack, MAIN_VARIABLE, type="string", default="", nullable=False,
                          description=f"The Spark application {prefix} runs: a gs:// URI of a .py or .jar file, or a path under "
                                      f"gs://<data bucket>/{prefix}/; empty: the schedule stays paused. Or set command: in the spec")
        # The bucket is a reference (the foundation's output): format() takes it as an expression, where a
        # reference inside a quoted string of the expression would be written as plain text.
        expression = (f'{MAIN_VARIABLE_REF} == "" ? format("gs://%s/{prefix}/{DEFAULT_MAIN}", {bucket}) : '
                      f'(startswith({MAIN_VARIABLE_REF}, "gs://") ? {MAIN_VARIABLE_REF} : '
                      f'format("gs://%s/{prefix}/%s", {bucket}, trimprefix({MAIN_VARIABLE_REF}, "/")))')
        self.notes.append(f"{stack_id(self.stack)}: no command for {prefix}: its schedule is paused until the Spark application is given; "
                          f"pass -var '{MAIN_VARIABLE}=gs://.../job.py' (or a path under its prefix of the data bucket; or set command: "
                          "on the workload) to run it")
        return None, expression, HAS_MAIN
