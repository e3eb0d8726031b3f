"""Regenerate the GPU instance catalog data files from SkyPilot's public catalog.

Usage (stdlib only)::

    python -m aiinfra.catalog.refresh --cloud aws \
        --vms PATH/TO/skypilot-catalog/catalogs/v7/aws/vms.csv \
        --source-commit <sha> --out src/aiinfra/catalog/data/aws.csv

Prices, vCPUs, memory, GPU model/count and zones come from SkyPilot's ``vms.csv``
(``skypilot-org/skypilot-catalog``). Network and local-disk facts that SkyPilot
does not carry come from ``data/network_facts.csv`` (hand-maintained, sources cited
in its header) and are joined by (cloud, instance_type).

Where the pinned ``vms.csv`` has no on-demand price for a covered (shape, region),
``data/supplementary_prices.csv`` (hand-maintained, one row per shape-region with its
source cited) may supply the zones and prices; shape facts (vCPUs, memory, GPUs) still
come from SkyPilot's row for that shape. SkyPilot's pinned file wins wherever it has a price.

Only the shapes and regions listed in ``COVERAGE`` are emitted, so running this on
the full SkyPilot file or on an extract of it (same rows, fewer of them) gives the
same output for the covered shapes.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_FACTS = DATA_DIR / "network_facts.csv"
DEFAULT_SUPPLEMENTARY = DATA_DIR / "supplementary_prices.csv"
SUPPLEMENTARY_COLUMNS = ["cloud", "instance_type", "region", "zones", "on_demand_usd_hr", "spot_usd_hr", "source"]

COLUMNS = [
    "instance_type", "family", "accelerator_type", "gpu", "gpu_count", "gpu_memory_gib",
    "vcpus", "memory_gib", "network_gbps", "network_cards", "efa_interfaces", "gpudirect",
    "gpu_nics", "nic_mtu", "local_nvme_gib", "region", "zones", "on_demand_usd_hr", "spot_usd_hr",
]
FACT_COLUMNS = ["network_gbps", "network_cards", "efa_interfaces", "gpudirect", "gpu_nics", "nic_mtu", "local_nvme_gib"]

ALLOWED_GPUS = ("T4", "A10G", "L4", "L40S", "A100", "H100", "H200", "B200", "Inferentia2", "Trainium", "Trainium2",
                "TPU-v5e", "TPU-v5p", "TPU-v6e")

# SkyPilot accelerator name -> (canonical gpu, nominal GiB per GPU, GCP accelerator type id)
ACCELERATORS = {
    "T4": ("T4", 16, "nvidia-tesla-t4"),
    "A10G": ("A10G", 24, ""),
    "L4": ("L4", 24, "nvidia-l4"),
    "L40S": ("L40S", 48, ""),
    "A100": ("A100", 40, "nvidia-tesla-a100"),
    "A100-80GB": ("A100", 80, "nvidia-a100-80gb"),
    "H100": ("H100", 80, "nvidia-h100-80gb"),
    "H100-MEGA": ("H100", 80, "nvidia-h100-mega-80gb"),
    "H200": ("H200", 141, "nvidia-h200-141gb"),
    # B200: SkyPilot's GpuInfo says 183359 MiB (179 GiB usable); nominal 180 GB (B200-SXM-180GB as MLPerf lists it).
    "B200": ("B200", 180, "nvidia-b200"),
    # AWS Neuron parts: per-chip device memory from the Neuron architecture docs (Inferentia2 / Trainium 32 GiB,
    # Trainium2 96 GiB; SkyPilot's GpuInfo gives 524288 MiB for Trainium2, the whole instance's per-chip share wrongly).
    "Inferentia2": ("Inferentia2", 32, ""),
    "Trainium": ("Trainium", 32, ""),
    "Trainium2": ("Trainium2", 96, ""),
}


def _sizes(prefix: str, sizes: str) -> list[str]:
    return [f"{prefix}{s}" for s in sizes.split()]


AWS_SHAPES = (
    _sizes("g4dn.", "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal")
    + _sizes("g5.", "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge")
    + _sizes("g6.", "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge")
    + _sizes("g6e.", "xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge")
    + ["p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge", "p6-b200.48xlarge"]
    + _sizes("inf2.", "xlarge 8xlarge 24xlarge 48xlarge")
    + ["trn1.2xlarge", "trn1.32xlarge", "trn1n.32xlarge", "trn2.48xlarge"]
    + _sizes("m6i.", "large 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge")
    + _sizes("r6i.", "2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge")
    + _sizes("c6i.", "4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge")
)

# GCP machine type -> list of (SkyPilot accelerator name, count) attached; [] for CPU-only.
# SkyPilot lists GCP host VMs and accelerators as separate rows; the VM price is host + accelerator.
GCP_SHAPES: dict[str, list[tuple[str, int]]] = {}
for _n in (1, 2, 4, 8):
    GCP_SHAPES[f"a2-highgpu-{_n}g"] = [("A100", _n)]
    GCP_SHAPES[f"a2-ultragpu-{_n}g"] = [("A100-80GB", _n)]
    GCP_SHAPES[f"a3-highgpu-{_n}g"] = [("H100", _n)]
GCP_SHAPES["a2-megagpu-16g"] = [("A100", 16)]
GCP_SHAPES["a3-megagpu-8g"] = [("H100-MEGA", 8)]
GCP_SHAPES["a3-ultragpu-8g"] = [("H200", 8)]
# A4: SkyPilot lists the host at 0.0 (its SKUs carry no separate A4 core/RAM price) and the B200 x8 accelerator
# with the whole price; host + accelerator as for every GCP GPU shape.
GCP_SHAPES["a4-highgpu-8g"] = [("B200", 8)]
for _v, _n in ((4, 1), (8, 1), (12, 1), (16, 1), (24, 2), (32, 1), (48, 4), (96, 8)):
    GCP_SHAPES[f"g2-standard-{_v}"] = [("L4", _n)]
# n1 + T4: one combination per host size (T4 count chosen per host size).
for _v, _n in ((4, 1), (8, 1), (16, 2), (32, 4)):
    GCP_SHAPES[f"n1-standard-{_v}"] = [("T4", _n)]
for _s in ("standard", "highmem"):
    for _v in (16, 32, 64):
        GCP_SHAPES[f"n2-{_s}-{_v}"] = []
# The Kubernetes system pool's shape (planner/platform.py system_pool): the cheapest 2 vCPU / 8 GiB machine.
GCP_SHAPES["e2-standard-2"] = []


@dataclass(frozen=True)
class TpuShape:
    """A single-host Cloud TPU VM slice. instance_type = accelerator_type = the TPU API accelerator type."""
    sky: str          # SkyPilot's AcceleratorName (price of the whole slice, count 1)
    gpu: str          # gpus.csv name
    chips: int        # chips on the host (v5p-8 = 8 TensorCores = 4 chips)
    hbm_gb: int       # HBM a chip (cloud.google.com/tpu/docs/v5e, v5p, v6e)
    vcpus: int        # TPU VM host vCPUs / memory (GCE machine type of the slice, see TPU_HOST_SOURCE)
    memory_gib: int
    family: str


# Host vCPUs / memory of the TPU VM: the GCE machine type behind each slice (v5e: ct5lp-hightpu-1t/4t/8t,
# v5p-8: ct5p-hightpu-4t, v6e: ct6e-standard-1t/4t/8t), as the GKE "Plan TPUs" machine-type table lists them
# (https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus); the v5e figures are also in GCE's
# machineTypes list as recorded in https://github.com/Cyclenerd/google-cloud-pricing-cost-calculator/issues/89
# (ct5lp-hightpu-1t 24 vCPU 48 GB, -4t 112 / 192, -8t 224 / 384).
TPU_HOST_SOURCE = "https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus (machine types ct5lp-hightpu-*, ct5p-hightpu-4t, ct6e-standard-*)"
TPU_SHAPES: dict[str, TpuShape] = {
    "v5litepod-1": TpuShape("tpu-v5litepod-1", "TPU-v5e", 1, 16, 24, 48, "tpu-v5e"),
    "v5litepod-4": TpuShape("tpu-v5litepod-4", "TPU-v5e", 4, 16, 112, 192, "tpu-v5e"),
    "v5litepod-8": TpuShape("tpu-v5litepod-8", "TPU-v5e", 8, 16, 224, 384, "tpu-v5e"),
    "v5p-8": TpuShape("tpu-v5p-8", "TPU-v5p", 4, 95, 208, 448, "tpu-v5p"),
    "v6e-1": TpuShape("tpu-v6e-1", "TPU-v6e", 1, 32, 44, 176, "tpu-v6e"),
    "v6e-4": TpuShape("tpu-v6e-4", "TPU-v6e", 4, 32, 180, 720, "tpu-v6e"),
    "v6e-8": TpuShape("tpu-v6e-8", "TPU-v6e", 8, 32, 180, 1440, "tpu-v6e"),
}
_TPU_BY_SKY = {t.sky: name for name, t in TPU_SHAPES.items()}
# SkyPilot v8 writes 700.0 for a TPU price it has no SKU for (the same 700.0 for v6e-1 up to v6e-256 in
# asia-east1, southamerica-east1, us-central2; and for the spot price in southamerica-west1): not a price.
SKY_TPU_PLACEHOLDER = 700.0

COVERAGE = {
    "aws": {
        "shapes": AWS_SHAPES,
        "required_regions": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"],
        # every other commercial region in which the source lists a covered shape (see REFRESHED_FAMILIES)
        "extra_regions": ["ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
                          "ap-southeast-3", "ap-southeast-4", "ca-central-1", "eu-central-1", "eu-north-1",
                          "eu-south-2", "eu-west-2", "eu-west-3", "me-central-1", "us-west-1"],
    },
    "gcp": {
        "shapes": list(GCP_SHAPES) + list(TPU_SHAPES),
        "required_regions": ["us-central1", "us-east4", "europe-west4"],
        # every other commercial region in which SkyPilot v8 lists a covered a2 / a3 / a4 / TPU shape with a price
        # (us-central2 is left out: a TPU v4 region SkyPilot lists with placeholder prices only)
        "extra_regions": ["us-east1", "us-west1", "asia-east1", "asia-northeast1", "asia-northeast3", "asia-south1",
                          "asia-south2", "asia-southeast1", "australia-southeast1", "europe-north1", "europe-west1",
                          "europe-west3", "europe-west9", "me-west1",
                          "northamerica-northeast1", "northamerica-northeast2", "southamerica-west1", "us-east5",
                          "us-south1", "us-west2", "us-west3", "us-west4"],
    },
}


@dataclass
class Zone:
    price: float | None
    spot: float | None


def _local_zone(zone_id: str) -> bool:
    """AWS Local Zone ids carry a city code (use1-atl2-az1, usw2-lax1-az1); they are not the region's AZs
    (no cluster placement across them, fewer services), so they are left out."""
    return zone_id.count("-") > 1


def _num(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value else None


def _min(values):
    vals = [v for v in values if v is not None]
    return min(vals) if vals else None


def fmt(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s or "0"


def family_of(cloud: str, shape: str) -> str:
    if cloud == "gcp" and shape in TPU_SHAPES:
        return TPU_SHAPES[shape].family
    if cloud == "aws":
        return shape.split(".")[0]
    parts = shape.split("-")
    if parts[0] in ("a2", "a3", "a4"):
        return "-".join(parts[:2])
    return parts[0]


def load_facts(path: Path, cloud: str) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    facts = {}
    for row in csv.DictReader(lines):
        if row["cloud"] == cloud:
            facts[row["instance_type"]] = row
    return facts


def load_supplementary(path: Path | None, cloud: str) -> tuple[list[dict[str, str]], list[str]]:
    """Rows of data/supplementary_prices.csv for `cloud`, and its '# <cloud> note: ...' lines."""
    if path is None or not path.exists():
        return [], []
    with path.open(newline="") as fh:
        text = fh.read().splitlines(keepends=True)
    prefix = f"# {cloud} note: "
    notes = [ln[len(prefix):].rstrip("\n") for ln in text if ln.startswith(prefix)]
    reader = csv.DictReader(ln for ln in text if not ln.startswith("#"))
    if reader.fieldnames != SUPPLEMENTARY_COLUMNS:
        raise SystemExit(f"{path}: columns {reader.fieldnames} != {SUPPLEMENTARY_COLUMNS}")
    rows = [r for r in reader if r["cloud"] == cloud]
    return rows, notes


def read_vms(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _aggregate(zones: dict[str, Zone]):
    """Return (sorted zones with an on-demand price, on-demand, spot) for one region."""
    priced = {z: v for z, v in zones.items() if v.price is not None}
    if not priced:
        # Sold as spot only (p5e: on-demand capacity is sold as Capacity Blocks, with no public
        # list price): keep the row with an empty on-demand price; the planner uses it for spot only.
        spot_only = {z: v for z, v in zones.items() if v.spot is not None}
        if not spot_only:
            return None
        return sorted(spot_only), None, statistics.median(v.spot for v in spot_only.values())
    on_demand = min(v.price for v in priced.values())
    spots = [v.spot for v in priced.values() if v.spot is not None]
    spot = statistics.median(spots) if spots else None
    return sorted(priced), on_demand, spot


def build_aws(rows, regions):
    # (shape, region) -> zone -> Zone ; SkyPilot may list a zone twice (e.g. p4de with two GpuInfo spellings).
    per: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = {}
    host: dict[str, dict[str, str]] = {}
    wanted = set(COVERAGE["aws"]["shapes"])
    for r in rows:
        shape, region = r["InstanceType"], r["Region"]
        if shape not in wanted or region not in regions or _local_zone(r["AvailabilityZone"]):
            continue
        per.setdefault((shape, region), {}).setdefault(r["AvailabilityZone"], []).append(r)
        host.setdefault(shape, r)
    out, notes = [], {}
    for (shape, region), zrows in per.items():
        zones = {z: Zone(_min(_num(x["Price"]) for x in rs), _min(_num(x["SpotPrice"]) for x in rs))
                 for z, rs in zrows.items()}
        agg = _aggregate(zones)
        if agg is None:
            notes[(shape, region)] = "listed without an on-demand price"
            continue
        h = host[shape]
        acc = h["AcceleratorName"].strip()
        gpu, mem, _ = ACCELERATORS[acc] if acc else ("", 0, "")
        count = int(float(h["AcceleratorCount"])) if acc else 0
        out.append(dict(shape=shape, region=region, zones=agg[0], on_demand=agg[1], spot=agg[2],
                        gpu=gpu, gpu_count=count, gpu_mem=mem, accel_type="",
                        vcpus=float(h["vCPUs"]), memory=float(h["MemoryGiB"])))
    return out, notes


def build_gcp(rows, regions):
    hosts: dict[tuple[str, str], dict[str, Zone]] = {}
    host_row: dict[str, dict[str, str]] = {}
    accels: dict[tuple[str, int, str], dict[str, Zone]] = {}
    tpus: dict[tuple[str, str], dict[str, Zone]] = {}
    for r in rows:
        region, zone = r["Region"], r["AvailabilityZone"]
        if region not in regions:
            continue
        z = Zone(_num(r["Price"]), _num(r["SpotPrice"]))
        if not r["InstanceType"] and r["AcceleratorName"] in _TPU_BY_SKY:
            z = Zone(None if z.price == SKY_TPU_PLACEHOLDER else z.price, None if z.spot == SKY_TPU_PLACEHOLDER else z.spot)
            tpus.setdefault((_TPU_BY_SKY[r["AcceleratorName"]], region), {})[zone] = z
            continue
        if r["InstanceType"]:
            if r["InstanceType"] in GCP_SHAPES:
                hosts.setdefault((r["InstanceType"], region), {})[zone] = z
                host_row.setdefault(r["InstanceType"], r)
        elif r["AcceleratorName"] in ACCELERATORS:
            key = (r["AcceleratorName"], int(float(r["AcceleratorCount"])), region)
            accels.setdefault(key, {})[zone] = z
    out, notes = [], {}
    for (shape, region), hz in hosts.items():
        attach = GCP_SHAPES[shape]
        zones: dict[str, Zone] = {}
        missing_acc = False
        for zone, h in hz.items():
            price, spot = h.price, h.spot
            for acc, n in attach:
                a = accels.get((acc, n, region), {}).get(zone)
                if a is None or a.price is None or price is None:
                    price = None
                else:
                    price = price + a.price
                if a is None or a.spot is None or spot is None:
                    spot = None
                else:
                    spot = spot + a.spot
                if a is None:
                    missing_acc = True
            if price is not None:
                zones[zone] = Zone(price, spot)
        agg = _aggregate(zones)
        if agg is None:
            notes[(shape, region)] = ("host listed but no " + "+".join(f"{a}x{n}" for a, n in attach)
                                      + " accelerator price" if missing_acc else "listed without an on-demand price")
            continue
        h = host_row[shape]
        if attach:
            acc, n = attach[0]
            gpu, mem, accel_type = ACCELERATORS[acc]
        else:
            gpu, mem, accel_type, n = "", 0, "", 0
        out.append(dict(shape=shape, region=region, zones=agg[0], on_demand=agg[1], spot=agg[2],
                        gpu=gpu, gpu_count=n, gpu_mem=mem, accel_type=accel_type,
                        vcpus=float(h["vCPUs"]), memory=float(h["MemoryGiB"])))
    for (shape, region), tz in tpus.items():
        agg = _aggregate(tz)
        if agg is None:
            notes[(shape, region)] = "listed without a price (SkyPilot's 700.0 placeholder)"
            continue
        t = TPU_SHAPES[shape]
        out.append(dict(shape=shape, region=region, zones=agg[0], on_demand=agg[1], spot=agg[2],
                        gpu=t.gpu, gpu_count=t.chips, gpu_mem=t.hbm_gb, accel_type=shape,
                        vcpus=float(t.vcpus), memory=float(t.memory_gib)))
    return out, notes


def shape_facts(cloud: str, rows, shape: str, regions) -> dict:
    """GPU model/count/memory and vCPUs/memory for `shape` from SkyPilot's rows (as build_aws / build_gcp take them)."""
    cands = [r for r in rows if r["InstanceType"] == shape]
    if not cands:
        raise SystemExit(f"supplementary row for {cloud} {shape}: SkyPilot's vms.csv has no row for that shape")
    h = next((r for r in cands if r["Region"] in regions), cands[0])
    if cloud == "aws":
        acc = h["AcceleratorName"].strip()
        gpu, mem, _ = ACCELERATORS[acc] if acc else ("", 0, "")
        count = int(float(h["AcceleratorCount"])) if acc else 0
        accel_type = ""
    elif GCP_SHAPES[shape]:
        acc, count = GCP_SHAPES[shape][0]
        gpu, mem, accel_type = ACCELERATORS[acc]
    else:
        gpu, mem, accel_type, count = "", 0, "", 0
    return dict(gpu=gpu, gpu_count=count, gpu_mem=mem, accel_type=accel_type,
                vcpus=float(h["vCPUs"]), memory=float(h["MemoryGiB"]))


def add_supplementary(cloud: str, rows, built: list[dict], supp: list[dict[str, str]], regions) -> list[dict]:
    """Append supplementary rows for covered (shape, region) pairs SkyPilot gives no on-demand price for."""
    have = {(b["shape"], b["region"]) for b in built}
    shapes = set(COVERAGE[cloud]["shapes"])
    used, seen = [], set()
    for s in supp:
        key = (s["instance_type"], s["region"])
        if key in seen:
            raise SystemExit(f"supplementary_prices.csv: duplicate row for {cloud} {key}")
        seen.add(key)
        if s["instance_type"] not in shapes or s["region"] not in regions:
            raise SystemExit(f"supplementary_prices.csv: {cloud} {key} is outside the catalog coverage")
        if key in have:
            print(f"supplementary row {cloud} {key} ignored: the pinned vms.csv has an on-demand price", file=sys.stderr)
            continue
        zones = sorted(s["zones"].split())
        if not zones or not s["on_demand_usd_hr"].strip() or not s["source"].strip():
            raise SystemExit(f"supplementary_prices.csv: {cloud} {key} needs zones, on_demand_usd_hr and source")
        built.append(dict(shape=key[0], region=key[1], zones=zones, on_demand=float(s["on_demand_usd_hr"]),
                          spot=_num(s["spot_usd_hr"]), **shape_facts(cloud, rows, key[0], regions)))
        used.append(s)
    return used


CHOICES = {
    "common": [
        "one row per (instance_type, region); zones = the zones in that region where SkyPilot lists the shape with an on-demand price, sorted, space-separated",
        "on_demand_usd_hr = minimum over the region's zones (SkyPilot's on-demand price is normally identical across a region's zones)",
        "spot_usd_hr = median over the region's zones that have a spot price; empty when no zone in the region has one",
        "vcpus, memory_gib and gpu count are SkyPilot's; gpu_memory_gib is the nominal per-GPU size (T4 16, A10G 24, L4 24, L40S 48, A100 40/80, H100 80, H200 141) because SkyPilot/AWS report usable MiB (e.g. A10G/L4 22888 MiB)",
        "network_gbps, network_cards, efa_interfaces, gpudirect, gpu_nics, nic_mtu, local_nvme_gib are joined from data/network_facts.csv (sources cited there)",
        "a row is emitted where SkyPilot has an on-demand or a spot price for that shape in that region; an empty on_demand_usd_hr means the shape is sold as spot only there (p5e.48xlarge: AWS sells its on-demand capacity as EC2 Capacity Blocks, which have no public list price), and its zones are those with a spot price; see '# missing:' for the rest",
    ],
    "aws": [
        "zones are AWS availability-zone IDs (use1-az1 ...) as SkyPilot publishes them; zone names (us-east-1a ...) map to IDs differently per AWS account",
        "where SkyPilot lists one zone twice (p4de.24xlarge: GpuInfo spelled 'A100' and 'A100-80GB'), the zone's price/spot is the minimum non-empty value of its rows",
        "gpudirect = efa on every AWS shape with efa_interfaces > 0 (including CPU shapes such as c6i.32xlarge); nic_mtu 9001",
        "local_nvme_gib = AWS InstanceStorageInfo.TotalSizeInGB (10^9 bytes) converted to GiB and rounded",
        "coverage: g4dn (incl. metal), g5, g6, g6e, p4d, p4de, p5, p5e, p5en, p6-b200 (B200), inf2 (Inferentia2), trn1/trn1n (Trainium), trn2 (Trainium2); m6i large and 2xlarge-32xlarge, r6i 2xlarge-32xlarge; c6i 4xlarge-32xlarge; regions us-east-1, us-east-2, us-west-2, eu-west-1 and every other region the source lists a covered shape in",
        "gpu_count of Neuron shapes = Neuron devices (chips) a node, gpu_memory_gib = device memory a chip (Inferentia2 / Trainium 32, Trainium2 96: AWS Neuron architecture docs); instance_type is the EC2 instance type",
        "AWS Local Zones (zone ids with a city code, e.g. use1-atl2-az1) are left out: they are not Availability Zones of the region",
    ],
    "gcp": [
        "SkyPilot lists GCP host VMs and GPUs as separate rows; every GPU shape's price is host + accelerator(count) per zone (a2/a3/g2 hosts include no GPU price; n1 + T4 = n1 host + count x T4), on-demand and spot alike; zones = zones where both the host and that accelerator count are listed",
        "n1 + T4 combinations: 1 T4 on n1-standard-4 and n1-standard-8, 2 on n1-standard-16, 4 on n1-standard-32 (one row each)",
        "g2 L4 counts per machine type: 1 on g2-standard-4/8/12/16/32, 2 on -24, 4 on -48, 8 on -96",
        "network_cards = 1 on GCP; gpu_nics / nic_mtu / gpudirect per A3 machine (a3-highgpu-8g tcpx 4 NICs MTU 8244, a3-megagpu-8g tcpxo 8 NICs MTU 8244, a3-ultragpu-8g rdma 8 NICs MTU 8896); every other shape 0 NICs, MTU 1460 (VPC default)",
        "network_gbps for n1/n2 is the default egress cap (2 Gbps per vCPU, max 32 Gbps) without Tier_1 networking",
        "coverage: a2-highgpu/ultragpu 1g-8g, a2-megagpu-16g, a3-highgpu 1g-8g, a3-megagpu-8g, a3-ultragpu-8g (H200), a4-highgpu-8g (B200), g2-standard-4..96, n1-standard-4/8/16/32 + T4, n2-standard/highmem-16/32/64, e2-standard-2, Cloud TPU VMs v5litepod-1/4/8 (v5e), v5p-8, v6e-1/4/8 (single-host slices); regions us-central1, us-east4, europe-west4 plus every other commercial region the source lists a covered shape in",
        "a4-highgpu-8g = SkyPilot's host row (0.0: no separate A4 core/RAM SKU) + its B200 x8 accelerator row, as for every GPU shape",
        "TPU rows: instance_type = accelerator_type = the TPU API accelerator type (v5litepod-8, v5p-8, v6e-8), family tpu-v5e / tpu-v5p / tpu-v6e; price = SkyPilot's price of the slice (per-chip SKU x chips; v5p-8 = 4 chips, SkyPilot counts its 8 TensorCores at half the chip price); gpu_count = chips on the host, gpu_memory_gib = HBM a chip (v5e 16, v5p 95, v6e 32 GB: cloud.google.com/tpu/docs/v5e, v5p, v6e); vcpus / memory_gib = the TPU VM host's machine type (" + TPU_HOST_SOURCE + ")",
        "TPU prices of 700.0 in SkyPilot v8 (v6e in asia-east1, southamerica-east1, us-central2; v6e spot in southamerica-west1) are its placeholder for a missing SKU (the same 700.0 for every slice size) and are read as no price",
    ],
}


def read_kept(path: Path, families: set[str]) -> list[dict[str, str]]:
    """Data rows of a previous catalog file whose family is in `families`, unchanged."""
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    return [r for r in csv.DictReader(lines) if r["family"] in families]


def render(cloud: str, vms: Path, source_commit: str, facts_path: Path, generated: str,
           extract_note: str | None = None, supplementary_path: Path | None = DEFAULT_SUPPLEMENTARY,
           source_path: str | None = None, prices_as_of: str | None = None,
           keep_from: Path | None = None, keep_families: tuple[str, ...] = (), keep_note: str | None = None) -> str:
    cov = COVERAGE[cloud]
    regions = cov["required_regions"] + cov["extra_regions"]
    rows = read_vms(vms)
    kept = read_kept(keep_from, set(keep_families)) if keep_from else []
    if kept:
        rows = [r for r in rows if family_of(cloud, r["InstanceType"] or "") not in keep_families]
    built, notes = (build_aws if cloud == "aws" else build_gcp)(rows, regions)
    supp, supp_notes = load_supplementary(supplementary_path, cloud)
    used = add_supplementary(cloud, rows, built, supp, regions)
    facts = load_facts(facts_path, cloud)
    out_rows = []
    for b in built:
        f = facts.get(b["shape"])
        if f is None:
            raise SystemExit(f"no network facts for {cloud} {b['shape']} in {facts_path}")
        out_rows.append({
            "instance_type": b["shape"], "family": family_of(cloud, b["shape"]),
            "accelerator_type": b["accel_type"], "gpu": b["gpu"], "gpu_count": str(b["gpu_count"]),
            "gpu_memory_gib": str(b["gpu_mem"]), "vcpus": fmt(b["vcpus"]), "memory_gib": fmt(b["memory"]),
            **{k: f[k] for k in FACT_COLUMNS},
            "region": b["region"], "zones": " ".join(b["zones"]),
            "on_demand_usd_hr": "" if b["on_demand"] is None else fmt(b["on_demand"]),
            "spot_usd_hr": "" if b["spot"] is None else fmt(b["spot"]),
        })
    out_rows.extend(kept)
    out_rows.sort(key=lambda r: (r["instance_type"], r["region"], int(r["gpu_count"])))

    emitted = {(r["instance_type"], r["region"]) for r in out_rows}
    missing: dict[str, list[str]] = {}
    for shape in cov["shapes"]:
        for region in cov["required_regions"]:
            if (shape, region) not in emitted:
                why = notes.get((shape, region), "not listed")
                missing.setdefault(f"{shape}: {why}", []).append(region)

    src = f"skypilot-org/skypilot-catalog {source_path or f'catalogs/v7/{cloud}/vms.csv'}"
    lines = [
        "# aiinfra GPU instance catalog",
        f"# cloud: {cloud}",
        f"# schema_version: {SCHEMA_VERSION}",
        f"# generated: {generated}",
        f"# prices_as_of: {prices_as_of or generated}",
        f"# source: {src} @ {source_commit} (prices, vCPUs, memory, GPUs, zones)",
    ]
    if kept:
        lines.append(f"# source: rows of families {', '.join(keep_families)} kept unchanged from the previous data/{keep_from.name}"
                     + (f" ({keep_note})" if keep_note else ""))
    if cloud == "aws":
        lines.append("# source: data/network_facts.csv aws rows = moto 5.2.5 ec2.describe_instance_types (AWS instance-type data: "
                     "NetworkPerformance, MaximumNetworkCards, MaximumEfaInterfaces, InstanceStorageInfo); nic_mtu per AWS EC2 MTU docs")
    else:
        lines.append("# source: data/network_facts.csv gcp rows = GCP docs (accelerator-optimized-machines, gpudirect / "
                     "GPUDirect-TCPX(O), RDMA network profiles, network-bandwidth)")
    if used:
        by_source: dict[str, dict[str, list[str]]] = {}
        for s in used:
            by_source.setdefault(s["source"], {}).setdefault(s["instance_type"], []).append(s["region"])
        for source, shapes in by_source.items():
            what = "; ".join(f"{shape} in {' '.join(sorted(regs))}" for shape, regs in sorted(shapes.items()))
            lines.append(f"# source: data/supplementary_prices.csv (prices and zones for {what}) = {source}")
    for c in CHOICES["common"] + CHOICES[cloud]:
        lines.append(f"# choice: {c}")
    if used:
        lines.append("# choice: exception to the SkyPilot-only rule: rows listed in data/supplementary_prices.csv fill (shape, region) "
                     "pairs the pinned vms.csv has no on-demand price for (zones, on-demand and spot as given there, sources cited "
                     "per row and in that file's header); vcpus, memory_gib and GPUs still from SkyPilot's row for the shape")
    if extract_note:
        lines.append(f"# note: {extract_note}")
    if cloud == "gcp":
        lines.append("# note: SkyPilot v8's H100 accelerator price in us-central1, us-west1 and several Asian regions (4.20076 USD/GPU-hr) is about half its "
                     "us-east4 / europe-west4 price (9.79655 / 12.73552), so a3-highgpu rows there are far cheaper; kept as published")
    if used:
        for n in supp_notes:
            lines.append(f"# note: {n}")
    for key, regs in sorted(missing.items()):
        lines.append(f"# missing: {key} in {' '.join(regs)}")

    sio = io.StringIO()
    w = csv.DictWriter(sio, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(out_rows)
    return "\n".join(lines) + "\n" + sio.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiinfra.catalog.refresh", description=__doc__.splitlines()[0])
    p.add_argument("--cloud", required=True, choices=sorted(COVERAGE))
    p.add_argument("--vms", required=True, type=Path, help="SkyPilot catalogs/v7/<cloud>/vms.csv (full file or an extract)")
    p.add_argument("--source-commit", required=True, help="skypilot-catalog commit the vms.csv was taken from")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--network-facts", type=Path, default=DEFAULT_FACTS)
    p.add_argument("--supplementary", type=Path, default=DEFAULT_SUPPLEMENTARY,
                   help="hand-maintained gap-fill prices (default data/supplementary_prices.csv); rows only fill "
                        "(shape, region) pairs the vms.csv has no on-demand price for")
    p.add_argument("--generated", default=datetime.date.today().isoformat(), help="date recorded in the header (YYYY-MM-DD)")
    p.add_argument("--note", default=None, help="free-text '# note:' line, e.g. that --vms was an extract")
    p.add_argument("--source-path", default=None, help="repository path of --vms (default catalogs/v7/<cloud>/vms.csv)")
    p.add_argument("--prices-as-of", default=None, help="date of the price data (YYYY-MM-DD); default --generated")
    p.add_argument("--keep-from", type=Path, default=None, help="previous catalog file whose --keep-families rows are kept")
    p.add_argument("--keep-families", default="", help="comma-separated families kept from --keep-from")
    p.add_argument("--keep-note", default=None, help="why the kept rows are still current (recorded in the header)")
    a = p.parse_args(argv)
    fams = tuple(f for f in a.keep_families.split(",") if f)
    text = render(a.cloud, a.vms, a.source_commit, a.network_facts, a.generated, a.note, a.supplementary,
                  a.source_path, a.prices_as_of, a.keep_from, fams, a.keep_note)
    a.out.write_text(text)
    n = sum(1 for ln in text.splitlines() if ln and not ln.startswith("#")) - 1
    print(f"wrote {a.out} ({n} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
