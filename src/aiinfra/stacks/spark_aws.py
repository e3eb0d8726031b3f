"""A Spark workload on AWS as the plan's spark part says (issue 30): its own stack with the nodes' least-privilege
identity and the scheduled transient EMR on EC2 clusters (constructs/aws/spark_runs.py), instead of an instance group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiinfra.cdk import App, TerraformOutput, TerraformStack, TerraformVariable, stack_id

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.alerts import AlarmTarget
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.spark_runs import EmrSparkRuns
from aiinfra.constructs.aws.workload_identity import WorkloadIdentity
from aiinfra.naming import cost_labels, short
from aiinfra.planner.model import PipelinePartPlan, Plan, WorkloadPlan
from aiinfra.spec.models import Spec

# The stack variable holding the Spark application when the workload has no command (its id, as Terraform names it).
SPARK_MAIN_VARIABLE = "spark_main"
# No code, no spend: the schedule is enabled only once the application is given (as the image variable of stacks/nodes.py).
HAS_MAIN = f'var.{SPARK_MAIN_VARIABLE} != ""'
# An s3:// URI without whitespace, quotes or backslashes: the value goes verbatim into the schedule's JSON Input.
_MAIN_CONDITION = f'var.{SPARK_MAIN_VARIABLE} == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9]/[^\\\\s\\"\\\\\\\\]+$", var.{SPARK_MAIN_VARIABLE}))'


class AwsSparkWorkload:
    """One Spark workload's stack on AWS: ``<prefix>-aws-<workload>``, built from the plan's spark part.

    ``make_stack(app, spec, region, part_name)`` is ``stacks.aws._stack``; ``foundation`` the region's ``AwsFoundation``
    (its key, network, buckets and alerts topic are read across stacks). Attributes: ``stack``, ``notes``, ``identity``
    (the nodes' ``WorkloadIdentity``), ``runs`` (``EmrSparkRuns``), ``main_variable`` (the ``spark_main`` variable or None),
    and for the environment's dashboard row ``target``, ``group_name`` (None), ``charted`` and ``alarm_names`` (empty).
    """

    def __init__(self, app: App, spec: Spec, plan: Plan, w: WorkloadPlan, part: PipelinePartPlan, foundation: Any,
                 make_stack: Callable[[App, Spec, str, str], TerraformStack]):
        s = part.settings
        if part.part != "spark" or s.get("engine") != "emr" or part.target != w.name:
            raise ValueError(f"AwsSparkWorkload builds the EMR spark part of {w.name}, got {part.part!r} / {s.get('engine')!r} for {part.target!r}")
        self.stack = stack = make_stack(app, spec, w.region, w.name)
        self.notes: list[str] = []
        sid = stack_id(stack)
        name = f"{foundation.name}-{w.name}"
        net, key, storage = foundation.network, foundation.key, foundation.storage
        cluster = short(name, 40)
        tags = {"workload": w.name, "workload-type": w.type, **cost_labels(spec.project, spec.environment)}
        input_prefix, output_prefix = s.get("input_prefix"), s.get("output_prefix")

        # The nodes' identity: the workload's prefix of the data bucket and the key (WorkloadIdentity), Session Manager,
        # and below the ingestion's prefix (read), the output prefix (read / write) and its own EMR log prefix (write).
        # No managed EMR instance policy: AmazonElasticMapReduceforEC2Role is on its way out and grants s3:* on "*"
        # (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role-for-ec2.html).
        self.identity = WorkloadIdentity(stack, "identity", name=short(name, 64), bucket_arns=[storage.arn], object_prefix=w.name,
                                         kms_key_arns=[key.arn], cloudwatch_agent=False, cluster_discovery=False,
                                         container_registry=False, tags=tags)
        ctx = AwsContext(stack)
        statements = spark_data_statements(storage.arn, f"arn:{ctx.partition}:s3:::{storage.log_bucket_name}", cluster,
                                           input_prefix, output_prefix)
        resource(stack, "spark-data", "aws_iam_role_policy", name=short(f"{name}-spark-data", 128), role=self.identity.role_name,
                 policy=policy_json(statements))

        main, enabled_when, self.main_variable = s.get("main"), None, None
        if not main:
            self.main_variable = var = TerraformVariable(
                stack, SPARK_MAIN_VARIABLE, type="string", default="", nullable=False,
                description=f"S3 URI of {w.name}'s Spark application (a .py or .jar under s3://<data bucket>/{w.name}/, the one prefix "
                            "its nodes read besides the pipeline's), run with spark-submit --deploy-mode cluster; empty: the run schedule "
                            "stays disabled. Or set command: in the spec")
            var.add_override("validation", [{"condition": f"${{{_MAIN_CONDITION}}}",
                                             "error_message": "spark_main must be empty or an s3://bucket/key URI without spaces, quotes or backslashes."}])
            main, enabled_when = f"${{var.{SPARK_MAIN_VARIABLE}}}", HAS_MAIN
            self.notes.append(f"{sid}: {w.name} has no command: its EMR run schedule is disabled until the Spark application is given "
                              f"with -var '{SPARK_MAIN_VARIABLE}=s3://<bucket>/<key>.py' (or TF_VAR_{SPARK_MAIN_VARIABLE}, or command: in the spec)")
        self.runs = EmrSparkRuns(
            stack, "spark", name=cluster, vpc_id=net.vpc_id, subnet_ids=net.private_subnet_ids, kms_key_arn=key.arn,
            data_bucket_name=storage.bucket_name, workload_prefix=w.name, log_bucket_name=storage.log_bucket_name,
            alerts_topic_arn=foundation.alerts.topic_arn, instance_profile_name=self.identity.instance_profile_name,
            instance_role_arn=self.identity.role_arn, release=s["release"], primary_type=s["primary_type"], core_type=s["core_type"],
            core_nodes=int(s["core_nodes"]), task_types=list(s["task_types"]), task_min=int(s["task_min"]), task_max=int(s["task_max"]),
            task_spot=bool(s.get("task_spot", True)), data_volume_gib=w.data_volume_gib_per_node or None,
            idle_timeout_seconds=int(s.get("idle_timeout_seconds") or 3600), max_runtime_hours=s.get("max_runtime_hours"),
            schedule=s.get("schedule"), main=main, args=list(s.get("args") or ()), input_prefix=input_prefix, output_prefix=output_prefix,
            enabled_when=enabled_when, tag_subnets=not getattr(net, "emr_managed_subnets", False), tags=tags)
        if not s.get("schedule"):
            self.notes.append(f"{sid}: {w.name} runs on demand only (no schedule): its EMR schedule exists disabled; start a run with "
                              "RunJobFlow and the schedule's Input (aws scheduler get-schedule --name " f"{cluster}-emr-run)")
        limit = s.get("max_runtime_hours")
        self.notes.append(f"{sid}: {w.name} runs Spark on EMR {s['release']} (a transient cluster a run: {s['core_nodes']} on-demand core "
                          f"{s['core_type']}, {s['task_min']}-{s['task_max']} {'spot' if s.get('task_spot', True) else 'on-demand'} task nodes "
                          f"of {', '.join(s['task_types'])}); logs in s3://<log bucket>/emr/{cluster}/"
                          + (f"; a run is stopped after {limit:g} h (its step fails and the cluster ends)" if limit else ""))
        # The environment's dashboard row (stacks/aws.py), as AwsWorkload has it: no Auto Scaling group, no node chart
        # (the cluster's instances are EMR's and live one run); a failed run is the EventBridge rule's, not an alarm's.
        self.group_name: str | None = None
        self.target = AlarmTarget(node_hour_usd=w.hourly_usd / max(w.nodes, 1))
        self.charted: tuple[str, ...] = ()
        self.alarm_names: tuple[str, ...] = ()
        TerraformOutput(stack, "emr_schedule_name", value=self.runs.schedule.get_string_attribute("name"))
        TerraformOutput(stack, "emr_cluster_name", value=cluster)


def spark_data_statements(bucket_arn: str, log_bucket_arn: str, cluster: str, input_prefix: str | None,
                          output_prefix: str | None) -> list[dict]:
    """What a Spark run reads and writes besides its own prefix: the ingestion's prefix (read), the output prefix (read,
    write: Spark's committers list, rename and delete under it) and the cluster's log prefix (EMR's log pusher runs on
    the nodes as the instance profile: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-debugging.html)."""
    statements: list[dict] = []
    prefixes = [p.strip("/") for p in (input_prefix, output_prefix) if p]
    if prefixes:
        statements.append({"Sid": "ListPipelinePrefixes", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
                           "Condition": {"StringLike": {"s3:prefix": [x for p in prefixes for x in (p, f"{p}/*")]}}})
    if input_prefix:
        statements.append({"Sid": "ReadInput", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": f"{bucket_arn}/{input_prefix.strip('/')}/*"})
    if output_prefix:
        statements.append({"Sid": "WriteOutput", "Effect": "Allow",
                           "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                           "Resource": f"{bucket_arn}/{output_prefix.strip('/')}/*"})
    statements.append({"Sid": "WriteClusterLogs", "Effect": "Allow", "Action": "s3:PutObject",
                       "Resource": f"{log_bucket_arn}/emr/{cluster}/*"})
    return statements
