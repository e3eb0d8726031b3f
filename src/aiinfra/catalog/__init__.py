"""The GPU instance catalog: per-cloud data files (``data/<cloud>.csv``) and typed lookups.

The data are separate from the code (as in SkyPilot's catalog): one row per
(instance type, region), fixed columns, a schema version and the sources in the file's
header. ``refresh.py`` regenerates the files from the public source data.
"""

from __future__ import annotations

import csv
import functools
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
    return FileInfo(path, SCHEMA_VERSION, header.get("generated", ["unknown"])[0],
                    tuple(header.get("source", [])), tuple(header.get("choice", [])))


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


class Catalog:
    """All offers of the loaded clouds, indexed for the planner's lookups."""

    def __init__(self, offers: list[InstanceOffer], gpus: list[GpuModel], files: list[FileInfo],
                 storage: list[StorageClass] | None = None):
        self.all = offers
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


def _gpus() -> tuple[list[GpuModel], FileInfo]:
    path = DATA_DIR / "gpus.csv"
    header, rows = _read(path)
    info = _info(path, header)
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            out.append(GpuModel(row["gpu"], row["vendor"], tuple(int(x) for x in row["memory_gib_options"].split()),
                                float(row["fp16_tensor_tflops"]), tuple(row["aliases"].split())))
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


@functools.lru_cache(maxsize=8)
def load_catalog(clouds: tuple[str, ...] = CLOUDS, data_dir: Path | None = None) -> Catalog:
    """Read the data files of the given clouds (cached per process)."""
    base = data_dir or DATA_DIR
    gpus, gpu_info = _gpus()
    storage, storage_info = _storage()
    offers: list[InstanceOffer] = []
    files = [gpu_info, storage_info]
    for cloud in clouds:
        path = base / f"{cloud}.csv"
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
