"""Shared fixtures: a small synthetic catalog (so planner rules are tested against fixed
prices, not the refreshed data), spec builders, and the hypothesis profile for CI."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

from aiinfra.catalog import Catalog, GpuModel, InstanceOffer, StorageClass, load_catalog

# jsii prints a banner about Node 20 on every start; the versions are pinned and tested.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "reference.yaml"

settings.register_profile("ci", max_examples=500, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def offer(cloud, itype, gpu, count, mem, price, spot=None, region=None, zones=None, vcpus=8, memory=32.0,
          efa=0, gpudirect="", nics=0, nvme=0, family=None, accel=""):
    region = region or ("us-east-1" if cloud == "aws" else "us-central1")
    zones = zones or ((f"{region}a", f"{region}b", f"{region}c") if cloud == "aws" else (f"{region}-a", f"{region}-b", f"{region}-c"))
    return InstanceOffer(cloud, itype, family or itype.split(".")[0].rsplit("-", 1)[0], accel, gpu, count, mem, vcpus, memory, 100.0,
                         max(efa, 1), efa, gpudirect, nics, 8244 if nics else 1460, nvme, region, tuple(zones), price, spot)


GPUS = [
    GpuModel("T4", "nvidia", (16,), 65.0, ()),
    GpuModel("A10G", "nvidia", (24,), 70.0, ()),
    GpuModel("L4", "nvidia", (24,), 121.0, ()),
    GpuModel("A100", "nvidia", (40, 80), 312.0, ()),
    GpuModel("H100", "nvidia", (80,), 989.0, ()),
    GpuModel("H200", "nvidia", (141,), 989.0, ()),
]
STORAGE = [StorageClass(c, t, k, p, k) for c, t, k, p in [
    ("aws", "hot", "gp3", 0.08), ("aws", "hot", "io2", 0.125), ("aws", "warm", "STANDARD", 0.023), ("aws", "warm", "STANDARD_IA", 0.0125),
    ("aws", "cold", "GLACIER_IR", 0.004), ("aws", "cold", "DEEP_ARCHIVE", 0.001),
    ("gcp", "hot", "pd-ssd", 0.17), ("gcp", "hot", "hyperdisk-balanced", 0.08), ("gcp", "warm", "STANDARD", 0.02), ("gcp", "warm", "NEARLINE", 0.01),
    ("gcp", "cold", "COLDLINE", 0.004), ("gcp", "cold", "ARCHIVE", 0.0012)]]


def fake_offers() -> list[InstanceOffer]:
    return [
        offer("aws", "g4dn.xlarge", "T4", 1, 16, 0.5, 0.2, vcpus=4, memory=16, nvme=125),
        offer("aws", "g5.xlarge", "A10G", 1, 24, 1.0, 0.4, vcpus=4, memory=16, nvme=250),
        offer("aws", "g5.2xlarge", "A10G", 1, 24, 1.2, 0.5, vcpus=8, memory=32, nvme=450),
        offer("aws", "g6.xlarge", "L4", 1, 24, 0.8, 0.3, vcpus=4, memory=16, nvme=250, zones=("us-east-1a", "us-east-1b")),
        offer("aws", "p4d.24xlarge", "A100", 8, 40, 32.0, 12.0, vcpus=96, memory=1152, efa=4, gpudirect="efa", nvme=7600),
        offer("aws", "p4de.24xlarge", "A100", 8, 80, 40.0, 15.0, vcpus=96, memory=1152, efa=4, gpudirect="efa", nvme=7600),
        offer("aws", "p5.48xlarge", "H100", 8, 80, 98.0, 40.0, vcpus=192, memory=2048, efa=32, gpudirect="efa", nvme=30000),
        offer("aws", "p5e.48xlarge", "H200", 8, 141, None, 13.0, vcpus=192, memory=2048, efa=32, gpudirect="efa"),
        offer("aws", "p5en.48xlarge", "H200", 8, 141, 84.8, 20.0, vcpus=192, memory=2048, efa=16, gpudirect="efa"),
        offer("aws", "r6i.8xlarge", "", 0, 0, 2.0, 0.8, vcpus=32, memory=256),
        offer("aws", "m6i.8xlarge", "", 0, 0, 1.5, 0.6, vcpus=32, memory=128),
        # The Kubernetes system pool's shapes (planner/platform.py system_pool), at their us-east-1 / us-central1 prices.
        offer("aws", "m6i.large", "", 0, 0, 0.096, 0.0365, vcpus=2, memory=8),
        offer("aws", "p4d.24xlarge", "A100", 8, 40, 35.0, None, region="eu-west-1", vcpus=96, memory=1152, efa=4, gpudirect="efa"),
        offer("gcp", "a2-highgpu-1g", "A100", 1, 40, 3.7, 1.2, vcpus=12, memory=85, accel="nvidia-tesla-a100"),
        offer("gcp", "a2-highgpu-4g", "A100", 4, 40, 14.7, 4.8, vcpus=48, memory=340, accel="nvidia-tesla-a100"),
        offer("gcp", "a2-highgpu-8g", "A100", 8, 40, 29.4, 9.6, vcpus=96, memory=680, accel="nvidia-tesla-a100"),
        offer("gcp", "a3-highgpu-8g", "H100", 8, 80, 88.0, 30.0, vcpus=208, memory=1872, gpudirect="tcpx", nics=4, nvme=6000,
              accel="nvidia-h100-80gb"),
        offer("gcp", "g2-standard-4", "L4", 1, 24, 0.7, 0.28, vcpus=4, memory=16, accel="nvidia-l4"),
        offer("gcp", "n2-highmem-32", "", 0, 0, 1.9, 0.5, vcpus=32, memory=256),
        offer("gcp", "e2-standard-2", "", 0, 0, 0.06701, 0.02679, vcpus=2, memory=8, region="us-central1",
              zones=("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")),
    ]


@pytest.fixture
def fake_catalog() -> Catalog:
    return Catalog(fake_offers(), GPUS, [], STORAGE)


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return load_catalog()


BASE_SPEC = """
project: acme-ml
environment: {environment}
clouds:
{clouds}
workload_inventory:
{workloads}
{extra}
"""


def make_spec(workloads: str, clouds: str = "  aws: {region: us-east-1}", environment: str = "production", extra: str = "") -> str:
    """A spec text from YAML snippets (workloads as list items, indented by two spaces)."""
    return BASE_SPEC.format(environment=environment, clouds=clouds, workloads=textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  "),
                            extra=textwrap.dedent(extra))


# The construct, stack and policy tests: `make test` runs them on cdktf and again on cdktn
# (`AIINFRA_CDK=cdktn .venv-cdktn/bin/python -m pytest -m cdk`); tests/test_cdk_seam.py and the
# CLI tests mark themselves.
CDK_TEST_FILES = frozenset({
    "test_constructs_aws.py", "test_constructs_gcp.py", "test_policy.py", "test_stacks_aws.py", "test_stacks_gcp.py",
    "test_security_aws_edge.py", "test_security_gcp_edge.py", "test_security_stacks.py", "test_segmentation.py",
    "test_threat_detection.py", "test_model_integrity.py", "test_synth_cache.py", "test_accelerator_stacks.py", "test_fresh_project.py",
    "test_kubernetes_stacks.py", "test_k8s_stacks.py", "test_k8s_serving_stacks.py",
})


def pytest_configure(config):
    config.addinivalue_line("markers", "cdk: a construct / stack / policy test, run on cdktf and on cdktn (make test)")


# The modules that take longest (the local AWS API applies), first: `make test` spreads whole modules
# over worker processes (pytest-xdist --dist loadfile), and a long module started last would run alone
# at the end. Longest first, from a run's --durations (2026-12-07, seconds on 2 loaded cores): e2e_aws
# 340, review 315, kubernetes_stacks 183, tf_harness 165, no_image 163, boot 151, security_aws_edge 119,
# eks_constructs 88, model_integrity 89, threat_detection 71, preflight_aws 69; every other module under 50.
LONGEST_FIRST = ("test_e2e_aws.py", "test_review.py", "test_kubernetes_stacks.py", "test_tf_harness.py", "test_no_image.py",
                 "test_boot.py", "test_security_aws_edge.py", "test_eks_constructs.py", "test_model_integrity.py",
                 "test_threat_detection.py", "test_preflight_aws.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in CDK_TEST_FILES:
            item.add_marker(pytest.mark.cdk)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
