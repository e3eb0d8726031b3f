"""The GCP data pipeline apart from Spark (issue 30): Storage Transfer ingestion, the Memorystore for Redis Cluster cache,
Cloud CDN on a backend bucket, and the <prefix>-gcp-data-pipeline stack. The google provider binary is absent: every
synthesized stack goes through the schema oracle (tests/gcp_schema.py) and the tests assert the values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiinfra.cdk import App
from aiinfra.constructs.gcp import (ClusterNetwork, EncryptionKey, InferenceEndpoint, ScheduledIngestion, ServingCache,
                                    StaticContentCdn)
from aiinfra.constructs.gcp.ingestion import AwsAccessKey, transfer_schedule
from aiinfra.constructs.gcp.project_services import service_for
from aiinfra.policy import Result
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.test_constructs_gcp import each, only, synth  # one synth of a stack with the google provider, schema-checked
from tests.test_policy import results as judged  # one rule's results on a stack

PROJECT = "acme-ml-prod"
REGION = "us-central1"


def ingestion(stack, **kw):
    args = dict(project=PROJECT, name="acme-prod-ingest-0", source_bucket="raw-data-bucket", destination_bucket="acme-data",
                destination_prefix="staging/", cron="0 */6 * * *", role_arn="arn:aws:iam::123456789012:role/gcs-transfer",
                notification_channels=["projects/acme-ml-prod/notificationChannels/1"])
    args.update(kw)
    return ScheduledIngestion(stack, "ingest", **args)


# ---- Storage Transfer Service ----------------------------------------------------------------

def test_transfer_schedule_is_exact_for_intervals_dividing_a_day_and_an_even_interval_otherwise():
    six = transfer_schedule("0 */6 * * *")
    assert (six.exact, six.repeat_seconds, six.start_time.hour, six.start_time.minute) == (True, 21600, 0, 0)
    assert six.block()["repeat_interval"] == "21600s" and six.block()["start_time_of_day"] == {"hours": 0, "minutes": 0, "seconds": 0, "nanos": 0}
    daily = transfer_schedule("30 2 * * *")
    assert (daily.exact, daily.repeat_seconds, daily.start_time.hour, daily.start_time.minute) == (True, 86400, 2, 30)
    weekly = transfer_schedule("0 1 * * 6")  # the interval is a week, the weekday is lost: not exact
    assert (weekly.exact, weekly.repeat_seconds, weekly.start_date.isoweekday()) == (False, 604800, 6)
    half_hourly = transfer_schedule("*/30 * * * *")  # under Storage Transfer's one-hour minimum
    assert (half_hourly.exact, half_hourly.repeat_seconds) == (False, 3600)
    weekdays = transfer_schedule("0 9 * * 1-5")  # uneven gaps: ~21.7 runs a month -> every 34 h
    assert not weekdays.exact and weekdays.repeat_seconds == 34 * 3600 and weekdays.describe() == "every 34 h from 09:00 UTC"


def test_ingestion_copies_the_s3_prefix_into_the_bucket_prefix_with_the_role_on_the_cron_schedule():
    doc = synth(lambda s: ingestion(s, source_prefix="events/"))
    job = only(doc, "google_storage_transfer_job")
    assert job["name"] == "transferJobs/acme-prod-ingest-0" and job["status"] == "ENABLED"
    s3 = job["transfer_spec"]["aws_s3_data_source"]
    assert s3 == {"bucket_name": "raw-data-bucket", "path": "events/", "role_arn": "arn:aws:iam::123456789012:role/gcs-transfer"}
    assert job["transfer_spec"]["gcs_data_sink"] == {"bucket_name": "acme-data", "path": "staging/"}
    assert job["transfer_spec"]["transfer_options"]["delete_objects_from_source_after_transfer"] is False
    assert job["schedule"]["repeat_interval"] == "21600s" and job["schedule"]["start_time_of_day"]["hours"] == 0
    assert job["logging_config"] == {"log_actions": ["FIND", "COPY"], "log_action_states": ["FAILED"]}
    assert judged("AIINFRA-GCP-023", doc) == [Result.COMPLIANT]
    quiet = json.loads(json.dumps(doc))
    next(iter(quiet["resource"]["google_storage_transfer_job"].values()))["logging_config"] = {"log_actions": ["COPY"], "log_action_states": []}
    assert judged("AIINFRA-GCP-023", quiet) == [Result.NON_COMPLIANT]


def test_an_access_key_is_used_only_when_no_role_is_given():
    doc = synth(lambda s: ingestion(s, role_arn='${var.role == "" ? null : var.role}',
                                    access_key=AwsAccessKey("${var.key_id}", "${var.secret}", when='${var.role == ""}')))
    s3 = only(doc, "google_storage_transfer_job")["transfer_spec"]["aws_s3_data_source"]
    assert s3["role_arn"] == '${var.role == "" ? null : var.role}'
    assert s3["dynamic"]["aws_access_key"] == {"for_each": '${var.role == "" ? [1] : []}',
                                               "content": {"access_key_id": "${var.key_id}", "secret_access_key": "${var.secret}"}}
    plain = synth(lambda s: ingestion(s, role_arn=None, access_key=AwsAccessKey("${var.key_id}", "${var.secret}")))
    assert only(plain, "google_storage_transfer_job")["transfer_spec"]["aws_s3_data_source"]["aws_access_key"]["access_key_id"] == "${var.key_id}"


def test_the_transfer_agent_gets_the_sink_roles_on_the_bucket_before_the_job_and_no_key():
    doc = synth(lambda s: ingestion(s))
    grants = each(doc, "google_storage_bucket_iam_member")
    assert sorted(g["role"] for g in grants) == ["roles/storage.legacyBucketWriter", "roles/storage.objectViewer"]
    assert {g["bucket"] for g in grants} == {"acme-data"}
    (member,) = {g["member"] for g in grants}
    assert member.startswith("serviceAccount:${data.google_storage_transfer_project_service_account.") and member.endswith(".email}")
    assert len(only(doc, "google_storage_transfer_job")["depends_on"]) == 2
    assert "google_kms_crypto_key_iam_member" not in doc["resource"]  # the Cloud Storage agent encrypts with the bucket's key
    gcs = synth(lambda s: ingestion(s, role_arn=None, source_bucket="acme-landing", source_is_gcs=True))
    job = only(gcs, "google_storage_transfer_job")
    assert "aws_s3_data_source" not in job["transfer_spec"] and job["transfer_spec"]["gcs_data_source"]["bucket_name"] == "acme-landing"
    source = [g for g in each(gcs, "google_storage_bucket_iam_member") if g["bucket"] == "acme-landing"]
    assert sorted(g["role"] for g in source) == ["roles/storage.legacyBucketReader", "roles/storage.objectViewer"]


def test_failed_transfer_actions_raise_a_log_match_policy_into_the_channels():
    policy = only(synth(lambda s: ingestion(s)), "google_monitoring_alert_policy")
    (condition,) = policy["conditions"]
    assert condition["condition_matched_log"]["filter"] == (
        'resource.type="storage_transfer_job" AND (resource.labels.job_id="transferJobs/acme-prod-ingest-0" OR '
        'resource.labels.job_id="acme-prod-ingest-0") AND severity>=ERROR')
    assert policy["notification_channels"] == ["projects/acme-ml-prod/notificationChannels/1"]
    assert policy["alert_strategy"]["notification_rate_limit"] == {"period": "3600s"}  # required by a log-match condition


def test_ingestion_reports_every_bad_input_at_once():
    with pytest.raises(ValueError) as e:
        synth(lambda s: ingestion(s, name="bad name", source_prefix="/x", role_arn=None, overwrite_when="SOMETIMES"))
    text = str(e.value)
    for part in ("name must be", "source_prefix must be empty", "role_arn or access_key is required", "overwrite_when must be"):
        assert part in text


# ---- Memorystore for Redis Cluster -------------------------------------------------------------

def cache_stack(stack, **kw):
    key = EncryptionKey(stack, "key", project=PROJECT, location=REGION, name="acme-data")
    net = ClusterNetwork(stack, "net", project=PROJECT, name="acme", region=REGION)
    args = dict(project=PROJECT, name="acme-prod-cache-0", region=REGION, network=net.network_id, subnetwork=net.subnetwork_self_link,
                kms_key_id=key.id, shard_count=4, replica_count=1, node_type="redis-highmem-medium",
                client_members=["serviceAccount:reco@acme-ml-prod.iam.gserviceaccount.com"])
    args.update(kw)
    return ServingCache(stack, "cache", **args)


def test_cache_is_a_cmek_tls_iam_multi_zone_cluster_on_the_network_with_volatile_ttl():
    doc = synth(cache_stack)
    c = only(doc, "google_redis_cluster")
    assert (c["shard_count"], c["replica_count"], c["node_type"]) == (4, 1, "REDIS_HIGHMEM_MEDIUM")
    assert c["kms_key"].startswith("${google_kms_crypto_key.key_") and c["kms_key"].endswith(".id}")
    assert c["transit_encryption_mode"] == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
    assert c["authorization_mode"] == "AUTH_MODE_IAM_AUTH"
    assert c["zone_distribution_config"] == {"mode": "MULTI_ZONE"} and c["redis_configs"] == {"maxmemory-policy": "volatile-ttl"}
    (psc,) = c["psc_configs"]
    assert psc["network"].startswith("${google_compute_network.net_") and psc["network"].endswith(".id}")
    assert c["deletion_protection_enabled"] is True
    policy = only(doc, "google_network_connectivity_service_connection_policy")
    assert policy["service_class"] == "gcp-memorystore-redis" and policy["location"] == REGION
    assert policy["psc_config"]["subnetworks"][0].startswith("${google_compute_subnetwork.")
    assert any(d.startswith("google_network_connectivity_service_connection_policy.") for d in c["depends_on"])
    assert judged("AIINFRA-GCP-022", doc) == [Result.COMPLIANT]
    for weaken in ({"kms_key": None}, {"transit_encryption_mode": "TRANSIT_ENCRYPTION_MODE_DISABLED"}, {"authorization_mode": "AUTH_MODE_DISABLED"}):
        weak = json.loads(json.dumps(doc))
        body = next(iter(weak["resource"]["google_redis_cluster"].values()))
        body.update({k: v for k, v in weaken.items() if v is not None})
        for k in [k for k, v in weaken.items() if v is None]:
            body.pop(k)
        assert judged("AIINFRA-GCP-022", weak) == [Result.NON_COMPLIANT], weaken


def test_cache_grants_its_key_to_the_redis_agent_and_the_connect_role_to_its_clients():
    doc = synth(cache_stack)
    agent = [g for g in each(doc, "google_kms_crypto_key_iam_member") if "cloud-redis" in g["member"]]
    assert len(agent) == 1 and agent[0]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert agent[0]["member"] == "serviceAccount:service-${data.google_project.gcp-project-acme-ml-prod.number}@cloud-redis.iam.gserviceaccount.com"
    assert any(d.startswith("google_kms_crypto_key_iam_member.") for d in only(doc, "google_redis_cluster")["depends_on"])
    (client,) = each(doc, "google_project_iam_member")
    assert (client["role"], client["member"]) == ("roles/redis.dbConnectionUser", "serviceAccount:reco@acme-ml-prod.iam.gserviceaccount.com")


def test_a_second_cache_on_the_network_reuses_the_connection_policy():
    def two(stack):
        first = cache_stack(stack)
        ServingCache(stack, "cache-1", project=PROJECT, name="acme-prod-cache-1", region=REGION, network="projects/p/global/networks/n",
                     subnetwork="s", kms_key_id="k", shard_count=1, connection_policy=False, depends_on=[first.connection_policy])
    doc = synth(two)
    assert len(each(doc, "google_network_connectivity_service_connection_policy")) == 1
    assert len(each(doc, "google_redis_cluster")) == 2


def test_cache_reports_every_bad_size_at_once():
    with pytest.raises(ValueError) as e:
        synth(lambda s: cache_stack(s, shard_count=0, replica_count=6, node_type="cache.r7g.large", eviction_policy="lru"))
    for part in ("shard_count must be", "replica_count must be", "eviction_policy must be", "node_type must be one of"):
        assert part in str(e.value)


# ---- Cloud CDN -----------------------------------------------------------------------------------

def cdn_stack(stack, static=True):
    key = EncryptionKey(stack, "key", project=PROJECT, location=REGION, name="acme-data")
    net = ClusterNetwork(stack, "net", project=PROJECT, name="acme", region=REGION)
    cdn = StaticContentCdn(stack, "static", project=PROJECT, name="acme-prod-reco", bucket_name="acme-ml-prod-reco-static", location=REGION,
                           kms_key_id=key.id, default_ttl_seconds=3600) if static else None
    args = dict(project=PROJECT, name="acme-prod-reco", region=REGION, network=net.network_id, network_tags=["reco"],
                instance_groups=["g"], autoscale_group="g", min_replicas=1, max_replicas=2, requests_per_replica=100,
                domains=["reco.acme.example"])
    if cdn is not None:
        args["static_backend"] = ("/static/*", cdn.backend_bucket_id)
    InferenceEndpoint(stack, "endpoint", **args)
    return cdn


def test_static_bucket_is_private_under_the_key_and_read_by_the_cdn_fill_agent_only():
    doc = synth(cdn_stack)
    (bucket,) = [b for b in each(doc, "google_storage_bucket") if b["name"] == "acme-ml-prod-reco-static"]
    assert bucket["uniform_bucket_level_access"] is True and bucket["public_access_prevention"] == "enforced"
    assert bucket["encryption"]["default_kms_key_name"].startswith("${google_kms_crypto_key.")
    (reader,) = each(doc, "google_storage_bucket_iam_member")
    assert reader["role"] == "roles/storage.objectViewer"
    assert reader["member"] == "serviceAccount:service-${data.google_project.gcp-project-acme-ml-prod.number}@cloud-cdn-fill.iam.gserviceaccount.com"
    # the fill agent exists once a signed request key is on a backend: the grant waits for it
    key = only(doc, "google_compute_backend_bucket_signed_url_key")
    assert reader["depends_on"] == [f"google_compute_backend_bucket_signed_url_key.{next(iter(doc['resource']['google_compute_backend_bucket_signed_url_key']))}"]
    assert "uuid()" not in key["key_value"] and key["key_value"].startswith("${replace(replace(base64encode(substr(sha256(terraform_data.")
    seed = only(doc, "terraform_data")
    assert seed["input"] == "${uuid()}" and seed["lifecycle"]["ignore_changes"] == ["input"]
    for rule in ("AIINFRA-GCP-001", "AIINFRA-GCP-004"):
        assert all(r is Result.COMPLIANT for r in judged(rule, doc)), rule


def test_backend_bucket_caches_static_content_with_the_ttls():
    backend = only(synth(cdn_stack), "google_compute_backend_bucket")
    assert backend["enable_cdn"] is True and backend["bucket_name"].startswith("${google_storage_bucket.")
    policy = backend["cdn_policy"]
    assert (policy["cache_mode"], policy["default_ttl"], policy["max_ttl"], policy["client_ttl"]) == ("CACHE_ALL_STATIC", 3600, 86400, 3600)
    with pytest.raises(ValueError, match="max_ttl_seconds .* must be at least default_ttl_seconds"):
        synth(lambda s: StaticContentCdn(s, "x", project=PROJECT, name="a", bucket_name="abc-static", location=REGION, kms_key_id="k",
                                         default_ttl_seconds=7200, max_ttl_seconds=60))


def test_the_url_map_sends_the_static_path_to_the_backend_bucket_and_the_rest_to_the_model():
    url_map = only(synth(cdn_stack), "google_compute_url_map")
    model = url_map["default_service"]
    assert model.startswith("${google_compute_backend_service.")
    assert url_map["host_rule"] == [{"hosts": ["*"], "path_matcher": "static"}]
    (matcher,) = url_map["path_matcher"]
    assert matcher["default_service"] == model
    (rule,) = matcher["path_rule"]
    assert rule["paths"] == ["/static/*"] and rule["service"].startswith("${google_compute_backend_bucket.")


def test_an_endpoint_without_static_content_keeps_its_url_map_as_it_was():
    url_map = only(synth(lambda s: cdn_stack(s, static=False)), "google_compute_url_map")
    assert sorted(k for k in url_map if k != "//") == ["default_service", "name", "project"]
    with pytest.raises(ValueError, match="static_backend's path"):
        synth(lambda s: InferenceEndpoint(s, "e", project=PROJECT, name="a", region=REGION, network="n", network_tags=["t"],
                                          instance_groups=["g"], autoscale_group="g", min_replicas=1, max_replicas=1,
                                          requests_per_replica=1, domains=["a.example"], static_backend=("static/*", "b")))


def test_the_pipeline_apis_are_known_to_the_project_services():
    assert service_for("google_storage_transfer_job") == "storagetransfer.googleapis.com"
    assert service_for("google_storage_transfer_project_service_account") == "storagetransfer.googleapis.com"
    assert service_for("google_storage_bucket") == "storage.googleapis.com"
    assert service_for("google_redis_cluster") == "redis.googleapis.com"
    assert service_for("google_network_connectivity_service_connection_policy") == "networkconnectivity.googleapis.com"


# ---- the <prefix>-gcp-data-pipeline stack and the serving stack's CDN -------------------------------

PIPELINE = """
data_pipeline:
  ingestion:
    - source: "s3://raw-data-bucket/events"
      destination: "distributed_filesystem/staging"
      schedule: "0 */6 * * *"
  serving:
    - cache_layer: "Redis cluster"
      cache_size: "100GB"
      ttl: "24 hours"
network:
  inference_network:
    load_balancer: "application_layer"
    ssl_termination: "enabled"
    cdn: "enabled_for_static_content"
"""
PREFIX = "acme-ml-production-gcp-"


def _parts(plan) -> list:
    """The plan's GCP ingestion / cache / CDN parts; written here by the contract's settings keys where the planner
    (planner/pipeline.py) has not planned one."""
    from aiinfra.planner.model import PipelinePartPlan

    have = {p.part for p in plan.pipeline_parts("gcp")}
    added = []
    if "ingestion" not in have:
        added.append(PipelinePartPlan("gcp", REGION, "ingestion", "data_pipeline.ingestion[0]", "Storage Transfer Service", 0.0, "test",
                                      {"source_url": "s3://raw-data-bucket/events", "source_cloud": "aws", "source_bucket": "raw-data-bucket",
                                       "source_prefix": "events/", "destination_prefix": "staging/", "schedule": "0 */6 * * *",
                                       "gib_per_month": 100.0}))
    if "cache" not in have:
        added.append(PipelinePartPlan("gcp", REGION, "cache", "data_pipeline.serving[0]", "Memorystore for Redis Cluster", 0.0, "test",
                                      {"engine": "redis", "engine_version": "7.2", "node_type": "REDIS_HIGHMEM_MEDIUM", "shards": 8,
                                       "replicas_per_shard": 1, "multi_az": True, "ttl_seconds": 86400, "eviction_policy": "volatile-ttl",
                                       "size_gib": 93.1, "clients": ["recommendation-inference"]}))
    if "cdn" not in have:
        added.append(PipelinePartPlan("gcp", REGION, "cdn", "recommendation-inference", "Cloud CDN", 0.0, "test",
                                      {"endpoint": "recommendation-inference", "static_path": "/static/*", "default_ttl_seconds": 86400,
                                       "price_class": None}))
    plan.pipeline = [*plan.pipeline, *added]
    return plan.pipeline_parts("gcp")


@pytest.fixture(scope="module")
def pipeline_out(tmp_path_factory):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from aiinfra.stacks.gcp import GcpFoundation, GcpWorkload
    from aiinfra.stacks.pipeline_gcp import GcpDataPipeline, cdn_for
    from aiinfra.stacks.state import STATE_DIR_CONTEXT
    from aiinfra.constructs.gcp.inference_endpoint import static_routes

    out = tmp_path_factory.mktemp("pipeline")
    loaded = load_spec_text(_with_pipeline())
    plan = make_plan(loaded)
    spec = loaded.spec
    parts = _parts(plan)
    app = App(outdir=str(out), context={STATE_DIR_CONTEXT: str(out)})
    mine = [w for w in plan.workloads if w.cloud == "gcp"]
    storage = next((s for s in plan.storage if s.cloud == "gcp"), None)
    foundation = GcpFoundation(app, spec, plan, REGION, mine, storage, True)
    # The pipeline first, so the serving stacks can read their cache (and apply after it): the order that hands the
    # nodes AIINFRA_CACHE_ENDPOINT.
    pipeline = GcpDataPipeline(app, spec, plan, foundation)
    serving = {w.name: GcpWorkload(app, spec, w, foundation) for w in mine if w.type == "inference"}
    metadata = {n: pipeline.client_metadata(w.stack, n, w.identity.member) for n, w in serving.items()}
    for n, w in serving.items():  # what GcpWorkload will put in its nodes' metadata once wired (the lead's part)
        for template in w.group.templates.values():
            for key, value in metadata[n].items():
                template.add_override(f"metadata.{key}", value)
    notes: list[str] = []
    for part in (p for p in parts if p.part == "cdn"):
        workload = serving[part.settings["endpoint"]]
        backend = cdn_for(workload.stack, spec, plan, part, foundation, notes)
        # What GcpWorkload will pass as InferenceEndpoint(static_backend=...) once wired (the lead's part).
        url_map = workload.endpoint.node.find_child("url-map")
        for key, value in static_routes((part.settings["static_path"], backend), workload.endpoint.backend.get_string_attribute("id")).items():
            url_map.add_override(key, value)
    pipeline.grant(serving)  # every client already granted from its own stack: nothing more
    app.synth()
    docs = {p.parent.name: json.loads(p.read_text()) for p in (out / "stacks").glob("*/cdk.tf.json")}
    return {"names": pipeline.names, "notes": notes + pipeline.notes, "docs": docs, "parts": parts, "out": out, "metadata": metadata}


def test_the_pipeline_stack_and_the_serving_stack_conform_to_the_google_provider_schema(pipeline_out):
    assert pipeline_out["names"] == [f"{PREFIX}data-pipeline"]
    for name, doc in pipeline_out["docs"].items():
        assert check_stack(doc) == [], name
    pipe = pipeline_out["docs"][f"{PREFIX}data-pipeline"]
    assert {"google_storage_transfer_job", "google_redis_cluster", "google_network_connectivity_service_connection_policy"} <= set(pipe["resource"])


def test_the_planned_ingestion_reads_s3_with_the_deploy_time_role_into_the_foundations_bucket(pipeline_out):
    pipe = pipeline_out["docs"][f"{PREFIX}data-pipeline"]
    part = next(p for p in pipeline_out["parts"] if p.part == "ingestion")
    job = only(pipe, "google_storage_transfer_job")
    s3 = job["transfer_spec"]["aws_s3_data_source"]
    assert s3["bucket_name"] == part.settings["source_bucket"] and s3.get("path", "") == part.settings["source_prefix"]
    assert s3["role_arn"] == '${var.ingestion_0_aws_role_arn == "" ? null : var.ingestion_0_aws_role_arn}'
    assert pipe["variable"]["ingestion_0_aws_secret_access_key"]["sensitive"] is True
    assert "default" not in pipe["variable"]["ingestion_0_aws_role_arn"]  # Terraform asks for it
    sink = job["transfer_spec"]["gcs_data_sink"]
    assert sink["path"] == part.settings["destination_prefix"] and "storage_data" in sink["bucket_name"]  # the foundation's data bucket
    assert job["schedule"]["repeat_interval"] == f"{transfer_schedule(part.settings['schedule']).repeat_seconds}s"
    assert "ingestion_0_google_subject_id" in pipe["output"]
    assert any("ingestion_0_aws_role_arn" in n for n in pipeline_out["notes"])


def test_the_planned_cache_is_sized_from_the_plan_under_the_foundation_key_and_lets_the_serving_account_connect(pipeline_out):
    pipe = pipeline_out["docs"][f"{PREFIX}data-pipeline"]
    s = next(p for p in pipeline_out["parts"] if p.part == "cache").settings
    c = only(pipe, "google_redis_cluster")
    assert (c["shard_count"], c["replica_count"], c["node_type"]) == (s["shards"], s["replicas_per_shard"], s["node_type"].upper().replace("-", "_"))
    assert c["transit_encryption_mode"] == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION" and c["authorization_mode"] == "AUTH_MODE_IAM_AUTH"
    assert "key" in c["kms_key"] and c["redis_configs"] == {"maxmemory-policy": s["eviction_policy"]}
    assert "google_project_iam_member" not in pipe["resource"]  # the serving stack grants its own account
    serving = pipeline_out["docs"][f"{PREFIX}recommendation-inference"]
    (client,) = [g for g in each(serving, "google_project_iam_member") if g["role"] == "roles/redis.dbConnectionUser"]
    assert client["member"].startswith("serviceAccount:${google_service_account.identity_")
    assert "cache_0_endpoint" in pipe["output"]
    assert judged("AIINFRA-GCP-022", pipe) == [Result.COMPLIANT] and judged("AIINFRA-GCP-023", pipe) == [Result.COMPLIANT]


def test_a_serving_node_learns_its_cache_endpoint_and_ttl_from_the_pipeline_stack(pipeline_out):
    from aiinfra.boot.workload import CACHE_ENDPOINT_KEY, CACHE_TTL_KEY

    ttl = next(p for p in pipeline_out["parts"] if p.part == "cache").settings["ttl_seconds"]
    meta = pipeline_out["metadata"]["recommendation-inference"]
    assert set(meta) == {CACHE_ENDPOINT_KEY, CACHE_TTL_KEY} and meta[CACHE_TTL_KEY] == str(ttl)
    # the serving stack reads the endpoint from the pipeline stack's outputs (the pipeline stack refers to no workload)
    serving = pipeline_out["docs"][f"{PREFIX}recommendation-inference"]
    templates = each(serving, "google_compute_region_instance_template")
    assert templates
    for template in templates:
        assert f"{PREFIX}data-pipeline" in template["metadata"][CACHE_ENDPOINT_KEY]  # a cross-stack read of the pipeline's output
        assert template["metadata"][CACHE_TTL_KEY] == str(ttl)
    assert "recommendation-inference" not in json.dumps(pipeline_out["docs"][f"{PREFIX}data-pipeline"].get("data", {}))


def test_add_gcp_pipeline_after_the_serving_stacks_grants_the_clients_from_the_pipeline_stack(tmp_path):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from aiinfra.stacks.gcp import GcpFoundation, GcpWorkload
    from aiinfra.stacks.pipeline_gcp import add_gcp_pipeline
    from aiinfra.stacks.state import STATE_DIR_CONTEXT

    loaded = load_spec_text(_with_pipeline())
    plan = make_plan(loaded)
    _parts(plan)
    app = App(outdir=str(tmp_path), context={STATE_DIR_CONTEXT: str(tmp_path)})
    mine = [w for w in plan.workloads if w.cloud == "gcp"]
    foundation = GcpFoundation(app, loaded.spec, plan, REGION, mine, next(s for s in plan.storage if s.cloud == "gcp"), True)
    serving = {w.name: GcpWorkload(app, loaded.spec, w, foundation) for w in mine if w.type == "inference"}
    names, notes = add_gcp_pipeline(app, loaded.spec, plan, foundation, serving)
    app.synth()
    pipe = json.loads((tmp_path / "stacks" / names[0] / "cdk.tf.json").read_text())
    assert check_stack(pipe) == []
    (client,) = each(pipe, "google_project_iam_member")
    assert client["role"] == "roles/redis.dbConnectionUser" and "google_service_accountidentity" in client["member"]  # cross-stack
    assert any("cache_0_endpoint" in n for n in notes)


def test_the_foundation_enables_the_pipeline_apis(pipeline_out):
    foundation = pipeline_out["docs"][f"{PREFIX}foundation"]
    enabled = {r["service"] for r in each(foundation, "google_project_service")}
    assert {"storagetransfer.googleapis.com", "redis.googleapis.com", "networkconnectivity.googleapis.com"} <= enabled


def test_the_serving_stack_routes_its_static_path_to_a_private_cdn_bucket(pipeline_out):
    serving = pipeline_out["docs"][f"{PREFIX}recommendation-inference"]
    part = next(p for p in pipeline_out["parts"] if p.part == "cdn")
    backend = only(serving, "google_compute_backend_bucket")
    assert backend["enable_cdn"] is True and backend["cdn_policy"]["default_ttl"] == part.settings["default_ttl_seconds"]
    (matcher,) = only(serving, "google_compute_url_map")["path_matcher"]
    assert matcher["path_rule"][0]["paths"] == [part.settings["static_path"]]
    assert matcher["path_rule"][0]["service"].startswith("${google_compute_backend_bucket.")
    bucket = next(b for b in each(serving, "google_storage_bucket") if b["name"].endswith("-static"))
    assert bucket["public_access_prevention"] == "enforced" and bucket["encryption"]["default_kms_key_name"]
    assert any("gs://" in n and "Cloud CDN" in n for n in pipeline_out["notes"])


@pytest.mark.skipif(not Path(ROOT / ".venv-checkov" / "bin" / "checkov").exists(), reason="checkov is not installed (make setup)")
def test_checkov_passes_on_the_pipeline_and_serving_stacks(pipeline_out):
    from tests.test_checkov import run_checkov

    stacks = pipeline_out["out"] / "stacks"
    failed, passed = [], set()
    for report in run_checkov(stacks):
        results = report.get("results", {})
        failed += [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results.get("failed_checks", [])
                   if "data-pipeline" in c["file_path"] or "recommendation-inference" in c["file_path"]]
        passed |= {(c["check_id"], c["resource"].split("_")[0]) for c in results.get("passed_checks", [])}
    assert not failed, "\n".join(failed)
    # checkov judged the static bucket (public access prevention, uniform access) and the pipeline's grants
    assert {("CKV_GCP_114", "resource.static-content"), ("CKV_GCP_29", "resource.static-content"),
            ("CKV_GCP_112", "resource.cache-0")} <= passed


# Construct, policy, schema and stack tests run on cdktf and on cdktn (-m cdk); checkov reads the same JSON either way.
for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and _name != "test_checkov_passes_on_the_pipeline_and_serving_stacks":
        globals()[_name] = pytest.mark.cdk(_fn)


def _with_pipeline() -> str:
    """examples/gcp-only.yaml with the guide's data_pipeline and CDN blocks (the example carries them itself now)."""
    text = (ROOT / "examples" / "gcp-only.yaml").read_text()
    return text if "\ndata_pipeline:" in text else text + PIPELINE
