"""Property: any YAML text yields either a valid spec or a clean SpecError, never a crash."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiinfra.errors import SpecError
from aiinfra.spec import load_spec_text
from tests.conftest import REFERENCE

REFERENCE_TEXT = REFERENCE.read_text()
KEYS = ["project", "environment", "clouds", "workload_inventory", "name", "type", "gpu_requirements", "dataset_size", "model_size",
        "expected_qps", "latency_sla", "availability_requirement", "estimated_runtime", "training_frequency", "cloud", "spot", "region",
        "aws", "gcp", "resource_quotas", "alerting_rules", "condition", "severity", "storage_tiers", "requests.nvidia.com/gpu"]
VALUES = ["8x A100", "500GB", "1000", "100ms", "99.9%", "weekly", "12 hours", "training", "inference", "aws", "gcp", "us-east-1", "0x T4",
          "-5", "A1OO", "16x H100", "2B parameters", "0 */6 * * *", "", "~", "true"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.sampled_from(VALUES),
                    st.text(string.printable, max_size=20))
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                     max_leaves=30)


def _check(text: str) -> None:
    try:
        loaded = load_spec_text(text)
    except SpecError as exc:
        assert exc.problems
        for p in exc.problems:
            line = str(p)
            assert p.path and p.message and "\n" not in line and "Traceback" not in line
    else:
        assert loaded.spec.workload_inventory


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable, max_size=300))
def test_any_text_is_a_spec_or_a_clean_error(text):
    _check(text)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_any_yaml_document_is_a_spec_or_a_clean_error(tree):
    _check(yaml.safe_dump(tree))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(REFERENCE_TEXT) - 1), st.integers(1, 40), st.text(string.printable, max_size=12))
def test_mutated_reference_is_a_spec_or_a_clean_error(start, length, insert):
    _check(REFERENCE_TEXT[:start] + insert + REFERENCE_TEXT[start + length:])
