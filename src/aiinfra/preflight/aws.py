"""AWS pre-flight with boto3 and the caller's default credential chain (environment, profile, SSO,
instance role; nothing stored). Endpoints follow the SDK's own settings (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_EC2``, ``AWS_ENDPOINT_URL_SERVICE_QUOTAS`` ...), which is how the tests point
it at moto and at a recorded Service Quotas server.

Per region of the plan:
- each shape is offered in each zone it is placed in (ec2:DescribeInstanceTypeOfferings, by zone ID);
- the vCPU quotas of the families the plan runs, on-demand and spot, hold what already runs plus the
  plan's steady nodes (else fail) and its peak (else warn) (service-quotas:GetServiceQuota, usage
  from ec2:DescribeInstances);
- EBS gp3 / io2 storage, Elastic IPs (one a NAT gateway), NAT gateways per zone and VPCs;
- a named On-Demand Capacity Reservation exists, is active, and matches the shape, zone and count
  (ec2:DescribeCapacityReservations).
Throttling is retried by botocore's standard retry mode (exponential backoff with jitter), every
call bounded by what is left of the run's --timeout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import botocore.config
import botocore.exceptions

from aiinfra.preflight import (ApiFailed, Check, Deadline, PreflightError, RegionDown, checks_by_region, error_rows, fmt_num, nearest_regions,
                               one_line, quota_verdict)
from aiinfra.preflight.needs import NodeNeed, RegionNeeds


@dataclass(frozen=True)
class Quota:
    service: str
    code: str
    name: str
    unit: str  # what the value counts: "vCPUs", "TiB", "addresses" ...


# The vCPU quota families (names as AWS lists them:
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html and, for Spot,
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html). Codes as the
# Service Quotas console and `aws service-quotas list-service-quotas --service-code ec2` show them.
ON_DEMAND = {
    "P": Quota("ec2", "L-417A185B", "Running On-Demand P instances", "vCPUs"),
    "G": Quota("ec2", "L-DB2E81BA", "Running On-Demand G and VT instances", "vCPUs"),
    "Inf": Quota("ec2", "L-1945791B", "Running On-Demand Inf instances", "vCPUs"),
    "Trn": Quota("ec2", "L-2C3B7624", "Running On-Demand Trn instances", "vCPUs"),
    "Standard": Quota("ec2", "L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "vCPUs"),
}
SPOT = {
    "P": Quota("ec2", "L-7212CCBC", "All P Spot Instance Requests", "vCPUs"),
    "G": Quota("ec2", "L-3819A6DF", "All G and VT Spot Instance Requests", "vCPUs"),
    "Inf": Quota("ec2", "L-B5D1601B", "All Inf Spot Instance Requests", "vCPUs"),
    "Trn": Quota("ec2", "L-6B0D517C", "All Trn Spot Instance Requests", "vCPUs"),
    "Standard": Quota("ec2", "L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", "vCPUs"),
}
# EBS, EIP, VPC limits (https://docs.aws.amazon.com/ebs/latest/userguide/volume_limits.html,
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html).
EBS = {
    "gp3": Quota("ebs", "L-7A658B76", "Storage for General Purpose SSD (gp3) volumes, in TiB", "TiB"),
    "io2": Quota("ebs", "L-09BD8365", "Storage for Provisioned IOPS SSD (io2) volumes, in TiB", "TiB"),
}
EIP = Quota("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", "addresses")
NAT_PER_ZONE = Quota("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", "gateways")
VPCS = Quota("vpc", "L-F678F1CE", "VPCs per Region", "VPCs")
ROOT_VOLUME_GIB = 200  # constructs/aws/gpu_instance_group.py's default root volume (gp3)

_CREDENTIAL_CODES = {"AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
                     "RequestExpired", "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature"}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
_PERMISSIONS = ("ec2:DescribeInstanceTypeOfferings, ec2:DescribeInstances, ec2:DescribeVolumes, ec2:DescribeAddresses, "
                "ec2:DescribeNatGateways, ec2:DescribeVpcs, ec2:DescribeCapacityReservations, servicequotas:GetServiceQuota, "
                "servicequotas:GetAWSDefaultServiceQuota")


def family(instance_type: str) -> str:
    """The vCPU quota family of an instance type (p4d.24xlarge -> P, g6e.xlarge -> G, vt1 -> G)."""
    prefix = instance_type.split(".")[0]
    if prefix.startswith("inf"):
        return "Inf"
    if prefix.startswith("trn"):
        return "Trn"
    if prefix.startswith("vt") or prefix.startswith("g"):
        return "G"
    if prefix.startswith("p"):
        return "P"
    return "Standard"


class AwsRegion:
    """The clients of one region, every call bounded by the run's deadline."""

    def __init__(self, session: boto3.Session, region: str, deadline: Deadline):
        self.region = region
        self.deadline = deadline
        self._session = session
        self._clients: dict[str, object] = {}
        # What was read once is not read again in the same run (the nearest-region fixes ask the
        # same region for the same quotas and offerings), as gcp.py keeps its regions and offerings.
        self._offered: dict[str, set[str]] = {}
        self._quotas: dict[str, tuple[float | None, str]] = {}
        self._running: dict[tuple[str, str], float] | None = None
        # An API that failed after its retries, or was refused, is not asked again this run: the
        # checks that need it are error rows at once (ApiFailed), the region's other APIs still answer.
        self._failed: dict[str, ApiFailed] = {}

    def _client(self, service: str):
        if service not in self._clients:
            left = max(1.0, self.deadline.remaining())
            cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=min(10.0, left),
                                         read_timeout=min(30.0, left), user_agent_extra="aiinfra-preflight")
            self._clients[service] = self._session.client(service, region_name=self.region, config=cfg)
        return self._clients[service]

    def call(self, service: str, op: str, **kwargs):
        api = f"{'servicequotas' if service == 'service-quotas' else service}:{_camel(op)}"
        if api in self._failed:
            raise self._failed[api]
        self.deadline.check(f"{api} in {self.region}")
        try:
            return getattr(self._client(service), op)(**kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise PreflightError(f"preflight: no AWS credentials for {api} in {self.region}: run `aws configure` or "
                                 "`aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID") from None
        except (botocore.exceptions.CredentialRetrievalError, botocore.exceptions.MetadataRetrievalError,
                botocore.exceptions.TokenRetrievalError, botocore.exceptions.SSOTokenLoadError,
                botocore.exceptions.UnauthorizedSSOTokenError) as exc:
            raise PreflightError(f"preflight: could not get AWS credentials for {api} in {self.region} ({exc}): run `aws sso login` "
                                 "or `aws configure`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID") from None
        except botocore.exceptions.ProfileNotFound as exc:
            raise PreflightError(f"preflight: AWS profile {exc.kwargs.get('profile')!r} (AWS_PROFILE) is not in the AWS config files: "
                                 "run `aws configure list-profiles` and set an existing one") from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as exc:
            raise RegionDown(f"{api} did not answer in {self.region}: {exc}") from None
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            msg = exc.response.get("Error", {}).get("Message", "")
            if code in _CREDENTIAL_CODES:
                raise PreflightError(f"preflight: AWS refused the credentials for {api} in {self.region} ({code}: {msg}): "
                                     "refresh them (`aws sso login`, new keys) and rerun") from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            # One line: the status, the API's error code (botocore puts the status there when the body
            # was no AWS error, e.g. a proxy's HTML page) and its message without markup.
            line = f"HTTP {status}{f' {code}' if code and code != str(status) else ''}: {one_line(msg) or 'no message'}"
            if code in _DENIED_CODES:
                self._failed[api] = ApiFailed(api, self.region, line, f"grant {api} to these credentials (the read-only set: {_PERMISSIONS})")
                raise self._failed[api] from None
            if status >= 500 or code in ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"):
                self._failed[api] = ApiFailed(api, self.region, f"{line} (after retries)")
                raise self._failed[api] from None
            raise

    def paginate(self, service: str, op: str, key: str, **kwargs) -> list:
        out, token_key = [], "NextToken"
        while True:
            page = self.call(service, op, **kwargs)
            out.extend(page.get(key, []))
            token = page.get(token_key)
            if not token:
                return out
            kwargs[token_key] = token

    # -- the reads

    def offered_zones(self, instance_types: list[str]) -> dict[str, set[str]]:
        missing = sorted(t for t in set(instance_types) if t not in self._offered)
        if missing:
            rows = self.paginate("ec2", "describe_instance_type_offerings", "InstanceTypeOfferings", LocationType="availability-zone-id",
                                 Filters=[{"Name": "instance-type", "Values": missing}])
            for t in missing:
                self._offered[t] = set()
            for r in rows:
                self._offered.setdefault(r["InstanceType"], set()).add(r["Location"])
        return {t: self._offered[t] for t in instance_types}

    def quota(self, q: Quota) -> tuple[float | None, str]:
        """(value, where it came from): the account's applied value, else the AWS default."""
        if q.code not in self._quotas:
            self._quotas[q.code] = self._read_quota(q)
        return self._quotas[q.code]

    def _read_quota(self, q: Quota) -> tuple[float | None, str]:
        try:
            value = (self.call("service-quotas", "get_service_quota", ServiceCode=q.service, QuotaCode=q.code).get("Quota") or {}).get("Value")
            return value, "applied" if value is not None else "answered without a Value"
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
        try:
            value = (self.call("service-quotas", "get_aws_default_service_quota", ServiceCode=q.service, QuotaCode=q.code).get("Quota") or {}).get("Value")
            return value, "AWS default" if value is not None else "answered without a Value"
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
            return None, "not listed"

    def running_vcpus(self) -> dict[tuple[str, str], float]:
        """(family, "on_demand" | "spot") -> vCPUs of the pending and running instances now (what
        the vCPU quotas count: https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html)."""
        if self._running is not None:
            return self._running
        out: dict[tuple[str, str], float] = {}
        unsized: list[tuple[str, str, str]] = []
        for res in self.paginate("ec2", "describe_instances", "Reservations",
                                 Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]):
            for inst in res.get("Instances", []):
                itype = inst.get("InstanceType", "")
                market = "spot" if inst.get("InstanceLifecycle") == "spot" else "on_demand"
                cpu = inst.get("CpuOptions") or {}
                if not cpu.get("CoreCount"):
                    unsized.append((itype, family(itype), market))  # sized from the type's default vCPUs below
                    continue
                key = (family(itype), market)
                out[key] = out.get(key, 0) + cpu["CoreCount"] * cpu.get("ThreadsPerCore", 1)
        if unsized:
            types = sorted({t for t, _f, _m in unsized})
            vcpus = {t["InstanceType"]: (t.get("VCpuInfo") or {}).get("DefaultVCpus", 0)
                     for t in self.paginate("ec2", "describe_instance_types", "InstanceTypes", InstanceTypes=types)}
            for itype, fam, market in unsized:
                out[(fam, market)] = out.get((fam, market), 0) + vcpus.get(itype, 0)
        self._running = out
        return out


def _camel(op: str) -> str:
    special = {"get_aws_default_service_quota": "GetAWSDefaultServiceQuota"}
    return special.get(op, "".join(p.capitalize() for p in op.split("_")))


def _request_fix(q: Quota, region: str, value: float) -> str:
    return (f"request {q.name} ({q.code}) to {fmt_num(value)} {q.unit} in {region}: aws service-quotas request-service-quota-increase "
            f"--service-code {q.service} --quota-code {q.code} --desired-value {fmt_num(value).replace(',', '')} --region {region}")


class AwsPreflight:
    def __init__(self, deadline: Deadline, catalog, session_factory: Callable[[], boto3.Session] = boto3.Session):
        self.deadline = deadline
        self.catalog = catalog
        try:
            self.session = session_factory()
        except botocore.exceptions.ProfileNotFound as exc:
            raise PreflightError(f"preflight: AWS profile {exc.kwargs.get('profile')!r} (AWS_PROFILE) is not in the AWS config files: "
                                 "run `aws configure list-profiles` and set an existing one") from None
        self._regions: dict[str, AwsRegion] = {}

    def region(self, name: str) -> AwsRegion:
        if name not in self._regions:
            self._regions[name] = AwsRegion(self.session, name, self.deadline)
        return self._regions[name]

    def run(self, needs: list[RegionNeeds]) -> list[Check]:
        return checks_by_region("aws", needs, self.region_checks)

    # -- one region

    def region_checks(self, r: RegionNeeds) -> list[Check]:
        reg = self.region(r.region)
        out: list[Check] = []
        shapes = r.shapes()
        try:
            offered = reg.offered_zones(list(shapes))
        except ApiFailed as exc:
            out += error_rows("aws", r.region, [(f"{t} offered in {z}", "offered") for t, zones in shapes.items() for z in zones], exc)
            offered = None
        for itype, zones in (shapes.items() if offered is not None else ()):
            have = offered.get(itype, set())
            for z in zones:
                if z in have:
                    out.append(Check("aws", r.region, f"{itype} offered in {z}", "offered", "offered", "ok",
                                     api="ec2:DescribeInstanceTypeOfferings"))
                else:
                    out.append(Check("aws", r.region, f"{itype} offered in {z}", "not offered", "offered", "fail",
                                     self._offer_fix(itype, r.region, sorted(have)), api="ec2:DescribeInstanceTypeOfferings"))
        out.extend(self._vcpu_checks(reg, r))
        out.extend(self._storage_checks(reg, r))
        out.extend(self._network_checks(reg, r))
        for n in r.nodes:
            if n.reservation:
                try:
                    out.append(self._reservation_check(reg, r, n))
                except ApiFailed as exc:
                    out += error_rows("aws", r.region, [(f"capacity reservation {n.reservation} for {n.workload}", n.instance_type)], exc)
        return out

    def _offer_fix(self, itype: str, region: str, zones_here: list[str]) -> str:
        if zones_here:
            return (f"{itype} is offered in {region} zones {' '.join(zones_here)}: the catalog's zones are stale; "
                    f"run `aiinfra catalog refresh --cloud aws --regions {region}` and replan")
        for other in self._candidate_regions(itype, region):
            try:
                there = sorted(self.region(other).offered_zones([itype]).get(itype, set()))
            except RegionDown:
                continue
            if there:
                return f"{itype} is not offered in {region}: the nearest configured region with it is {other} ({' '.join(there)}); set region: {other}"
        return f"{itype} is not offered in {region} nor in the catalog's other regions: choose another shape (gpu_requirements)"

    def _candidate_regions(self, itype: str, region: str) -> list[str]:
        regions = sorted({o.region for o in self.catalog.offers(cloud="aws") if o.instance_type == itype})
        return nearest_regions(region, regions)[:3]

    def _vcpu_checks(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        need: dict[tuple[str, str], list[float]] = {}  # (family, market) -> [steady, peak]
        for n in r.nodes:
            fam = family(n.instance_type)
            for market, steady, peak in (("on_demand", n.steady_on_demand, n.peak_on_demand), ("spot", n.steady_spot, n.peak_spot)):
                if peak or steady:
                    cur = need.setdefault((fam, market), [0.0, 0.0])
                    cur[0] += steady * n.vcpus_per_node
                    cur[1] += peak * n.vcpus_per_node
        if not need:
            return []
        try:
            in_use, in_use_failed = reg.running_vcpus(), None
        except ApiFailed as exc:
            in_use, in_use_failed = {}, exc
        out = []
        for (fam, market), (steady, peak) in sorted(need.items()):
            q = (ON_DEMAND if market == "on_demand" else SPOT)[fam]
            label = f"{q.name} ({q.code})"
            try:
                value, source = reg.quota(q)
                if in_use_failed:
                    raise in_use_failed
            except ApiFailed as exc:
                out += error_rows("aws", r.region, [(label, f"{fmt_num(steady)} steady, {fmt_num(peak)} peak vCPUs")], exc)
                continue
            used = in_use.get((fam, market), 0.0)
            if value is None:
                out.append(Check("aws", r.region, label, source, f"{fmt_num(steady)} steady, {fmt_num(peak)} peak vCPUs", "warn",
                                 f"Service Quotas gave no value for {q.code} in {r.region} ({source}): check it in the Service Quotas "
                                 f"console (aws service-quotas get-service-quota --service-code {q.service} --quota-code {q.code} "
                                 f"--region {r.region})", api="servicequotas:GetServiceQuota"))
                continue
            headroom = value - used
            verdict = quota_verdict(headroom, steady, peak)
            current = f"{fmt_num(value)} vCPUs ({source}), {fmt_num(used)} in use"
            want = f"{fmt_num(steady)} steady, {fmt_num(peak)} peak vCPUs"
            fix = ""
            if verdict != "ok":
                fix = _request_fix(q, r.region, math.ceil(used + peak))  # ask once, for the peak
                alt = self._quota_elsewhere(q, fam, market, r, steady, [n.instance_type for n in r.nodes if family(n.instance_type) == fam])
                if alt:
                    fix += f"; or {alt}"
            out.append(Check("aws", r.region, label, current, want, verdict, fix, api="servicequotas:GetServiceQuota"))
        return out

    def _quota_elsewhere(self, q: Quota, fam: str, market: str, r: RegionNeeds, steady: float, shapes: list[str]) -> str:
        """The nearest configured region that offers the shapes and whose quota holds the steady need."""
        regions = sorted({o.region for o in self.catalog.offers(cloud="aws") if o.instance_type in shapes})
        for other in nearest_regions(r.region, regions)[:3]:
            try:
                reg = self.region(other)
                value, _ = reg.quota(q)
                if value is None:
                    continue
                used = reg.running_vcpus().get((fam, market), 0.0)
                if value - used >= steady and all(reg.offered_zones([s]).get(s) for s in set(shapes)):
                    return f"place it in {other} (quota {fmt_num(value)} vCPUs, {fmt_num(used)} in use; set region: {other})"
            except RegionDown:
                continue
        return ""

    def _storage_checks(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        gib: dict[str, list[float]] = {"gp3": [0.0, 0.0]}
        for n in r.nodes:
            steady = n.steady_on_demand + n.steady_spot
            gib["gp3"][0] += steady * ROOT_VOLUME_GIB
            gib["gp3"][1] += n.peak_nodes * ROOT_VOLUME_GIB
            if n.data_volume_gib_per_node:
                cur = gib.setdefault(n.data_volume_type, [0.0, 0.0])
                cur[0] += steady * n.data_volume_gib_per_node
                cur[1] += n.peak_nodes * n.data_volume_gib_per_node
        used: dict[str, float] = {}
        try:
            for v in reg.paginate("ec2", "describe_volumes", "Volumes"):
                used[v.get("VolumeType", "")] = used.get(v.get("VolumeType", ""), 0.0) + v.get("Size", 0) / 1024  # GiB -> TiB
            volumes_failed = None
        except ApiFailed as exc:
            volumes_failed = exc
        out = []
        for vtype, (steady_gib, peak_gib) in sorted(gib.items()):
            q = EBS.get(vtype)
            if q is None:
                continue
            steady, peak = steady_gib / 1024, peak_gib / 1024
            try:
                value, source = reg.quota(q)
                if volumes_failed:
                    raise volumes_failed
            except ApiFailed as exc:
                out += error_rows("aws", r.region, [(f"{q.name} ({q.code})", f"{steady:,.1f} steady, {peak:,.1f} peak TiB")], exc)
                continue
            if value is None:
                continue
            headroom = value - used.get(vtype, 0.0)
            verdict = quota_verdict(headroom, steady, peak)
            out.append(Check("aws", r.region, f"{q.name} ({q.code})", f"{fmt_num(value)} TiB ({source}), {used.get(vtype, 0.0):,.1f} in use",
                             f"{steady:,.1f} steady, {peak:,.1f} peak TiB", verdict,
                             _request_fix(q, r.region, math.ceil(used.get(vtype, 0.0) + peak)) if verdict != "ok" else "",
                             api="servicequotas:GetServiceQuota"))
        return out

    def _network_checks(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        out = []
        for part, label, need in ((self._eip_check, EIP, f"{r.nat_gateways} (one a NAT gateway)"), (self._vpc_check, VPCS, "1 (the foundation's)"),
                                  (self._nat_check, NAT_PER_ZONE, f"1 in each of {r.nat_gateways} zone{'s' if r.nat_gateways != 1 else ''}")):
            if part is self._nat_check and not r.nat_gateways:
                continue
            try:
                out.extend(part(reg, r))
            except ApiFailed as exc:
                out += error_rows("aws", r.region, [(f"{label.name} ({label.code})", need)], exc)
        return out

    def _eip_check(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        out = []
        value, source = reg.quota(EIP)
        if value is not None:
            used = len(reg.call("ec2", "describe_addresses").get("Addresses", []))
            verdict = quota_verdict(value - used, r.nat_gateways, r.nat_gateways)
            out.append(Check("aws", r.region, f"{EIP.name} ({EIP.code})", f"{fmt_num(value)} ({source}), {used} in use",
                             f"{r.nat_gateways} (one a NAT gateway)", verdict,
                             _request_fix(EIP, r.region, used + r.nat_gateways) + "; or release unused Elastic IPs" if verdict != "ok" else "",
                             api="servicequotas:GetServiceQuota"))
        return out

    def _vpc_check(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        out = []
        value, source = reg.quota(VPCS)
        if value is not None:
            used = len(reg.paginate("ec2", "describe_vpcs", "Vpcs"))
            verdict = quota_verdict(value - used, 1, 1)
            out.append(Check("aws", r.region, f"{VPCS.name} ({VPCS.code})", f"{fmt_num(value)} ({source}), {used} in use", "1 (the foundation's)",
                             verdict, _request_fix(VPCS, r.region, used + 1) if verdict != "ok" else "", api="servicequotas:GetServiceQuota"))
        return out

    def _nat_check(self, reg: AwsRegion, r: RegionNeeds) -> list[Check]:
        out = []
        value, source = reg.quota(NAT_PER_ZONE)
        if value is not None and r.nat_gateways:
            per_zone: dict[str, int] = {}
            subnets = {}
            nats = [g for g in reg.paginate("ec2", "describe_nat_gateways", "NatGateways") if g.get("State") in ("pending", "available")]
            if nats:
                ids = sorted({g["SubnetId"] for g in nats if g.get("SubnetId")})
                for s in reg.call("ec2", "describe_subnets", SubnetIds=ids).get("Subnets", []) if ids else []:
                    subnets[s["SubnetId"]] = s.get("AvailabilityZoneId", "")
                for g in nats:
                    z = subnets.get(g.get("SubnetId", ""), "")
                    per_zone[z] = per_zone.get(z, 0) + 1
            busiest = max(per_zone.values(), default=0)
            verdict = quota_verdict(value - busiest, 1, 1)
            out.append(Check("aws", r.region, f"{NAT_PER_ZONE.name} ({NAT_PER_ZONE.code})", f"{fmt_num(value)} ({source}), at most {busiest} in a zone",
                             f"1 in each of {r.nat_gateways} zone{'s' if r.nat_gateways != 1 else ''}", verdict,
                             _request_fix(NAT_PER_ZONE, r.region, busiest + 1) if verdict != "ok" else "", api="servicequotas:GetServiceQuota"))
        return out

    def _reservation_check(self, reg: AwsRegion, r: RegionNeeds, n: NodeNeed) -> Check:
        label = f"capacity reservation {n.reservation} for {n.workload}"
        api = "ec2:DescribeCapacityReservations"
        try:
            found = reg.call("ec2", "describe_capacity_reservations", CapacityReservationIds=[n.reservation]).get("CapacityReservations", [])
        except botocore.exceptions.ClientError as exc:
            if "NotFound" not in exc.response.get("Error", {}).get("Code", "") and "Malformed" not in exc.response.get("Error", {}).get("Code", ""):
                raise
            found = []
        want = (f"{n.instance_type}, {' or '.join(n.zones)}, {n.steady_on_demand} instances, "
                f"{'a Capacity Block, scheduled or active' if n.capacity_block else 'active'}")
        if not found:
            return Check("aws", r.region, label, "not found", want, "fail",
                         f"no Capacity Reservation {n.reservation} in {r.region} for this account: check the id and region "
                         "(aws ec2 describe-capacity-reservations)", api=api)
        cr = found[0]
        problems = []
        block = cr.get("ReservationType") == "capacity-block"
        if block and not n.capacity_block:
            problems.append("it is a Capacity Block, which needs the launch template's market type capacity-block: "
                            f"set capacity_block: true on {n.workload}")
        elif n.capacity_block and not block:
            problems.append(f"it is an On-Demand Capacity Reservation, not a Capacity Block: drop capacity_block from {n.workload}")
        if cr.get("InstanceType") != n.instance_type:
            problems.append(f"it reserves {cr.get('InstanceType')}, the plan runs {n.instance_type}")
        if cr.get("AvailabilityZoneId") not in n.zones:
            problems.append(f"it is in {cr.get('AvailabilityZoneId')}, the plan places {n.workload} in {' '.join(n.zones)}")
        # A Capacity Block is "scheduled" until its start date, then "active"; an ODCR must be active.
        # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-using.html
        if cr.get("State") not in (("active", "scheduled") if block else ("active",)):
            problems.append(f"its state is {cr.get('State')}")
        total = cr.get("TotalInstanceCount", 0)
        available = cr.get("AvailableInstanceCount", 0)
        if total < n.steady_on_demand:
            problems.append(f"it holds {total} instances, the plan runs {n.steady_on_demand}")
        if cr.get("InstanceMatchCriteria") == "open" and available < n.steady_on_demand:
            problems.append(f"only {available} of its {total} instances are free")
        current = (f"{cr.get('InstanceType')}, {cr.get('AvailabilityZoneId')}, {available}/{total} free, {cr.get('State')}, "
                   f"{cr.get('InstanceMatchCriteria', 'open')}")
        if block:
            dates = " to ".join(d.strftime("%Y-%m-%d %H:%M UTC") if hasattr(d, "strftime") else str(d)
                                for d in (cr.get("StartDate"), cr.get("EndDate")) if d)
            current += f", Capacity Block{' ' + dates if dates else ''}"
        if problems:
            return Check("aws", r.region, label, current, want, "fail", "; ".join(problems), api=api)
        return Check("aws", r.region, label, current, want, "ok", api=api)


def checks(needs: list[RegionNeeds], deadline: Deadline, catalog) -> list[Check]:
    return AwsPreflight(deadline, catalog).run(needs)
