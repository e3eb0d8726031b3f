"""Scheduled Spark runs on Amazon EMR on EC2: a transient cluster per run (instance fleets, managed
scaling, spot task nodes), started by an EventBridge Scheduler schedule calling RunJobFlow, ended by
its one Spark step, encrypted with the customer key, in private subnets, failures to the alerts topic."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource, terraform_literal
from aiinfra.constructs.aws.cluster_network import EMR_MANAGED_TAG
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.cron import aws_cron
from aiinfra.policy.aspect import suppress

# The newest EMR 7.x release (initial release September 8, 2026; standard support until September 8, 2028):
# https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-7140-release.html
DEFAULT_RELEASE = "emr-7.14.0"
# The security-group rules below are those of EMR 5.30.0 to 7.x (from 8.0.0 the service-access group fronts a VPC
# endpoint on 443 instead): https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-man-sec-groups.html
_RELEASE = re.compile(r"^emr-7\.\d+\.\d+$")
# AmazonEMRServicePolicy_v2 acts only on subnets, security groups and clusters tagged with this key and "true"
# (CreateInTaggedNetwork, ...): the cluster passes it in RunJobFlow's Tags and EMR propagates it; subnets and security
# groups EMR did not create must carry it too.
# https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role.html
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEMRServicePolicy_v2.html
SERVICE_POLICY = "service-role/AmazonEMRServicePolicy_v2"
# EventBridge Scheduler universal target: arn:aws:scheduler:::aws-sdk:<service>:<apiAction>, its Input the API's request
# JSON (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html).
RUN_JOB_FLOW_TARGET = "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"
# EMR's events on the default bus (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-emr.html); detail.state
# is the cluster's (ClusterStatus: ... TERMINATED_WITH_ERRORS) or the step's (StepStatus: ... FAILED), detail.name the
# cluster's or the step's name (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-service-limits-cloudwatch-events.html).
CLUSTER_EVENT, STEP_EVENT = "EMR Cluster State Change", "EMR Step Status Change"
FAILED_STATES = ("TERMINATED_WITH_ERRORS", "FAILED")
# The spot task fleet: price-capacity-optimized picks the pools least likely to be interrupted at the lowest price;
# when the spot capacity is not there within the timeout, on-demand instead
# (SpotProvisioningSpecification: https://docs.aws.amazon.com/emr/latest/APIReference/API_SpotProvisioningSpecification.html).
SPOT_ALLOCATION = "price-capacity-optimized"
SPOT_TIMEOUT_MINUTES = 20
# Scheduler retries a failed RunJobFlow call (throttling, a 5xx) for at most an hour: a run started later than that is
# better skipped (the failure is in the schedule's metrics) than overlapping the next one.
# https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html
RETRY_ATTEMPTS, RETRY_MAX_AGE_SECONDS = 2, 3600
# The Spark driver of a cluster-mode spark-submit is YARN's application master: on a spot task node it dies with the node
# and the run with it. EMR 6.x and later no longer keep application masters on core nodes by default; these yarn-site
# properties (the 5.19+ defaults) restore that (EMR Management Guide, "Instance configuration guidelines", YARN node
# labels: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-plan-instances-guidelines.html; AWS re:Post
# knowledge center, emr-configure-node-labeling-yarn). Configurations: https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-configure-apps.html
YARN_AM_ON_CORE = {"Classification": "yarn-site", "Properties": {"yarn.node-labels.enabled": "true",
                                                                 "yarn.node-labels.am.default-node-label-expression": "CORE"}}
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")


class EmrSparkRuns(Construct):
    """One Spark workload's runs on EMR on EC2: each run is a transient cluster that runs one Spark step and ends.

    Example::

        EmrSparkRuns(stack, "spark", name="acme-ml-prod-feature-etl", vpc_id=net.vpc_id, subnet_ids=net.private_subnet_ids,
                     kms_key_arn=key.arn, data_bucket_name=storage.bucket_name, workload_prefix="feature-etl",
                     log_bucket_name=storage.log_bucket_name, alerts_topic_arn=alerts.topic_arn,
                     instance_profile_name=ident.instance_profile_name, instance_role_arn=ident.role_arn,
                     primary_type="m7g.xlarge", core_type="r6i.8xlarge", core_nodes=2, task_types=["r6i.8xlarge", "r7i.8xlarge"],
                     task_min=3, task_max=18, schedule="0 6 * * *", max_runtime_hours=6.25, main="jobs/etl.py")

    What it creates:

    * an EventBridge Scheduler schedule (``schedule``, UTC) whose universal target calls RunJobFlow with the request in
      ``run_job_flow`` (its Input): instance fleets (primary on-demand x1, core on-demand x ``core_nodes``, a task fleet
      of ``task_types``, spot when ``task_spot``, falling back to on-demand after 20 minutes without spot capacity),
      managed scaling between ``core_nodes + task_min`` and ``core_nodes + task_max`` instances (core and task nodes only:
      https://docs.aws.amazon.com/emr/latest/APIReference/API_ComputeLimits.html; fleet units with every weight 1, so a
      unit is an instance), ``KeepJobFlowAliveWhenNoSteps`` false and an idle auto-termination policy
      (https://docs.aws.amazon.com/emr/latest/APIReference/API_AutoTerminationPolicy.html), one step running
      ``spark-submit --deploy-mode cluster`` through ``command-runner.jar``
      (https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-spark-submit-step.html), the logs under
      ``s3://<log bucket>/emr/<name>/`` encrypted with the key (LogEncryptionKmsKeyId), the tag EMR's v2 service policy
      requires. The schedule's role may only call RunJobFlow with that tag and pass the two roles the cluster uses.
    * the hard stop: EMR has no per-cluster run time limit, so the step runs spark-submit under coreutils ``timeout``
      (``max_runtime_hours``); a run that outlives it fails the step, whose ``ActionOnFailure`` TERMINATE_CLUSTER ends the
      cluster (https://docs.aws.amazon.com/emr/latest/APIReference/API_StepConfig.html). Any failed step ends it too, so
      an idle cluster never waits for a human; a successful step leaves no step, and the cluster ends.
    * a security configuration: S3 SSE-KMS (EMRFS writes) and local disks plus EBS volumes encrypted with ``kms_key_arn``,
      IMDSv2 only (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-create-security-configuration.html).
    * the EMR service role (AmazonEMRServicePolicy_v2, plus passing the instance role to EC2 and using the key for the
      encrypted EBS volumes: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-encryption-enable.html).
    * three EMR-managed security groups for private subnets (primary, core/task, service access) with the rules EMR
      documents for 5.30.0 to 7.x, egress limited to the cluster, the service-access group and HTTPS
      (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-man-sec-groups.html); EMR adds inbound rules it
      misses at launch, so the groups revoke their rules on delete. The subnets get the v2 policy's tag (``tag_subnets``).
    * an EventBridge rule sending the cluster's TERMINATED_WITH_ERRORS and the step's FAILED to ``alerts_topic_arn``
      (whose policy must let events.amazonaws.com publish: ``Alerts`` does).

    Args:
        name: the cluster's name and the prefix of every resource name (at most 40 characters).
        vpc_id, subnet_ids: private subnets of the VPC (EMR picks the zone with capacity among them; no public IPs).
        kms_key_arn: the customer key (symmetric) for S3, disks, EBS, logs and the schedule's payload.
        data_bucket_name: the data bucket; ``main`` may be a key under ``<workload_prefix>/`` in it.
        workload_prefix: the workload's prefix in the data bucket (no slashes around).
        log_bucket_name: the bucket the cluster's logs go to (``LogUri``).
        alerts_topic_arn: the SNS topic of the failure rule.
        instance_profile_name, instance_role_arn: the nodes' identity (the workload's least-privilege instance profile
            and its role); the service role and the schedule may pass only this role.
        release: EMR release label, 7.x (``DEFAULT_RELEASE``).
        primary_type, core_type: instance types of the primary node and the core nodes (on-demand).
        core_nodes: on-demand core nodes (HDFS and the shuffle service's home), at least 1.
        task_types: instance types the task fleet draws on (1 to 15, the first the planned shape).
        task_min, task_max: the task fleet's size at start and managed scaling's bound (0 <= min <= max).
        task_spot: task nodes on spot (default) or on-demand.
        data_volume_gib: a gp3 data volume per core and task node (scratch and HDFS), None for the type's defaults.
        idle_timeout_seconds: auto-termination after the cluster idles this long (60 s to 7 days); default 1 hour.
        max_runtime_hours: the step's hard stop; None: no limit but the idle timeout.
        schedule: five-field cron (UTC) of the runs; None: on demand only, the schedule exists disabled (a placeholder
            expression; enable it with one, or start a run with RunJobFlow and the schedule's Input).
        main: the Spark application: an ``s3://`` URI, a key relative to ``s3://<data bucket>/<workload_prefix>/``, or a
            Terraform expression (``${var.spark_main}``) given at deploy time.
        args: the application's arguments.
        input_prefix, output_prefix: key prefixes of the data bucket the job reads / writes; the driver and the executors
            get them as ``AIINFRA_INPUT_URI`` / ``AIINFRA_OUTPUT_URI`` (``spark.yarn.appMasterEnv.*``, ``spark.executorEnv.*``:
            https://spark.apache.org/docs/latest/running-on-yarn.html, https://spark.apache.org/docs/latest/configuration.html).
        enabled_when: a bare Terraform boolean expression (``var.spark_main != ""``): the schedule is DISABLED while it is
            false (no code, no spend). Left out, enabled when ``schedule`` is given.
        tag_subnets: tag ``subnet_ids`` for the v2 service policy (aws_ec2_tag); off when the network already does
            (``ClusterNetwork(emr_managed_subnets=True)``, as the foundation's is when the plan runs EMR in its region).
        application_masters_on_core: keep YARN application masters (the Spark driver) on the on-demand core nodes
            (``YARN_AM_ON_CORE``); default on. Off, a spot reclaim of a task node may take the driver with it.
        tags: tags of the resources and of the clusters.

    Attributes: ``schedule`` (aws_scheduler_schedule), ``run_job_flow`` (the Input as a dict: Terraform references
    inside), ``service_role``, ``security_configuration``, ``primary_security_group``, ``core_security_group``,
    ``service_access_security_group``, ``failure_rule``, ``cluster_name``, ``step_name``, ``log_uri``.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, vpc_id: str, subnet_ids: Sequence[str], kms_key_arn: str,
                 data_bucket_name: str, workload_prefix: str, log_bucket_name: str, alerts_topic_arn: str,
                 instance_profile_name: str, instance_role_arn: str, primary_type: str, core_type: str, core_nodes: int,
                 task_types: Sequence[str], task_min: int, task_max: int, main: str, release: str = DEFAULT_RELEASE,
                 task_spot: bool = True, data_volume_gib: int | None = None, idle_timeout_seconds: int = 3600,
                 max_runtime_hours: float | None = None, schedule: str | None = None, args: Sequence[str] = (),
                 input_prefix: str | None = None, output_prefix: str | None = None, enabled_when: str | None = None,
                 tag_subnets: bool = True, application_masters_on_core: bool = True, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}", name or ""):
            problems.append(f"name must be 1-40 letters, digits and hyphens, got {name!r}")
        if not _RELEASE.match(release or ""):
            problems.append(f"release must be an EMR 7.x label like {DEFAULT_RELEASE!r} (the security-group rules are 7.x's), got {release!r}")
        if not subnet_ids:
            problems.append("subnet_ids must name at least one private subnet")
        if not isinstance(core_nodes, int) or core_nodes < 1:
            problems.append(f"core_nodes must be at least 1, got {core_nodes!r}")
        if not task_types or len(task_types) > 15 or len(set(task_types)) != len(task_types):
            problems.append(f"task_types must be 1 to 15 distinct instance types, got {list(task_types)!r}")
        if not (isinstance(task_min, int) and isinstance(task_max, int) and 0 <= task_min <= task_max):
            problems.append(f"task_min and task_max must be whole numbers with 0 <= task_min <= task_max, got {task_min!r} and {task_max!r}")
        if not 60 <= idle_timeout_seconds <= 604800:
            problems.append(f"idle_timeout_seconds must be between 60 and 604800 (AutoTerminationPolicy), got {idle_timeout_seconds}")
        if max_runtime_hours is not None and not 0 < max_runtime_hours <= 24 * 7:
            problems.append(f"max_runtime_hours must be above 0 and at most 168, got {max_runtime_hours}")
        if data_volume_gib is not None and not 1 <= data_volume_gib <= 16384:
            problems.append(f"data_volume_gib must be between 1 and 16384 (gp3), got {data_volume_gib}")
        if not main or not str(main).strip():
            problems.append("main must name the Spark application (an s3:// URI, a key under the workload's prefix, or a ${...} expression)")
        elif str(main).startswith("s3://") and not _S3_URI.match(main):
            problems.append(f"main must be a valid s3:// URI, got {main!r}")
        if enabled_when is not None and (not enabled_when.strip() or "${" in enabled_when):
            problems.append(f"enabled_when must be a bare Terraform expression (no ${{...}}), got {enabled_when!r}")
        cron = None
        if schedule is not None:
            try:
                cron = aws_cron(schedule)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        ctx = AwsContext(self)
        prefix = workload_prefix.strip("/")
        self.cluster_name = name
        self.step_name = f"{name}-spark"
        self.log_uri = f"s3://{log_bucket_name}/emr/{name}/"
        emr_tags = {**tags, EMR_MANAGED_TAG: "true"}

        # -- the network: three EMR-managed groups for private subnets, the v2 policy's tag on the subnets
        def group(kind: str, what: str):
            return resource(self, f"{kind}-sg", "aws_security_group", name=f"{name}-emr-{kind}", vpc_id=vpc_id, description=what,
                            revoke_rules_on_delete=True, tags={**emr_tags, "Name": f"{name}-emr-{kind}"})
        self.primary_security_group = group("primary", f"EMR primary node of {name}")
        self.core_security_group = group("core", f"EMR core and task nodes of {name}")
        self.service_access_security_group = group("service", f"EMR service access to {name} (private subnets)")
        primary, core, service = (g.get_string_attribute("id") for g in (self.primary_security_group, self.core_security_group,
                                                                         self.service_access_security_group))
        def every(peer: str) -> dict[str, Any]:
            return {"referenced_security_group_id": peer, "ip_protocol": "-1"}

        def tcp(peer: str, port: int) -> dict[str, Any]:
            return {"referenced_security_group_id": peer, "ip_protocol": "tcp", "from_port": port, "to_port": port}
        manager = "the EMR cluster manager"
        rules: list[tuple[str, str, str, dict[str, Any], str]] = [  # (direction, group, key, peer and ports, description)
            ("ingress", primary, "primary-from-primary", every(primary), "the primary group itself"),
            ("ingress", primary, "primary-from-core", every(core), "core and task nodes"),
            ("ingress", primary, "primary-from-service", tcp(service, 8443), manager),
            ("ingress", core, "core-from-core", every(core), "the core group itself"),
            ("ingress", core, "core-from-primary", every(primary), "the primary node"),
            ("ingress", core, "core-from-service", tcp(service, 8443), manager),
            ("ingress", service, "service-from-primary", tcp(primary, 9443), "the primary node to the cluster manager"),
            ("egress", service, "service-to-primary", tcp(primary, 8443), "the cluster manager to the primary node"),
            ("egress", service, "service-to-core", tcp(core, 8443), "the cluster manager to core and task nodes"),
            ("egress", primary, "primary-to-primary", every(primary), "the primary group itself"),
            ("egress", primary, "primary-to-core", every(core), "core and task nodes"),
            ("egress", primary, "primary-to-service", tcp(service, 9443), manager),
            ("egress", core, "core-to-core", every(core), "the core group itself"),
            ("egress", core, "core-to-primary", every(primary), "the primary node"),
        ]
        # S3 (the gateway endpoint), EMR, KMS and the other AWS APIs (through NAT): HTTPS only.
        for kind, gid in (("primary", primary), ("core", core)):
            rules.append(("egress", gid, f"{kind}-to-https", {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 443, "to_port": 443},
                          "HTTPS to S3 and AWS APIs"))
        for direction, gid, key, peer, what in rules:
            resource(self, f"rule-{key}", f"aws_vpc_security_group_{direction}_rule", security_group_id=gid, description=what, **peer,
                     tags=tags or None)
        if tag_subnets:
            for i, subnet in enumerate(subnet_ids):
                resource(self, f"subnet-tag-{i}", "aws_ec2_tag", resource_id=subnet, key=EMR_MANAGED_TAG, value="true")

        # -- encryption at rest with the customer key
        self.security_configuration = resource(
            self, "security-configuration", "aws_emr_security_configuration", name=f"{name}-emr",
            configuration=json.dumps(security_configuration(kms_key_arn), separators=(",", ":")))

        # -- the EMR service role: the v2 managed policy, passing the nodes' role to EC2, the key for EBS
        service_trust = policy_json([{"Effect": "Allow", "Principal": {"Service": "elasticmapreduce.amazonaws.com"}, "Action": "sts:AssumeRole",
                                      # confused-deputy protection: https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role.html
                                      "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id},
                                                    "ArnLike": {"aws:SourceArn": ctx.arn("elasticmapreduce", "*", region=True)}}}])
        self.service_role = resource(self, "service-role", "aws_iam_role", name=f"{name}-emr-service", assume_role_policy=service_trust,
                                     description=f"EMR service role of {name}'s clusters", max_session_duration=3600, tags=tags or None)
        service_role_name = self.service_role.get_string_attribute("name")
        resource(self, "service-policy", "aws_iam_role_policy_attachment", role=service_role_name,
                 policy_arn=f"arn:{ctx.partition}:iam::aws:policy/{SERVICE_POLICY}")
        resource(self, "service-extra", "aws_iam_role_policy", name=f"{name}-emr-service", role=service_role_name, policy=policy_json([
            # The v2 policy passes only EMR_EC2_DefaultRole; this cluster's nodes run as the workload's own role.
            {"Sid": "PassNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": instance_role_arn,
             "Condition": {"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}}},
            # EBS encryption with a customer key: EMR creates the encrypted volumes and grants EC2 their use.
            {"Sid": "EncryptVolumes", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                                                    "kms:DescribeKey"], "Resource": kms_key_arn},
            {"Sid": "GrantVolumesToEc2", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
             "Resource": kms_key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]))

        # -- the run: RunJobFlow's request
        main_uri = main if main.startswith(("s3://", "${")) else f"s3://{data_bucket_name}/{prefix}/{main.lstrip('/')}"
        env: dict[str, str] = {}
        if input_prefix:
            env["AIINFRA_INPUT_URI"] = f"s3://{data_bucket_name}/{input_prefix.strip('/')}/"
        if output_prefix:
            env["AIINFRA_OUTPUT_URI"] = f"s3://{data_bucket_name}/{output_prefix.strip('/')}/"
        conf = [x for k, v in env.items() for x in ("--conf", f"spark.yarn.appMasterEnv.{k}={v}", "--conf", f"spark.executorEnv.{k}={v}")]
        submit = ["spark-submit", "--deploy-mode", "cluster", *conf, main_uri, *(terraform_literal(str(a)) for a in args)]
        if max_runtime_hours is not None:
            # coreutils timeout: TERM at the limit, KILL a minute later; exit 124 fails the step (and so the cluster).
            submit = ["timeout", "--kill-after=60", str(round(max_runtime_hours * 3600)), *submit]
        volume = ({"EbsConfiguration": {"EbsBlockDeviceConfigs": [{"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": data_volume_gib},
                                                                   "VolumesPerInstance": 1}], "EbsOptimized": True}}
                  if data_volume_gib else {})
        task_fleet: dict[str, Any] = {
            "Name": "task", "InstanceFleetType": "TASK",
            "TargetSpotCapacity" if task_spot else "TargetOnDemandCapacity": task_min,
            "InstanceTypeConfigs": [{"InstanceType": t, "WeightedCapacity": 1, **volume} for t in task_types]}
        if task_spot:
            task_fleet["LaunchSpecifications"] = {"SpotSpecification": {"TimeoutDurationMinutes": SPOT_TIMEOUT_MINUTES,
                                                                        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                                                                        "AllocationStrategy": SPOT_ALLOCATION}}
        self.run_job_flow: dict[str, Any] = {
            "Name": name,
            "ReleaseLabel": release,
            "Applications": [{"Name": "Spark"}],
            "LogUri": self.log_uri,
            "LogEncryptionKmsKeyId": kms_key_arn,
            # References, not names: the schedule is created after the role and the configuration it names.
            "ServiceRole": service_role_name,
            "JobFlowRole": instance_profile_name,
            "SecurityConfiguration": self.security_configuration.get_string_attribute("name"),
            "VisibleToAllUsers": True,
            "Instances": {
                "Ec2SubnetIds": list(subnet_ids),
                "EmrManagedMasterSecurityGroup": primary,
                "EmrManagedSlaveSecurityGroup": core,
                "ServiceAccessSecurityGroup": service,
                "KeepJobFlowAliveWhenNoSteps": False,
                "TerminationProtected": False,
                "InstanceFleets": [
                    {"Name": "primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1,
                     "InstanceTypeConfigs": [{"InstanceType": primary_type, "WeightedCapacity": 1}]},
                    {"Name": "core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": core_nodes,
                     "InstanceTypeConfigs": [{"InstanceType": core_type, "WeightedCapacity": 1, **volume}]},
                    task_fleet,
                ],
            },
            "ManagedScalingPolicy": {"ComputeLimits": {
                "UnitType": "InstanceFleetUnits", "MinimumCapacityUnits": core_nodes + task_min, "MaximumCapacityUnits": core_nodes + task_max,
                "MaximumCoreCapacityUnits": core_nodes,
                "MaximumOnDemandCapacityUnits": core_nodes if task_spot else core_nodes + task_max}},
            "AutoTerminationPolicy": {"IdleTimeout": idle_timeout_seconds},
            **({"Configurations": [YARN_AM_ON_CORE]} if application_masters_on_core else {}),
            "Steps": [{"Name": self.step_name, "ActionOnFailure": "TERMINATE_CLUSTER",
                       "HadoopJarStep": {"Jar": "command-runner.jar", "Args": submit}}],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(emr_tags.items())],
        }

        # -- the schedule and its role
        scheduler_trust = policy_json([{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
                                        # https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html
                                        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}}])
        scheduler_role = resource(self, "scheduler-role", "aws_iam_role", name=f"{name}-emr-scheduler", assume_role_policy=scheduler_trust,
                                  description=f"EventBridge Scheduler starting {name}'s EMR runs", max_session_duration=3600, tags=tags or None)
        scheduler_role_name = scheduler_role.get_string_attribute("name")
        resource(self, "scheduler-pass", "aws_iam_role_policy", name=f"{name}-emr-scheduler", role=scheduler_role_name, policy=policy_json([
            # RunJobFlow passes the service role to EMR and the nodes' role (through their instance profile) to EC2
            # (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-iam-role.html).
            {"Sid": "PassClusterRoles", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": [self.service_role.get_string_attribute("arn"), instance_role_arn]},
            # The schedule's payload is encrypted with the customer key, which the execution role decrypts
            # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html).
            {"Sid": "ReadPayload", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn},
            # EMR creates its cleanup service-linked role at the account's first cluster, as the caller of RunJobFlow
            # (https://docs.aws.amazon.com/emr/latest/ManagementGuide/using-service-linked-roles-cleanup.html).
            {"Sid": "CreateEmrCleanupRole", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
             "Resource": ctx.arn("iam", "role/aws-service-role/elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*"),
             "Condition": {"StringLike": {"iam:AWSServiceName": "elasticmapreduce.amazonaws.com*"}}}]))
        # RunJobFlow acts on no resource that exists before the call (no resource types in the Service Authorization
        # Reference: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticmapreduce.html):
        # "*", limited to clusters tagged for the v2 policy.
        run = resource(self, "scheduler-run", "aws_iam_role_policy", name=f"{name}-emr-run", role=scheduler_role_name, policy=policy_json([
            {"Sid": "StartTaggedClusters", "Effect": "Allow", "Action": "elasticmapreduce:RunJobFlow", "Resource": "*",
             "Condition": {"StringEquals": {f"aws:RequestTag/{EMR_MANAGED_TAG}": "true"}}}]))
        suppress(run, "AIINFRA-AWS-009", "elasticmapreduce:RunJobFlow has no resource type to name (the cluster does not exist yet); "
                 "the statement allows only clusters tagged for EMR's v2 service policy")
        if enabled_when is not None:
            state = f"${{{enabled_when} && {json.dumps(schedule is not None)} ? \"ENABLED\" : \"DISABLED\"}}"
        else:
            state = "ENABLED" if schedule is not None else "DISABLED"
        self.schedule = resource(
            self, "schedule", "aws_scheduler_schedule", name=f"{name}-emr-run", description=f"Start one EMR run of {name}",
            schedule_expression=cron or "cron(0 0 1 1 ? *)", schedule_expression_timezone="Etc/UTC", state=state,
            flexible_time_window={"mode": "OFF"}, kms_key_arn=kms_key_arn,
            target={"arn": RUN_JOB_FLOW_TARGET, "role_arn": scheduler_role.get_string_attribute("arn"),
                    "input": json.dumps(self.run_job_flow, separators=(",", ":")),
                    "retry_policy": {"maximum_retry_attempts": RETRY_ATTEMPTS, "maximum_event_age_in_seconds": RETRY_MAX_AGE_SECONDS}})

        # -- failures to the alerts topic
        pattern = failure_event_pattern(self.cluster_name, self.step_name)
        self.failure_rule = resource(self, "failure-rule", "aws_cloudwatch_event_rule", name=f"{name}-emr-failed",
                                     description=f"{name}'s EMR run failed (cluster terminated with errors or Spark step failed)",
                                     event_pattern=json.dumps(pattern, separators=(",", ":")), state="ENABLED", tags=tags or None)
        # No role: an SNS target is authorized by the topic's policy
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
        resource(self, "failure-target", "aws_cloudwatch_event_target", rule=self.failure_rule.get_string_attribute("name"),
                 target_id="alerts-topic", arn=alerts_topic_arn, input_transformer={
                     "input_paths": {"name": "$.detail.name", "state": "$.detail.state", "cluster": "$.detail.clusterId",
                                     "message": "$.detail.message", "account": "$.account", "region": "$.region"},
                     "input_template": '"EMR run of ' + name + ' failed: <name> is <state> (cluster <cluster>, account <account>, '
                                       '<region>). <message> Logs: ' + self.log_uri + '"'})


def security_configuration(kms_key_arn: str) -> dict[str, Any]:
    """The EMR security configuration: at-rest encryption of EMRFS objects (SSE-KMS), local disks and EBS volumes with
    the customer key; IMDSv2 only. In-transit encryption needs a TLS certificate provider the spec does not give
    (a PEM zip in S3 or a custom provider class), so it stays off: the cluster's traffic stays in its security groups.
    https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-create-security-configuration.html"""
    return {
        "EncryptionConfiguration": {
            "EnableAtRestEncryption": True,
            "EnableInTransitEncryption": False,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": kms_key_arn},
                "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": kms_key_arn,
                                                     "EnableEbsEncryption": True},
            },
        },
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": 2, "HttpPutResponseHopLimit": 1},
    }


def failure_event_pattern(cluster_name: str, step_name: str) -> dict[str, Any]:
    """The cluster ending with errors, or its step failing (a cluster never has the state FAILED, a step never
    TERMINATED_WITH_ERRORS, so one pattern matches exactly these two)."""
    return {"source": ["aws.emr"], "detail-type": [CLUSTER_EVENT, STEP_EVENT],
            "detail": {"state": list(FAILED_STATES), "name": [cluster_name, step_name]}}
