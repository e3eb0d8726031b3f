"""The GPU instance catalog: per-cloud data files (``data/<cloud>.csv``) and typed lookups.

The data are separate from the code (as in SkyPilot's catalog): one row per
(instance type, region), fixed columns, a schema version and the sources in the file's
header. ``refresh.py`` regenerates the files from the public source data.
"""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path
from typing import NamedTuple

DATA_DIR = Path(__file__).parent / "data"
SCHEMA_VERSION = 1
CLOUDS = ("aws", "gcp")

COLUMNS = (
    "instance_type", "family", "accelerator_type", "gpu", "gpu_count", "gpu_memory_gib", "vcpus",
    "memory_gib", "network_gbps", "network_cards", "efa_interfaces", "gpudirect", "gpu_nics",
    "nic_mtu", "local_nvme_gib", "region", "zones", "on_demand_usd_hr", "spot_usd_hr",
)


class CatalogError(Exception):
    """A catalog data file that cannot be read; names the file and line."""


class InstanceOffer(NamedTuple):
    """One instance shape as offered in one region, with its prices."""

    cloud: str
    instance_type: str
    family: str
    accelerator_type: str  # GCP guest accelerator id (nvidia-tesla-t4 ...); "" on AWS
    gpu: str  # canonical model (A100, H100 ...); "" for CPU shapes
    gpu_count: int
    gpu_memory_gib: int
    vcpus: int
    memory_gib: float
    network_gbps: float
    network_cards: int
    efa_interfaces: int
    gpudirect: str  # "", "efa", "tcpx", "tcpxo", "rdma"
    gpu_nics: int
    nic_mtu: int
    local_nvme_gib: int
    region: str
    zones: tuple[str, ...]
    on_demand_usd_hr: float | None  # None: not sold on-demand in this region (spot only, e.g. p5e)
    spot_usd_hr: float | None
    # Price sanity (see check_prices): what looked wrong in the listed prices and what is used
    # instead; empty when the row's prices are used as listed.
    price_flags: tuple[str, ...] = ()

    @property
    def total_gpu_memory_gib(self) -> int:
        return self.gpu_count * self.gpu_memory_gib

    @property
    def gpu_label(self) -> str:
        return f"{self.gpu_count}x {self.gpu}-{self.gpu_memory_gib}GB" if self.gpu else "CPU"

    @property
    def list_price_usd_hr(self) -> float:
        """The price to compare shapes by: on-demand, or spot for spot-only shapes."""
        return self.on_demand_usd_hr if self.on_demand_usd_hr is not None else self.spot_usd_hr  # type: ignore[return-value]


class GpuModel(NamedTuple):
    name: str
    vendor: str
    memory_gib_options: tuple[int, ...]
    fp16_tensor_tflops: float
    aliases: tuple[str, ...]
    # GB/s of memory bandwidth, one figure per memory option (A100 40 GB 1,555; 80 GB 2,039);
    # () when unknown (the planner's LLM throughput model needs it: planner/rules.py).
    memory_bandwidth_gb_s: tuple[float, ...] = ()
    # Dense FP8 tensor TFLOPS and INT8 tensor TOPS (no sparsity); None where the part has none or no
    # figure is published (gpus.csv header cites each figure).
    fp8_tensor_tflops: float | None = None
    int8_tensor_tops: float | None = None

    def bandwidth_gb_s(self, memory_gib: int) -> float | None:
        if not self.memory_bandwidth_gb_s:
            return None
        if memory_gib in self.memory_gib_options and len(self.memory_bandwidth_gb_s) == len(self.memory_gib_options):
            return self.memory_bandwidth_gb_s[self.memory_gib_options.index(memory_gib)]
        return self.memory_bandwidth_gb_s[0]


class StorageClass(NamedTuple):
    """A storage class and its list price per GiB-month."""

    cloud: str
    tier: str
    storage_class: str
    usd_gib_month: float
    description: str


class FileInfo(NamedTuple):
    """A data file's header: schema version and where its figures came from."""

    path: Path
    schema_version: int
    generated: str
    sources: tuple[str, ...]
    choices: tuple[str, ...]
    prices_as_of: str = ""  # date of the price data (cloud files); "" where the header has none


def _read(path: Path) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog data: {exc.strerror}") from None
    header: dict[str, list[str]] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(":")
            if sep:
                header.setdefault(key.strip(), []).append(value.strip())
        elif line.strip():
            body.append(line)
    rows = list(csv.DictReader(body))
    return header, rows


def _info(path: Path, header: dict[str, list[str]]) -> FileInfo:
    version = header.get("schema_version", ["?"])[0]
    if version != str(SCHEMA_VERSION):
        raise CatalogError(f"{path}: schema_version {version}, this aiinfra reads {SCHEMA_VERSION}")
    generated = header.get("generated", ["unknown"])[0]
    return FileInfo(path, SCHEMA_VERSION, generated, tuple(header.get("source", [])), tuple(header.get("choice", [])),
                    header.get("prices_as_of", [""])[0])


def _offer(cloud: str, row: dict[str, str]) -> InstanceOffer:
    spot = row["spot_usd_hr"].strip()
    on_demand = row["on_demand_usd_hr"].strip()
    if not on_demand and not spot:
        raise ValueError(f"{row['instance_type']} in {row['region']} has neither an on-demand nor a spot price")
    return InstanceOffer(
        cloud=cloud,
        instance_type=row["instance_type"],
        family=row["family"],
        accelerator_type=row["accelerator_type"],
        gpu=row["gpu"],
        gpu_count=int(row["gpu_count"]),
        gpu_memory_gib=int(float(row["gpu_memory_gib"] or 0)),
        vcpus=int(float(row["vcpus"])),
        memory_gib=float(row["memory_gib"]),
        network_gbps=float(row["network_gbps"] or 0),
        network_cards=int(row["network_cards"] or 1),
        efa_interfaces=int(row["efa_interfaces"] or 0),
        gpudirect=row["gpudirect"],
        gpu_nics=int(row["gpu_nics"] or 0),
        nic_mtu=int(row["nic_mtu"] or 1460),
        local_nvme_gib=int(float(row["local_nvme_gib"] or 0)),
        region=row["region"],
        zones=tuple(row["zones"].split()),
        on_demand_usd_hr=float(on_demand) if on_demand else None,
        spot_usd_hr=float(spot) if spot else None,
    )


# Price sanity at load. A listed price is suspect when it is below LOW_SHARE of the same shape's
# median over the cloud's other regions (regional list prices of one shape differ by a few to
# ~20 %: https://aws.amazon.com/ec2/pricing/on-demand/, https://cloud.google.com/compute/gpus-pricing;
# a third off is a data error or a promotion that the bill will not keep), above HIGH_SHARE of it
# (reported only: the price used is already the higher one); spot prices, a market that differs
# between regions far more, only against the row's own on-demand price: a spot price above the row's own
# on-demand price, or a spot price under SPOT_FLOOR_SHARE of on-demand (EC2 spot discounts are "up
# to 90%": https://aws.amazon.com/ec2/spot/pricing/; GCP spot "60-91%":
# https://cloud.google.com/compute/docs/instances/spot). The planner compares and costs a suspect
# row at the conservative price (the other regions' median, the on-demand price as the spot
# ceiling) and its reasons name the row; `aiinfra catalog` marks it.
LOW_SHARE = 0.75
HIGH_SHARE = 1.5
SPOT_FLOOR_SHARE = 0.05


def _ref(values: dict[str, float], region: str) -> float | None:
    """The median of the other regions' prices (statistics is not imported for it: plan's import budget)."""
    others = sorted(v for r, v in values.items() if r != region)
    if not others:
        return None
    mid = len(others) // 2
    return others[mid] if len(others) % 2 else (others[mid - 1] + others[mid]) / 2


def check_prices(offers: list[InstanceOffer]) -> list[InstanceOffer]:
    """The offers with suspect prices replaced by conservative ones and ``price_flags`` saying what
    was listed, why it is suspect and what is used (documented above and in docs/catalog-refresh.md)."""
    od: dict[tuple[str, str], dict[str, float]] = {}
    for o in offers:
        if o.on_demand_usd_hr is not None:
            od.setdefault((o.cloud, o.instance_type), {})[o.region] = o.on_demand_usd_hr
    out = []
    for o in offers:
        flags: list[str] = []
        new_od, new_spot = o.on_demand_usd_hr, o.spot_usd_hr
        key = (o.cloud, o.instance_type)
        if o.on_demand_usd_hr is not None:
            ref = _ref(od[key], o.region)
            if ref and o.on_demand_usd_hr < LOW_SHARE * ref:
                new_od = ref
                flags.append(f"on-demand {o.on_demand_usd_hr:g} USD/h is {o.on_demand_usd_hr / ref:.0%} of the {ref:g} median of its "
                             f"other regions (below {LOW_SHARE:.0%}): costed at {ref:g}")
            elif ref and o.on_demand_usd_hr > HIGH_SHARE * ref:
                flags.append(f"on-demand {o.on_demand_usd_hr:g} USD/h is {o.on_demand_usd_hr / ref:.0%} of the {ref:g} median of its "
                             f"other regions (above {HIGH_SHARE:.0%}): costed as listed")
        # Spot prices are a market: they differ between regions by far more than list prices do
        # (us-east-2 at half of us-east-1 is common), so only their relation to on-demand is checked.
        if o.spot_usd_hr is not None:
            if new_od is not None and new_spot is not None and new_spot > new_od:
                flags.append(f"spot {new_spot:g} USD/h is above on-demand {new_od:g}: spot saves nothing here, costed at on-demand {new_od:g}")
                new_spot = new_od
            elif new_od is not None and new_spot is not None and new_spot < SPOT_FLOOR_SHARE * new_od:
                floor = round(SPOT_FLOOR_SHARE * new_od, 5)
                flags.append(f"spot {new_spot:g} USD/h is under {SPOT_FLOOR_SHARE:.0%} of on-demand {new_od:g}: costed at {floor:g}")
                new_spot = floor
        out.append(o._replace(on_demand_usd_hr=new_od, spot_usd_hr=new_spot, price_flags=tuple(flags)) if flags else o)
    return out


class Catalog:
    """All offers of the loaded clouds, indexed for the planner's lookups."""

    def __init__(self, offers: list[InstanceOffer], gpus: list[GpuModel], files: list[FileInfo],
                 storage: list[StorageClass] | None = None, sanity: bool = True):
        offers = check_prices(offers) if sanity else offers
        self.all = offers
        self.flagged = [o for o in offers if o.price_flags]
        self.storage = {(s.cloud, s.storage_class): s for s in storage or []}
        self.gpus = {g.name: g for g in gpus}
        self.files = files
        self._by_cloud_region: dict[tuple[str, str], list[InstanceOffer]] = {}
        for o in offers:
            self._by_cloud_region.setdefault((o.cloud, o.region), []).append(o)
        alias = {g.name.upper(): g.name for g in gpus}
        for g in gpus:
            for a in g.aliases:
                alias[a.upper()] = g.name
        self._alias = alias

    def offers(self, cloud: str | None = None, region: str | None = None, gpu: str | None = None) -> list[InstanceOffer]:
        """Offers filtered by cloud, region and GPU model ("" for CPU-only shapes)."""
        if cloud is not None and region is not None:
            pool = self._by_cloud_region.get((cloud, region), [])
        else:
            pool = [o for o in self.all if (cloud is None or o.cloud == cloud) and (region is None or o.region == region)]
        return [o for o in pool if gpu is None or o.gpu == gpu]

    def regions(self, cloud: str) -> list[str]:
        return sorted({r for c, r in self._by_cloud_region if c == cloud})

    def clouds_offering(self, gpu: str) -> list[str]:
        return sorted({o.cloud for o in self.all if o.gpu == gpu})

    def gpu_name(self, raw: str) -> str | None:
        """Canonical GPU model for a name as vendors write it ('a100', 'Tesla T4'), or None."""
        key = raw.upper().replace(" ", "").replace("-", "").replace("_", "")
        return self._alias.get(key)

    def gpu_names(self) -> list[str]:
        return sorted(self.gpus)


def _opt_float(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value else None


def _gpus() -> tuple[list[GpuModel], FileInfo]:
    path = DATA_DIR / "gpus.csv"
    header, rows = _read(path)
    info = _info(path, header)
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            out.append(GpuModel(row["gpu"], row["vendor"], tuple(int(x) for x in row["memory_gib_options"].split()),
                                float(row["fp16_tensor_tflops"]), tuple(row["aliases"].split()),
                                tuple(float(x) for x in (row.get("memory_bandwidth_gb_s") or "").split()),
                                _opt_float(row.get("fp8_tensor_tflops")), _opt_float(row.get("int8_tensor_tops"))))
        except (KeyError, ValueError, TypeError) as exc:
            raise CatalogError(f"{path}: row {i}: {exc}") from None
    return out, info


def _storage() -> tuple[list[StorageClass], FileInfo]:
    path = DATA_DIR / "storage.csv"
    header, rows = _read(path)
    info = _info(path, header)
    try:
        out = [StorageClass(r["cloud"], r["tier"], r["storage_class"], float(r["usd_gib_month"]), r["description"]) for r in rows]
    except (KeyError, ValueError, TypeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    return out, info


def catalog_dir() -> Path:
    """Where the cloud files are read from: ``AIINFRA_CATALOG_DIR`` (a folder `aiinfra catalog
    refresh --out` wrote) when set, else the package's own data."""
    env = os.environ.get("AIINFRA_CATALOG_DIR")
    return Path(env) if env else DATA_DIR


def load_catalog(clouds: tuple[str, ...] = CLOUDS, data_dir: Path | None = None) -> Catalog:
    """Read the data files of the given clouds (cached per process and folder)."""
    return _load_catalog(clouds, data_dir or catalog_dir())


@functools.lru_cache(maxsize=8)
def _load_catalog(clouds: tuple[str, ...], data_dir: Path) -> Catalog:
    base = data_dir
    gpus, gpu_info = _gpus()
    storage, storage_info = _storage()
    offers: list[InstanceOffer] = []
    files = [gpu_info, storage_info]
    for cloud in clouds:
        path = base / f"{cloud}.csv"
        if base != DATA_DIR and not path.exists():
            path = DATA_DIR / f"{cloud}.csv"  # a refreshed folder may hold one cloud only
        header, rows = _read(path)
        files.append(_info(path, header))
        if rows and tuple(rows[0].keys()) != COLUMNS:
            raise CatalogError(f"{path}: columns {list(rows[0].keys())} differ from schema {list(COLUMNS)}")
        for i, row in enumerate(rows, start=1):
            try:
                offers.append(_offer(cloud, row))
            except (KeyError, ValueError, TypeError) as exc:
                raise CatalogError(f"{path}: data row {i}: {exc}") from None
    return Catalog(offers, gpus, files, storage)
