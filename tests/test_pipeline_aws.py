"""The AWS data pipeline's ingestion and cache (issue 30): ``ScheduledIngestion`` (DataSync) and ``ServingCache``
(ElastiCache for Valkey), one test per behaviour on the synthesized JSON; the reference spec's plan through
``add_aws_pipeline`` beside its real foundation and serving stacks (the cache's clients are wired in their own stacks,
so nothing points back at the pipeline's dependants); one stack made by ``add_aws_pipeline`` validated with the aws
provider 5.100.0 and applied once against the patched moto server (tests/moto_patches/datasync.py and elasticache.py
serve what moto lacks), re-planned empty and destroyed, with what the local AWS API then holds read back; checkov on
the reference pipeline stack; policy rule AIINFRA-AWS-019.

Run on cdktf and on cdktn (marker ``cdk``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from aiinfra.cdk import App, TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import AWS, provider
from aiinfra.constructs.aws import ScheduledIngestion, ServingCache
from aiinfra.constructs.aws.cache import CLIENT_ACCESS, parameter_group_family
from aiinfra.constructs.aws.ingestion import EXECUTION_STATE_CHANGE, datasync_schedule, failed_execution_pattern
from aiinfra.policy.model import Result, StackView
from aiinfra.policy.rules import RULES_BY_ID
from aiinfra.stacks.state import STATE_DIR_CONTEXT
from tests.conftest import ROOT
from tests.test_checkov import CHECKOV, run_checkov
from tests.test_constructs_aws import synth
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, run_terraform  # noqa: F401

pytestmark = pytest.mark.cdk

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = "arn:aws:sns:us-east-1:123456789012:acme-alerts"
BUCKET = "arn:aws:s3:::acme-ml-prod-data"
PIPELINE = "acme-ml-production-aws-data-pipeline"


def of(doc: dict, rtype: str) -> dict:
    return doc.get("resource", {}).get(rtype, {})


def one(doc: dict, rtype: str, contains: str = "") -> dict:
    (body,) = [b for name, b in of(doc, rtype).items() if contains in name]
    return body


def ingestion(stack, **kw):
    props = dict(name="acme-ingest-0", source_bucket="raw-data-bucket", destination_bucket_arn=BUCKET, destination_prefix="staging/",
                 kms_key_arn=KEY, schedule="0 */6 * * *", alerts_topic_arn=TOPIC)
    return ScheduledIngestion(stack, "ingest", **{**props, **kw})


def cache(stack, **kw):
    props = dict(name="acme-cache-0", vpc_id="vpc-0123", subnet_ids=["subnet-a", "subnet-b"], kms_key_arn=KEY, node_type="cache.r7g.xlarge",
                 shards=5, replicas_per_shard=1, client_security_group_ids=["sg-0client"])
    return ServingCache(stack, "cache", **{**props, **kw})


@pytest.fixture(scope="module")
def doc() -> dict:
    return synth(lambda s: (ingestion(s), cache(s)))


# ---- ScheduledIngestion -------------------------------------------------------------------------

@pytest.mark.parametrize("cron, expected", [("0 */6 * * *", "cron(0 0,6,12,18 * * ? *)"), ("30 2 * * 1-5", "cron(30 2 ? * MON,TUE,WED,THU,FRI *)"),
                                            ("0 3 1 * *", "cron(0 3 1 * ? *)"), ("15 4 * * 0,6", "cron(15 4 ? * SUN,SAT *)"),
                                            ("0 3 * * */2", "cron(0 3 ? * SUN,TUE,THU,SAT *)"), ("0 3 * * 7", "cron(0 3 ? * SUN *)")])
def test_the_plans_cron_becomes_datasyncs_eventbridge_cron(cron, expected):
    assert datasync_schedule(cron) == expected


@pytest.mark.parametrize("cron, why", [("*/30 * * * *", "at most once an hour"), ("0 3 1 * 1", "both the day of the month"),
                                       ("0 25 * * *", "outside 0-23")])
def test_a_schedule_datasync_cannot_run_is_refused(cron, why):
    with pytest.raises(ValueError, match=why):
        datasync_schedule(cron)


def test_the_task_runs_on_the_schedule_moving_what_changed_verified_and_keeping_source_deletions(doc):
    task = one(doc, "aws_datasync_task")
    assert task["schedule"] == {"schedule_expression": "cron(0 0,6,12,18 * * ? *)"}
    assert task["options"] == {"verify_mode": "ONLY_FILES_TRANSFERRED", "transfer_mode": "CHANGED", "log_level": "BASIC",
                               "overwrite_mode": "ALWAYS", "preserve_deleted_files": "PRESERVE", "task_queueing": "ENABLED"}
    group = one(doc, "aws_cloudwatch_log_group", "ingest")
    assert group["name"] == "/aws/datasync/acme-ingest-0" and group["kms_key_id"] == KEY and group["retention_in_days"] == 365
    assert task["cloudwatch_log_group_arn"].startswith("${aws_cloudwatch_log_group.ingest_logs")
    policy = json.loads(one(doc, "aws_cloudwatch_log_resource_policy")["policy_document"])
    (stmt,) = policy["Statement"]
    assert stmt["Principal"] == {"Service": "datasync.amazonaws.com"} and set(stmt["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}


def test_the_source_role_only_reads_the_source_prefix_and_the_destination_role_only_writes_its_prefix_with_the_key():
    doc = synth(lambda s: ingestion(s, source_prefix="exports/daily"))
    src = one(doc, "aws_datasync_location_s3", "source")
    dst = one(doc, "aws_datasync_location_s3", "destination")
    assert src["s3_bucket_arn"].endswith(":s3:::raw-data-bucket") and src["subdirectory"] == "/exports/daily/"
    assert (dst["s3_bucket_arn"], dst["subdirectory"]) == (BUCKET, "/staging/")
    policies = {b["name"]: json.loads(b["policy"])["Statement"] for b in of(doc, "aws_iam_role_policy").values()}
    read = policies["acme-ingest-0-source-s3"]
    actions = {a for s in read for a in s["Action"]}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "s3:Abort")) for a in actions)
    assert {s["Resource"].split(":", 2)[2] for s in read} == {"s3:::raw-data-bucket", "s3:::raw-data-bucket/exports/daily/*"}
    write = {s["Sid"]: s for s in policies["acme-ingest-0-destination-s3"]}
    assert write["WriteIngestionPrefix"]["Resource"] == f"{BUCKET}/staging/*" and "s3:PutObject" in write["WriteIngestionPrefix"]["Action"]
    assert write["UseDataKey"] == {"Sid": "UseDataKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": KEY}
    for role in of(doc, "aws_iam_role").values():
        (trust,) = json.loads(role["assume_role_policy"])["Statement"]
        assert trust["Principal"] == {"Service": "datasync.amazonaws.com"} and "aws:SourceAccount" in trust["Condition"]["StringEquals"]


def test_a_failed_run_of_this_task_is_routed_to_the_alerts_topic(doc):
    rule = one(doc, "aws_cloudwatch_event_rule")
    pattern = json.loads(rule["event_pattern"])
    assert pattern["source"] == ["aws.datasync"] and pattern["detail-type"] == [EXECUTION_STATE_CHANGE] == ["DataSync Task Execution State Change"]
    assert pattern["detail"] == {"State": ["ERROR"]}
    assert pattern["resources"][0]["prefix"].endswith("/execution/") and "aws_datasync_task.ingest_task" in pattern["resources"][0]["prefix"]
    target = one(doc, "aws_cloudwatch_event_target")
    assert target["arn"] == TOPIC and "role_arn" not in target
    assert failed_execution_pattern("arn:t")["resources"] == [{"prefix": "arn:t/execution/"}]


def test_ingestion_bad_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        synth(lambda s: ingestion(s, name="bad name!", source_bucket="Bad_Bucket", destination_prefix="/", verify_mode="SOMETIMES",
                                  schedule="*/10 * * * *"))
    text = str(err.value)
    for what in ("name must be", "source_bucket must be", "destination_prefix must name", "verify_mode must be", "at most once an hour"):
        assert what in text


# ---- ServingCache -----------------------------------------------------------------------------

def test_the_group_is_valkey_in_cluster_mode_encrypted_with_the_key_and_tls_required(doc):
    group = one(doc, "aws_elasticache_replication_group")
    assert (group["engine"], group["engine_version"], group["cluster_mode"]) == ("valkey", "8.0", "enabled")
    assert (group["num_node_groups"], group["replicas_per_node_group"], group["node_type"]) == (5, 1, "cache.r7g.xlarge")
    assert group["at_rest_encryption_enabled"] == "true" and group["kms_key_id"] == KEY
    assert group["transit_encryption_enabled"] is True and group["transit_encryption_mode"] == "required"
    assert group["automatic_failover_enabled"] is True and group["multi_az_enabled"] is True
    assert group["snapshot_retention_limit"] == 1 and group["port"] == 6379
    logs = {c["log_type"]: c for c in group["log_delivery_configuration"]}
    assert set(logs) == {"slow-log", "engine-log"} and all(c["destination_type"] == "cloudwatch-logs" for c in logs.values())
    assert one(doc, "aws_cloudwatch_log_group", "cache")["kms_key_id"] == KEY


def test_clients_authenticate_with_iam_as_a_user_whose_id_is_its_name_in_the_attached_group(doc):
    user = one(doc, "aws_elasticache_user")
    assert user["user_id"] == user["user_name"] == "acme-cache-0-app" and user["authentication_mode"] == {"type": "iam"}
    assert user["engine"] == "valkey" and user["access_string"] == CLIENT_ACCESS
    users = one(doc, "aws_elasticache_user_group")
    assert users["engine"] == "valkey" and users["user_ids"] == ["${aws_elasticache_user.cache_user_C4C4BAC2.user_id}"]
    assert one(doc, "aws_elasticache_replication_group")["user_group_ids"] == ["${aws_elasticache_user_group.cache_users_DDAD368D.user_group_id}"]


def test_a_redis_group_also_holds_the_disabled_default_user_redis_requires():
    doc = synth(lambda s: cache(s, engine="redis", engine_version="7.1"))
    users = {u["user_name"]: u for u in of(doc, "aws_elasticache_user").values()}
    assert users["default"]["access_string"] == "off -@all" and len(one(doc, "aws_elasticache_user_group")["user_ids"]) == 2
    assert one(doc, "aws_elasticache_parameter_group")["family"] == "redis7"


def test_parameters_enable_cluster_mode_and_the_eviction_policy_for_the_engines_family(doc):
    params = one(doc, "aws_elasticache_parameter_group")
    assert params["family"] == parameter_group_family("valkey", "8.0") == "valkey8"
    assert {p["name"]: p["value"] for p in params["parameter"]} == {"cluster-enabled": "yes", "maxmemory-policy": "volatile-ttl"}


def test_only_client_groups_reach_port_6379_and_the_cache_talks_to_nobody(doc):
    sg = one(doc, "aws_security_group")
    assert "ingress" not in sg and "egress" not in sg
    (rule,) = of(doc, "aws_vpc_security_group_ingress_rule").values()
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"], rule["referenced_security_group_id"]) == (6379, 6379, "tcp", "sg-0client")
    assert one(doc, "aws_elasticache_subnet_group")["subnet_ids"] == ["subnet-a", "subnet-b"]


def test_a_client_in_another_stack_gets_ingress_egress_and_connect_on_the_group_and_the_user_there():
    app = CdkTesting.app()
    cache_stack, client_stack = TerraformStack(app, "cache"), TerraformStack(app, "client")
    for s in (cache_stack, client_stack):
        provider(s, "aws", AWS, region="us-east-1")
    made = cache(cache_stack, client_security_group_ids=())
    made.allow_client(client_stack, "cache-client", security_group_id="sg-0nodes", role_name="acme-serve")
    cache_doc, client_doc = json.loads(CdkTesting.synth(cache_stack)), json.loads(CdkTesting.synth(client_stack))
    assert "aws_vpc_security_group_ingress_rule" not in cache_doc["resource"] and "terraform_remote_state" not in cache_doc.get("data", {})
    rule_in = one(client_doc, "aws_vpc_security_group_ingress_rule")
    rule_out = one(client_doc, "aws_vpc_security_group_egress_rule")
    assert rule_in["referenced_security_group_id"] == "sg-0nodes" and rule_out["security_group_id"] == "sg-0nodes"
    assert rule_out["from_port"] == rule_out["to_port"] == 6379
    connect = one(client_doc, "aws_iam_role_policy")
    assert connect["role"] == "acme-serve"
    (stmt,) = json.loads(connect["policy"])["Statement"]
    assert stmt["Action"] == ["elasticache:Connect"] and len(stmt["Resource"]) == 2  # the group and the user
    assert made.client_policy_statement["Resource"] == [made.arn, made.user_arn]


def test_without_a_replica_the_group_stays_in_one_zone_and_multi_az_is_refused():
    single = one(synth(lambda s: cache(s, replicas_per_shard=0)), "aws_elasticache_replication_group")
    assert single["multi_az_enabled"] is False and single["automatic_failover_enabled"] is True  # cluster mode always fails over
    with pytest.raises(ValueError, match="multi_az needs a replica"):
        synth(lambda s: cache(s, replicas_per_shard=0, multi_az=True))


def test_cache_bad_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        synth(lambda s: cache(s, name="Cache_0", engine="memcached", node_type="r7g.large", shards=0, replicas_per_shard=6,
                              eviction_policy="lru", subnet_ids=[]))
    text = str(err.value)
    for what in ("name must be", "engine must be", "node_type must be", "shards must be", "replicas_per_shard must be",
                 "eviction_policy must be", "subnet_ids must"):
        assert what in text
    with pytest.raises(ValueError, match="IAM authentication needs"):
        synth(lambda s: cache(s, engine="redis", engine_version="6.2"))


# ---- the reference spec through add_aws_pipeline -----------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The reference plan's AWS foundation, serving stack and data-pipeline stack, synthesized."""
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec
    from aiinfra.stacks.aws import AwsFoundation, AwsWorkload
    from aiinfra.stacks.pipeline_aws import add_aws_pipeline

    loaded = load_spec(ROOT / "examples" / "reference.yaml")
    spec, plan = loaded.spec, make_plan(loaded)
    out = tmp_path_factory.mktemp("pipeline-synth")
    app = App(outdir=str(out), context={STATE_DIR_CONTEXT: str(out)})
    mine = [w for w in plan.workloads if w.cloud == "aws"]
    foundation = AwsFoundation(app, spec, plan, spec.clouds.aws.region, mine, next(s for s in plan.storage if s.cloud == "aws"), True)
    serving = {w.name: AwsWorkload(app, spec, w, foundation) for w in mine if w.type == "inference"}
    caches: dict = {}
    names, notes = add_aws_pipeline(app, spec, plan, foundation, serving, caches=caches)
    app.synth()
    stacks = out / "stacks"
    return {"names": names, "notes": notes, "plan": plan, "caches": caches, "stacks": stacks,
            "doc": json.loads((stacks / PIPELINE / "cdk.tf.json").read_text()),
            "serving": {n: json.loads((stacks / f"acme-ml-production-aws-{n}" / "cdk.tf.json").read_text()) for n in serving}}


def test_the_reference_plan_gets_one_pipeline_stack_with_its_ingestion_and_cache_as_planned(reference):
    assert reference["names"] == [PIPELINE]
    doc, plan = reference["doc"], reference["plan"]
    (ingest,) = plan.pipeline_parts("aws", "ingestion")
    (part,) = plan.pipeline_parts("aws", "cache")
    task = one(doc, "aws_datasync_task")
    assert task["schedule"]["schedule_expression"] == datasync_schedule(ingest.settings["schedule"])
    src = one(doc, "aws_datasync_location_s3", "source")
    assert src["s3_bucket_arn"].endswith(f":s3:::{ingest.settings['source_bucket']}")
    assert one(doc, "aws_datasync_location_s3", "destination")["subdirectory"] == f"/{ingest.settings['destination_prefix']}"
    group = one(doc, "aws_elasticache_replication_group")
    s = part.settings
    assert (group["num_node_groups"], group["replicas_per_node_group"], group["node_type"], group["engine"], group["engine_version"]) == \
        (s["shards"], s["replicas_per_shard"], s["node_type"], s["engine"], s["engine_version"])
    params = {p["name"]: p["value"] for p in one(doc, "aws_elasticache_parameter_group")["parameter"]}
    assert params["maxmemory-policy"] == s["eviction_policy"]
    # the foundation's key, bucket, network and topic, across stacks
    assert "terraform_remote_state" in doc["data"] and "${local." in group["kms_key_id"]
    assert "cache-0_endpoint" in doc["output"] and "ingestion_0_source_role_arn" in doc["output"]


def test_the_serving_stack_holds_its_cache_access_so_the_pipeline_never_depends_on_it(reference):
    doc, (serve,) = reference["doc"], reference["serving"].values()
    reads = {r["config"]["path"] for r in doc["data"]["terraform_remote_state"].values()}
    assert all("foundation" in p for p in reads), reads  # no workload stack: the serving stacks may read the cache's endpoint
    serve_reads = {r["config"]["path"] for r in serve["data"]["terraform_remote_state"].values()}
    assert any(PIPELINE in p for p in serve_reads)
    assert one(serve, "aws_vpc_security_group_egress_rule", "cache")["from_port"] == 6379
    assert one(serve, "aws_vpc_security_group_ingress_rule", "cache")["to_port"] == 6379
    (stmt,) = json.loads(one(serve, "aws_iam_role_policy", "cache")["policy"])["Statement"]
    assert stmt["Action"] == ["elasticache:Connect"]
    (client,) = reference["caches"]
    cache_, part = reference["caches"][client]
    assert part.settings["ttl_seconds"] == 86400 and cache_.endpoint.endswith(":6379")


def test_without_serving_stacks_the_caches_are_handed_back_for_each_client_to_wire_itself(tmp_path):
    """stacks/aws.py builds the pipeline before the serving stacks (serving=None) and has each wire its own access."""
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec
    from aiinfra.stacks.aws import AwsFoundation
    from aiinfra.stacks.pipeline_aws import add_aws_pipeline

    loaded = load_spec(ROOT / "examples" / "reference.yaml")
    spec, plan = loaded.spec, make_plan(loaded)
    app = App(outdir=str(tmp_path), context={STATE_DIR_CONTEXT: str(tmp_path)})
    mine = [w for w in plan.workloads if w.cloud == "aws"]
    foundation = AwsFoundation(app, spec, plan, spec.clouds.aws.region, mine, next(s for s in plan.storage if s.cloud == "aws"), True)
    caches: dict = {}
    names, notes = add_aws_pipeline(app, spec, plan, foundation, None, caches)
    (part,) = plan.pipeline_parts("aws", "cache")
    assert names == [PIPELINE] and set(caches) == set(part.settings["clients"]) == {"recommendation-inference"}
    assert not any("has no serving stack" in n for n in notes)
    cache_, got = caches["recommendation-inference"]
    assert got is part and isinstance(cache_, ServingCache)


def test_the_notes_say_how_clients_connect_and_what_a_foreign_source_bucket_must_allow(reference):
    notes = " ".join(reference["notes"])
    assert "IAM token" in notes and "volatile-ttl" in notes and "86400 s TTL" in notes
    assert "ingestion_0_source_role_arn" in notes and "cron(0 0,6,12,18 * * ? *)" in notes


@pytest.mark.skipif(CHECKOV is None, reason="checkov is not installed (make setup puts it in .venv-checkov)")
def test_checkov_passes_on_the_pipeline_stack_with_its_cache_checks_run(reference, tmp_path):
    stack_dir = tmp_path / "stacks" / PIPELINE
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(reference["doc"]))
    results = [r["results"] for r in run_checkov(tmp_path / "stacks") if "results" in r]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in results for c in r.get("failed_checks", [])]
    assert not failed, failed
    passed = {c["check_id"] for r in results for c in r.get("passed_checks", [])}
    assert {"CKV_AWS_29", "CKV_AWS_30", "CKV_AWS_191"} <= passed  # at rest, in transit, with a customer key


# ---- validate and one apply of a stack add_aws_pipeline makes -----------------------------------

@pytest.fixture(scope="module")
def applied(tmp_path_factory, moto_server) -> dict:  # noqa: F811
    """A foundation's pieces made in the local AWS API, the reference plan's pipeline stack built on them, validated, applied,
    re-planned empty and destroyed; what the server held after the apply."""
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec
    from aiinfra.stacks.pipeline_aws import add_aws_pipeline

    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    key = moto_server.client("kms").create_key(Description="pipeline test")["KeyMetadata"]["Arn"]
    moto_server.client("s3").create_bucket(Bucket="acme-ml-prod-pipeline-data")
    topic = moto_server.client("sns").create_topic(Name="acme-ml-prod-pipeline-alerts")["TopicArn"]
    foundation = SimpleNamespace(name="acme-ml-prod", key=SimpleNamespace(arn=key), alerts=SimpleNamespace(topic_arn=topic),
                                 network=SimpleNamespace(vpc_id=vpc, private_subnet_ids=subnets),
                                 storage=SimpleNamespace(arn="arn:aws:s3:::acme-ml-prod-pipeline-data"))
    loaded = load_spec(ROOT / "examples" / "reference.yaml")
    spec, plan = loaded.spec, make_plan(loaded)
    plan.pipeline = [p for p in plan.pipeline if p.part in ("ingestion", "cache")]  # the CDN part has its own module's test
    out = tmp_path_factory.mktemp("pipeline-apply")
    app = App(outdir=str(out), context={STATE_DIR_CONTEXT: str(out)})
    (name,), _ = add_aws_pipeline(app, spec, plan, foundation, {})
    app.synth()
    stack_dir = out / "stacks" / name
    init(stack_dir, backend=False)
    validated = json.loads(run_terraform(["validate", "-json"], stack_dir).stdout)
    seen: dict = {"valid": validated["valid"], "diagnostics": validated["diagnostics"], "key": key, "subnets": subnets,
                  "part": next(p for p in plan.pipeline if p.part == "cache")}

    def capture(outputs: dict) -> None:
        ec, ds = moto_server.client("elasticache"), moto_server.client("datasync")
        seen["outputs"] = outputs
        (seen["group"],) = ec.describe_replication_groups(ReplicationGroupId="acme-ml-prod-cache-0")["ReplicationGroups"]
        seen["user_groups"] = {g["UserGroupId"]: g for g in ec.describe_user_groups()["UserGroups"]}
        seen["users"] = {u["UserId"]: u for u in ec.describe_users()["Users"]}
        seen["params"] = {p["ParameterName"]: p["ParameterValue"] for p in
                          ec.describe_cache_parameters(CacheParameterGroupName="acme-ml-prod-cache-0", Source="user")["Parameters"]}
        (task,) = ds.list_tasks()["Tasks"]
        seen["task"] = ds.describe_task(TaskArn=task["TaskArn"])
        seen["locations"] = {arn: ds.describe_location_s3(LocationArn=arn)["LocationUri"]
                             for arn in (seen["task"]["SourceLocationArn"], seen["task"]["DestinationLocationArn"])}
        seen["task_tags"] = {t["Key"]: t["Value"] for t in ds.list_tags_for_resource(ResourceArn=task["TaskArn"])["Tags"]}
        rules = moto_server.client("events").list_rules(NamePrefix="acme-ml-prod-ingest-0")["Rules"]
        seen["rule_patterns"] = [json.loads(r["EventPattern"]) for r in rules]

    apply_plan_destroy(stack_dir, moto_server.env(), after_apply=capture, timeout=600)
    seen["after_destroy"] = moto_server.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    return seen


@SKIP_NO_TERRAFORM
def test_the_pipeline_stack_validates_with_the_aws_provider(applied):
    assert applied["valid"] is True and applied["diagnostics"] == []


@SKIP_NO_TERRAFORM
def test_the_applied_cache_is_encrypted_with_the_key_requires_tls_and_authenticates_through_its_user_group(applied):
    group = applied["group"]
    assert group["AtRestEncryptionEnabled"] is True and group["KmsKeyId"] == applied["key"]
    assert group["TransitEncryptionEnabled"] is True and group["TransitEncryptionMode"] == "required"
    assert group["UserGroupIds"] == ["acme-ml-prod-cache-0-users"] and group["ClusterEnabled"] is True
    s = applied["part"].settings
    assert len(group["NodeGroups"]) == s["shards"] and group["MultiAZ"] == "enabled"
    users = applied["user_groups"]["acme-ml-prod-cache-0-users"]
    assert users["UserIds"] == ["acme-ml-prod-cache-0-app"] and users["ReplicationGroups"] == ["acme-ml-prod-cache-0"]
    assert applied["users"]["acme-ml-prod-cache-0-app"]["Authentication"]["Type"] == "iam"
    assert applied["params"] == {"cluster-enabled": "yes", "maxmemory-policy": s["eviction_policy"]}
    assert applied["after_destroy"] == []


@SKIP_NO_TERRAFORM
def test_the_applied_task_runs_on_the_plans_schedule_from_the_source_to_the_staging_prefix(applied):
    task = applied["task"]
    assert task["Schedule"]["ScheduleExpression"] == "cron(0 0,6,12,18 * * ? *)"
    assert task["Options"]["TransferMode"] == "CHANGED" and task["Options"]["VerifyMode"] == "ONLY_FILES_TRANSFERRED"
    assert task["CloudWatchLogGroupArn"].endswith(":log-group:/aws/datasync/acme-ml-prod-ingest-0")
    assert applied["locations"][task["SourceLocationArn"]] == "s3://raw-data-bucket/"
    assert applied["locations"][task["DestinationLocationArn"]] == "s3://acme-ml-prod-pipeline-data/staging/"
    assert applied["task_tags"]["managed-by"] == "aiinfra"
    (pattern,) = applied["rule_patterns"]
    assert pattern["detail"] == {"State": ["ERROR"]} and pattern["resources"] == [{"prefix": f"{task['TaskArn']}/execution/"}]


# ---- AIINFRA-AWS-019, AIINFRA-AWS-020 ------------------------------------------------------------

def _judge(body: dict, rule_id: str = "AIINFRA-AWS-019", rtype: str = "aws_elasticache_replication_group") -> list[Result]:
    rule = RULES_BY_ID[rule_id]
    view = StackView.from_json("s", {"resource": {rtype: {"g": body}}})
    return [rule.evaluate(r, view)[0] for r in view.resources if r.type in rule.types]


def test_rule_019_passes_the_constructs_group_and_fails_each_missing_protection(doc):
    good = one(doc, "aws_elasticache_replication_group")
    assert _judge(good) == [Result.COMPLIANT]
    for change in ({"kms_key_id": None}, {"at_rest_encryption_enabled": "false"}, {"transit_encryption_enabled": False},
                   {"transit_encryption_mode": "preferred"}, {"user_group_ids": None}):
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        assert _judge(body) == [Result.NON_COMPLIANT], change
    assert _judge({**{k: v for k, v in good.items() if k != "user_group_ids"}, "auth_token": "${var.token}"}) == [Result.COMPLIANT]


def test_rule_020_passes_the_constructs_task_and_fails_one_that_skips_verification_or_logs_nothing(doc):
    good = one(doc, "aws_datasync_task")
    judge = lambda body: _judge(body, "AIINFRA-AWS-020", "aws_datasync_task")  # noqa: E731
    assert judge(good) == [Result.COMPLIANT]
    assert judge({**good, "options": {**good["options"], "verify_mode": "NONE"}}) == [Result.NON_COMPLIANT]
    assert judge({**good, "options": {**good["options"], "log_level": "OFF"}}) == [Result.NON_COMPLIANT]
    assert judge({k: v for k, v in good.items() if k != "cloudwatch_log_group_arn"}) == [Result.NON_COMPLIANT]
    assert judge({k: v for k, v in good.items() if k != "options"}) == [Result.NON_COMPLIANT]  # the provider's log_level default is OFF
