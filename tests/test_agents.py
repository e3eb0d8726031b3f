"""The node agents' configurations (aiinfra.observability.agents): the CloudWatch agent's against
the agent's own JSON schema (vendored in tests/data), the Ops Agent's against the keys, receiver
types and processor types Google's configuration reference documents, the metric names each one
publishes, and the job wrapper's metrics."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from aiinfra.boot import IMAGES
from aiinfra.observability import agents
from aiinfra.observability.agents import COLLECT, JOB_METRICS

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = json.loads((DATA / "cloudwatch-agent-schema.json").read_text())
HOST_GROUPS = ("gpu", "cpu", "memory", "disk", "disk_io", "network")

# Every non-empty collect set would be 127 configurations; singles, pairs and the whole set cover
# each section alone and next to every other.
SUBSETS = [c for n in (1, 2) for c in itertools.combinations(COLLECT, n)] + [COLLECT]


# ---------------------------------------------------------------- CloudWatch agent


def _validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


@pytest.mark.parametrize("collect", SUBSETS, ids=lambda c: "+".join(c))
def test_cloudwatch_agent_config_validates_against_the_agents_schema(collect):
    errors = sorted(_validator().iter_errors(agents.cloudwatch_agent_config(collect)), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    assert json.loads(agents.cloudwatch_agent_json(collect)) == agents.cloudwatch_agent_config(collect)


def test_the_schema_check_can_fail():
    # The vendored schema is strict where the configuration could go wrong.
    bad = agents.cloudwatch_agent_config(COLLECT)
    bad["metrics"]["metrics_collected"]["statsd"]["listen"] = ":8125"  # statsd allows no unknown key
    bad["metrics"]["aggregation_dimensions"] = "AutoScalingGroupName"  # a list of lists
    bad["agent"]["metrics_collection_interval"] = 0
    assert len(list(_validator().iter_errors(bad))) >= 3


def test_cloudwatch_agent_sections_follow_collect():
    cfg = agents.cloudwatch_agent_config(("gpu", "memory", "app"))
    assert list(cfg["metrics"]["metrics_collected"]) == ["nvidia_gpu", "mem", "statsd"]
    assert cfg["agent"]["metrics_collection_interval"] == 60
    gpu = cfg["metrics"]["metrics_collected"]["nvidia_gpu"]["measurement"]
    assert gpu == ["utilization_gpu", "utilization_memory", "memory_total", "memory_used", "memory_free",
                   "temperature_gpu", "power_draw"]


def test_cloudwatch_agent_publishes_one_series_per_metric_and_group():
    metrics = agents.cloudwatch_agent_config(COLLECT)["metrics"]
    assert metrics["append_dimensions"] == {"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}
    assert metrics["aggregation_dimensions"] == [["AutoScalingGroupName"]]
    for section, body in metrics["metrics_collected"].items():
        if section in ("mem", "statsd"):
            # mem has AutoScalingGroupName alone (no rollup is made, dropping would drop it all);
            # statsd takes exact metric names only.
            assert "drop_original_metrics" not in body, section
        else:
            assert body["drop_original_metrics"] == ["*"], section


def test_statsd_listens_where_the_container_is_told_to_send():
    statsd = agents.cloudwatch_agent_config(("app",))["metrics"]["metrics_collected"]["statsd"]
    assert statsd["service_address"] == f":{agents.STATSD_PORT}"  # every interface: the docker bridge too


def test_aws_produced_metrics_are_the_documented_names_and_follow_collect():
    assert agents.produced_metrics("aws", ("gpu",)) == {
        f"CWAgent/nvidia_smi_{m}" for m in ("utilization_gpu", "utilization_memory", "memory_total", "memory_used",
                                            "memory_free", "temperature_gpu", "power_draw")}
    assert agents.produced_metrics("aws", ("cpu", "memory", "disk", "disk_io", "network")) == {
        "CWAgent/cpu_usage_active", "CWAgent/cpu_usage_iowait", "CWAgent/mem_used_percent", "CWAgent/disk_used_percent",
        "CWAgent/diskio_read_bytes", "CWAgent/diskio_write_bytes", "CWAgent/diskio_io_time",
        "CWAgent/net_bytes_sent", "CWAgent/net_bytes_recv"}
    assert agents.produced_metrics("aws", ("app",)) == frozenset()  # the container names its own
    every = agents.produced_metrics("aws", COLLECT)
    for group in HOST_GROUPS:
        alone = agents.produced_metrics("aws", (group,))
        assert alone and alone <= every
        assert not alone & agents.produced_metrics("aws", tuple(g for g in COLLECT if g != group))
    assert not any("nvidia" in m for m in agents.produced_metrics("aws", tuple(g for g in COLLECT if g != "gpu")))


# ---------------------------------------------------------------- Ops Agent

# What Google's Ops Agent configuration reference documents, as used here:
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/configuration
# (top-level sections; metrics receivers, processors and service pipelines; the hostmetrics
# receiver and the exclude_metrics processor), the DCGM integration
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/third-party-nvidia
# (dcgm receiver fields) and the OTLP receiver
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/otlp
# (a "combined" receiver of type otlp, grpc_endpoint, metrics_mode; metrics and traces pipelines).
OPS_AGENT_REFERENCE = {
    "top_level": {"logging", "metrics", "traces", "combined", "global"},
    "metrics": {"receivers", "processors", "service"},
    "traces": {"service"},
    "combined": {"receivers"},
    "service": {"pipelines", "log_level"},
    "pipeline": {"receivers", "processors"},
    "metrics_receivers": {
        "hostmetrics": {"type", "collection_interval"},
        "dcgm": {"type", "collection_interval", "endpoint", "receiver_version"},
    },
    "combined_receivers": {"otlp": {"type", "grpc_endpoint", "metrics_mode"}},
    "metrics_processors": {"exclude_metrics": {"type", "metrics_pattern"}},
    "metrics_mode": {"googlecloudmonitoring", "googlemanagedprometheus"},
    "receiver_version": {1, 2, "1", "2"},
}


def _check_ops_agent(cfg: dict) -> list[str]:
    ref, p = OPS_AGENT_REFERENCE, []
    p += [f"top-level key {k!r}" for k in set(cfg) - ref["top_level"]]
    metrics = cfg.get("metrics", {})
    p += [f"metrics key {k!r}" for k in set(metrics) - ref["metrics"]]
    for rid, r in metrics.get("receivers", {}).items():
        fields = ref["metrics_receivers"].get(r.get("type"))
        p += [f"metrics receiver {rid!r} type {r.get('type')!r}"] if fields is None else \
            [f"metrics receiver {rid!r} field {k!r}" for k in set(r) - fields]
        if r.get("type") == "dcgm" and "receiver_version" in r and r["receiver_version"] not in ref["receiver_version"]:
            p.append(f"dcgm receiver_version {r['receiver_version']!r}")
    for pid, proc in metrics.get("processors", {}).items():
        fields = ref["metrics_processors"].get(proc.get("type"))
        p += [f"metrics processor {pid!r} type {proc.get('type')!r}"] if fields is None else \
            [f"metrics processor {pid!r} field {k!r}" for k in set(proc) - fields]
    for rid, r in cfg.get("combined", {}).get("receivers", {}).items():
        fields = ref["combined_receivers"].get(r.get("type"))
        p += [f"combined receiver {rid!r} type {r.get('type')!r}"] if fields is None else \
            [f"combined receiver {rid!r} field {k!r}" for k in set(r) - fields]
        if r.get("metrics_mode") not in ref["metrics_mode"] | {None}:
            p.append(f"otlp metrics_mode {r['metrics_mode']!r}")
    p += [f"combined key {k!r}" for k in set(cfg.get("combined", {})) - ref["combined"]]
    p += [f"traces key {k!r}" for k in set(cfg.get("traces", {})) - ref["traces"]]
    defined = set(metrics.get("receivers", {})) | set(cfg.get("combined", {}).get("receivers", {}))
    for section in ("metrics", "traces"):
        service = cfg.get(section, {}).get("service", {})
        p += [f"{section} service key {k!r}" for k in set(service) - ref["service"]]
        for name, pipe in (service.get("pipelines") or {}).items():
            p += [f"{section} pipeline {name!r} key {k!r}" for k in set(pipe) - ref["pipeline"]]
            # hostmetrics is also the built-in receiver's name
            p += [f"{section} pipeline {name!r} receiver {r!r} undefined" for r in pipe.get("receivers", ())
                  if r not in defined | {"hostmetrics"}]
            p += [f"{section} pipeline {name!r} processor {x!r} undefined" for x in pipe.get("processors", ())
                  if x not in metrics.get("processors", {})]
    if "combined" in cfg and "traces" not in cfg:
        p.append("a combined receiver needs a traces section")
    return p


@pytest.mark.parametrize("dcgm", [False, True])
@pytest.mark.parametrize("collect", SUBSETS, ids=lambda c: "+".join(c))
def test_ops_agent_config_uses_only_documented_keys_and_types(collect, dcgm):
    cfg = agents.ops_agent_config(collect, dcgm)
    assert _check_ops_agent(cfg) == []
    assert yaml.safe_load(agents.ops_agent_yaml(collect, dcgm)) == cfg


def test_the_ops_agent_check_can_fail():
    cfg = agents.ops_agent_config(COLLECT, True)
    cfg["metrics"]["receivers"]["nvml"] = {"type": "nvml"}
    cfg["metrics"]["processors"]["metrics_filter"]["include"] = ["x"]
    cfg["combined"]["receivers"]["otlp"]["metrics_mode"] = "prometheus"
    cfg["metrics"]["service"]["pipelines"]["default_pipeline"]["processors"].append("nope")
    assert len(_check_ops_agent(cfg)) == 4


def test_ops_agent_receivers_follow_collect_and_dcgm():
    only_app = agents.ops_agent_config(("app",))
    assert only_app["metrics"]["service"]["pipelines"]["default_pipeline"] == {"receivers": []}  # host metrics off
    assert only_app["combined"]["receivers"]["otlp"]["grpc_endpoint"] == f"0.0.0.0:{agents.OTLP_PORT}"
    assert only_app["combined"]["receivers"]["otlp"]["metrics_mode"] == "googlecloudmonitoring"
    no_app = agents.ops_agent_config(("gpu", "cpu"), dcgm=True)
    assert "combined" not in no_app and "traces" not in no_app and "otlp" not in no_app["metrics"]["service"]["pipelines"]
    assert no_app["metrics"]["receivers"]["dcgm"]["receiver_version"] == 2
    assert "dcgm" not in agents.ops_agent_config(("cpu",), dcgm=True)["metrics"]["receivers"]  # dcgm is part of "gpu"
    assert "dcgm" not in agents.ops_agent_config(("gpu",), dcgm=False)["metrics"]["receivers"]
    patterns = agents.ops_agent_config(("cpu",))["metrics"]["processors"]["metrics_filter"]["metrics_pattern"]
    assert "agent.googleapis.com/gpu/*" in patterns  # all four NVML metrics: the NVML receiver is off
    assert "agent.googleapis.com/processes/*" in patterns and "agent.googleapis.com/swap/*" in patterns


def test_gcp_produced_metrics_follow_collect_and_dcgm():
    assert agents.produced_metrics("gcp", ("gpu",)) == {"agent.googleapis.com/gpu/utilization",
                                                         "agent.googleapis.com/gpu/memory/bytes_used"}
    with_dcgm = agents.produced_metrics("gcp", ("gpu",), dcgm=True)
    assert "workload.googleapis.com/gpu.dcgm.sm.utilization" in with_dcgm
    assert "workload.googleapis.com/gpu.dcgm.memory.bytes_used" in with_dcgm
    assert agents.produced_metrics("gcp", ("memory", "disk", "network")) == {
        "agent.googleapis.com/memory/percent_used", "agent.googleapis.com/disk/percent_used",
        "agent.googleapis.com/interface/traffic"}
    assert agents.produced_metrics("gcp", ("app",)) == frozenset()
    no_gpu = agents.produced_metrics("gcp", tuple(g for g in COLLECT if g != "gpu"), dcgm=True)
    assert no_gpu and not any("gpu" in m for m in no_gpu)
    # CPU is the hypervisor's metric on GCP (free); the agent's is per core and state
    assert agents.produced_metrics("gcp", ("cpu",)) == frozenset()
    for group in (g for g in HOST_GROUPS if g != "cpu"):
        alone = agents.produced_metrics("gcp", (group,))
        assert alone and not alone & agents.produced_metrics("gcp", tuple(g for g in COLLECT if g != group))
    for m in agents.produced_metrics("gcp", COLLECT, dcgm=True):
        assert re.fullmatch(r"(agent\.googleapis\.com/[a-z_/]+|workload\.googleapis\.com/gpu\.dcgm\.[a-z_.]+)", m), m


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("call", [
    lambda c: agents.cloudwatch_agent_config(c),
    lambda c: agents.ops_agent_config(c),
    lambda c: agents.produced_metrics("aws", c),
    lambda c: agents.produced_metrics("gcp", c),
])
def test_unknown_collect_names_are_refused_naming_them_and_the_known_ones(call):
    with pytest.raises(ValueError) as err:
        call(("gpu", "gpus", "iops"))
    text = str(err.value)
    assert "'gpus'" in text and "'iops'" in text and "'gpu'" not in text.split(";")[0]
    assert "known: gpu, cpu, memory, disk, disk_io, network, app" in text


@pytest.mark.parametrize("call", [lambda c: agents.cloudwatch_agent_config(c), lambda c: agents.produced_metrics("aws", c)])
def test_an_aws_agent_with_nothing_to_collect_or_ship_is_refused(call):
    with pytest.raises(ValueError, match="collect is empty and there is no log_group"):
        call(())


def test_a_gcp_agent_with_no_metric_group_still_ships_the_boot_log():
    # The Ops Agent runs for the logs alone: host metrics off (an empty default pipeline), no receiver of metrics.
    cfg = agents.ops_agent_config(())
    assert cfg["metrics"]["service"]["pipelines"] == {"default_pipeline": {"receivers": []}}
    assert cfg["logging"]["receivers"][agents.BOOT_LOG_ID]["include_paths"] == [agents.BOOT_LOG]
    assert agents.produced_metrics("gcp", ()) == frozenset()


def test_produced_metrics_refuses_an_unknown_cloud():
    with pytest.raises(ValueError, match="cloud must be one of aws, gcp, got 'azure'"):
        agents.produced_metrics("azure", ("cpu",))


# ---------------------------------------------------------------- job metrics and images


def test_job_metrics_have_one_name_per_cloud_and_event():
    assert [m.key for m in JOB_METRICS] == ["run_started", "run_succeeded", "run_failed", "run_restarted", "run_duration", "boot_failed"]
    assert [m.aws_name for m in JOB_METRICS] == ["RunStarted", "RunSucceeded", "RunFailed", "RunRestarted", "RunDuration", "BootFailed"]
    assert [m.gcp_type for m in JOB_METRICS] == [f"custom.googleapis.com/aiinfra/{m.key}" for m in JOB_METRICS]
    for m in JOB_METRICS:
        counted = m.key != "run_duration"
        assert (m.aws_unit, m.gcp_unit, m.value_type) == (("Count", "1", "INT64") if counted else ("Seconds", "s", "DOUBLE"))
        assert m.metric_kind == "GAUGE" and m.description
        assert m.name("aws") == m.aws_name and m.name("gcp") == m.gcp_type
    with pytest.raises(ValueError):
        JOB_METRICS[0].name("azure")
    assert (agents.JOB_NAMESPACE, agents.JOB_AWS_DIMENSION, agents.JOB_GCP_LABEL, agents.JOB_GCP_RESOURCE) == \
        ("aiinfra", "AutoScalingGroupName", "workload", "global")


def test_every_gcp_boot_image_has_a_dcgm_and_ops_agent_answer():
    for key, row in IMAGES.items():
        if key.startswith("gcp-"):
            assert row["image"] in agents._DCGM_IMAGES, key
            assert agents.dcgm_in_image(row["image"]) is False  # no Google page says DCGM is installed
            assert agents.ops_agent_supported(row["image"]) == ("cos-cloud" not in row["image"]), key
    assert agents.dcgm_in_image("projects/x/global/images/family/y") is False
