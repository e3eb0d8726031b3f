"""The published-metric reference files: they load, cite their sources, hold no duplicates, and
keep out the names that earlier code invented."""

import re

import pytest

from aiinfra.observability import reference

KINDS = {"GAUGE", "DELTA", "CUMULATIVE"}
VALUE_TYPES = {"BOOL", "INT64", "DOUBLE", "STRING", "DISTRIBUTION"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.mark.parametrize("doc", [reference.aws(), reference.gcp()], ids=["aws", "gcp"])
def test_files_load_with_date_and_https_sources(doc):
    assert DATE.match(doc["retrieved"])
    assert doc["groups"]
    for group in doc["groups"]:
        assert group["source"].startswith("https://"), group
        assert all(url.startswith("https://") for url in group.get("evidence", []))
        assert group["metrics"], group["source"]


def test_no_duplicate_names():
    aws_keys = [(g["namespace"], name) for g in reference.aws()["groups"] for name in g["metrics"]]
    assert len(aws_keys) == len(set(aws_keys))
    gcp_keys = [name for g in reference.gcp()["groups"] for name in g["metrics"]]
    assert len(gcp_keys) == len(set(gcp_keys))
    prefixes = [g["prefix"] for g in reference.gcp()["groups"]]
    assert len(prefixes) == len(set(prefixes))


def test_aws_entries_are_well_formed():
    for group in reference.aws()["groups"]:
        for name, entry in group["metrics"].items():
            assert entry["unit"] is None or isinstance(entry["unit"], str), name
            dims = entry["dimensions"]
            assert dims is None or all(isinstance(d, list) and all(isinstance(x, str) for x in d) for d in dims), name


def test_gcp_entries_are_well_formed():
    for group in reference.gcp()["groups"]:
        for metric_type, entry in group["metrics"].items():
            assert metric_type.startswith(group["prefix"]), metric_type
            assert entry["kind"] in KINDS and entry["value_type"] in VALUE_TYPES, metric_type
            assert entry["resource_types"] and all(isinstance(r, str) for r in entry["resource_types"])
            assert isinstance(entry["labels"], list)
            assert entry["unit"] is None or isinstance(entry["unit"], str)


def test_known_names_resolve():
    assert reference.aws_metric("CWAgent", "nvidia_smi_utilization_gpu")["dimensions"] == [["index", "name", "host"]]
    assert reference.aws_metric("AWS/ApplicationELB", "TargetResponseTime")["unit"] == "Seconds"
    assert reference.aws_metric("AWS/AutoScaling", "GroupInServiceInstances") is not None
    gpu = reference.gcp_metric("agent.googleapis.com/gpu/utilization")
    assert gpu["kind"] == "GAUGE" and "gpu_number" in gpu["labels"] and "gce_instance" in gpu["resource_types"]
    lat = reference.gcp_metric("loadbalancing.googleapis.com/https/backend_latencies")
    assert lat["value_type"] == "DISTRIBUTION" and lat["resource_types"] == ["https_lb_rule"]
    assert reference.gcp_metric("loadbalancing.googleapis.com/https/internal/request_count")["resource_types"] == ["internal_http_lb_rule"]
    assert reference.gcp_metric("workload.googleapis.com/gpu.dcgm.temperature") is not None


@pytest.mark.parametrize("metric_type", [
    "workload.googleapis.com/dcgm.gpu.memory.utilization",
    "workload.googleapis.com/dcgm.gpu.temperature",
    "agent.googleapis.com/gpu/temperature",
])
def test_invented_gcp_names_are_absent(metric_type):
    assert reference.gcp_metric(metric_type) is None


@pytest.mark.parametrize("name", ["InferenceErrorRate", "GPUUtilization", "nvidia_smi_utilization_memory_percent"])
def test_invented_cwagent_names_are_absent(name):
    assert reference.aws_metric("CWAgent", name) is None


def test_sources_are_unique_https():
    urls = reference.sources()
    assert urls and len(urls) == len(set(urls))
    assert all(u.startswith("https://") for u in urls)
