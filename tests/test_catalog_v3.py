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
