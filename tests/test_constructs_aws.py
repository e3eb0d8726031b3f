"""AWS construct tests: synthesize a small stack, assert on the Terraform JSON. One test per behaviour."""

from __future__ import annotations

import json
import re

import pytest


from aiinfra.cdk import App, TerraformStack  # noqa: E402
from aiinfra.cdk import Testing as CdkTesting  # noqa: E402

from aiinfra.constructs._tf import AWS, provider  # noqa: E402
from aiinfra.constructs.aws import (AlarmTarget, AlertRule, Alerts, Budget, Certificate, ClusterNetwork, EncryptionKey, GpuInstanceGroup,  # noqa: E402
                                    InferenceEndpoint, RunSchedule, SpotPool, TieredStorage, WorkloadIdentity)
from aiinfra.constructs.aws.inference_endpoint import CPU_TARGET_PERCENT  # noqa: E402

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


def synth(build) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    build(stack)
    return json.loads(CdkTesting.synth(stack))


def only(doc: dict, rtype: str) -> dict:
    (value,) = doc["resource"][rtype].values()
    return value


def policy(doc_value: str) -> dict:
    return json.loads(doc_value)


def group_stack(stack, **kw):
    key = EncryptionKey(stack, "key", alias="k")
    net = ClusterNetwork(stack, "net", name="n", zone_ids=["use1-az1", "use1-az2"], log_kms_key_arn=key.arn)
    ident = WorkloadIdentity(stack, "id", name="w")
    args = dict(name="g", instance_type="p4d.24xlarge", subnet_ids=net.private_subnet_ids, security_group_ids=[net.node_security_group_id],
                instance_profile_arn=ident.instance_profile_arn, kms_key_arn=key.arn, max_size=2)
    args.update(kw)
    return GpuInstanceGroup(stack, "group", **args)


# ---- EncryptionKey ------------------------------------------------------------------

def test_kms_key_rotates_by_default_and_has_an_alias():
    doc = synth(lambda s: EncryptionKey(s, "key", alias="acme-data"))
    key = only(doc, "aws_kms_key")
    assert key["enable_key_rotation"] is True and key["deletion_window_in_days"] == 30
    assert "rotation_period_in_days" not in key  # AWS's default, a year
    faster = only(synth(lambda s: EncryptionKey(s, "key", alias="a", rotation_period_days=90)), "aws_kms_key")
    assert faster["rotation_period_in_days"] == 90
    assert only(doc, "aws_kms_alias")["name"] == "alias/acme-data"


def test_key_policy_grants_the_account_and_named_roles_only():
    doc = synth(lambda s: EncryptionKey(s, "key", alias="a", user_role_arns=["arn:aws:iam::123456789012:role/train"]))
    statements = policy(only(doc, "aws_kms_key")["policy"])["Statement"]
    principals = [st["Principal"] for st in statements]
    assert all("*" not in json.dumps(p) for p in principals)
    roles = next(st for st in statements if st["Sid"] == "WorkloadRolesUseKey")
    assert roles["Principal"]["AWS"] == ["arn:aws:iam::123456789012:role/train"]
    assert "kms:*" not in roles["Action"]


def test_key_rejects_a_short_deletion_window():
    with pytest.raises(ValueError, match="deletion_window_days must be between 7 and 30, got 3"):
        synth(lambda s: EncryptionKey(s, "key", alias="a", deletion_window_days=3))


# ---- ClusterNetwork -------------------------------------------------------------------

def test_network_has_private_subnets_per_zone_and_no_public_ips():
    doc = synth(lambda s: ClusterNetwork(s, "net", name="n", zone_ids=["use1-az1", "use1-az2", "use1-az4"], log_kms_key_arn="arn:k"))
    subnets = doc["resource"]["aws_subnet"].values()
    private = [sn for sn in subnets if sn["tags"]["tier"] == "private"]
    assert sorted(sn["availability_zone_id"] for sn in private) == ["use1-az1", "use1-az2", "use1-az4"]
    assert all(sn["map_public_ip_on_launch"] is False for sn in subnets)
    assert len([sn for sn in subnets if sn["tags"]["tier"] == "public"]) == 1  # the NAT's only
    assert len(doc["resource"]["aws_nat_gateway"]) == 1
    assert only(doc, "aws_vpc_endpoint")["vpc_endpoint_type"] == "Gateway"


def test_efa_security_group_admits_itself_through_separate_rules():
    doc = synth(lambda s: ClusterNetwork(s, "net", name="n", zone_ids=["use1-az1"], log_kms_key_arn="arn:k"))
    sg = only(doc, "aws_security_group")
    assert "ingress" not in sg and "egress" not in sg
    (ingress,) = doc["resource"]["aws_vpc_security_group_ingress_rule"].values()
    assert ingress["ip_protocol"] == "-1" and ingress["referenced_security_group_id"] == ingress["security_group_id"]
    assert "cidr_ipv4" not in ingress


def test_placement_group_only_when_asked_and_flow_logs_always():
    without = synth(lambda s: ClusterNetwork(s, "net", name="n", zone_ids=["use1-az1"], log_kms_key_arn="arn:k"))
    assert "aws_placement_group" not in without["resource"]
    assert only(without, "aws_flow_log")["traffic_type"] == "ALL"
    with_pg = synth(lambda s: ClusterNetwork(s, "net", name="n", zone_ids=["use1-az1"], log_kms_key_arn="arn:k", placement_group=True))
    assert only(with_pg, "aws_placement_group")["strategy"] == "cluster"


# ---- GpuInstanceGroup + SpotPool ---------------------------------------------------------

def test_launch_template_requires_imdsv2_encrypts_volumes_and_has_no_public_ip():
    doc = synth(lambda s: group_stack(s, image_id="ami-0123456789abcdef0", data_volume_gib=500))
    lt = only(doc, "aws_launch_template")
    assert lt["metadata_options"]["http_tokens"] == "required"
    assert all(v["ebs"]["encrypted"] is True and v["ebs"]["kms_key_id"] for v in lt["block_device_mappings"])
    assert [v["ebs"]["volume_size"] for v in lt["block_device_mappings"]] == [200, 500]
    assert all(ni["associate_public_ip_address"] is False for ni in lt["network_interfaces"])
    assert "arn" in lt["iam_instance_profile"]
    assert lt["image_id"] == "ami-0123456789abcdef0"


@pytest.mark.parametrize("instance_type,efa", [("p4d.24xlarge", 4), ("p5.48xlarge", 32)])
def test_one_efa_interface_per_network_card(instance_type, efa):
    doc = synth(lambda s: group_stack(s, instance_type=instance_type, efa_interfaces=efa, image_id="ami-0123456789abcdef0"))
    nis = only(doc, "aws_launch_template")["network_interfaces"]
    assert len(nis) == efa
    assert [ni["network_card_index"] for ni in nis] == list(range(efa))
    assert all(ni["interface_type"] == "efa" for ni in nis)
    assert [ni["device_index"] for ni in nis[:2]] == [0, 1]


def test_default_image_is_the_deep_learning_ami_parameter():
    doc = synth(lambda s: group_stack(s))
    (param,) = doc["data"]["aws_ssm_parameter"].values()
    assert "deeplearning" in param["name"]
    # read from the parameter, then pinned: the template takes the pin's output (docs/security.md, the roll)
    assert "aws_ssm_parameter" in only(doc, "terraform_data")["input"]
    assert only(doc, "aws_launch_template")["image_id"].startswith("${terraform_data.")


def test_root_volume_goes_to_the_root_device_the_ami_itself_names():
    doc = synth(lambda s: group_stack(s, gpu=False))
    (ami,) = doc["data"]["aws_ami"].values()
    assert ami["filter"][0]["name"] == "image-id" and ami["filter"][0]["values"][0].startswith("${terraform_data.")  # the pinned AMI
    (param,) = doc["data"]["aws_ssm_parameter"].values()
    assert "al2023" in param["name"]  # CPU nodes: Amazon Linux 2023, whose root is /dev/xvda, not /dev/sda1
    root = only(doc, "aws_launch_template")["block_device_mappings"][0]
    assert root["device_name"].startswith("${data.aws_ami.") and root["device_name"].endswith(".root_device_name}")
    assert root["ebs"]["encrypted"] is True
    named = synth(lambda s: group_stack(s, image_id="ami-0123456789abcdef0", root_device_name="/dev/xvda"))
    assert "aws_ami" not in named.get("data", {})
    assert only(named, "aws_launch_template")["block_device_mappings"][0]["device_name"] == "/dev/xvda"


def test_boot_configuration_is_base64_user_data_and_its_inputs_instance_tags():
    import base64

    doc = synth(lambda s: group_stack(s, image_id="ami-0123456789abcdef0", user_data="#cloud-config\nruncmd: [echo ${HOME}]\n",
                                      instance_tags={"aiinfra-data-bucket": "acme-data"}, health_check_grace_seconds=1200))
    template = only(doc, "aws_launch_template")
    assert base64.b64decode(template["user_data"]).decode() == "#cloud-config\nruncmd: [echo ${HOME}]\n"  # base64: no Terraform interpolation
    assert template["metadata_options"]["instance_metadata_tags"] == "enabled"
    instance_tags = next(t["tags"] for t in template["tag_specifications"] if t["resource_type"] == "instance")
    assert instance_tags["aiinfra-data-bucket"] == "acme-data"
    assert only(doc, "aws_autoscaling_group")["health_check_grace_period"] == 1200
    with pytest.raises(ValueError, match="user_data or user_data_base64"):
        synth(lambda s: group_stack(s, user_data="x", user_data_base64="eA=="))


def test_key_brings_its_own_autoscaling_service_linked_role_for_fresh_accounts():
    doc = synth(lambda s: EncryptionKey(s, "key", alias="acme-prod-data"))
    role = only(doc, "aws_iam_service_linked_role")
    assert role == {**role, "aws_service_name": "autoscaling.amazonaws.com", "custom_suffix": "acme-prod-data"}
    key_policy = only(doc, "aws_kms_key")["policy"]
    assert "AWSServiceRoleForAutoScaling" not in key_policy  # the account's default role need not exist
    statements = {st["Sid"]: st for st in policy(key_policy)["Statement"]}
    assert statements["AutoScalingEncryptsVolumes"]["Principal"]["AWS"].startswith("${aws_iam_service_linked_role.")
    with pytest.raises(ValueError, match="autoscaling_role_suffix"):
        synth(lambda s: EncryptionKey(s, "key", alias="a" * 40))


def test_run_schedule_starts_runs_and_hard_stops_them_in_utc():
    doc = synth(lambda s: RunSchedule(s, "runs", group_name="acme-train", nodes=2, start="0 6 * * 6", stop="0  6 * * 0", name="acme-train"))
    actions = {a["scheduled_action_name"]: a for a in doc["resource"]["aws_autoscaling_schedule"].values()}
    assert actions["acme-train-start"] == {**actions["acme-train-start"], "recurrence": "0 6 * * 6", "time_zone": "Etc/UTC",
                                           "desired_capacity": 2, "min_size": 0, "max_size": 2}
    assert actions["acme-train-hard-stop"] == {**actions["acme-train-hard-stop"], "recurrence": "0 6 * * 0", "desired_capacity": 0}
    with pytest.raises(ValueError, match="start and stop must differ"):
        synth(lambda s: RunSchedule(s, "runs", group_name="g", nodes=1, start="0 6 * * 6", stop="0 6 * * 6"))
    with pytest.raises(ValueError, match="five fields"):
        synth(lambda s: RunSchedule(s, "runs", group_name="g", nodes=1, start="0 6 * *", stop="0 6 * * 0"))


def test_certificate_is_validated_through_dns_records_in_the_zone_or_an_output():
    zoned = synth(lambda s: Certificate(s, "cert", domains=["reco.acme.example", "api.acme.example"], hosted_zone_id="Z0123456789ABC"))
    cert = only(zoned, "aws_acm_certificate")
    assert (cert["domain_name"], cert["subject_alternative_names"], cert["validation_method"]) == \
        ("reco.acme.example", ["api.acme.example"], "DNS")
    records = list(zoned["resource"]["aws_route53_record"].values())
    assert len(records) == 2 and all(r["zone_id"] == "Z0123456789ABC" and "domain_validation_options" in r["name"] for r in records)
    assert len(only(zoned, "aws_acm_certificate_validation")["validation_record_fqdns"]) == 2
    bare = synth(lambda s: Certificate(s, "cert", domains=["reco.acme.example"]))
    assert "aws_route53_record" not in bare["resource"]
    (output,) = bare["output"].values()
    assert "domain_validation_options" in output["value"]


def test_spot_pool_sets_the_mixed_instances_policy():
    pool = SpotPool(on_demand_base=2, alternative_instance_types=["p4de.24xlarge"])
    doc = synth(lambda s: group_stack(s, spot=pool, min_size=2, max_size=4, image_id="ami-0123456789abcdef0"))
    asg = only(doc, "aws_autoscaling_group")
    dist = asg["mixed_instances_policy"]["instances_distribution"]
    assert dist == {"on_demand_base_capacity": 2, "on_demand_percentage_above_base_capacity": 0,
                    "spot_allocation_strategy": "price-capacity-optimized"}
    overrides = asg["mixed_instances_policy"]["launch_template"]["override"]
    assert [o["instance_type"] for o in overrides] == ["p4d.24xlarge", "p4de.24xlarge"]
    assert asg["capacity_rebalance"] is True and "launch_template" not in asg


def test_group_without_spot_uses_the_template_directly_and_validates_sizes():
    asg = only(synth(lambda s: group_stack(s, image_id="ami-0123456789abcdef0")), "aws_autoscaling_group")
    assert "launch_template" in asg and "mixed_instances_policy" not in asg
    assert (asg["min_size"], asg["max_size"], asg["desired_capacity"]) == (0, 2, 0)
    with pytest.raises(ValueError, match="0 <= min_size <= max_size"):
        synth(lambda s: group_stack(s, min_size=3, max_size=2))
    with pytest.raises(ValueError, match="on_demand_percent_above_base"):
        SpotPool(on_demand_percent_above_base=101)


# ---- TieredStorage ------------------------------------------------------------------------

def storage_doc(**kw):
    return synth(lambda s: TieredStorage(s, "st", name="acme", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", **kw))


def test_buckets_block_public_access_and_are_versioned():
    doc = storage_doc()
    blocks = doc["resource"]["aws_s3_bucket_public_access_block"].values()
    assert len(blocks) == 2
    for b in blocks:
        assert all(b[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert all(v["versioning_configuration"]["status"] == "Enabled" for v in doc["resource"]["aws_s3_bucket_versioning"].values())


def test_data_bucket_uses_sse_kms_with_bucket_keys_and_logs_access():
    doc = storage_doc()
    sse = [v["rule"][0] for v in doc["resource"]["aws_s3_bucket_server_side_encryption_configuration"].values()]
    kms = [r for r in sse if r["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"]
    assert len(kms) == 1 and kms[0]["bucket_key_enabled"] is True
    logging = only(doc, "aws_s3_bucket_logging")
    assert logging["target_prefix"] == "data/"
    assert any(d.startswith("aws_s3_bucket_policy.") for d in logging["depends_on"])  # S3 checks the log bucket's policy


def test_bucket_policies_deny_plain_http():
    doc = storage_doc()
    for p in doc["resource"]["aws_s3_bucket_policy"].values():
        deny = [st for st in policy(p["policy"])["Statement"] if st["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lifecycle_moves_objects_at_the_plans_days():
    # Without live tiering (an explicit opt-out: tests/test_storage_lifecycle_stacks.py has the default).
    doc = storage_doc(warm_after_days=45, cold_after_days=120, archive_after_days=400, live_tiering=False)
    rules = [r for v in doc["resource"]["aws_s3_bucket_lifecycle_configuration"].values() for r in v["rule"] if r["id"] == "hot-warm-cold"]
    (rule,) = rules
    assert [(t["days"], t["storage_class"]) for t in rule["transition"]] == [(45, "STANDARD_IA"), (120, "GLACIER_IR"), (400, "DEEP_ARCHIVE")]
    assert rule["abort_incomplete_multipart_upload"]["days_after_initiation"] == 7
    with pytest.raises(ValueError, match="warm_after_days must be at least 30"):
        storage_doc(warm_after_days=10, live_tiering=False)


# ---- WorkloadIdentity ------------------------------------------------------------------------

def test_identity_reaches_only_its_own_prefix_and_keys():
    doc = synth(lambda s: WorkloadIdentity(s, "id", name="acme-train", bucket_arns=["arn:aws:s3:::data"], object_prefix="train",
                                           kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/x"]))
    policies = {p["name"]: p for p in doc["resource"]["aws_iam_role_policy"].values()}
    statements = policy(policies["acme-train-own-resources"]["policy"])["Statement"]
    for st in statements:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        # the only wildcard: the streams of its own log group (one per node, named at boot)
        assert "*" not in resources and all(not r.endswith(":*") or r.endswith(":log-group:/aiinfra/acme-train:log-stream:*")
                                             for r in resources), st
        assert not any(a.endswith("*") for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]))
    objects = next(st for st in statements if st["Sid"] == "ReadWriteOwnObjects")
    assert objects["Resource"] == ["arn:aws:s3:::data/train/*"]
    logs = next(st for st in statements if st["Sid"] == "WriteOwnLogs")
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]  # never CreateLogGroup
    assert [r.split(":", 5)[5] for r in logs["Resource"]] == ["log-group:/aiinfra/acme-train", "log-group:/aiinfra/acme-train:log-stream:*"]
    attached = {a["policy_arn"].split("/")[-1] for a in doc["resource"]["aws_iam_role_policy_attachment"].values()}
    assert "AmazonSSMManagedInstanceCore" in attached
    assert json.loads(only(doc, "aws_iam_role")["assume_role_policy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_identity_resizes_only_its_own_groups_and_waives_only_read_calls_without_resource_types():
    doc = synth(lambda s: WorkloadIdentity(s, "id", name="acme-train", bucket_arns=["arn:aws:s3:::data"], autoscaling_group_names=["acme-train"]))
    policies = {p["name"]: p for p in doc["resource"]["aws_iam_role_policy"].values()}
    own = {st["Sid"]: st for st in policy(policies["acme-train-own-resources"]["policy"])["Statement"]}
    # scale to zero only (MinSize 0, MaxSize untouched); no SetDesiredCapacity (tests/test_node_peers_hardening.py evaluates it)
    assert own["ScaleOwnGroupsToZero"]["Action"] == "autoscaling:UpdateAutoScalingGroup"
    assert own["ScaleOwnGroupsToZero"]["Condition"] == {"NumericEquals": {"autoscaling:MinSize": "0"}, "Null": {"autoscaling:MaxSize": "true"}}
    assert own["ScaleOwnGroupsToZero"]["Resource"][0].endswith(":autoScalingGroup:*:autoScalingGroupName/acme-train")
    assert own["PullOwnAccountImages"]["Resource"].endswith(":repository/*")
    (unscoped,) = policy(policies["acme-train-describe"]["policy"])["Statement"]
    assert unscoped["Resource"] == "*"
    assert sorted(unscoped["Action"]) == ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances", "ecr:GetAuthorizationToken"]
    serving = synth(lambda s: WorkloadIdentity(s, "id", name="acme-reco", cluster_discovery=False, container_registry=False))
    assert len(serving["resource"]["aws_iam_role_policy"]) == 1  # its own logs only: nothing on "*"


# ---- InferenceEndpoint, Alerts, Budget -------------------------------------------------------

def endpoint_doc(**kw):
    def build(s):
        group = group_stack(s, image_id="ami-0123456789abcdef0", min_size=2, max_size=8)
        args = dict(name="acme-reco", vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], node_security_group_id="sg-nodes",
                    autoscaling_group_name=group.name, certificate_arn=CERT, requests_per_target=260.0, vpc_cidr="10.40.0.0/16")
        args.update(kw)
        InferenceEndpoint(s, "ep", **args)
    return synth(build)


def test_endpoint_listens_on_https_with_tls13_only():
    doc = endpoint_doc()
    (listener,) = doc["resource"]["aws_lb_listener"].values()
    assert (listener["protocol"], listener["port"], listener["ssl_policy"]) == ("HTTPS", 443, "ELBSecurityPolicy-TLS13-1-2-2021-06")
    lb = only(doc, "aws_lb")
    assert lb["internal"] is False and lb["drop_invalid_header_fields"] is True  # public by default, as on GCP


def test_endpoint_is_deletion_protected_and_logs_to_the_load_balancer_log_bucket():
    lb = only(endpoint_doc(access_log_bucket="acme-logs"), "aws_lb")
    assert lb["enable_deletion_protection"] is True
    assert lb["access_logs"] == {"bucket": "acme-logs", "enabled": True, "prefix": "alb/acme-reco"}
    assert only(endpoint_doc(deletion_protection=False), "aws_lb")["enable_deletion_protection"] is False


def test_log_bucket_admits_load_balancer_logs_only_when_asked_and_buckets_send_events():
    def logs_policy(doc):
        (p,) = [v for v in doc["resource"]["aws_s3_bucket_policy"].values() if "S3ServerAccessLogs" in v["policy"]]
        return policy(p["policy"])["Statement"]
    plain = synth(lambda s: TieredStorage(s, "st", name="acme", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x"))
    assert "LoadBalancerAccessLogs" not in json.dumps(logs_policy(plain))
    with_lb = synth(lambda s: TieredStorage(s, "st", name="acme", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", load_balancer_logs=True))
    (elb,) = [st for st in logs_policy(with_lb) if st["Sid"] == "LoadBalancerAccessLogs"]
    assert elb["Principal"]["AWS"].startswith("${data.aws_elb_service_account.") and elb["Resource"].endswith("/alb/*")
    assert [n["eventbridge"] for n in plain["resource"]["aws_s3_bucket_notification"].values()] == [True, True]


def test_group_behind_a_load_balancer_uses_its_health_check():
    doc = synth(lambda s: group_stack(s, health_check_type="ELB"))
    assert only(doc, "aws_autoscaling_group")["health_check_type"] == "ELB"
    with pytest.raises(ValueError, match="health_check_type must be EC2 or ELB"):
        synth(lambda s: group_stack(s, health_check_type="HTTP"))


def scaling_policies(doc: dict) -> dict[str, float]:
    return {p["target_tracking_configuration"]["predefined_metric_specification"]["predefined_metric_type"]:
            p["target_tracking_configuration"]["target_value"] for p in doc["resource"]["aws_autoscaling_policy"].values()}


def test_gpu_endpoint_scales_on_requests_per_target_alone():
    # A GPU group scales on its serving signal only: a second (CPU) policy would hold scale-in until it agreed too
    # (a group scales in only when every target-tracking policy is ready to).
    doc = endpoint_doc()
    assert scaling_policies(doc) == {"ALBRequestCountPerTarget": 15600.0}  # 260 requests a second a target, a minute
    (policy,) = doc["resource"]["aws_autoscaling_policy"].values()
    assert policy["policy_type"] == "TargetTrackingScaling" and policy["autoscaling_group_name"].startswith("${aws_autoscaling_group.")
    # the load balancer's and target group's arn suffixes: the metric of this endpoint's targets
    label = policy["target_tracking_configuration"]["predefined_metric_specification"]["resource_label"]
    assert label.startswith("${aws_lb.") and "/${aws_lb_target_group." in label and label.count("arn_suffix") == 2
    assert "ASGAverageCPUUtilization" not in json.dumps(doc["resource"])


def test_cpu_only_endpoint_keeps_a_cpu_policy_when_asked():
    doc = endpoint_doc(cpu_target_percent=CPU_TARGET_PERCENT)
    assert scaling_policies(doc) == {"ALBRequestCountPerTarget": 15600.0, "ASGAverageCPUUtilization": 70.0}
    with pytest.raises(ValueError, match=r"cpu_target_percent \(when given\) between 0 and 100"):
        endpoint_doc(cpu_target_percent=0)
    with pytest.raises(ValueError, match="requests_per_target must be positive"):
        endpoint_doc(requests_per_target=0)


def test_endpoint_is_public_by_default_and_internal_admits_only_the_vpc():
    doc = endpoint_doc(internet_facing=False)
    ingress = [r for r in doc["resource"]["aws_vpc_security_group_ingress_rule"].values() if r.get("from_port") == 443]
    assert [r["cidr_ipv4"] for r in ingress] == ["10.40.0.0/16"]
    assert only(doc, "aws_lb")["internal"] is True
    public = endpoint_doc()
    assert [r["cidr_ipv4"] for r in public["resource"]["aws_vpc_security_group_ingress_rule"].values() if r.get("from_port") == 443] == ["0.0.0.0/0"]
    with pytest.raises(ValueError, match="certificate_arn is required"):
        endpoint_doc(certificate_arn="")


def test_alert_rules_with_the_same_name_are_refused():
    twins = [AlertRule("High CPU", "cpu_utilization", ">", 90), AlertRule("high cpu!", "cpu_utilization", ">", 80)]
    with pytest.raises(ValueError, match="two alert rules share the name 'high cpu!'"):
        synth(lambda s: Alerts(s, "alerts", name="acme", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", rules=twins))


def test_alerts_make_one_alarm_per_rule_to_an_encrypted_topic_with_e_mail_subscriptions():
    rules = [AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300, "warning"),
             AlertRule("Model Inference Latency", "avg_inference_latency", ">", 0.5, 120, "critical")]
    target = AlarmTarget(group_name="acme-reco", load_balancer="app/acme/1", target_group="targetgroup/acme/2", serving=True)
    doc = synth(lambda s: Alerts(s, "alerts", name="acme", kms_key_arn="arn:k", rules=rules, target=target,
                                 email_endpoints=["oncall@acme.example"]))
    assert only(doc, "aws_sns_topic")["kms_master_key_id"] == "arn:k"
    sub = only(doc, "aws_sns_topic_subscription")
    assert (sub["protocol"], sub["endpoint"]) == ("email", "oncall@acme.example")
    alarms = {a["alarm_name"]: a for a in doc["resource"]["aws_cloudwatch_metric_alarm"].values()}
    gpu = alarms["acme-gpu-memory-exhaustion"]
    # how full GPU memory is: used over total (not utilization_memory, the share of time memory was busy)
    queries = {q["id"]: q for q in gpu["metric_query"]}
    assert queries["value"]["expression"] == "100 * used / total" and queries["value"]["return_data"] is True
    assert {q["metric"]["metric_name"]: q["metric"]["dimensions"] for q in gpu["metric_query"] if "metric" in q} == {
        "nvidia_smi_memory_used": {"AutoScalingGroupName": "acme-reco"}, "nvidia_smi_memory_total": {"AutoScalingGroupName": "acme-reco"}}
    assert (gpu["threshold"], gpu["evaluation_periods"], gpu["treat_missing_data"]) == (95, 5, "missing")
    latency = alarms["acme-model-inference-latency"]["metric_query"][0]["metric"]
    assert (latency["metric_name"], latency["dimensions"]) == ("TargetResponseTime", {"LoadBalancer": "app/acme/1"})
    with pytest.raises(ValueError, match="unknown metric 'gpu_mem'"):
        AlertRule("x", "gpu_mem", ">", 1)
    with pytest.raises(ValueError, match="several series"):
        AlertRule("x", "training_runs", ">", 1)


@pytest.mark.parametrize("metric, op, serving, missing", [
    ("healthy_nodes", "<", True, "breaching"),            # no datapoint from the load balancer: nothing is serving
    ("requests_per_second", "<", True, "breaching"),      # silence is the drop the rule is about
    ("inference_error_rate", ">", True, "notBreaching"),  # no requests, no errors
    ("gpu_utilization", ">", False, "notBreaching"),      # a scheduled group is empty between runs
    ("gpu_utilization", ">", True, "missing"),            # a serving node that reports nothing shows as such
    ("training_job_status", ">=", False, "notBreaching"),
])
def test_missing_data_is_treated_per_metric(metric, op, serving, missing):
    target = AlarmTarget(group_name="g", load_balancer="app/a/1", target_group="targetgroup/t/2", serving=serving)
    assert AlertRule("x", metric, op, 1).missing_data(target) == missing


def test_cost_per_prediction_is_instance_hours_at_the_plan_price_over_requests():
    target = AlarmTarget(group_name="g", load_balancer="app/a/1", node_hour_usd=0.8048, serving=True)
    queries = AlertRule("cost", "cost_per_prediction", ">", 0.001).queries(target)
    assert queries[-1]["expression"] == "nodes * 0.8048 * PERIOD(requests) / 3600 / requests"
    assert [q["metric"]["metric_name"] for q in queries[:-1]] == ["GroupInServiceInstances", "RequestCount"]


def test_budget_alerts_at_50_80_and_100_percent_and_at_the_specs_amounts():
    doc = synth(lambda s: Budget(s, "b", name="acme", monthly_limit_usd=3223.05, topic_arn="arn:topic", thresholds_usd=[5000],
                                 cost_filter_tags={"cost-scope": "acme-prod"}))
    b = only(doc, "aws_budgets_budget")
    assert b["limit_amount"] == "3223.05" and b["time_unit"] == "MONTHLY"
    actual = sorted((n["threshold_type"], n["threshold"]) for n in b["notification"] if n["notification_type"] == "ACTUAL")
    assert actual == [("ABSOLUTE_VALUE", 5000), ("PERCENTAGE", 50), ("PERCENTAGE", 80), ("PERCENTAGE", 100)]
    assert b["cost_filter"] == [{"name": "TagKeyValue", "values": ["user:cost-scope$acme-prod"]}]


# ---- a user's own stack -----------------------------------------------------------------------

def test_users_own_stack_uses_group_and_storage_without_a_spec(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "my-team-stack")
    provider(stack, "aws", AWS, region="us-west-2")
    key = EncryptionKey(stack, "key", alias="my-team")
    store = TieredStorage(stack, "datasets", name="my-team", kms_key_arn=key.arn, cold_after_days=180)
    ident = WorkloadIdentity(stack, "identity", name="my-team-train", bucket_arns=[store.arn], kms_key_arns=[key.arn])
    group = GpuInstanceGroup(stack, "trainers", name="my-team-train", instance_type="g6e.12xlarge", subnet_ids=["subnet-123"],
                             security_group_ids=["sg-123"], instance_profile_arn=ident.instance_profile_arn, kms_key_arn=key.arn,
                             max_size=4, image_id="ami-0123456789abcdef0")
    # Typed attributes let the user's own resources refer to and override ours.
    group.autoscaling_group.add_override("max_instance_lifetime", 604800)
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "my-team-stack" / "cdk.tf.json").read_text())
    asg = only(doc, "aws_autoscaling_group")
    assert asg["max_instance_lifetime"] == 604800
    assert "${aws_iam_instance_profile." in only(doc, "aws_launch_template")["iam_instance_profile"]["arn"]
    assert "aws_s3_bucket" in doc["resource"] and doc["provider"]["aws"][0]["region"] == "us-west-2"


def test_dashboard_rows_chart_the_alarms_queries_and_continue_past_100_widgets():
    from aiinfra.constructs.aws import Dashboard, DashboardRow

    target = AlarmTarget(group_name="acme-reco", load_balancer="app/acme/1", target_group="targetgroup/acme/2", node_hour_usd=0.8)
    rows = [DashboardRow(f"w{i}", "us-east-1", target, ("node_count", "gpu_memory_usage", "request_rate", "healthy_nodes"), planned_nodes=4)
            for i in range(30)]
    doc = synth(lambda s: Dashboard(s, "dash", name="acme-prod", rows=rows, monthly_budget_usd=3000))
    boards = sorted(doc["resource"]["aws_cloudwatch_dashboard"].values(), key=lambda b: b["dashboard_name"])
    assert [b["dashboard_name"] for b in boards] == ["acme-prod", "acme-prod-2"]
    bodies = [json.loads(b["dashboard_body"])["widgets"] for b in boards]
    assert all(len(w) <= 100 for w in bodies) and sum(len(w) for w in bodies) == 30 * 5 + 1
    first = bodies[0]
    assert first[0]["properties"]["markdown"] == "## w0" and first[1]["properties"]["annotations"]["horizontal"][0]["value"] == 4
    memory = first[2]["properties"]["metrics"]
    assert memory[-1][0]["expression"] == "100 * used / total"
    assert memory[0][:4] == ["CWAgent", "nvidia_smi_memory_used", "AutoScalingGroupName", "acme-reco"]
    assert bodies[-1][-1]["properties"]["metrics"][0][:2] == ["AWS/Billing", "EstimatedCharges"]
    # no two widgets of a dashboard overlap
    for widgets in bodies:
        cells = [(x, y) for w in widgets for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])]
        assert len(cells) == len(set(cells))
    with pytest.raises(ValueError, match="cannot chart gpu_fan"):
        Dashboard(TerraformStack(App(), "x"), "d", name="x", rows=[DashboardRow("w", "us-east-1", target, ("gpu_fan",))])


def test_dashboard_shows_the_workloads_alarms_by_arn_without_reading_their_stack():
    from aiinfra.constructs.aws import Dashboard, DashboardRow

    row = DashboardRow("w", "us-west-2", AlarmTarget(group_name="acme-train"), ("node_count",), alarm_names=("acme-train-run-failed",))
    doc = synth(lambda s: Dashboard(s, "dash", name="acme-prod", rows=[row]))
    widgets = json.loads(only(doc, "aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]
    (arn,) = next(w for w in widgets if w["type"] == "alarm")["properties"]["alarms"]
    assert re.fullmatch(r"arn:\$\{data\.aws_partition\.[^}]+\}:cloudwatch:us-west-2:\$\{data\.aws_caller_identity\.[^}]+\}:alarm:acme-train-run-failed", arn)


def test_group_launches_into_a_named_capacity_reservation_on_demand_only():
    doc = synth(lambda s: group_stack(s, capacity_reservation_id="cr-0123456789abcdef0"))
    template = only(doc, "aws_launch_template")
    assert template["capacity_reservation_specification"] == {"capacity_reservation_target": {"capacity_reservation_id": "cr-0123456789abcdef0"}}
    assert "capacity_reservation_specification" not in only(synth(group_stack), "aws_launch_template")
    assert "instance_market_options" not in template
    block = only(synth(lambda s: group_stack(s, capacity_reservation_id="cr-0123456789abcdef0", capacity_block=True)), "aws_launch_template")
    assert block["instance_market_options"] == {"market_type": "capacity-block"}
    with pytest.raises(ValueError, match="capacity_block needs the Capacity Block's id as capacity_reservation_id"):
        synth(lambda s: group_stack(s, capacity_block=True))
    with pytest.raises(ValueError, match="capacity_reservation_id launches on-demand nodes into the reservation; it cannot be combined with spot"):
        synth(lambda s: group_stack(s, capacity_reservation_id="cr-0123456789abcdef0", spot=SpotPool()))


# ---- homogeneous multi-node runs and placement limits ------------------------------------------

AMI = "ami-0123456789abcdef0"


def test_efa_group_refuses_a_spot_alternative_with_other_gpus_naming_both_shapes():
    pool = SpotPool(alternative_instance_types=["p5e.48xlarge"])
    with pytest.raises(ValueError) as err:
        synth(lambda s: group_stack(s, instance_type="p5.48xlarge", efa_interfaces=32, spot=pool, image_id=AMI))
    assert str(err.value).startswith("p5e.48xlarge (8x H200-141GB, 32 EFA) cannot join a multi-node run of p5.48xlarge "
                                     "(8x H100-80GB, 32 EFA): different GPU model (H200 vs H100), GPU memory (141 vs 80 GB);")
    assert "SpotPool(allow_heterogeneous=True)" in str(err.value)


def test_efa_group_refuses_p4de_beside_p4d_for_its_memory_and_a_placement_group_counts_as_multi_node():
    pool = SpotPool(alternative_instance_types=["p4de.24xlarge"])
    with pytest.raises(ValueError, match=r"p4de\.24xlarge \(8x A100-80GB, 4 EFA\) cannot join a multi-node run of p4d\.24xlarge "
                                         r"\(8x A100-40GB, 4 EFA\): different GPU memory \(80 vs 40 GB\)"):
        synth(lambda s: group_stack(s, efa_interfaces=4, spot=pool, image_id=AMI))
    with pytest.raises(ValueError, match="different GPU memory"):
        synth(lambda s: group_stack(s, placement_group_name="n-cluster", spot=pool, image_id=AMI))
    with pytest.raises(ValueError, match=r"different EFA interfaces \(16 vs 32\)"):
        synth(lambda s: group_stack(s, instance_type="p5e.48xlarge", efa_interfaces=32, image_id=AMI,
                                    spot=SpotPool(alternative_instance_types=["p5en.48xlarge"])))


def test_efa_group_takes_a_spot_alternative_with_the_same_gpus_and_efa():
    pool = SpotPool(alternative_instance_types=["g5.24xlarge"])  # 4x A10G-24GB and 1 EFA, as g5.12xlarge
    doc = synth(lambda s: group_stack(s, instance_type="g5.12xlarge", efa_interfaces=1, placement_group_name="n-cluster", spot=pool,
                                      image_id=AMI))
    overrides = only(doc, "aws_autoscaling_group")["mixed_instances_policy"]["launch_template"]["override"]
    assert [o["instance_type"] for o in overrides] == ["g5.12xlarge", "g5.24xlarge"]


def test_single_node_group_still_mixes_spot_alternatives():
    pool = SpotPool(alternative_instance_types=["p5e.48xlarge", "p6-unknown.48xlarge"])
    doc = synth(lambda s: group_stack(s, instance_type="p5.48xlarge", spot=pool, image_id=AMI))
    overrides = only(doc, "aws_autoscaling_group")["mixed_instances_policy"]["launch_template"]["override"]
    assert [o["instance_type"] for o in overrides] == ["p5.48xlarge", "p5e.48xlarge", "p6-unknown.48xlarge"]


def test_uncatalogued_alternative_is_refused_in_a_multi_node_group_unless_allowed():
    with pytest.raises(ValueError, match=r"p6-unknown\.48xlarge is not in the aiinfra catalog, so it cannot be checked against a "
                                         r"multi-node run of p5\.48xlarge .*allow_heterogeneous=True"):
        synth(lambda s: group_stack(s, instance_type="p5.48xlarge", efa_interfaces=32, image_id=AMI,
                                    spot=SpotPool(alternative_instance_types=["p6-unknown.48xlarge"])))
    mixed = SpotPool(alternative_instance_types=["p5e.48xlarge", "p6-unknown.48xlarge"], allow_heterogeneous=True)
    doc = synth(lambda s: group_stack(s, instance_type="p5.48xlarge", efa_interfaces=32, spot=mixed, image_id=AMI))
    overrides = only(doc, "aws_autoscaling_group")["mixed_instances_policy"]["launch_template"]["override"]
    assert [o["instance_type"] for o in overrides] == ["p5.48xlarge", "p5e.48xlarge", "p6-unknown.48xlarge"]


def test_cluster_placement_group_limits_come_with_their_source():
    # No per-group instance cap is documented: a large placement group synthesizes.
    asg = only(synth(lambda s: group_stack(s, instance_type="p5.48xlarge", efa_interfaces=32, placement_group_name="n-cluster",
                                           max_size=256, image_id=AMI)), "aws_autoscaling_group")
    assert asg["placement_group"] == "n-cluster" and asg["max_size"] == 256
    with pytest.raises(ValueError, match=r"max_size 2: t3\.large cannot use a cluster placement group \(source: "
                                         r"https://docs\.aws\.amazon\.com/AWSEC2/latest/UserGuide/placement-groups\.html"):
        synth(lambda s: group_stack(s, instance_type="t3.large", gpu=False, placement_group_name="n-cluster", image_id=AMI))
