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


# Tables: the plain renderer draws what rich draws, or leaves the table to rich.
cells = st.one_of(st.text(string.printable, max_size=30), st.sampled_from(["", "-", "$1,234.50", "8x A100-80GB", " x", "x ", "a  b", "[b]x", ":x:", "é"]))


@st.composite
def tables(draw):
    ncols = draw(st.integers(1, 8))
    columns = [(draw(st.text(string.ascii_letters + " $/.", min_size=1, max_size=12)), draw(st.booleans()), draw(st.booleans()))
               for _ in range(ncols)]
    rows = draw(st.lists(st.lists(cells, min_size=ncols, max_size=ncols), max_size=6))
    return columns, rows, draw(st.sampled_from([160, 60, 30])), draw(st.sampled_from([None, "Storage tiers"]))


def _stripped(text):
    return "\n".join(line.rstrip() for line in text.splitlines())


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(tables())
def test_plain_tables_are_rich_tables(table):
    from aiinfra import render

    columns, rows, width, title = table
    plain = render._plain_table(columns, rows, width, title)
    if plain is not None:
        assert _stripped(plain) == _stripped(render._rich_table(columns, rows, width, title))


def test_reference_plan_and_catalog_tables_are_drawn_without_rich():
    from aiinfra import render
    from aiinfra.catalog import load_catalog
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    plan = make_plan(load_spec(REFERENCE))
    rows = [render._row(w) for w in plan.workloads]
    assert render._plain_table([(n, False, False) for n in render.ROWS], rows, 160) is not None
    text = render.plan_text(plan)
    columns = [(name, i >= 8, i < 5) for i, name in enumerate(render.ROWS)]
    assert _stripped(render._rich_table(columns, rows, 160)) in text
    offers = load_catalog().offers()
    # (northamerica-northeast1 and "8x Inferentia2-32GB" make the catalog table 164 wide)
    assert render._plain_table([(n, i >= 4, True) for i, n in enumerate(render.CATALOG_ROWS)], [render._catalog_row(o) for o in offers], 180)
