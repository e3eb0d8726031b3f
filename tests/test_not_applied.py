"""No silent keys (issue 14): every key the spec accepts changes the plan or the stacks, or the plan
lists it under "Not applied" with the reason (``aiinfra.planner.applied``)."""

import json
import re
import typing

import pytest
from pydantic import BaseModel

from aiinfra.planner import applied, make_plan
from aiinfra.render import plan_json, plan_markdown, plan_text
from aiinfra.spec import load_spec, load_spec_text
from aiinfra.spec.models import Spec
from tests.conftest import REFERENCE, ROOT, make_spec

SRC = ROOT / "src" / "aiinfra"


def _models(annotation, suffix=""):
    """(model, item suffix) for each pydantic model in an annotation: '' for a field, '[]' list items, '.*' mapping values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, suffix)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models(args[0], suffix)
    if origin in (list, tuple):
        return [m for a in args for m in _models(a, suffix + "[]")]
    if origin is dict:
        return _models(args[1], suffix + ".*")
    return [m for a in args for m in _models(a, suffix)]


def walk(model=Spec, prefix=""):
    """Every field path of the spec models: {path: (python attribute name, is a block)}, and the item patterns."""
    paths: dict[str, tuple[str, bool]] = {}
    items: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or name}" if prefix else field.alias or name
        nested = _models(field.annotation)
        paths[path] = (name, bool(nested))
        for sub, suffix in nested:
            if suffix:
                items.add(path + suffix)
            more, more_items = walk(sub, path + suffix)
            paths.update(more)
            items |= more_items
    return paths, items


PATHS, ITEMS = walk()


# ---- (a) the registry covers the models exactly ---------------------------------------

def test_every_field_of_the_spec_models_is_applied_or_not_applied():
    missing = sorted(p for p in PATHS if p not in applied.APPLIED and p not in applied.NOT_APPLIED)
    assert not missing, f"spec keys in neither APPLIED nor NOT_APPLIED (planner/applied.py): {missing}"


def test_every_registry_entry_names_a_field():
    unknown = sorted(p for p in [*applied.APPLIED, *applied.NOT_APPLIED] if p not in PATHS)
    assert not unknown, f"registry entries that name no field of the spec models: {unknown}"
    assert not set(applied.APPLIED) & set(applied.NOT_APPLIED)
    bad = sorted(p for p in applied.CONDITIONS if p not in PATHS and p not in ITEMS)
    assert not bad, f"CONDITIONS that name no field or item: {bad}"
    assert all(p in applied.APPLIED for p in applied.CONDITIONS if p in PATHS), "a conditional key is applied in some specs"


def test_walker_sees_nested_lists_mappings_and_aliases():
    # The walk itself: list items, mapping values, merged security lists and aliases are reached.
    for path in ("workload_inventory[].framework", "data_pipeline.ingestion[].source", "resource_quotas.*.requests.nvidia.com/gpu",
                 "security_controls.network_security.intrusion_detection", "alerting_rules[].action", "state.gcp.kms_encryption_key"):
        assert path in PATHS, path
    assert {"resource_quotas.*", "data_pipeline.preprocessing[]", "workload_inventory[]"} <= ITEMS


def test_blocks_agree_with_their_keys():
    """A block NOT_APPLIED changes nothing: every key under it is NOT_APPLIED; an APPLIED block has an applied key."""
    for block, (_, is_block) in PATHS.items():
        if not is_block:
            continue
        under = [p for p in PATHS if p.startswith(block) and p != block and p[len(block)] in ".["]
        if block in applied.NOT_APPLIED:
            wrong = [p for p in under if p not in applied.NOT_APPLIED]
            assert not wrong, f"{block} is NOT_APPLIED but these keys under it are not: {wrong}"
        else:
            assert any(p in applied.APPLIED and not PATHS[p][1] for p in under), f"{block} is APPLIED but no key under it is"


# ---- (e) the registry is honest: the named code reads the attribute ----------------------

def _claims(note: str) -> list[tuple[str, str | None]]:
    """(file, attribute override) for each '<file>: ' or '<file> (via NAME): ' in a note."""
    return [(m[1], m[2]) for m in re.finditer(r"([a-z0-9_]+(?:/[a-z0-9_]+)*\.(?:py|sh))(?: \(via (\w+)\))?:", note)]


@pytest.mark.parametrize("path", sorted(p for p in applied.APPLIED if p in PATHS))
def test_applied_notes_name_code_that_reads_the_key(path):
    note = applied.APPLIED[path]
    claims = _claims(note)
    assert claims, f"{path}: the note names no file under src/aiinfra: {note!r}"
    attribute = PATHS[path][0]
    for file, via in claims:
        assert not file.startswith("spec/"), f"{path}: {file} is the spec itself (validation is not application)"
        source = (SRC / file).read_text()
        assert re.search(rf"\b{re.escape(via or attribute)}\b", source), f"{path}: {file} never mentions {via or attribute!r}"


def test_the_honesty_check_can_fail():
    # Three claims checked by hand, and one false claim that the check above would reject.
    for path, file in (("growth_forecast.qps_growth", "planner/compute.py"), ("clouds.gcp.billing_account", "stacks/gcp.py"),
                       ("workload_inventory[].command", "boot/workload.py")):
        assert file in applied.APPLIED[path] and f".{PATHS[path][0]}" in (SRC / file).read_text()
    assert "horizon_months" not in (SRC / "planner/compute.py").read_text()  # so "planner/compute.py: ..." for it would fail


# ---- (b) the reference example -----------------------------------------------------------

def _pattern(path: str) -> str:
    p = re.sub(r"\[\d+\]", "[]", path)
    return re.sub(r"^resource_quotas\.[a-z]+", "resource_quotas.*", p)


@pytest.fixture(scope="module")
def reference_plan():
    return make_plan(load_spec(REFERENCE))


def test_reference_lists_the_known_not_applied_keys(reference_plan):
    got = {n.path: n.reason for n in reference_plan.not_applied}
    # Issue 30 builds the guide's CDN, ingestion and cache (planner/pipeline.py): only the cache's engine name is not read.
    assert "network.inference_network.cdn" not in got
    # Issue 15 applies the guide's Step 4: only the keys nothing reads are left.
    assert "Workforce Identity Federation" in got["security_controls.access_management.identity_provider"]
    assert "security_controls.access_management.rbac" in got and "security_controls.data_protection.encryption_in_transit" in got
    for path in ("security_controls", "security_controls.network_security.intrusion_detection",
                 "security_controls.network_security.vulnerability_scanning", "security_controls.network_security.network_segmentation",
                 "security_controls.access_management.api_authentication", "security_controls.data_protection.key_management",
                 "cost_optimization.lifecycle_management.data_retention"):
        assert path not in got, path
    assert not any(p.startswith(("data_pipeline.ingestion", "data_pipeline.serving[0].cache_size", "data_pipeline.serving[0].ttl"))
                   for p in got)
    assert "data_pipeline.serving" not in got and "not read" in got["data_pipeline.serving[0].cache_layer"]
    assert "production" in got["resource_quotas.development"]
    assert "resource_quotas.production.persistentvolumeclaims" in got
    assert "right-sizing" in got["cost_optimization.right_sizing.method"]
    assert "scale_up_or_notify" in got["alerting_rules[0].action"]
    assert "workload_inventory[0].framework" in got and "storage_tiers.hot" in got
    assert "production environment" in got["cost_optimization.scheduling.preemptible_vms"]
    # Applied there: the spark ETL takes preprocessing[0].cluster_size, the failure rule restarts runs.
    for path in ("workload_inventory[3].framework", "data_pipeline.preprocessing[0]", "data_pipeline.preprocessing[0].cluster_size",
                 "alerting_rules[2].action", "resource_quotas.production.requests.cpu", "storage_tiers.warm"):
        assert path not in got, path


def test_reference_lists_no_applied_key(reference_plan):
    for n in reference_plan.not_applied:
        pattern = _pattern(n.path)
        assert pattern in applied.NOT_APPLIED or pattern in applied.CONDITIONS, f"{n.path} is listed but {pattern} is APPLIED"
        assert n.reason


# ---- (c) set keys only ---------------------------------------------------------------------

TRAIN = """
- name: train
  type: training
  gpu_requirements: "8x A100"
  training_frequency: weekly
  estimated_runtime: "12 hours"
"""


def _listed(fake_catalog, workloads=TRAIN, **kw):
    loaded = load_spec_text(make_spec(workloads, **kw), catalog=fake_catalog)
    return {n.path: n.reason for n in make_plan(loaded, fake_catalog).not_applied}


def test_a_key_set_is_listed_and_the_same_key_unset_is_not(fake_catalog):
    assert _listed(fake_catalog) == {}
    got = _listed(fake_catalog, extra="network:\n  inference_network:\n    cdn: enabled_for_static_content\n")
    assert list(got) == ["network.inference_network.cdn"]
    got = _listed(fake_catalog, TRAIN + '  description: "weekly fraud model"\n')
    assert list(got) == ["workload_inventory[0].description"]
    # A key written with its default value changes nothing and is not listed.
    assert _listed(fake_catalog, TRAIN + "  env: {}\n") == {}


def test_keys_applied_in_some_specs_only(fake_catalog):
    quotas = "resource_quotas:\n  {env}:\n    limits.cpu: \"10\"\n    requests.nvidia.com/gpu: \"64\"\n"
    got = _listed(fake_catalog, extra=quotas.format(env="staging"))
    assert list(got) == ["resource_quotas.staging"] and "this plan is for production" in got["resource_quotas.staging"]
    got = _listed(fake_catalog, extra=quotas.format(env="production"))
    assert list(got) == ["resource_quotas.production.limits.cpu"]
    got = _listed(fake_catalog, TRAIN + '  schedule: "0 1 * * 6"\n')
    assert list(got) == ["workload_inventory[0].training_frequency"]
    got = _listed(fake_catalog, TRAIN + "  nodes: \"2-4\"\n")
    assert list(got) == ["workload_inventory[0].nodes"]
    dev_spot = "cost_optimization:\n  scheduling:\n    preemptible_vms: development_environments\n"
    assert list(_listed(fake_catalog, extra=dev_spot)) == ["cost_optimization.scheduling.preemptible_vms"]
    assert _listed(fake_catalog, extra=dev_spot, environment="development") == {}


def test_a_block_whose_keys_share_its_reason_is_one_entry(fake_catalog):
    # No serving workload: no cache is built from either entry (planner/pipeline.py), each entry one line for its keys.
    extra = "data_pipeline:\n  serving:\n    - cache_layer: redis\n      cache_size: 10GB\n    - ttl: 1 hour\n"
    got = _listed(fake_catalog, extra=extra)
    assert list(got) == ["data_pipeline.serving[0]", "data_pipeline.serving[1]"] and "no serving workload" in got["data_pipeline.serving[1]"]
    # Keys of one block with different reasons are one entry each (issue 15 applies the rest of the block).
    extra = "security_controls:\n  access_management:\n    - identity_provider: ldap\n    - rbac: custom\n"
    assert list(_listed(fake_catalog, extra=extra)) == ["security_controls.access_management.identity_provider",
                                                        "security_controls.access_management.rbac"]
    # Applied controls are not listed, unless the value turns them off.
    extra = "security_controls:\n  network_security:\n    - intrusion_detection: ids\n    - vulnerability_scanning: none\n"
    got = _listed(fake_catalog, extra=extra)
    assert "security_controls.network_security.intrusion_detection" not in got
    assert "turns it off" in got["security_controls.network_security.vulnerability_scanning"]


# ---- (d) every format shows them ---------------------------------------------------------------

def test_text_markdown_and_json_show_them(reference_plan):
    cdn = next(n for n in reference_plan.not_applied if n.path == "network.inference_network.load_balancer")
    text = plan_text(reference_plan)
    assert "\nNot applied" in text and f"  {cdn.path} \u2014 {cdn.reason}\n" in text
    assert text.index("\nFindings") < text.index("\nNot applied")
    md = plan_markdown(reference_plan)
    assert "#### Not applied" in md and f"| `{cdn.path}` | {cdn.reason} |" in md
    d = json.loads(plan_json(reference_plan))
    assert list(d).index("not_applied") == list(d).index("findings") + 1
    assert {"path": cdn.path, "reason": cdn.reason} in d["not_applied"]
    assert all(set(x) == {"path", "reason"} for x in d["not_applied"])


def test_a_plan_with_nothing_unapplied_has_no_section(fake_catalog):
    plan = make_plan(load_spec_text(make_spec(TRAIN), catalog=fake_catalog), fake_catalog)
    assert plan.not_applied == [] and "Not applied" not in plan_text(plan) and "Not applied" not in plan_markdown(plan)
    assert json.loads(plan_json(plan))["not_applied"] == []
