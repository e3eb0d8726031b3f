"""Issue 26, catalog side: current AWS accelerator prices, new parts, the catalog's date in every plan, staleness."""
import json

import pytest

from aiinfra.catalog import load_catalog
from aiinfra.planner import catalog_staleness
from aiinfra.spec.units import parse_gpu_ask

V8 = "https://github.com/skypilot-org/skypilot-catalog/blob/00148f2af3672e2229b4f7bf8157d5a3f36e3c35/catalogs/v8/aws/vms.csv"
# (instance type, region, on-demand USD/h as published, source)
LIST_PRICES = [
    ("p5.48xlarge", "us-east-1", 55.04, V8),
    ("p4d.24xlarge", "us-east-1", 21.957642, V8),
    ("p5en.48xlarge", "us-east-1", 63.296, V8),
    ("p6-b200.48xlarge", "us-east-1", 113.9328, V8),
    ("inf2.xlarge", "us-east-1", 0.7582, V8),
    ("trn1.32xlarge", "us-east-1", 21.5, V8),
]


@pytest.mark.parametrize("shape,region,price,source", LIST_PRICES)
def test_catalog_matches_published_list_price(shape, region, price, source):
    [o] = [o for o in load_catalog().offers("aws", region) if o.instance_type == shape]
    assert o.on_demand_usd_hr == pytest.approx(price, rel=0.01), source


@pytest.mark.parametrize("text,model,count", [("8x TPU v5e", "TPU V5E", 8), ("4x TPU-v5p", "TPU-V5P", 4), ("1x Inferentia2", "INFERENTIA2", 1),
                                              ("16x Trainium", "TRAINIUM", 16), ("8x B200", "B200", 8), ("8x A100-80GB", "A100", 8),
                                              ("8x A100 80GB", "A100", 8), ("nvidia tesla t4", "T4", 1)])
def test_gpu_asks_of_several_words_parse(text, model, count):
    ask = parse_gpu_ask(text)
    assert (ask.model, ask.count) == (model, count)


def test_neuron_rows_count_chips_and_memory_per_chip():
    cat = load_catalog()
    [trn] = [o for o in cat.offers("aws", "us-east-1") if o.instance_type == "trn1.32xlarge"]
    assert (trn.gpu, trn.gpu_count, trn.gpu_memory_gib, trn.efa_interfaces) == ("Trainium", 16, 32, 8)
    assert cat.gpus["Trainium2"].vendor == "aws" and cat.gpus["Trainium2"].fp8_tensor_tflops == 1299
    assert cat.gpus["A100"].fp8_tensor_tflops is None and cat.gpus["Inferentia2"].int8_tensor_tops == 380


def test_staleness_warns_only_past_90_days():
    import datetime
    assert catalog_staleness({"aws": "2026-12-07"}, on=datetime.date(2026, 12, 8)) is None
    msg = catalog_staleness({"aws": "2026-12-07"}, on=datetime.date(2026, 12, 7) + datetime.timedelta(days=91))
    assert "91 days old" in msg and "aiinfra catalog refresh" in msg


SPEC = """project: acme-ml
clouds:
  aws: {{region: {region}}}
workload_inventory:
  - name: "w"
    type: "training"
    dataset_size: "500GB"
    gpu_requirements: "{ask}"
    training_frequency: "weekly"
    estimated_runtime: "12 hours"
"""


def _plan(tmp_path, monkeypatch, ask, region="us-east-1", today="2026-12-08", fmt="json"):
    from aiinfra.cli import main
    monkeypatch.setenv("AIINFRA_TODAY", today)
    p = tmp_path / "s.yaml"
    p.write_text(SPEC.format(ask=ask, region=region))
    try:
        return main(["plan", str(p), "--format", fmt])
    except SystemExit as exc:  # the CLI exits with the plan's status
        return exc.code


@pytest.mark.parametrize("ask,shape", [("8x B200", "p6-b200.48xlarge"), ("16x Trainium", "trn1.32xlarge")])
def test_new_accelerators_plan_on_aws(tmp_path, monkeypatch, capsys, ask, shape):
    assert _plan(tmp_path, monkeypatch, ask) in (0, None)
    plan = json.loads(capsys.readouterr().out)
    assert plan["workloads"][0]["instance_type"] == shape


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_catalog_date_in_every_plan_format(tmp_path, monkeypatch, capsys, fmt):
    assert _plan(tmp_path, monkeypatch, "8x B200", fmt=fmt) in (0, None)
    assert "2026-12-07" in capsys.readouterr().out


def test_stale_catalog_is_a_plan_warning(tmp_path, monkeypatch, capsys):
    _plan(tmp_path, monkeypatch, "8x B200", today="2027-03-08", fmt="text")
    out = capsys.readouterr()
    assert "older than 90 days" in out.out + out.err and "aiinfra catalog refresh" in out.out + out.err


# ---- GCP half: TPU VMs, A4, every region --------------------------------------------------------------------------

V8_GCP = "https://github.com/skypilot-org/skypilot-catalog/blob/006059e0f18acb1341e22a27751e9f80df6ba92f/catalogs/v8/gcp/vms.csv"
# (instance type, region, on-demand USD/h, how it is made of the source's rows)
GCP_LIST_PRICES = [
    ("a3-highgpu-8g", "us-east4", 9.46006 + 78.37241, V8_GCP + ": host a3-highgpu-8g + H100 x8"),
    ("a4-highgpu-8g", "us-central1", 0.0 + 90.216, V8_GCP + ": host a4-highgpu-8g (0.0) + B200 x8"),
    ("a4-highgpu-8g", "us-east4", 64.44, V8_GCP + ": host a4-highgpu-8g (0.0) + B200 x8"),
    ("v5litepod-8", "us-central1", 9.6, V8_GCP + ": tpu-v5litepod-8 (1.20 a chip-hour x 8)"),
    ("v6e-8", "us-central1", 21.6, V8_GCP + ": tpu-v6e-8 (2.70 a chip-hour x 8)"),
    ("v5p-8", "us-central1", 16.8, V8_GCP + ": tpu-v5p-8 (4.20 a chip-hour x 4 chips)"),
]


@pytest.mark.parametrize("shape,region,price,source", GCP_LIST_PRICES)
def test_gcp_rows_match_the_source(shape, region, price, source):
    [o] = [o for o in load_catalog().offers("gcp", region) if o.instance_type == shape]
    assert o.on_demand_usd_hr == pytest.approx(price, rel=1e-6), source


def test_tpu_rows_follow_the_provisioning_conventions():
    cat = load_catalog()
    want = {"v5litepod-1": ("TPU-v5e", 1, 16, "tpu-v5e"), "v5litepod-4": ("TPU-v5e", 4, 16, "tpu-v5e"),
            "v5litepod-8": ("TPU-v5e", 8, 16, "tpu-v5e"), "v5p-8": ("TPU-v5p", 4, 95, "tpu-v5p"),
            "v6e-1": ("TPU-v6e", 1, 32, "tpu-v6e"), "v6e-4": ("TPU-v6e", 4, 32, "tpu-v6e"), "v6e-8": ("TPU-v6e", 8, 32, "tpu-v6e")}
    seen = set()
    for o in cat.offers(cloud="gcp"):
        if o.instance_type in want:
            seen.add(o.instance_type)
            assert (o.gpu, o.gpu_count, o.gpu_memory_gib, o.family) == want[o.instance_type]
            assert o.accelerator_type == o.instance_type
    assert seen == set(want)
    assert cat.gpus["TPU-v5e"].vendor == "google" and cat.gpus["TPU-v6e"].int8_tensor_tops == 1836
    for name in ("TPU v5e", "tpu-v5e", "v5e", "TPU v6e", "TPU-v5p"):
        assert cat.gpu_name(name) in {"TPU-v5e", "TPU-v6e", "TPU-v5p"}, name
    # SkyPilot's 700.0 placeholder is not a price
    assert not [o for o in cat.offers(cloud="gcp") if o.on_demand_usd_hr == 700.0 or o.spot_usd_hr == 700.0]


def test_a4_and_a3_ultra_rows():
    cat = load_catalog()
    a4 = [o for o in cat.offers(cloud="gcp") if o.instance_type == "a4-highgpu-8g"]
    assert len({o.region for o in a4}) >= 9
    assert all((o.gpu, o.gpu_count, o.accelerator_type, o.gpudirect, o.gpu_nics, o.nic_mtu) == ("B200", 8, "nvidia-b200", "rdma", 8, 8896) for o in a4)
    ultra = {o.region for o in cat.offers(cloud="gcp") if o.instance_type == "a3-ultragpu-8g"}
    assert {"us-central1", "us-east4", "europe-west4", "us-west1"} <= ultra


def _plan_region(tmp_path, cloud, region, ask, kind="training", extra=""):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    project = ", project: regions-check-1" if cloud == "gcp" else ""
    spec = tmp_path / f"{cloud}-{region}.yaml"
    spec.write_text(f"""project: regions
clouds:
  {cloud}: {{region: {region}{project}}}
workload_inventory:
  - name: work
    type: {kind}
    gpu_requirements: "{ask}"
{extra}""")
    return make_plan(load_spec(spec))


TRAINING = "    training_frequency: weekly\n    estimated_runtime: \"2 hours\"\n"


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_region_is_plannable_for_something_it_offers(tmp_path, cloud):
    cat = load_catalog()
    regions = sorted({o.region for o in cat.offers(cloud=cloud)})
    assert len(regions) >= (18 if cloud == "aws" else 20)
    for region in regions:
        cheapest = min((o for o in cat.offers(cloud, region) if o.gpu and o.on_demand_usd_hr), key=lambda o: o.on_demand_usd_hr)
        w = _plan_region(tmp_path, cloud, region, f"{cheapest.gpu_count}x {cheapest.gpu}", extra=TRAINING).workloads[0]
        assert w.instance_type and w.region == region, region


def test_eight_tpu_v5e_training_plans_on_the_v5litepod_8_row(tmp_path):
    w = _plan_region(tmp_path, "gcp", "us-central1", "8x TPU v5e", extra=TRAINING).workloads[0]
    assert w.instance_type == "v5litepod-8"
    [row] = [o for o in load_catalog().offers("gcp", "us-central1") if o.instance_type == "v5litepod-8"]
    assert row.on_demand_usd_hr == pytest.approx(9.6)


@pytest.mark.parametrize("cloud,region,shape", [("aws", "us-east-1", "p6-b200.48xlarge"), ("gcp", "us-central1", "a4-highgpu-8g")])
def test_eight_b200_on_both_clouds(tmp_path, cloud, region, shape):
    assert _plan_region(tmp_path, cloud, region, "8x B200", extra=TRAINING).workloads[0].instance_type == shape


def test_neuron_asks_plan_on_aws(tmp_path):
    w = _plan_region(tmp_path, "aws", "us-east-1", "16x Trainium", extra=TRAINING).workloads[0]
    assert w.instance_type in {"trn1.32xlarge", "trn1n.32xlarge"}
    inf = _plan_region(tmp_path, "aws", "us-east-1", "1x Inferentia2", kind="inference",
                extra="    model_size: \"1B parameters\"\n    expected_qps: \"5 qps\"\n").workloads[0]
    assert inf.instance_type.startswith("inf2.")


def _partial_plan(workload: str):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from tests.conftest import make_spec

    return make_plan(load_spec_text(make_spec(workload, clouds="  aws: {region: ap-south-1}")))


def test_a_region_with_accelerator_rows_only_says_a_cheaper_shape_may_exist():
    # ap-south-1 holds P / Inf / Trn rows only in the bundled catalog (no G family, no CPU): the plan says so and how to see more.
    plan = _partial_plan('- name: chat\n  type: inference\n  framework: vllm\n  model_size: "8B parameters"\n  expected_qps: 5\n')
    (warn,) = [f for f in plan.warnings if f.path == "clouds.aws.region"]
    assert "only its large accelerator shapes in aws ap-south-1" in warn.message
    assert "`aiinfra catalog refresh --cloud aws --regions ap-south-1`" in warn.message
    etl = _partial_plan('- name: etl\n  type: data_processing\n  dataset_size: "2TB"\n  training_frequency: daily\n')
    (err,) = etl.errors
    assert err.path == "workload_inventory[0].type" and "aiinfra catalog refresh --cloud aws --regions ap-south-1" in err.message
    full = _partial_plan('- name: chat\n  type: inference\n  framework: vllm\n  model_size: "8B parameters"\n  expected_qps: 5\n'
                         '  region: us-east-1\n  cloud: aws\n')
    assert not [f for f in full.warnings if "large accelerator shapes" in f.message]
