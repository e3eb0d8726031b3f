"""The shipped catalog data: schema, coverage the issue asks for, network facts, lookups."""

import csv

import pytest

from aiinfra.catalog import COLUMNS, DATA_DIR, SCHEMA_VERSION, CatalogError, load_catalog

AWS_FAMILIES = ["g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en"]
GCP_FAMILIES = ["n1", "g2", "a2-highgpu", "a2-ultragpu", "a3-highgpu", "a3-megagpu", "a3-ultragpu"]


def test_every_data_file_declares_schema_and_sources(real_catalog):
    for info in real_catalog.files:
        assert info.schema_version == SCHEMA_VERSION
        assert info.sources, f"{info.path.name} names no source"
    names = {i.path.name for i in real_catalog.files}
    assert {"aws.csv", "gcp.csv", "gpus.csv", "storage.csv"} <= names


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_columns_and_unique_rows(cloud):
    lines = [line for line in (DATA_DIR / f"{cloud}.csv").read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    assert tuple(rows[0].keys()) == COLUMNS
    keys = [(r["instance_type"], r["gpu"], r["gpu_count"], r["region"]) for r in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("cloud,families", [("aws", AWS_FAMILIES), ("gcp", GCP_FAMILIES)])
def test_required_gpu_families_are_present(real_catalog, cloud, families):
    have = {o.family for o in real_catalog.offers(cloud=cloud) if o.gpu}
    assert set(families) <= have, set(families) - have


@pytest.mark.parametrize("cloud,regions", [("aws", ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"]), ("gcp", ["us-central1", "us-east4", "europe-west4"])])
def test_required_regions_have_gpu_and_cpu_shapes(real_catalog, cloud, regions):
    for region in regions:
        offers = real_catalog.offers(cloud, region)
        assert any(o.gpu for o in offers) and any(not o.gpu for o in offers), region


def test_prices_are_positive_and_spot_below_on_demand_mostly(real_catalog):
    offers = real_catalog.all
    assert all(o.list_price_usd_hr > 0 for o in offers)
    spot_only = {o.instance_type for o in offers if o.on_demand_usd_hr is None}
    # sold on-demand only as Capacity Blocks: no public list price (p5e); SkyPilot v8 lists trn2.48xlarge with a spot price only
    assert spot_only == {"p5e.48xlarge", "trn2.48xlarge"}
    spot = [o for o in offers if o.spot_usd_hr is not None and o.on_demand_usd_hr is not None]
    assert len(spot) > len(offers) / 2
    assert sum(o.spot_usd_hr < o.on_demand_usd_hr for o in spot) / len(spot) > 0.9


@pytest.mark.parametrize("itype,efa", [("p4d.24xlarge", 4), ("p4de.24xlarge", 4), ("p5.48xlarge", 32), ("g4dn.xlarge", 0)])
def test_aws_efa_interfaces_follow_network_cards(real_catalog, itype, efa):
    (o,) = [o for o in real_catalog.offers("aws", "us-east-1") if o.instance_type == itype]
    assert o.efa_interfaces == efa
    assert (o.gpudirect == "efa") == (efa > 0)


@pytest.mark.parametrize("itype,nics,mtu,kind", [("a3-highgpu-8g", 4, 8244, "tcpx"), ("a3-megagpu-8g", 8, 8244, "tcpxo"), ("a3-ultragpu-8g", 8, 8896, "rdma")])
def test_gcp_gpudirect_nics(real_catalog, itype, nics, mtu, kind):
    found = [o for o in real_catalog.offers(cloud="gcp") if o.instance_type == itype]
    assert found
    for o in found:
        assert (o.gpu_nics, o.nic_mtu, o.gpudirect) == (nics, mtu, kind)


def test_known_gpu_facts(real_catalog):
    by_type = {o.instance_type: o for o in real_catalog.offers("aws", "us-east-1")}
    assert (by_type["p4d.24xlarge"].gpu, by_type["p4d.24xlarge"].gpu_count, by_type["p4d.24xlarge"].gpu_memory_gib) == ("A100", 8, 40)
    assert by_type["p4de.24xlarge"].gpu_memory_gib == 80
    assert by_type["g5.xlarge"].gpu == "A10G" and by_type["g6e.xlarge"].gpu == "L40S"
    assert by_type["p5e.48xlarge"].gpu == "H200" if "p5e.48xlarge" in by_type else True
    gcp = {o.instance_type: o for o in real_catalog.offers("gcp", "us-central1")}
    assert gcp["a2-ultragpu-8g"].accelerator_type == "nvidia-a100-80gb"


def test_gpu_names_resolve_as_vendors_write_them(real_catalog):
    assert real_catalog.gpu_name("a100") == "A100"
    assert real_catalog.gpu_name("Tesla T4") == "T4"
    assert real_catalog.gpu_name("H100-SXM") == "H100"
    assert real_catalog.gpu_name("A1OO") is None


def test_lookup_filters(real_catalog):
    h100 = real_catalog.offers("aws", "us-east-1", "H100")
    assert h100 and all(o.gpu == "H100" and o.region == "us-east-1" for o in h100)
    assert all(o.gpu_count == 0 for o in real_catalog.offers("gcp", "us-central1", ""))


def test_wrong_schema_version_is_refused(tmp_path):
    for name in ("aws.csv",):
        text = (DATA_DIR / name).read_text().replace("# schema_version: 1", "# schema_version: 9")
        (tmp_path / name).write_text(text)
    with pytest.raises(CatalogError, match="schema_version 9"):
        load_catalog(("aws",), tmp_path)
