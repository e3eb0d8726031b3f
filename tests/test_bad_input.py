"""The bad-input suite: one test per case in the issue. Each runs the real CLI and asserts
exit 2, one `<path>: <message>` line per problem, no traceback, and nothing written."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, make_spec

GOOD = """
- name: train
  type: training
  gpu_requirements: "8x A100"
  training_frequency: weekly
  estimated_runtime: "12 hours"
"""


def run_bad(tmp_path, text, *extra):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "plan.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "plan", str(spec), "--format", "json", "--out", str(out), *extra],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "something was written"
    lines = r.stderr.strip().splitlines()
    assert lines and all(": " in line for line in lines)
    return lines


def one_line(tmp_path, text, path, *needles):
    lines = run_bad(tmp_path, text)
    hits = [line for line in lines if line.startswith(f"{path}: ")]
    assert hits, lines
    for needle in needles:
        assert needle in hits[0], hits[0]
    return hits[0]


def test_yaml_syntax_error(tmp_path):
    one_line(tmp_path, "project: acme\nclouds: [aws\n", "<yaml>", "line")


def test_duplicate_keys(tmp_path):
    one_line(tmp_path, make_spec(GOOD).replace("project: acme-ml", "project: acme-ml\nproject: other"), "project", "duplicate key 'project'")


def test_alias_bomb(tmp_path):
    bomb = "".join(f"l{i}: &l{i} [*l{i-1}, *l{i-1}, *l{i-1}, *l{i-1}]\n" if i else "l0: &l0 [lol]\n" for i in range(10))
    one_line(tmp_path, bomb, "<yaml>", "anchors are not allowed")


def test_deep_nesting(tmp_path):
    one_line(tmp_path, make_spec(GOOD, extra="network:\n" + "".join("  " * (i + 1) + f"n{i}:\n" for i in range(30)) + "  " * 31 + "x: 1\n"),
             "network" + "".join(f".n{i}" for i in range(19)), "nesting deeper than 20")


def test_unknown_key(tmp_path):
    one_line(tmp_path, make_spec(GOOD + "  gpu_requirement: \"1x T4\"\n"), "workload_inventory[0].gpu_requirement",
             "did you mean 'gpu_requirements'?")


def test_missing_unit(tmp_path):
    one_line(tmp_path, make_spec(GOOD + "  dataset_size: 500\n"), "workload_inventory[0].dataset_size", "has no unit", "500GB")


@pytest.mark.parametrize("field,value", [("gpu_requirements", '"0x A100"'), ("gpu_requirements", '"-8x A100"'), ("estimated_runtime", '"-3 hours"')])
def test_negative_or_zero_counts(tmp_path, field, value):
    text = make_spec(GOOD.replace('"8x A100"', value) if field == "gpu_requirements" else GOOD.replace('"12 hours"', value))
    one_line(tmp_path, text, f"workload_inventory[0].{field}")


def test_zero_quota(tmp_path):
    one_line(tmp_path, make_spec(GOOD, extra='resource_quotas:\n  production:\n    requests.nvidia.com/gpu: "0"\n'),
             "resource_quotas.production.requests.nvidia.com/gpu", "greater than zero")


def test_workload_pinned_to_unconfigured_cloud(tmp_path):
    one_line(tmp_path, make_spec(GOOD + "  cloud: gcp\n"), "workload_inventory[0].cloud", "'gcp'", "not in clouds")


def test_unknown_gpu_gets_did_you_mean(tmp_path):
    one_line(tmp_path, make_spec(GOOD.replace("A100", "A1OO")), "workload_inventory[0].gpu_requirements",
             "unknown GPU 'A1OO'; did you mean 'A100'?", "known: A100, A10G, B200, H100")


def test_gpu_no_configured_cloud_offers(tmp_path):
    clouds = "  gcp: {region: us-central1, project: acme-ml-prod}"
    one_line(tmp_path, make_spec(GOOD.replace("A100", "A10G"), clouds=clouds), "workload_inventory[0].gpu_requirements",
             "A10G is not offered on cloud 'gcp'", "offered on: aws")


def test_gpu_count_no_shape_can_hold(tmp_path):
    one_line(tmp_path, make_spec(GOOD.replace("8x A100", "12x A100")), "workload_inventory[0].gpu_requirements",
             "does not fill whole nodes", "holds 8 GPUs")


def test_gpu_not_in_the_chosen_region(tmp_path):
    one_line(tmp_path, make_spec(GOOD.replace("8x A100", "8x L40S") + "  region: eu-west-1\n"), "workload_inventory[0].gpu_requirements",
             "no aws shape offers L40S in eu-west-1", "offered in:")


def test_unknown_region(tmp_path):
    # us-east-7 is no typo of us-east-1 or us-east-2 (another number, another place): no guess, the list.
    one_line(tmp_path, make_spec(GOOD, clouds="  aws: {region: us-east-7}"), "clouds.aws.region", "unknown aws region 'us-east-7'; known: ap-northeast-1, ", "eu-west-1, ", "us-east-1, ", "aiinfra catalog refresh")


def test_every_problem_at_once(tmp_path):
    text = make_spec(GOOD.replace("A100", "A1OO") + "  dataset_size: 500\n  cloud: gcp\n", extra="alerting_rules:\n  - name: x\n    condition: \"gpu_tmp > 80\"\n    severity: warning\n")
    lines = run_bad(tmp_path, text)
    # The unit error is reported with its line, and the checks past the schema still run on the rest.
    paths = {line.split(": ")[0] for line in lines}
    assert {"workload_inventory[0].dataset_size", "workload_inventory[0].cloud", "alerting_rules[0].condition"} <= paths, lines
    text = make_spec(GOOD.replace("A100", "A1OO") + "  cloud: gcp\n", extra="alerting_rules:\n  - name: x\n    condition: \"gpu_tmp > 80\"\n    severity: warning\n")
    lines = run_bad(tmp_path, text)
    paths = {line.split(": ")[0] for line in lines}
    assert {"workload_inventory[0].cloud", "alerting_rules[0].condition"} <= paths


def test_a_key_typo_does_not_hide_a_gpu_typo_in_the_same_file(tmp_path):
    text = make_spec(GOOD.replace("A100", "A1OO") + "  dataset_sise: 500GB\n", clouds="  aws: {region: us-east-l}")
    lines = run_bad(tmp_path, text)
    by_path = {line.split(": ")[0]: line for line in lines}
    assert "did you mean 'dataset_size'?" in by_path["workload_inventory[0].dataset_sise"]
    assert "unknown GPU 'A1OO'; did you mean 'A100'?" in by_path["workload_inventory[0].gpu_requirements"]
    assert "unknown aws region 'us-east-l'; did you mean 'us-east-1'?" in by_path["clouds.aws.region"]
    assert by_path["workload_inventory[0].gpu_requirements"].endswith("(line 9)"), lines  # lines of the file, not of what was checked
    assert len(lines) == 3, lines


def test_a_misspelt_key_and_a_misspelt_value_still_have_the_rest_checked(tmp_path):
    # gpu_requirement (a key typo) is checked as the gpu_requirements it is reported to mean; 'trainning'
    # as 'training'; the second workload keeps its own index in the report.
    text = make_spec(GOOD + '- name: reco\n  type: trainning\n  gpu_requirement: "1x V100"\n  dataset_size: "1 parsec"\n')
    lines = run_bad(tmp_path, text)
    by_path: dict[str, list[str]] = {}
    for line in lines:
        by_path.setdefault(line.split(": ")[0], []).append(line)
    assert "did you mean 'training'?" in by_path["workload_inventory[1].type"][0]
    assert "workload_inventory[1].dataset_size" in by_path
    key, gpu = by_path["workload_inventory[1].gpu_requirement"]
    assert "did you mean 'gpu_requirements'?" in key and "unknown GPU 'V100'; known: A100" in gpu
    assert not any(p.startswith("workload_inventory[0]") for p in by_path), lines


def test_did_you_mean_only_for_close_matches():
    from aiinfra.catalog import load_catalog
    from aiinfra.spec import close_matches, did_you_mean

    cat = load_catalog()
    gpus, aws, gcp = cat.gpu_names(), cat.regions("aws"), cat.regions("gcp")
    assert close_matches("us-east-l", aws) == ["us-east-1"]  # a letter l for a one, not us-east-2
    assert close_matches("us-east-7", aws) == [] and close_matches("europe-west2", gcp) == []  # other numbers are other places
    assert close_matches("us-centrl1", gcp) == ["us-central1"]
    assert close_matches("us-est-1", aws) == ["us-east-1", "us-west-1"]  # equally close: both named, none picked
    # Part codes: one replaced character is another real part (B200 / H200, L4 / T4), never a typo.
    assert close_matches("B100", gpus) == [] and close_matches("T5", gpus) == [] and close_matches("B300", gpus) == []
    assert close_matches("B2OO", gpus) == ["B200"] and close_matches("A1OO", gpus) == ["A100"]
    assert close_matches("L44", gpus) == ["L4"] and close_matches("H1000", gpus) == ["H100"]
    assert close_matches("TPU v5e", gpus) == ["TPU-v5e"]
    assert did_you_mean("B100", gpus, "GPU").startswith("unknown GPU 'B100'; known: A100, A10G, B200")
    assert "did you mean 'L4' or 'L40S'?" in did_you_mean("L40", ["L4", "L40S", "T4"], "GPU")  # one away from both: both named


def test_not_a_mapping(tmp_path):
    one_line(tmp_path, "- just\n- a list\n", "<root>", "must be a mapping")


def test_wrong_types(tmp_path):
    one_line(tmp_path, make_spec(GOOD + "  spot: maybe\n"), "workload_inventory[0].spot", "true or false")
    one_line(tmp_path, make_spec(GOOD).replace("workload_inventory:\n", "workload_inventory: {}\nx_unused:\n"), "workload_inventory")


def test_missing_spec_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "validate", str(tmp_path / "nope.yaml")], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip() == f"{tmp_path / 'nope.yaml'}: no such file"
