"""Tests of the google provider schema oracle (tests/gcp_schema.py) itself."""

from __future__ import annotations

import copy
import re

import pytest

try:  # `python -m pytest` (the Makefile) puts the repo root on sys.path; bare `pytest` only tests/
    from tests.gcp_schema import BLOCK_KINDS, KINDS, all_blocks, check_stack, load_schema
except ModuleNotFoundError:  # pragma: no cover
    from gcp_schema import BLOCK_KINDS, KINDS, all_blocks, check_stack, load_schema

TPL = "google_compute_instance_template"
NAME = "nodes_template_ABC"


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def template_body() -> dict:
    return {
        "//": {"metadata": {"path": "stack/nodes/template", "uniqueId": NAME}},
        "name_prefix": "nodes-",
        "machine_type": "a3-highgpu-8g",
        "disk": [{
            "source_image": "projects/debian-cloud/global/images/family/debian-12",
            "boot": True,
            "auto_delete": True,
            "disk_size_gb": 200,
            "disk_encryption_key": {"kms_key_self_link": "${google_kms_crypto_key.disk_key.id}"},
        }],
        "network_interface": [{"subnetwork": "${google_compute_subnetwork.private.id}"}],
        "scheduling": {"on_host_maintenance": "TERMINATE", "automatic_restart": True},
        "shielded_instance_config": {"enable_secure_boot": True},
        "guest_accelerator": [{"type": "nvidia-h100-80gb", "count": 8}],
        "labels": {"team": "ml"},
        "tags": ["gpu-nodes"],
        "lifecycle": {"create_before_destroy": True},
        "depends_on": ["google_kms_crypto_key_iam_member.compute_agent"],
    }


def stack(body: dict | None = None, rtype: str = TPL, **extra) -> dict:
    doc = {
        "//": {"metadata": {"backend": "gcs", "stackName": "test"}},
        "terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}},
                      "backend": {"gcs": {"bucket": "state", "prefix": "test"}}},
        "resource": {rtype: {NAME: template_body() if body is None else body}},
    }
    doc.update(extra)
    return doc


def test_schema_shape(schema):
    assert len(schema.resources) > 1000 and len(schema.data) > 300
    assert re.fullmatch(r"\d+\.\d+\.\d+", schema.version)
    tpl = schema[TPL]
    assert tpl["machine_type"].required and tpl["machine_type"].kind == "string"
    assert tpl["disk"].kind == "block_list" and tpl["disk"].required
    assert tpl["scheduling"].kind == "block" and not tpl["scheduling"].required
    assert tpl["disk"].block["disk_encryption_key"].block["kms_key_self_link"].kind == "string"
    assert tpl["can_ip_forward"].kind == "bool" and tpl["labels"].kind == "map" and tpl["tags"].kind == "list_of_primitive"
    assert tpl["guest_accelerator"].block["count"].kind == "number"
    # every argument of every block has a known kind, and only blocks carry a nested Block
    for blk in all_blocks(schema):
        for arg in blk.args.values():
            assert arg.kind in KINDS
            assert (arg.block is not None) == (arg.kind in BLOCK_KINDS), arg


def test_names_come_from_registry_anchors_not_camel_case(schema):
    # cdktf renames these properties; the registry anchor keeps the Terraform name.
    assert "build" in schema["google_cloudbuild_trigger"]
    assert "build_attribute" not in schema["google_cloudbuild_trigger"]
    amf = schema[TPL]["advanced_machine_features"].block
    assert "threads_per_core" in amf


def test_correct_template_passes():
    assert check_stack(stack()) == []


def test_misspelt_top_level_argument_fails():
    body = template_body()
    body["machine_typ"] = body.pop("machine_type")
    problems = check_stack(stack(body))
    assert any(p.startswith(f"{TPL}.{NAME}.machine_typ: unknown argument") and "machine_type" in p for p in problems), problems
    assert any("missing required argument 'machine_type'" in p for p in problems), problems


def test_misspelt_nested_argument_fails_with_path():
    body = template_body()
    body["disk"][0]["disk_encryption_key"] = {"kms_key_self_linkk": "x"}
    problems = check_stack(stack(body))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{TPL}.{NAME}.disk[0].disk_encryption_key.kms_key_self_linkk: unknown argument")


def test_nested_block_as_object_path_has_no_index():
    body = template_body()
    body["scheduling"]["on_host_maintenanse"] = "TERMINATE"
    assert check_stack(stack(body)) == [
        f"{TPL}.{NAME}.scheduling.on_host_maintenanse: unknown argument (did you mean 'on_host_maintenance'?)"]


def test_missing_required_argument_fails():
    body = template_body()
    del body["machine_type"]
    problems = check_stack(stack(body))
    assert problems == [f"{TPL}.{NAME}: missing required argument 'machine_type' (string)"]


def test_missing_required_inside_present_nested_block_fails():
    body = template_body()
    body["guest_accelerator"] = [{"type": "nvidia-l4"}]
    problems = check_stack(stack(body))
    assert problems == [f"{TPL}.{NAME}.guest_accelerator[0]: missing required argument 'count' (number)"]


def test_required_inside_absent_nested_block_is_not_demanded():
    body = template_body()
    del body["guest_accelerator"]  # its type/count are required, but only when the block is given
    assert check_stack(stack(body)) == []


def test_unknown_resource_type_fails():
    problems = check_stack(stack({"name": "x"}, rtype="google_compute_instance_templat"))
    assert len(problems) == 1
    assert problems[0].startswith("google_compute_instance_templat: unknown resource type")
    assert "google_compute_instance_template" in problems[0]


def test_other_providers_are_ignored():
    doc = stack()
    doc["resource"]["random_id"] = {"suffix": {"byte_length": 4, "whatever": 1}}
    assert check_stack(doc) == []


def test_block_given_as_string_fails():
    body = template_body()
    body["scheduling"] = "TERMINATE"
    problems = check_stack(stack(body))
    assert len(problems) == 1 and problems[0].startswith(f"{TPL}.{NAME}.scheduling: scheduling is a nested block"), problems


def test_block_given_as_reference_fails():
    # Terraform JSON syntax needs an object (or list of objects) for a block; use a dynamic block instead.
    body = template_body()
    body["network_interface"] = "${var.nics}"
    assert len(check_stack(stack(body))) == 1


def test_scalar_given_as_object_or_list_fails():
    body = template_body()
    body["machine_type"] = {"name": "a3-highgpu-8g"}
    body["labels"] = ["a"]
    body["tags"] = "gpu"
    problems = check_stack(stack(body))
    assert len(problems) == 3, problems
    assert any(".machine_type: machine_type is a string, got an object" in p for p in problems)
    assert any(".labels: labels is a map" in p for p in problems)
    assert any(".tags: tags is a list" in p for p in problems)


def test_single_block_given_twice_fails():
    body = template_body()
    body["scheduling"] = [{"on_host_maintenance": "TERMINATE"}, {"preemptible": True}]
    problems = check_stack(stack(body))
    assert problems == [f"{TPL}.{NAME}.scheduling: at most one scheduling block is allowed, got 2"]


def test_list_block_given_as_single_object_passes():
    body = template_body()
    body["disk"] = body["disk"][0]
    assert check_stack(stack(body)) == []


def test_reference_passes_for_number_and_bool():
    body = template_body()
    body["guest_accelerator"][0]["count"] = "${var.gpu_count}"
    body["disk"][0]["disk_size_gb"] = "${local.disk_gb}"
    body["can_ip_forward"] = "${var.forward}"
    assert check_stack(stack(body)) == []


def test_terraform_conversions_pass_but_nonsense_fails():
    body = template_body()
    body["description"] = 12  # number -> string converts
    body["disk"][0]["disk_size_gb"] = "200"  # numeric string -> number converts
    body["can_ip_forward"] = "false"
    assert check_stack(stack(body)) == []
    body["disk"][0]["disk_size_gb"] = "big"
    body["can_ip_forward"] = 1
    problems = check_stack(stack(body))
    assert len(problems) == 2, problems


def test_dynamic_blocks_are_checked():
    body = template_body()
    del body["guest_accelerator"]
    body["dynamic"] = {"guest_accelerator": {"for_each": "${var.accels}", "iterator": "each",
                                             "content": {"type": "${each.value.type}", "count": "${each.value.count}"}}}
    assert check_stack(stack(body)) == []
    body["dynamic"]["guest_accelerator"]["content"]["cnt"] = 1
    body["dynamic"]["machine_type"] = {"for_each": [], "content": {}}
    problems = check_stack(stack(body))
    assert len(problems) == 2, problems
    assert any(p.startswith(f"{TPL}.{NAME}.dynamic.guest_accelerator.content.cnt: unknown argument") for p in problems)


def test_dynamic_block_satisfies_required_block():
    body = template_body()
    disk = body.pop("disk")[0]
    body["dynamic"] = {"disk": {"for_each": "${var.disks}", "content": disk}}
    assert check_stack(stack(body)) == []


def test_provider_google_passes_and_typo_fails():
    ok = stack(provider={"google": [{"project": "acme-ml", "region": "us-central1", "default_labels": {"team": "ml"}}]})
    assert check_stack(ok) == []
    bad = stack(provider={"google": [{"project": "acme-ml", "regoin": "us-central1"}]})
    assert check_stack(bad) == ["provider.google[0].regoin: unknown argument (did you mean 'region'?)"]


def test_data_source_compute_image_passes_and_typo_fails():
    data = {"google_compute_image": {"debian": {"family": "debian-12", "project": "debian-cloud"}},
            "google_storage_project_service_account": {"gcs": {"project": "acme-ml"}}}
    assert check_stack(stack(data=data)) == []
    data["google_compute_image"]["debian"]["familly"] = "x"
    problems = check_stack(stack(data=data))
    assert problems == ["data.google_compute_image.debian.familly: unknown argument (did you mean 'family'?)"]
    assert check_stack(stack(data={"google_compute_imag": {"x": {}}}))[0].startswith("data.google_compute_imag: unknown data source")


def test_service_identity_is_beta_only_so_the_key_grants_use_ga_lookups():
    # EncryptionKey builds the agents' addresses from google_storage_project_service_account and
    # google_project instead, both in the GA provider.
    schema = load_schema()
    assert "google_project_service_identity" not in schema.resources
    assert {"google_storage_project_service_account", "google_project"} <= set(schema.data)


def test_beta_only_type_is_reported_with_a_hint():
    doc = stack()
    doc["resource"]["google_project_service_identity"] = {"compute": {"provider": "google-beta", "service": "compute.googleapis.com"}}
    problems = check_stack(doc)
    assert len(problems) == 1 and "google-beta" in problems[0], problems


def test_check_stack_does_not_mutate_input():
    doc = stack()
    before = copy.deepcopy(doc)
    check_stack(doc)
    assert doc == before


EMITTED_RESOURCES = [
    "google_kms_key_ring", "google_kms_crypto_key", "google_kms_crypto_key_iam_member",
    "google_compute_network", "google_compute_subnetwork", "google_compute_router", "google_compute_router_nat",
    "google_compute_firewall", "google_compute_resource_policy", "google_compute_region_instance_template",
    "google_compute_instance_template", "google_compute_region_instance_group_manager", "google_compute_region_autoscaler",
    "google_storage_bucket", "google_storage_bucket_iam_member", "google_service_account", "google_compute_health_check",
    "google_compute_backend_service", "google_compute_url_map", "google_compute_target_https_proxy",
    "google_compute_ssl_policy", "google_compute_global_forwarding_rule", "google_compute_global_address",
    "google_compute_managed_ssl_certificate", "google_monitoring_alert_policy", "google_monitoring_notification_channel",
    "google_compute_disk", "google_compute_region_disk", "google_project_iam_member",
]
EMITTED_DATA = ["google_storage_project_service_account", "google_compute_image", "google_project", "google_client_config"]


@pytest.mark.parametrize("rtype", EMITTED_RESOURCES)
def test_schema_knows_emitted_resource_types(schema, rtype):
    assert rtype in schema.resources


@pytest.mark.parametrize("dtype", EMITTED_DATA)
def test_schema_knows_emitted_data_sources(schema, dtype):
    assert dtype in schema.data


def test_check_stack_is_fast():
    import time

    doc = stack()
    check_stack(doc)
    t0 = time.perf_counter()
    for _ in range(200):
        check_stack(doc)
    assert (time.perf_counter() - t0) / 200 < 0.005
