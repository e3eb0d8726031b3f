"""GCP pre-flight with google-cloud-compute (REST transport) and the caller's default credential
chain (``google.auth.default()``: GOOGLE_APPLICATION_CREDENTIALS, ``gcloud auth
application-default login``, the metadata server; nothing stored). ``AIINFRA_GCP_COMPUTE_ENDPOINT``
overrides the Compute Engine API endpoint (``client_options={"api_endpoint": ...}``): the way to
use a Private Service Connect endpoint (``https://compute-myendpoint.p.googleapis.com``), and how
the tests point it at a local recorded server.

Per region of the plan:
- each machine type is offered in each zone it is placed in (compute.machineTypes.get) and so is
  the workload's accelerator type (compute.acceleratorTypes.get; a2 / a3 / g2 bundle their GPUs
  in the machine type, n1 + T4 attaches them, both need the accelerator type in the zone);
- the region's quotas (compute.regions.get ``quotas``: metric, limit, usage) hold what is in use
  plus the plan's steady nodes (else fail) and its peak (else warn): CPUs per machine family,
  GPUs per model, on-demand and spot (PREEMPTIBLE_* where the project has it), Local SSD,
  persistent disk (boot + data) and addresses (Cloud NAT, internal load-balancer VIPs);
- a named reservation exists in one of the workload's zones, is READY, and matches the machine
  type, accelerators and count (compute.reservations.get).
Throttling (429) and 5xx are retried with exponential backoff and jitter
(``google.api_core.retry.Retry``), every call and its retries bounded by what is left of the run's
--timeout; a region whose API still does not answer becomes one ``error`` row.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import google.auth
import google.auth.exceptions
import requests.exceptions
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import compute_v1

from aiinfra.preflight import (
    ApiFailed,
    RegionDown,
    error_rows,
    one_line,
    checks_by_region,
    Check,
    Deadline,
    PreflightError,
    fmt_num,
    nearest_regions,
    quota_verdict,
)
from aiinfra.preflight.needs import NodeNeed, RegionNeeds

COMPUTE_ENDPOINT_ENV = "AIINFRA_GCP_COMPUTE_ENDPOINT"
VIEWER_ROLE = "roles/compute.viewer"

# Retries of one call: exponential backoff with jitter (google.api_core.retry.Retry sleeps a random
# time up to the current delay), the whole of it bounded by RETRY_BUDGET_S and by the run's deadline.
RETRY_INITIAL_S = 0.5
RETRY_MAXIMUM_S = 8.0
RETRY_MULTIPLIER = 2.0
RETRY_BUDGET_S = 60.0
CALL_TIMEOUT_S = 30.0
_RETRYABLE = (gexc.TooManyRequests, gexc.ResourceExhausted, gexc.ServiceUnavailable, gexc.InternalServerError,
              gexc.BadGateway, gexc.GatewayTimeout, requests.exceptions.ConnectionError, requests.exceptions.Timeout)

# Quota metrics as compute.regions.get lists them (the Quota.metric values of the Compute Engine v1
# API: https://cloud.google.com/compute/docs/reference/rest/v1/regions and the enum
# https://cloud.google.com/python/docs/reference/compute/latest/google.cloud.compute_v1.types.Quota.Metric;
# what each counts: https://cloud.google.com/compute/resource-usage).
# CPU quota per machine series. a3 is absent on purpose: A3 (H100 / H200) VMs are limited by their
# GPU quota, not a CPU metric (no A3_CPUS metric exists in the v1 Quota.Metric enum).
CPU_METRICS = {
    "n1": "CPUS", "n2": "N2_CPUS", "n2d": "N2D_CPUS", "c2": "C2_CPUS", "c2d": "C2D_CPUS", "c3": "C3_CPUS",
    "e2": "E2_CPUS", "m1": "M1_CPUS", "m2": "M2_CPUS", "m3": "M3_CPUS", "a2": "A2_CPUS", "g2": "G2_CPUS",
}
# GPU quota per accelerator type (the guest accelerator id the plan carries).
GPU_METRICS = {
    "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
    "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA_GPUS",
    "nvidia-h200-141gb": "NVIDIA_H200_GPUS",
}
# H100 / H100 Mega / H200 quotas are often not in compute.regions.get's list at all (dstack, which
# reads the same list, skips the check for them: "H100 and H100_MEGA quotas are not returned by
# `regions_client.list`", dstackai/dstack src/dstack/_internal/core/backends/gcp/compute.py): a
# missing entry for these is a warn (check Cloud Quotas), for every other metric it means limit 0.
CLOUD_QUOTAS_ONLY = {"NVIDIA_H100_GPUS", "NVIDIA_H100_MEGA_GPUS", "NVIDIA_H200_GPUS"}
PREEMPTIBLE_CPUS = "PREEMPTIBLE_CPUS"
LOCAL_SSD = "LOCAL_SSD_TOTAL_GB"
PREEMPTIBLE_LOCAL_SSD = "PREEMPTIBLE_LOCAL_SSD_GB"
# Persistent disk: pd-ssd and pd-balanced count against SSD_TOTAL_GB, pd-standard against
# DISKS_TOTAL_GB; Hyperdisk has its own quotas (not in this list) and is not checked here.
DISK_METRICS = {"pd-ssd": "SSD_TOTAL_GB", "pd-balanced": "SSD_TOTAL_GB", "pd-standard": "DISKS_TOTAL_GB"}
# Cloud NAT's auto-allocated address is an in-use external address; the internal load balancers'
# google_compute_address (INTERNAL) count against the static internal address quota.
IN_USE_ADDRESSES = "IN_USE_ADDRESSES"
INTERNAL_ADDRESSES = "INTERNAL_ADDRESSES"
BOOT_DISK_GIB = 200  # constructs/gcp/gpu_instance_group.py's default boot disk
BOOT_DISK_TYPE = "pd-balanced"
HYPERDISK_ONLY_SERIES = ("a3-ultragpu", "a4")  # boot on hyperdisk-balanced (constructs/gcp/gpu_instance_group.py)


@dataclass(frozen=True)
class Api:
    """One Compute Engine method: its IAM permission names it."""

    permission: str

    def __str__(self) -> str:
        return self.permission


REGIONS_GET = Api("compute.regions.get")
MACHINE_TYPES_GET = Api("compute.machineTypes.get")
ACCELERATOR_TYPES_GET = Api("compute.acceleratorTypes.get")
RESERVATIONS_GET = Api("compute.reservations.get")


def _client_options(env: str = COMPUTE_ENDPOINT_ENV) -> dict | None:
    """``{"api_endpoint": ...}`` from ``env`` when it is set (a Private Service Connect endpoint, a test server)."""
    value = os.environ.get(env, "").strip()
    return {"api_endpoint": value} if value else None


def _retry(deadline: Deadline) -> gretry.Retry:
    return gretry.Retry(predicate=gretry.if_exception_type(*_RETRYABLE), initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S,
                        multiplier=RETRY_MULTIPLIER, timeout=max(0.1, min(RETRY_BUDGET_S, deadline.remaining())))


def _no_credentials(api: object, where: str) -> PreflightError:
    return PreflightError(f"preflight: no GCP credentials for {api} in {where}: run `gcloud auth application-default login` "
                          "or set GOOGLE_APPLICATION_CREDENTIALS")


def _message(exc: gexc.GoogleAPICallError) -> str:
    """The API's error message, without the "GET https://...: " the REST transport puts before it."""
    text = " ".join(str(getattr(exc, "message", "") or exc).split())
    return re.sub(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ", "", text)[:300]


def viewer_fix(api: object, project: str) -> str:
    return (f"grant {api} (in {VIEWER_ROLE}) to these credentials: gcloud projects add-iam-policy-binding {project} "
            f"--member=serviceAccount:NAME@{project}.iam.gserviceaccount.com --role={VIEWER_ROLE} (or --member=user:YOU)")


def _make_client(cls, api: object, where: str, env: str = COMPUTE_ENDPOINT_ENV):
    """A REST client on the default credential chain; no credentials -> PreflightError."""
    try:
        with warnings.catch_warnings():
            # google.auth warns about end-user credentials without a quota project; not ours to print.
            warnings.simplefilter("ignore")
            return cls(transport="rest", client_options=_client_options(env))
    except google.auth.exceptions.DefaultCredentialsError:
        raise _no_credentials(api, where) from None


def _call(fn: Callable, api: object, where: str, deadline: Deadline, *, denied_fix: str | None = None, failed: dict | None = None, **kwargs):
    """Call ``fn(**kwargs)`` bounded by the deadline, retried on throttling / 5xx / connection errors.

    NotFound propagates (the callers read it as "not offered" / "no such reservation"). Missing or
    refused credentials raise PreflightError (one line). A 403, or an API still failing after the
    retries, raises ApiFailed (only the checks reading that API become error rows; remembered in
    ``failed`` so it is not asked again in ``where``); no answer at all (connection refused, timeouts)
    raises RegionDown."""
    if failed is not None and (str(api), where) in failed:
        raise failed[(str(api), where)]
    deadline.check(f"{api} in {where}")
    timeout = max(0.1, min(CALL_TIMEOUT_S, deadline.remaining()))
    try:
        return _call_once(fn, api, where, deadline, denied_fix, timeout, kwargs)
    except ApiFailed as exc:
        if failed is not None:
            failed[(str(api), where)] = exc
        raise


def _failure(api: object, where: str, exc: gexc.GoogleAPICallError, after: str = "", fix: str = "") -> ApiFailed:
    """One line: the HTTP status, the API's reason (PERMISSION_DENIED, SERVICE_DISABLED ...) and its message."""
    # ErrorInfo's reason (SERVICE_DISABLED ...) when the API sends one, else the Compute API's errors[].reason (forbidden ...).
    errors = getattr(exc, "errors", None) or []
    reason = getattr(exc, "reason", None) or next((e.get("reason") for e in errors if isinstance(e, dict) and e.get("reason")), "")
    return ApiFailed(str(api), where, f"HTTP {exc.code}{f' {reason}' if reason else ''}: {one_line(_message(exc)) or 'no message'}{after}", fix)


def _call_once(fn: Callable, api: object, where: str, deadline: Deadline, denied_fix: str | None, timeout: float, kwargs: dict):
    try:
        return fn(**kwargs, retry=_retry(deadline), timeout=timeout)
    except gexc.NotFound:
        raise
    except (google.auth.exceptions.DefaultCredentialsError, google.auth.exceptions.RefreshError) as exc:
        if isinstance(exc, google.auth.exceptions.RefreshError) and str(exc).strip():
            raise PreflightError(f"preflight: GCP refused the credentials for {api} in {where} ({' '.join(str(exc).split())[:200]}): "
                                 "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS") from None
        raise _no_credentials(api, where) from None
    except google.auth.exceptions.TransportError as exc:
        raise RegionDown(f"{api} did not answer in {where}: could not reach the token endpoint ({exc})") from None
    except gexc.Unauthorized as exc:
        raise PreflightError(f"preflight: GCP refused the credentials for {api} in {where} (401: {_message(exc)}): "
                             "run `gcloud auth application-default login` and rerun") from None
    except (gexc.Forbidden, gexc.PermissionDenied) as exc:
        raise _failure(api, where, exc, fix=denied_fix or viewer_fix(api, "PROJECT")) from None
    except gexc.RetryError as exc:
        cause = exc.cause
        if isinstance(cause, gexc.GoogleAPICallError):
            raise _failure(api, where, cause, " (after retries)") from None
        raise RegionDown(f"{api} did not answer in {where} after retries ({one_line(str(cause or exc))})") from None
    except (gexc.TooManyRequests, gexc.ResourceExhausted, gexc.ServerError) as exc:
        raise _failure(api, where, exc, " (after retries)") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise RegionDown(f"{api} did not answer in {where}: {type(exc).__name__}") from None


def series(machine_type: str) -> str:
    """The machine series: a2-highgpu-8g -> a2, n1-standard-8 -> n1."""
    return machine_type.split("-")[0]


def quota_console(project: str, metric: str, region: str) -> str:
    return f"https://console.cloud.google.com/iam-admin/quotas?project={project}&metric={metric}&location={region}"


def quota_id(metric: str) -> str:
    """The Cloud Quotas quota ID of a Compute Engine regional metric (CPUS -> CPUS-per-project-region,
    as in https://cloud.google.com/docs/quotas/implement-common-use-cases)."""
    return metric.replace("_", "-") + "-per-project-region"


def request_fix(project: str, metric: str, region: str, value: float) -> str:
    """A pasteable quota request: gcloud quotas preferences create (Cloud Quotas API,
    https://cloud.google.com/sdk/gcloud/reference/quotas/preferences/create) and the console page."""
    v = fmt_num(math.ceil(value)).replace(",", "")
    return (f"request {metric} to {v} in {region}: gcloud quotas preferences create --service=compute.googleapis.com "
            f"--project={project} --quota-id={quota_id(metric)} --preferred-value={v} --dimensions=region={region} "
            f"(or {quota_console(project, metric, region)})")


class Quotas:
    """One region's quota list: metric -> (limit, usage); ``notes`` say what was missing."""

    def __init__(self, region: compute_v1.Region | None):
        self.values: dict[str, tuple[float, float]] = {}
        self.notes: list[str] = []
        self.listed = bool(region is not None and len(region.quotas))
        for q in (region.quotas if region is not None else []):
            if not q.metric:
                continue
            usage = q.usage if "usage" in q else 0.0
            if "usage" not in q:
                self.notes.append(f"{q.metric} has no usage in the answer (taken as 0)")
            self.values[q.metric] = (q.limit if "limit" in q else 0.0, usage)

    def get(self, metric: str) -> tuple[float, float] | None:
        return self.values.get(metric)


class GcpPreflight:
    def __init__(self, deadline: Deadline, catalog, project: str):
        self.deadline = deadline
        self.catalog = catalog
        self.project = project
        self._clients: dict[type, object] = {}
        self._regions: dict[str, compute_v1.Region] = {}
        self._offered: dict[tuple[str, str, str], bool] = {}
        self._failed: dict[tuple[str, str], ApiFailed] = {}  # (api, region or zone) -> its failure, not asked again

    # -- the reads

    def _client(self, cls, api: Api, where: str):
        if cls not in self._clients:
            self._clients[cls] = _make_client(cls, api, where)
        return self._clients[cls]

    def region(self, name: str) -> compute_v1.Region:
        if name not in self._regions:
            client = self._client(compute_v1.RegionsClient, REGIONS_GET, name)
            try:
                self._regions[name] = _call(client.get, REGIONS_GET, name, self.deadline, denied_fix=viewer_fix(REGIONS_GET, self.project),
                                            failed=self._failed, project=self.project, region=name)
            except gexc.NotFound:
                raise RegionDown(f"{REGIONS_GET} found no region {name} for project {self.project}") from None
        return self._regions[name]

    def region_zones(self, name: str) -> list[str]:
        return sorted(z.rstrip("/").rsplit("/", 1)[-1] for z in self.region(name).zones)

    def offered(self, kind: str, name: str, zone: str) -> bool:
        """Is machine type / accelerator type ``name`` offered in ``zone`` (NotFound: no)."""
        key = (kind, name, zone)
        if key not in self._offered:
            if kind == "machine":
                client, api = self._client(compute_v1.MachineTypesClient, MACHINE_TYPES_GET, zone), MACHINE_TYPES_GET
                fn, kw = client.get, {"machine_type": name}
            else:
                client, api = self._client(compute_v1.AcceleratorTypesClient, ACCELERATOR_TYPES_GET, zone), ACCELERATOR_TYPES_GET
                fn, kw = client.get, {"accelerator_type": name}
            try:
                _call(fn, api, zone, self.deadline, denied_fix=viewer_fix(api, self.project), failed=self._failed, project=self.project, zone=zone, **kw)
                self._offered[key] = True
            except gexc.NotFound:
                self._offered[key] = False
        return self._offered[key]

    # -- the checks

    def run(self, needs: list[RegionNeeds]) -> list[Check]:
        return checks_by_region("gcp", needs, self.region_checks)

    def region_checks(self, r: RegionNeeds) -> list[Check]:
        try:
            region, region_failed = self.region(r.region), None
        except ApiFailed as exc:  # the offerings and reservations are still asked
            region, region_failed = None, exc
        out: list[Check] = []
        for mt, zones in r.shapes().items():
            out.extend(self._offer_checks("machine", mt, zones, r.region, MACHINE_TYPES_GET, mt))
        accels: dict[str, list[str]] = {}
        for n in r.nodes:
            if n.accelerator_type:
                zs = accels.setdefault(n.accelerator_type, [])
                zs.extend(z for z in n.zones if z not in zs)
        for acc, zones in accels.items():
            shapes = [n.instance_type for n in r.nodes if n.accelerator_type == acc]
            out.extend(self._offer_checks("accelerator", acc, tuple(zones), r.region, ACCELERATOR_TYPES_GET, shapes[0]))
        quotas = Quotas(region)
        if region_failed is not None:
            out += error_rows("gcp", r.region, [(metric, self._want(metric, steady, peak, unit))
                                                for metric, (steady, peak, unit, _s) in sorted(self._needs(r, quotas).items())], region_failed)
        elif not quotas.listed:
            out.append(Check("gcp", r.region, "regional quotas readable", "the region's answer lists no quotas",
                             "CPU, GPU, disk and address quotas", "warn",
                             f"could not read the quotas: check them on {quota_console(self.project, 'CPUS', r.region)}",
                             api=str(REGIONS_GET)))
        else:
            out.extend(self._quota_checks(r, quotas))
        for n in r.nodes:
            if n.reservation:
                try:
                    out.append(self._reservation_check(r, n))
                except ApiFailed as exc:
                    out += error_rows("gcp", r.region, [(f"reservation {n.reservation} for {n.workload}", n.instance_type)], exc)
        return out

    def _offer_checks(self, kind: str, name: str, zones: tuple[str, ...], region: str, api: Api, shape: str) -> list[Check]:
        out = []
        for z in zones:
            try:
                offered = self.offered(kind, name, z)
            except ApiFailed as exc:
                out += error_rows("gcp", region, [(f"{name} offered in {z}", "offered")], exc)
                continue
            if offered:
                out.append(Check("gcp", region, f"{name} offered in {z}", "offered", "offered", "ok", api=str(api)))
            else:
                out.append(Check("gcp", region, f"{name} offered in {z}", "not offered", "offered", "fail",
                                 self._offer_fix(kind, name, region, shape), api=str(api)))
        return out

    def _offer_fix(self, kind: str, name: str, region: str, shape: str) -> str:
        try:
            here = [z for z in self.region_zones(region) if self.offered(kind, name, z)]
        except RegionDown:  # the region's zones or another zone's answer could not be read: no zone named
            here = []
        if here:
            return (f"{name} is offered in {region} zones {' '.join(here)}: the catalog's zones are stale; "
                    f"run `aiinfra catalog refresh --cloud gcp --regions {region}` and replan")
        for other in self._candidate_regions(shape, region):
            try:
                there = [z for z in self.region_zones(other) if self.offered(kind, name, z)]
            except RegionDown:
                continue
            if there:
                return f"{name} is not offered in {region}: the nearest configured region with it is {other} ({' '.join(there)}); set region: {other}"
        return f"{name} is not offered in {region} nor in the catalog's other regions: choose another shape (gpu_requirements)"

    def _candidate_regions(self, shape: str, region: str) -> list[str]:
        regions = sorted({o.region for o in self.catalog.offers(cloud="gcp") if o.instance_type == shape})
        return nearest_regions(region, regions)[:3]

    def _needs(self, r: RegionNeeds, quotas: Quotas) -> dict[str, list]:
        """metric -> [steady, peak, unit, shapes]: what the plan's nodes need of each quota."""
        need: dict[str, list] = {}

        def add(metric: str, steady: float, peak: float, unit: str, shape: str) -> None:
            if not (steady or peak):
                return
            cur = need.setdefault(metric, [0.0, 0.0, unit, []])
            cur[0] += steady
            cur[1] += peak
            if shape not in cur[3]:
                cur[3].append(shape)

        def spot_metric(regular: str, preemptible: str) -> str:
            # Spot VMs use the preemptible quota where the project has one, else the regular quota
            # ("if your project does not have preemptible quota, you can still use the regular quota
            # to launch preemptible resources": https://cloud.google.com/compute/resource-usage).
            got = quotas.get(preemptible)
            return preemptible if got is not None and got[0] > 0 else regular

        for n in r.nodes:
            mt = n.instance_type
            steady_all, peak_all = n.steady_on_demand + n.steady_spot, n.peak_nodes
            cpu = CPU_METRICS.get(series(mt))
            if cpu:
                add(cpu, n.steady_on_demand * n.vcpus_per_node, n.peak_on_demand * n.vcpus_per_node, "vCPUs", mt)
                add(spot_metric(cpu, PREEMPTIBLE_CPUS), n.steady_spot * n.vcpus_per_node, n.peak_spot * n.vcpus_per_node, "vCPUs", mt)
            gpu = GPU_METRICS.get(n.accelerator_type)
            if gpu and n.gpus_per_node:
                add(gpu, n.steady_on_demand * n.gpus_per_node, n.peak_on_demand * n.gpus_per_node, "GPUs", mt)
                add(spot_metric(gpu, "PREEMPTIBLE_" + gpu), n.steady_spot * n.gpus_per_node, n.peak_spot * n.gpus_per_node, "GPUs", mt)
            if n.local_ssd_gib_per_node:
                g = n.local_ssd_gib_per_node
                add(LOCAL_SSD, n.steady_on_demand * g, n.peak_on_demand * g, "GB", mt)
                add(spot_metric(LOCAL_SSD, PREEMPTIBLE_LOCAL_SSD), n.steady_spot * g, n.peak_spot * g, "GB", mt)
            if not mt.startswith(HYPERDISK_ONLY_SERIES):
                add(DISK_METRICS[BOOT_DISK_TYPE], steady_all * BOOT_DISK_GIB, peak_all * BOOT_DISK_GIB, "GB", mt)
            if n.data_volume_gib_per_node and n.data_volume_type in DISK_METRICS:
                g = n.data_volume_gib_per_node
                add(DISK_METRICS[n.data_volume_type], steady_all * g, peak_all * g, "GB", mt)
        if r.nat_gateways:
            add(IN_USE_ADDRESSES, r.nat_gateways, r.nat_gateways, "addresses", "")
        if r.regional_addresses:
            add(INTERNAL_ADDRESSES, r.regional_addresses, r.regional_addresses, "addresses", "")
        return need

    @staticmethod
    def _want(metric: str, steady: float, peak: float, unit: str) -> str:
        if metric == IN_USE_ADDRESSES:
            return f"{fmt_num(steady)} (Cloud NAT's address)"
        if metric == INTERNAL_ADDRESSES:
            return f"{fmt_num(steady)} (internal load-balancer addresses)"
        return f"{fmt_num(steady)} steady, {fmt_num(peak)} peak {unit}"

    def _quota_checks(self, r: RegionNeeds, quotas: Quotas) -> list[Check]:
        out = []
        for metric, (steady, peak, unit, shapes) in sorted(self._needs(r, quotas).items()):
            want = self._want(metric, steady, peak, unit)
            got = quotas.get(metric)
            if got is None and metric in CLOUD_QUOTAS_ONLY:
                out.append(Check("gcp", r.region, metric, "not listed by compute.regions.get", want, "warn",
                                 f"GCP lists this GPU quota only in Cloud Quotas: check it holds {fmt_num(peak)} {unit} on "
                                 f"{quota_console(self.project, metric, r.region)}; if not, " + request_fix(self.project, metric, r.region, peak),
                                 api=str(REGIONS_GET)))
                continue
            limit, usage = got if got is not None else (0.0, 0.0)
            note = [n for n in quotas.notes if n.startswith(metric + " ")]
            current = (f"{fmt_num(limit)} {unit}, {fmt_num(usage)} in use" if got is not None
                       else f"not listed in {r.region} (limit 0)")
            if note:
                current += " (no usage in the answer: taken as 0)"
            verdict = quota_verdict(limit - usage, steady, peak)
            fix = ""
            if verdict != "ok":
                fix = request_fix(self.project, metric, r.region, usage + peak)
                if metric in (IN_USE_ADDRESSES, INTERNAL_ADDRESSES):
                    fix += "; or release unused addresses (gcloud compute addresses list)"
                elif shapes:
                    alt = self._quota_elsewhere(metric, r.region, steady, shapes)
                    if alt:
                        fix += f"; or {alt}"
            out.append(Check("gcp", r.region, metric, current, want, verdict, fix, api=str(REGIONS_GET)))
        return out

    def _quota_elsewhere(self, metric: str, region: str, steady: float, shapes: list[str]) -> str:
        """The nearest configured region that offers the shapes in a zone and whose quota holds the steady need."""
        regions = sorted({o.region for o in self.catalog.offers(cloud="gcp") if o.instance_type in shapes})
        for other in nearest_regions(region, regions)[:3]:
            try:
                got = Quotas(self.region(other)).get(metric)
                if got is None or got[0] - got[1] < steady:
                    continue
                zones = self.region_zones(other)
                if all(any(self.offered("machine", s, z) for z in zones) for s in shapes):
                    return f"place it in {other} ({metric} {fmt_num(got[0])}, {fmt_num(got[1])} in use; set region: {other})"
            except RegionDown:
                continue
        return ""

    def _reservation_check(self, r: RegionNeeds, n: NodeNeed) -> Check:
        label = f"reservation {n.reservation} for {n.workload}"
        client = self._client(compute_v1.ReservationsClient, RESERVATIONS_GET, r.region)
        want = (f"{n.instance_type}{f' + {n.gpus_per_node}x {n.accelerator_type}' if n.accelerator_type else ''}, "
                f"{' or '.join(n.zones)}, {n.steady_on_demand} VMs, READY")
        found, zone = None, ""
        for z in n.zones:
            try:
                found = _call(client.get, RESERVATIONS_GET, z, self.deadline, denied_fix=viewer_fix(RESERVATIONS_GET, self.project),
                              failed=self._failed, project=self.project, zone=z, reservation=n.reservation)
                zone = z
                break
            except gexc.NotFound:
                continue
        if found is None:
            return Check("gcp", r.region, label, "not found", want, "fail",
                         f"no reservation {n.reservation} in {' '.join(n.zones)} for project {self.project}: check the name and zone "
                         f"(gcloud compute reservations list --project={self.project}) or place {n.workload} in the reservation's zone",
                         api=str(RESERVATIONS_GET))
        sr = found.specific_reservation
        props = sr.instance_properties
        reserved_mt = props.machine_type
        count, in_use = int(sr.count), int(sr.in_use_count)
        accels = {a.accelerator_type: int(a.accelerator_count) for a in props.guest_accelerators}
        problems = []
        if reserved_mt != n.instance_type:
            problems.append(f"it reserves {reserved_mt or 'no machine type'}, the plan runs {n.instance_type}")
        if n.accelerator_type and not n.instance_type.startswith(("a2-", "a3-", "a4-", "g2-")):
            # n1 + T4: the reservation must reserve the attached GPUs too.
            if accels.get(n.accelerator_type, 0) != n.gpus_per_node:
                have = ", ".join(f"{c}x {a}" for a, c in accels.items()) or "no GPUs"
                problems.append(f"it reserves {have}, the plan attaches {n.gpus_per_node}x {n.accelerator_type}")
        elif accels and n.accelerator_type and n.accelerator_type not in accels:
            problems.append(f"it reserves {', '.join(accels)}, the plan runs {n.accelerator_type}")
        if found.status and found.status != "READY":
            problems.append(f"its status is {found.status}")
        if count < n.steady_on_demand:
            problems.append(f"it holds {count} VMs, the plan runs {n.steady_on_demand}")
        elif count - in_use < n.steady_on_demand:
            problems.append(f"only {count - in_use} of its {count} VMs are free ({in_use} in use)")
        # specificReservationRequired true: only VMs that name it (the nodes' SPECIFIC_RESERVATION
        # affinity) consume it. false: it is also consumed by any matching VM of the project in the
        # zone (default ANY affinity), so the free count below is what is left of it now.
        required = bool(found.specific_reservation_required)
        current = (f"{reserved_mt}, {zone}, {count - in_use}/{count} free, {found.status or 'status unknown'}, "
                   + ("specific reservation required (only VMs naming it consume it)" if required
                      else "open (specificReservationRequired false: other matching VMs of the project may consume it)"))
        if problems:
            return Check("gcp", r.region, label, current, want, "fail", "; ".join(problems), api=str(RESERVATIONS_GET))
        return Check("gcp", r.region, label, current, want, "ok", api=str(RESERVATIONS_GET))


def checks(needs: list[RegionNeeds], deadline: Deadline, catalog, project: str) -> list[Check]:
    return GcpPreflight(deadline, catalog, project).run(needs)
