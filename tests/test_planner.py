"""One test per planner rule, against the synthetic catalog in conftest (fixed prices)."""

import math

import pytest

from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT, make_spec

BOTH = "  aws: {region: us-east-1}\n  gcp: {region: us-central1, project: acme-ml-prod}"


def plan_of(catalog, workloads, **kw):
    return make_plan(load_spec_text(make_spec(workloads, **kw), catalog=catalog), catalog)


def one(plan):
    assert not plan.errors, plan.errors
    assert len(plan.workloads) == 1
    return plan.workloads[0]


TRAIN_8_A100 = """
- name: train
  type: training
  gpu_requirements: "8x A100"
  training_frequency: weekly
  estimated_runtime: "12 hours"
"""


def test_training_picks_cheapest_shape_holding_the_gpus(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100))
    assert (w.instance_type, w.nodes, w.gpus_per_node) == ("p4d.24xlarge", 1, 8)
    assert "p4de.24xlarge" in w.reasons["instance_type"]


def test_training_memory_ask_excludes_smaller_gpus(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "8x A100-80GB")))
    assert w.instance_type == "p4de.24xlarge" and w.gpu_memory_gib == 80


def test_training_cost_is_runs_times_runtime(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100))
    # weekly -> one start a week (52 in the reference year, 52 / 12 a month) x the 12 h runtime
    assert w.runs_per_month == pytest.approx(52 / 12) and w.runtime_hours == 12
    assert w.hours_per_month == pytest.approx(52, rel=1e-3)
    assert w.monthly_usd == pytest.approx(32.0 * 52, rel=1e-3)
    assert w.capacity == "on_demand" and w.spot_savings_monthly_usd == 0


def test_multi_node_ask_uses_largest_shape_with_efa_and_cluster_placement(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "16x H100")))
    assert (w.instance_type, w.nodes, w.multi_node) == ("p5.48xlarge", 2, True)
    assert w.interconnect == "efa" and w.efa_interfaces_per_node == 32
    assert w.placement == "cluster" and len(w.zones) == 1


def test_gcp_multi_node_h100_gets_gpudirect_nics(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "16x H100") + "  cloud: gcp\n", clouds=BOTH)
    w = one(plan)
    assert (w.cloud, w.instance_type, w.nodes) == ("gcp", "a3-highgpu-8g", 2)
    assert (w.interconnect, w.gpu_nics_per_node, w.nic_mtu) == ("tcpx", 4, 8244)


def test_ask_that_does_not_fill_whole_nodes_is_an_error(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "12x H100"))
    assert not plan.workloads
    (err,) = plan.errors
    assert err.path == "workload_inventory[0].gpu_requirements"
    assert "largest H100 shape holds 8" in err.message and "8x or 16x" in err.message


def test_small_ask_rounds_up_to_smallest_shape_and_says_so(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "3x A100") + "  cloud: gcp\n", clouds=BOTH)
    w = one(plan)
    assert (w.instance_type, w.gpus_per_node) == ("a2-highgpu-4g", 4)
    assert "smallest that holds 3 has 4" in w.reasons["gpu_count"]


def test_unpinned_workload_goes_to_cheapest_cloud_with_both_in_reasons(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100, clouds=BOTH))
    assert (w.cloud, w.instance_type) == ("gcp", "a2-highgpu-8g")
    assert "gcp a2-highgpu-8g" in w.reasons["cloud"] and "aws p4d.24xlarge" in w.reasons["cloud"]
    assert any(a.cloud == "aws" for a in w.alternatives)


def test_region_without_the_gpu_is_an_error_naming_where_it_is(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "8x H100") + "  region: eu-west-1\n")
    (err,) = plan.errors
    assert "no aws shape offers H100 in eu-west-1" in err.message and "us-east-1" in err.message


def test_training_without_gpu_ask_is_inferred_from_model_size(fake_catalog):
    w = one(plan_of(fake_catalog, """
- name: train
  type: training
  model_size: "2B parameters"
"""))
    # 2B x 16 bytes x 1.2 = 36 GiB: one A100-40GB would not do with overhead? 35.8 GiB fits a 40 GiB GPU.
    assert w.gpu and w.gpus_per_node * w.gpu_memory_gib >= 36
    assert "2B parameters x 16 bytes" in w.reasons["gpu"]
    assert any(f.path.endswith("training_frequency") and f.severity == "info" for f in plan_of(fake_catalog, """
- name: train
  type: training
  model_size: "2B parameters"
""").findings)


INFER = """
- name: serve
  type: inference
  model_size: "1B parameters"
  expected_qps: "1000"
  latency_sla: "100ms"
  availability_requirement: "99.9%"
"""


# A 1B-parameter non-language model at 256 tokens a request is compute bound (planner/serving.py):
# 2 x 1e9 x 256 = 512 GFLOP a request at 60 % of the tensor TFLOPS, x 0.55 on the power-capped L4 / T4.
RQ_L4 = 121e12 * 0.55 * 0.6 / 512e9  # 78.0 requests/s
RQ_T4 = 65e12 * 0.55 * 0.6 / 512e9  # 41.9
RQ_A10G = 70e12 * 0.6 / 512e9  # 82.0


def test_inference_replicas_from_qps_and_throughput_model(fake_catalog):
    w = one(plan_of(fake_catalog, INFER))
    # 1000 / (78.0 x 0.7) -> 19 replicas; at 99.9 % the survivors of a lost zone hold the peak:
    # n - ceil(n / 2) >= 1000 / 78.0 = 12.8 -> 26 (13 + 13). T4 needs 48 ($24/h), A10G 26 ($26/h), L4 26 x $0.8.
    assert w.instance_type == "g6.xlarge"
    assert w.replica_qps == pytest.approx(RQ_L4, abs=0.1)
    assert w.nodes == 26 and w.min_nodes == 26 and w.max_nodes == math.ceil(2000 / (RQ_L4 * 0.7))
    assert "losing one of 2 zones (13 replicas) leaves 13 x 78 qps >= the 1000 qps peak" in w.reasons["nodes"]
    assert w.cost_per_1k_predictions_usd == pytest.approx(26 * 0.8 / 3600, rel=1e-3)
    assert len(w.zones) == 2 and w.placement == "spread"
    assert "512.0 GFLOP a request at 60% of 1 x 121 TFLOPS (x 0.55 sustained under its power cap)" in w.reasons["replica_qps"]


def test_replica_qps_is_used_only_where_it_was_measured(fake_catalog):
    w = one(plan_of(fake_catalog, INFER + '  replica_qps: "100"\n  replica_qps_measured_on: g5.xlarge\n'))
    assert (w.instance_type, w.replica_qps) == ("g5.xlarge", 100)
    assert w.nodes == 20  # ceil(1000 / 70) = 15; a lost zone: 20 - 10 = 10 x 100 >= 1000
    asked = one(plan_of(fake_catalog, INFER + '  replica_qps: "100"\n  replica_qps_measured_on: "1x A10G"\n'))
    assert asked.gpu == "A10G" and asked.replica_qps == 100
    unbound = plan_of(fake_catalog, INFER + '  replica_qps: "100"\n')
    assert [e.path for e in unbound.errors] == ["workload_inventory[0].replica_qps"]
    assert "never applied to other shapes" in unbound.errors[0].message
    nowhere = plan_of(fake_catalog, INFER + '  replica_qps: "100"\n  replica_qps_measured_on: p6-b200.48xlarge\n')
    assert [e.path for e in nowhere.errors] == ["workload_inventory[0].replica_qps_measured_on"]


def test_three_nines_five_needs_three_zones_and_skips_two_zone_shapes(fake_catalog):
    w = one(plan_of(fake_catalog, INFER.replace("99.9%", "99.95%")))
    assert len(w.zones) == 3 and w.instance_type != "g6.xlarge"  # g6.xlarge is in two zones only here


def test_target_utilization_from_right_sizing(fake_catalog):
    extra = "cost_optimization:\n  right_sizing:\n    target_utilization: \"50-60%\"\n"
    below = INFER.replace("99.9%", "99.5%")  # two zones (production), no zone-loss sizing
    assert one(plan_of(fake_catalog, below)).nodes == 19  # ceil(1000 / (78.0 * 0.7))
    assert one(plan_of(fake_catalog, below, extra=extra)).nodes == 26  # ceil(1000 / (78.0 * 0.5))


def test_growth_forecast_raises_max_replicas(fake_catalog):
    w = one(plan_of(fake_catalog, INFER, extra="growth_forecast:\n  qps_growth: \"3x\"\n"))
    assert w.nodes == 26 and w.max_nodes == math.ceil(1000 * 3 * 2 / (RQ_L4 * 0.7))


def test_inference_on_spot_keeps_one_on_demand_replica_a_zone(fake_catalog):
    w = one(plan_of(fake_catalog, INFER + "  spot: true\n"))
    assert w.capacity == "mixed" and w.on_demand_base_nodes == 2
    assert w.hourly_usd == pytest.approx(2 * 0.8 + 24 * 0.3)
    assert w.spot_fallback == "on_demand"


def test_non_critical_policy_puts_training_on_spot_but_not_serving(fake_catalog):
    extra = "cost_optimization:\n  scheduling:\n    spot_instances: non_critical_workloads\n"
    plan = plan_of(fake_catalog, TRAIN_8_A100 + INFER, extra=extra)
    train, serve = plan.workloads
    assert train.capacity == "spot" and train.hourly_usd == 12.0
    assert train.spot_savings_monthly_usd == pytest.approx((32 - 12) * train.hours_per_month, rel=1e-3)
    assert serve.capacity == "on_demand"
    assert "non_critical_workloads" in train.reasons["capacity"] and "critical" in serve.reasons["capacity"]


def test_development_defaults_to_spot_and_spot_false_overrides(fake_catalog):
    assert one(plan_of(fake_catalog, TRAIN_8_A100, environment="development")).capacity == "spot"
    assert one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: false\n", environment="development")).capacity == "on_demand"


def test_spot_without_a_spot_price_falls_back_to_on_demand_and_says_so(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: true\n  region: eu-west-1\n"))
    assert w.capacity == "on_demand" and "no spot price" in w.reasons["capacity"]


def test_spot_alternatives_list_equivalent_shapes(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: true\n"))
    assert w.spot_alternatives == ["p4de.24xlarge"]


def test_data_processing_uses_pipeline_cluster_size_and_memory_optimised_nodes(fake_catalog):
    extra = 'data_pipeline:\n  preprocessing:\n    - framework: "Apache Spark"\n      cluster_size: "auto-scale 5-20 nodes"\n'
    w = one(plan_of(fake_catalog, """
- name: etl
  type: data_processing
  framework: spark
  dataset_size: "5TB"
  training_frequency: daily
""", extra=extra))
    assert w.instance_type == "r6i.8xlarge" and (w.nodes, w.max_nodes) == (5, 20)
    # 5,000 GB / (5 x 32 vCPU x 10 GB/vCPU-h) = 3.125 h a run, 30.44 runs.
    assert w.hours_per_month == pytest.approx(30.44 * 3.125, rel=1e-3)
    assert w.data_volume_gib_per_node > 0 and w.data_volume_type == "gp3"


def test_training_stages_dataset_on_nvme_when_it_fits(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100 + '  dataset_size: "500GB"\n  model_size: "2B parameters"\n'))
    assert w.data_volume_gib_per_node == 0 and "fits the 7600 GiB of local NVMe" in w.reasons["data_volume"]
    big = one(plan_of(fake_catalog, TRAIN_8_A100 + '  dataset_size: "20TB"\n'))
    assert big.data_volume_gib_per_node == pytest.approx(20e12 * 1.2 / 2**30, abs=1) and big.data_volume_type == "io2"


QUOTA = """
resource_quotas:
  production:
    requests.nvidia.com/gpu: "{gpus}"
"""


def test_quota_exceeded_at_steady_state_is_an_error(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100, extra=QUOTA.format(gpus=4))
    (err,) = plan.errors
    assert err.path == "resource_quotas.production.requests.nvidia.com/gpu" and "8 GPUs" in err.message


def test_quota_exceeded_only_by_autoscaling_is_a_warning(fake_catalog):
    plan = plan_of(fake_catalog, INFER, extra=QUOTA.format(gpus=30))
    assert not plan.errors
    assert any("max replicas would run 37 GPUs" in f.message for f in plan.warnings)


def test_performance_requirements_breaches_are_named(fake_catalog):
    extra = """
performance_requirements:
  training:
    max_training_time: "10 hours"
    model_size_limit: "1B parameters"
  inference:
    p95_latency: "50ms"
    availability: "99.95%"
"""
    plan = plan_of(fake_catalog, TRAIN_8_A100 + '  model_size: "2B parameters"\n' + INFER, extra=extra)
    paths = {f.path for f in plan.warnings}
    assert {"workload_inventory[0].estimated_runtime", "workload_inventory[0].model_size",
            "workload_inventory[1].latency_sla", "workload_inventory[1].availability_requirement"} <= paths


def test_storage_tiers_follow_model_archival_days(fake_catalog):
    # Issue 27: the days move the archive prefixes only; live data is in Intelligent-Tiering from day 0.
    extra = "cost_optimization:\n  lifecycle_management:\n    model_archival: \"120_days_inactive\"\n    archive_prefixes: [\"models/\"]\n"
    plan = plan_of(fake_catalog, TRAIN_8_A100 + '  dataset_size: "500GB"\n', extra=extra)
    (s,) = plan.storage
    tiers = {t.tier: t for t in s.tiers}
    assert tiers["warm"].storage_class == "INTELLIGENT_TIERING" and tiers["warm"].transition_after_days == 0
    assert tiers["cold"].storage_class == "GLACIER_IR" and tiers["cold"].transition_after_days == 120
    assert tiers["warm"].size_gib == pytest.approx(500e9 / 2**30, abs=1)
    assert s.archive_class == "DEEP_ARCHIVE" and s.archive_after_days == 365


def test_totals_add_up(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100 + INFER)
    t = plan.totals
    assert t.compute_monthly_usd == pytest.approx(sum(w.monthly_usd for w in plan.workloads), abs=0.01)
    assert t.security_monthly_usd == pytest.approx(sum(c.monthly_usd for c in plan.security), abs=0.01) and t.security_monthly_usd > 0
    assert t.monthly_usd == pytest.approx(t.compute_monthly_usd + t.storage_monthly_usd + t.security_monthly_usd + t.network_monthly_usd, abs=0.01)
    assert t.gpus_steady == 8 + 26 and t.gpus_peak == 8 + 37


def test_spot_only_shape_is_never_placed_on_demand(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "8x H200")))
    assert w.instance_type == "p5en.48xlarge" and w.capacity == "on_demand"


def test_spot_only_shape_on_spot_has_no_on_demand_fallback(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "8x H200") + "  spot: true\n"))
    assert (w.instance_type, w.capacity, w.spot_fallback) == ("p5e.48xlarge", "spot", None)
    assert "sold as spot only" in w.reasons["capacity"]
    assert w.spot_alternatives == ["p5en.48xlarge"]


# ---- batch schedules (planner/schedule.py) -----------------------------------------------------

OFF_PEAK = """
cost_optimization:
  scheduling:
    training_jobs: "off_peak_hours"
"""


def test_off_peak_weekly_training_starts_saturday_night_local_and_hard_stops_at_max_runtime(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100, extra=OFF_PEAK + "performance_requirements:\n  training:\n    max_training_time: \"24 hours\"\n"))
    # 01:00 in us-east-1 (UTC-5 standard time) is 06:00 UTC
    assert (w.schedule, w.stop_schedule, w.max_runtime_hours) == ("0 6 * * 6", "0 6 * * 0", 24)
    assert w.schedule_description == "Saturdays 06:00 UTC, 12 h, hard stop 24 h, 0 retries"
    assert w.reasons["schedule"].startswith("Saturdays 06:00 UTC, 12 h, hard stop 24 h")
    assert "104 h a month" in w.reasons["hours"]  # 52 / 12 runs x 24 h kept at most


def test_workload_schedule_wins_and_the_hours_come_from_it(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100 + '  schedule: "30 2 * * 1,4"\n  max_runtime: "16 hours"\n'))
    assert (w.schedule, w.stop_schedule) == ("30 2 * * 1,4", "30 18 * * 1,4")
    # Mondays and Thursdays of 2025: 104 starts, / 12 a month, x 12 h
    assert w.runs_per_month == pytest.approx(104 / 12) and w.hours_per_month == pytest.approx(104, abs=0.01)
    assert w.monthly_usd == pytest.approx(104 * 32.0, rel=1e-3)


def test_default_hard_stop_is_twice_the_runtime_and_ends_before_the_next_start(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100))
    assert w.max_runtime_hours == 24 and w.stop_schedule == "0 0 * * 0"  # weekly, midnight UTC, 2 x 12 h
    daily = one(plan_of(fake_catalog, TRAIN_8_A100.replace("weekly", "daily").replace("12 hours", "20 hours")))
    assert daily.max_runtime_hours == 23 and daily.stop_schedule == "0 23 * * *"  # not 40 h: an hour before the next start
    assert "cut to end 1 h before the next start" in daily.reasons["schedule"]


@pytest.mark.parametrize("extra,path,message", [
    ('  max_runtime: "7 days"\n', "max_runtime", "is not shorter than the 168 h between two starts"),
    ('  max_runtime: "6 hours"\n', "max_runtime", "a run takes 12 h but its hard stop is 6 h"),
    ('  schedule: "0 */6 * * *"\n', "estimated_runtime", "runs would overlap"),
])
def test_schedules_that_cannot_hold_a_run_are_errors(fake_catalog, extra, path, message):
    plan = plan_of(fake_catalog, TRAIN_8_A100 + extra)
    (error,) = plan.errors
    assert error.path == f"workload_inventory[0].{path}" and message in error.message, error


def test_retries_default_from_the_restart_rule_or_spot(fake_catalog):
    restart = 'alerting_rules:\n  - name: "Training Job Failure"\n    condition: "training_job_status == \'failed\'"\n    severity: "high"\n    action: "restart_with_checkpoint"\n'
    assert one(plan_of(fake_catalog, TRAIN_8_A100)).retries == 0
    assert one(plan_of(fake_catalog, TRAIN_8_A100, extra=restart)).retries == 3
    assert one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: true\n")).retries == 3
    assert one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: true\n  retries: 1\n")).retries == 1


def test_on_demand_frequency_has_no_schedule_and_costs_no_hours(fake_catalog):
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace("weekly", "on_demand")))
    assert (w.schedule, w.stop_schedule, w.hours_per_month, w.monthly_usd) == (None, None, 0, 0)
    assert w.schedule_description.startswith("on demand")


def test_frequencies_without_a_schedule_ask_for_one(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("weekly", "every 5 hours"))
    assert any(e.path == "workload_inventory[0].training_frequency" and "set schedule:" in e.message for e in plan.errors)


def test_serving_plan_carries_port_health_path_exposure_and_target(fake_catalog):
    serve = '- name: s\n  type: inference\n  expected_qps: "100"\n  port: 8000\n  health_check_path: "/v2/health/ready"\n'
    w = one(plan_of(fake_catalog, serve))
    assert (w.port, w.health_check_path, w.exposure, w.target_utilization) == (8000, "/v2/health/ready", "public", 0.7)
    assert w.schedule is None and "public HTTPS on 443 to port 8000" in w.reasons["endpoint"]
    assert "no image" in w.reasons["image"]


def test_the_plan_shows_what_monitoring_costs_beside_the_totals():
    from aiinfra.planner import make_plan
    from aiinfra.planner.rules import CLOUDWATCH_METRIC_MONTH_USD
    from aiinfra.spec import load_spec

    plan = make_plan(load_spec(ROOT / "examples" / "aws-only.yaml"))
    (aws,) = plan.monitoring
    # GPU (7 nvidia_smi), memory, disk I/O, network from the agent; 5 job metrics for the training group;
    # the container's StatsD metrics twice each
    assert aws.custom_metrics > 20 and aws.dashboards == 1 and aws.alarm_metrics >= 6
    assert aws.monthly_usd >= aws.custom_metrics * CLOUDWATCH_METRIC_MONTH_USD
    t = plan.totals  # monitoring is not in the total (security, network and the data pipeline are)
    assert t.monthly_usd == pytest.approx(t.compute_monthly_usd + t.storage_monthly_usd + t.security_monthly_usd + t.network_monthly_usd
                                          + t.pipeline_monthly_usd, abs=0.01) and t.pipeline_monthly_usd > 0
    # fewer metrics collected: fewer billed
    lean = make_plan(load_spec_text_from(ROOT / "examples" / "aws-only.yaml", lambda t: t.replace(
        '["gpu_utilization", "gpu_memory_usage", "cpu_utilization", "memory_usage", "disk_io", "network_throughput"]', '["gpu_utilization"]')))
    assert lean.monitoring[0].custom_metrics < aws.custom_metrics


def load_spec_text_from(path, edit):
    from aiinfra.spec import load_spec_text

    return load_spec_text(edit(path.read_text()))


def test_spot_alternatives_are_offered_in_every_zone_the_group_uses(fake_catalog):
    from aiinfra.catalog import Catalog
    from tests.conftest import GPUS, STORAGE, fake_offers

    # p4de.24xlarge offered in zone b only: the group sits in zone a (the first zone of p4d), so
    # p4de is never put into its spot pool there.
    offers = [o._replace(zones=("us-east-1b",)) if o.instance_type == "p4de.24xlarge" and o.region == "us-east-1" else o
              for o in fake_offers()]
    w = one(plan_of(Catalog(offers, GPUS, [], STORAGE), TRAIN_8_A100 + "  spot: true\n"))
    assert w.instance_type == "p4d.24xlarge" and w.zones[0] == "us-east-1a"
    assert w.spot_alternatives == []
    assert one(plan_of(fake_catalog, TRAIN_8_A100 + "  spot: true\n")).spot_alternatives == ["p4de.24xlarge"]


def test_a_multi_node_runs_spot_alternatives_share_gpu_memory_and_interconnect(fake_catalog):
    # 16x A100 = two p4d nodes (40 GB); p4de (80 GB) holds the same GPU model but not the same memory.
    w = one(plan_of(fake_catalog, TRAIN_8_A100.replace('"8x A100"', '"16x A100"') + "  spot: true\n"))
    assert (w.instance_type, w.nodes) == ("p4d.24xlarge", 2)
    assert w.spot_alternatives == []


def test_lora_checkpoints_hold_the_adapters_not_the_full_training_state(fake_catalog):
    base = TRAIN_8_A100 + '  dataset_size: "100GB"\n  model_size: "8B parameters"\n'
    full = one(plan_of(fake_catalog, base))
    lora = one(plan_of(fake_catalog, base + "  training_method: lora\n"))
    # full: 8e9 x 16 bytes = 119.2 GiB a checkpoint; LoRA: 1 % of the parameters x 16 bytes (adapters + Adam) = 1.2 GiB
    assert "3 checkpoints of 119.2 GiB (weights and optimizer state, 16 bytes a parameter)" in full.reasons["data_volume"]
    assert "3 checkpoints of 1.2 GiB (lora adapters (1% of the parameters) with their optimizer state)" in lora.reasons["data_volume"]
    warm = {p.cloud: p for p in plan_of(fake_catalog, base + "  training_method: lora\n").storage}["aws"].tiers[1]
    warm_full = {p.cloud: p for p in plan_of(fake_catalog, base).storage}["aws"].tiers[1]
    # 100 GB of data (93 GiB) + 10 versions of 1.2 GiB adapters, against 10 x 119 GiB of full checkpoints
    assert warm.size_gib == 93 + 12 + 1 and warm_full.size_gib > 1200


def test_sharded_data_parallel_runs_stage_a_shard_a_node(fake_catalog):
    big = TRAIN_8_A100.replace("8x A100", "16x H100") + '  dataset_size: "40TB"\n'
    whole = one(plan_of(fake_catalog, big))
    shard = one(plan_of(fake_catalog, big + "  dataset_sharding: sharded\n"))
    assert "40TB of data (the whole dataset on every node: dataset_sharding is replicated, the default" in whole.reasons["data_volume"]
    assert "20TB of data per node (a shard: dataset_sharding: sharded over 2 nodes)" in shard.reasons["data_volume"]
    # 40 TB x 1.2 scratch does not fit the node's 30,000 GiB of NVMe (a volume); its 20 TB shard does
    assert whole.data_volume_gib_per_node > 40_000 and shard.data_volume_gib_per_node == 0


def test_large_collective_runs_on_spot_get_the_interruption_arithmetic(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "32x H100") + "  spot: true\n")
    (warn,) = [f for f in plan.warnings if f.path == "workload_inventory[0].spot"]
    # 4 nodes x 12 h = 48 node-hours at 20 % of instances a month (730 h): 0.013 interruptions a run
    assert "32 GPUs on spot in one collective run: 4 nodes x 12 h = 48 node-hours" in warn.message
    assert "expects 0.01 interruptions (1% that it is hit at least once)" in warn.message
    assert not [f for f in plan_of(fake_catalog, TRAIN_8_A100.replace("8x A100", "16x H100") + "  spot: true\n").warnings
                if f.path.endswith(".spot")]
