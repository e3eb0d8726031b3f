"""The GCP side of ``aiinfra catalog refresh --cloud gcp``: catalog rows from the live APIs, with the
caller's own credentials (the default chain, as ``aiinfra preflight``; nothing stored).

- zones of a region: compute.regions.get ``zones``; machine types per zone:
  compute.machineTypes.list (vCPUs = guestCpus, memory = memoryMb / 1024, the a2 / a3 / g2 GPUs =
  ``accelerators[].guestAcceleratorType`` / ``guestAcceleratorCount``); accelerator types per zone:
  compute.acceleratorTypes.list (an n1 + T4 shape is offered in a zone where both the n1 machine
  type and nvidia-tesla-t4, with maximumCardsPerInstance >= the count, are listed);
- prices: the Cloud Billing Catalog API, ``services/6F81-5844-456A/skus`` (Compute Engine's
  service id, as SkyPilot's fetcher uses it: skypilot-org/skypilot
  sky/catalog/data_fetchers/fetch_gcp.py ``GCE_SERVICE_ID``), every page followed.

The SKU mapping is SkyPilot's (fetch_gcp.py ``get_vm_df`` / ``get_gpu_df``): a VM's price is the
host's vCPU SKU x vCPUs + its RAM SKU x GiB (the SKU whose description holds the series'
"A2 Instance" / "G2 Instance" / "N1 Predefined Instance" ..., resource group CPU / RAM, or
N1Standard with "Core" / "Ram" in the description) + the GPU SKU ("... A100 GPU", "... L4 GPU" ...)
x the GPU count; on-demand = usageType OnDemand, spot = usageType Preemptible ("Spot Preemptible
..."); only SKUs whose ``serviceRegions`` hold the region; custom, premium, reserved, sole-tenancy,
commitment and DWS SKUs are skipped; a SKU's price is units + nanos / 1e9 of the first tiered rate
of ``pricingInfo[0].pricingExpression`` (per hour for ``h``, per GiB-hour for ``GiBy.h``).

``AIINFRA_GCP_COMPUTE_ENDPOINT`` / ``AIINFRA_GCP_BILLING_ENDPOINT`` override the endpoints (Private
Service Connect; the tests' local server). Credentials and API errors raise
``aiinfra.preflight.PreflightError`` (one line), as in ``aiinfra.preflight.gcp``, whose helpers
this module shares. Imported only by ``aiinfra catalog refresh``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from collections.abc import Callable

from google.api_core import exceptions as gexc
from google.cloud import billing_v1, compute_v1

from aiinfra.catalog import refresh
from aiinfra.preflight import Deadline, PreflightError
from aiinfra.preflight.gcp import Api, RegionDown, _call, _make_client, viewer_fix

BILLING_ENDPOINT_ENV = "AIINFRA_GCP_BILLING_ENDPOINT"
COMPUTE_SERVICE = "services/6F81-5844-456A"  # Compute Engine in the Cloud Billing Catalog

REGIONS_GET = Api("compute.regions.get")
MACHINE_TYPES_LIST = Api("compute.machineTypes.list")
ACCELERATOR_TYPES_LIST = Api("compute.acceleratorTypes.list")
SKUS_LIST = Api("cloudbilling.services.skus.list")

# Machine series -> the words its vCPU / RAM SKUs carry (SkyPilot's SERIES_TO_DESCRIPTION).
SERIES_TO_DESCRIPTION = {
    "a2": "A2 Instance", "a3": "A3 Instance", "g2": "G2 Instance", "n1": "N1 Predefined Instance",
    "n2": "N2 Instance", "n2d": "N2D AMD Instance", "c2": "Compute optimized", "e2": "E2 Instance",
}
# Accelerator type -> the words its GPU SKU carries (SkyPilot's get_gpu_df names).
GPU_DESCRIPTIONS = {
    "nvidia-tesla-t4": ("T4 GPU",),
    "nvidia-l4": ("L4 GPU",),
    "nvidia-tesla-a100": ("A100 GPU",),
    "nvidia-a100-80gb": ("A100 80GB GPU",),
    "nvidia-h100-80gb": ("H100 80GB GPU",),
    "nvidia-h100-mega-80gb": ("H100 80GB Mega GPU", "H100 Mega 80GB GPU", "H100 80GB Plus GPU"),
    "nvidia-h200-141gb": ("H200 141GB GPU",),
}
_SKIP_WORDS = ("custom", "premium", "reserved", "sole tenancy", "commitment", "dws")

CHOICES = [
    ("rows come from the live GCP APIs with the caller's credentials: zones from compute.regions.get, machine types "
    "(vCPUs = guestCpus, memory_gib = memoryMb/1024, a2/a3/g2 GPUs from accelerators[]) from compute.machineTypes.list per zone, "
    "accelerator types from compute.acceleratorTypes.list per zone"),
    "zones = the region's zones that list the machine type (and, for n1 + T4, nvidia-tesla-t4 with maximumCardsPerInstance >= the count), sorted",
    ("prices from the Cloud Billing Catalog API services/6F81-5844-456A/skus (Compute Engine), all pages, SKUs whose serviceRegions hold "
    "the region: SkyPilot's mapping (sky/catalog/data_fetchers/fetch_gcp.py): price = vCPU SKU x vCPUs + RAM SKU x GiB + GPU SKU x GPUs"),
    ("host SKUs: description holds the series' words (A2 Instance, A3 Instance, G2 Instance, N1 Predefined Instance, N2 Instance ...), "
    "resource group CPU / RAM, or N1Standard with Core / Ram in the description; GPU SKUs: resource group GPU, description holds "
    "'A100 GPU', 'A100 80GB GPU', 'H100 80GB GPU', 'H100 80GB Mega GPU', 'H200 141GB GPU', 'L4 GPU' or 'T4 GPU'"),
    ("on_demand_usd_hr from usageType OnDemand SKUs, spot_usd_hr from usageType Preemptible (Spot Preemptible) SKUs; empty when a part has no SKU; "
    "custom, premium, reserved, sole-tenancy, commitment and DWS SKUs are skipped"),
    "a SKU's price = units + nanos/1e9 of the first tiered rate of pricingInfo[0].pricingExpression (usageUnit h per vCPU or GPU, GiBy.h per GiB)",
    ("the GPU model, count and nominal memory of each shape as refresh.py's GCP_SHAPES / ACCELERATORS define them; network and local-disk "
    "columns joined from data/network_facts.csv"),
]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sku_price(sku: billing_v1.Sku) -> float | None:
    """units + nanos / 1e9 of the first tiered rate, per the expression's usage unit (h, GiBy.h)."""
    if not sku.pricing_info:
        return None
    expr = sku.pricing_info[0].pricing_expression
    if not expr.tiered_rates:
        return None
    price = expr.tiered_rates[0].unit_price
    return int(price.units) + price.nanos / 1e9


def _usable(sku: billing_v1.Sku) -> bool:
    c = sku.category
    d = sku.description.lower()
    return (c.resource_family == "Compute" and c.usage_type in ("OnDemand", "Preemptible")
            and not any(w in d for w in _SKIP_WORDS))


def _stopped(exc: Exception) -> PreflightError:
    """A refresh that cannot go on, in one line: what failed, then the fix when the API refused these
    credentials (a permission, an API to enable), else to rerun (the API was down)."""
    fix = getattr(exc, "fix", "")
    return PreflightError(f"catalog refresh: {exc}; {fix if fix else 'rerun later'}")


class GcpFetcher:
    # Cloud TPU VM slices are not Compute Engine machine types: their types and zones come from the Cloud
    # TPU API (projects.locations.acceleratorTypes, https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.acceleratorTypes),
    # which this refresh does not call yet; their rows are kept from the previous catalog and the header says so.
    unread_shapes = frozenset(refresh.TPU_SHAPES)

    cloud = "gcp"

    def __init__(self, project: str, deadline: Deadline, progress: Callable[[str], None]):
        self.project = project
        self.deadline = deadline
        self.progress = progress
        self.api_versions = {"google-cloud-compute": _version("google-cloud-compute"), "compute": "v1",
                             "google-cloud-billing": _version("google-cloud-billing"), "cloudbilling": "v1"}
        self.fetched = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._clients: dict[type, object] = {}
        self._skus: list[billing_v1.Sku] | None = None
        self._facts = refresh.load_facts(refresh.DEFAULT_FACTS, "gcp")

    # -- header lines

    def sources(self) -> list[str]:
        v = self.api_versions
        return [
            (f"GCP Compute Engine API v1 (compute.regions.get, compute.machineTypes.list, compute.acceleratorTypes.list) for project "
            f"{self.project} @ {self.fetched} with google-cloud-compute {v['google-cloud-compute']} (vCPUs, memory, GPUs, zones)"),
            f"Cloud Billing Catalog API v1 {COMPUTE_SERVICE}/skus @ {self.fetched} with google-cloud-billing {v['google-cloud-billing']} (prices, USD)",
            ("data/network_facts.csv gcp rows = GCP docs (accelerator-optimized-machines, gpudirect / GPUDirect-TCPX(O), RDMA network profiles, "
             "network-bandwidth)"),
        ]

    def choices(self) -> list[str]:
        return list(CHOICES)

    # -- the reads

    def _client(self, cls, api: Api, where: str, env: str | None = None):
        if cls not in self._clients:
            self._clients[cls] = _make_client(cls, api, where, **({"env": env} if env else {}))
        return self._clients[cls]

    def _list(self, client_method, api: Api, where: str, **kwargs) -> list:
        """Every item of a paged list, each page's call bounded by the deadline and retried."""
        def fetch(retry, timeout, **kw):
            return list(client_method(**kw, retry=retry, timeout=timeout))
        try:
            return _call(fetch, api, where, self.deadline, denied_fix=viewer_fix(api, self.project), **kwargs)
        except RegionDown as exc:
            raise _stopped(exc) from None

    def skus(self) -> list[billing_v1.Sku]:
        if self._skus is None:
            self.progress(f"gcp: Cloud Billing Catalog {COMPUTE_SERVICE}/skus")
            client = self._client(billing_v1.CloudCatalogClient, SKUS_LIST, "the Cloud Billing Catalog", BILLING_ENDPOINT_ENV)
            fix = ("enable the Cloud Billing API for the credentials' project (gcloud services enable cloudbilling.googleapis.com) "
                   "and rerun")

            def fetch(retry, timeout, **kw):
                return list(client.list_skus(**kw, retry=retry, timeout=timeout))
            try:
                skus = _call(fetch, SKUS_LIST, "the Cloud Billing Catalog", self.deadline, denied_fix=fix, parent=COMPUTE_SERVICE)
            except RegionDown as exc:
                raise _stopped(exc) from None
            except gexc.NotFound:
                raise PreflightError(f"catalog refresh: {SKUS_LIST} found no service {COMPUTE_SERVICE}") from None
            self._skus = [s for s in skus if _usable(s)]
        return self._skus

    def _zones(self, region: str) -> list[str]:
        client = self._client(compute_v1.RegionsClient, REGIONS_GET, region)
        try:
            r = _call(client.get, REGIONS_GET, region, self.deadline, denied_fix=viewer_fix(REGIONS_GET, self.project),
                      project=self.project, region=region)
        except gexc.NotFound:
            raise PreflightError(f"catalog refresh: {REGIONS_GET} found no region {region} for project {self.project}") from None
        except RegionDown as exc:
            raise _stopped(exc) from None
        return sorted(z.rstrip("/").rsplit("/", 1)[-1] for z in r.zones)

    # -- prices

    def _host_price(self, series: str, region: str, usage: str, vcpus: float, mem_gib: float) -> float | None:
        words = SERIES_TO_DESCRIPTION.get(series, "").lower()
        if not words:
            return None
        cpu = ram = None
        for s in self.skus():
            c = s.category
            if c.usage_type != usage or region not in s.service_regions or words not in s.description.lower():
                continue
            if c.resource_group == "GPU":
                continue
            if c.resource_group == "CPU" or (c.resource_group == "N1Standard" and "Core" in s.description):
                cpu = cpu if cpu is not None else sku_price(s)
            elif c.resource_group == "RAM" or (c.resource_group == "N1Standard" and "Ram" in s.description):
                ram = ram if ram is not None else sku_price(s)
        if cpu is None or ram is None:
            return None
        return cpu * vcpus + ram * mem_gib

    def _gpu_price(self, accel: str, region: str, usage: str) -> float | None:
        names = GPU_DESCRIPTIONS.get(accel, ())
        for s in self.skus():
            if (s.category.resource_group == "GPU" and s.category.usage_type == usage and region in s.service_regions
                    and any(n in s.description for n in names)):
                return sku_price(s)
        return None

    # -- rows

    def region_rows(self, region: str) -> tuple[list[dict[str, str]], list[str]]:
        """(catalog rows of the covered shapes offered in ``region``, keys = aiinfra.catalog.COLUMNS, values str;
        notes for covered shapes not emitted there, "SHAPE: why", for the header's "# missing:" lines)."""
        self.deadline.check(f"catalog refresh of {region}")
        zones = self._zones(region)
        machine = self._client(compute_v1.MachineTypesClient, MACHINE_TYPES_LIST, region)
        accel = self._client(compute_v1.AcceleratorTypesClient, ACCELERATOR_TYPES_LIST, region)
        types: dict[str, dict[str, compute_v1.MachineType]] = {}  # zone -> name -> machine type
        cards: dict[str, dict[str, int]] = {}  # zone -> accelerator type -> maximumCardsPerInstance
        for z in zones:
            self.progress(f"gcp {region}: machine and accelerator types in {z}")
            types[z] = {m.name: m for m in self._list(machine.list, MACHINE_TYPES_LIST, z, project=self.project, zone=z)}
            cards[z] = {a.name: int(a.maximum_cards_per_instance) for a in
                        self._list(accel.list, ACCELERATOR_TYPES_LIST, z, project=self.project, zone=z)}
        rows, notes = [], []
        for shape in refresh.COVERAGE["gcp"]["shapes"]:
            if shape in self.unread_shapes:
                continue  # kept from the previous catalog by live.refresh (unread_shapes)
            attach = refresh.GCP_SHAPES[shape]
            bundled = not shape.startswith("n1-")
            have = []
            for z in zones:
                if shape not in types[z]:
                    continue
                if not bundled and any(cards[z].get(refresh.ACCELERATORS[a][2], 0) < n for a, n in attach):
                    continue
                have.append(z)
            if not have:
                notes.append(f"{shape}: not offered in {region}")
                continue
            mt = types[have[0]][shape]
            vcpus, mem = float(mt.guest_cpus), mt.memory_mb / 1024
            if attach:
                acc, count = attach[0]
                gpu, gpu_mem, accel_type = refresh.ACCELERATORS[acc]
                if bundled and mt.accelerators:
                    accel_type = mt.accelerators[0].guest_accelerator_type or accel_type
                    count = int(mt.accelerators[0].guest_accelerator_count) or count
            else:
                gpu, gpu_mem, accel_type, count = "", 0, "", 0
            prices = {}
            for usage in ("OnDemand", "Preemptible"):
                p = self._host_price(refresh.family_of("gcp", shape).split("-")[0], region, usage, vcpus, mem)
                if p is not None and accel_type:
                    g = self._gpu_price(accel_type, region, usage)
                    p = None if g is None else p + g * count
                prices[usage] = p
            if prices["OnDemand"] is None and prices["Preemptible"] is None:
                notes.append(f"{shape}: offered in {region} but the Billing Catalog has no price for "
                             + ("its host" + (f" or {accel_type}" if accel_type else "")))
                continue
            f = self._facts.get(shape)
            if f is None:
                raise PreflightError(f"catalog refresh: no network facts for gcp {shape} in {refresh.DEFAULT_FACTS}")
            rows.append({
                "instance_type": shape, "family": refresh.family_of("gcp", shape), "accelerator_type": accel_type, "gpu": gpu,
                "gpu_count": str(count), "gpu_memory_gib": str(gpu_mem), "vcpus": refresh.fmt(vcpus), "memory_gib": refresh.fmt(mem),
                **{k: f[k] for k in refresh.FACT_COLUMNS},
                "region": region, "zones": " ".join(have),
                "on_demand_usd_hr": "" if prices["OnDemand"] is None else refresh.fmt(prices["OnDemand"]),
                "spot_usd_hr": "" if prices["Preemptible"] is None else refresh.fmt(prices["Preemptible"]),
            })
        return rows, notes
