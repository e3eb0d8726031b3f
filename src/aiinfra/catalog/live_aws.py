"""AWS rows for ``aiinfra catalog refresh --cloud aws``, with boto3 and the caller's credentials.

Per region, for the covered shapes (``refresh.COVERAGE["aws"]``):
- ec2:DescribeInstanceTypes: vCPUs, memory, GPUs (model, count, memory), network performance,
  network cards, EFA interfaces, instance storage;
- ec2:DescribeInstanceTypeOfferings by availability-zone-id: the zones (IDs, the same in every
  account) that offer the shape;
- ec2:DescribeSpotPriceHistory (Linux/UNIX, the latest price of each zone): the median over the
  offering zones, as the SkyPilot-derived catalog did;
- pricing:GetProducts (AmazonEC2, Linux, shared tenancy, no pre-installed software, capacitystatus
  Used): the on-demand hourly price. The Price List API answers in us-east-1 only for the
  commercial regions (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-price-list-query-api.html).
Endpoints follow the SDK's settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_PRICING).
"""

from __future__ import annotations

import datetime
import json
import re
import statistics
from collections.abc import Callable

import boto3
import botocore

from aiinfra.catalog import refresh
from aiinfra.preflight import Deadline
from aiinfra.preflight.aws import AwsRegion, RegionDown

PRICING_REGION = "us-east-1"
NIC_MTU = 9001  # jumbo frames inside a VPC: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/network_mtu.html
_NOMINAL = {"T4": 16, "A10G": 24, "L4": 24, "L40S": 48, "H100": 80, "H200": 141}


def network_gbps(performance: str) -> float:
    """'Up to 25 Gigabit' -> 25, '4x 100 Gigabit' -> 400, '3200 Gigabit' -> 3200, 'High' -> 10."""
    m = re.search(r"(?:(\d+)x\s*)?(\d+(?:\.\d+)?)\s*Gigabit", performance or "")
    if not m:
        return {"Very Low": 0.1, "Low": 0.3, "Moderate": 1, "High": 10}.get(performance or "", 0)
    return float(m.group(2)) * int(m.group(1) or 1)


def gpu_of(info: dict) -> tuple[str, int, int]:
    """(canonical model, count, nominal GiB a GPU) from DescribeInstanceTypes' GpuInfo."""
    gpus = (info.get("GpuInfo") or {}).get("Gpus") or []
    if not gpus:
        return "", 0, 0
    g = gpus[0]
    name = g.get("Name", "")
    mib = (g.get("MemoryInfo") or {}).get("SizeInMiB", 0)
    if name == "A100":
        nominal = 80 if mib > 50000 else 40
    else:
        nominal = _NOMINAL.get(name, round(mib / 1024))
    return name, sum(x.get("Count", 0) for x in gpus), nominal


def _usd(product: dict) -> float | None:
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is not None and dim.get("unit", "Hrs") in ("Hrs", "Hours"):
                return float(usd)
    return None


class AwsFetcher:
    unread_shapes: frozenset[str] = frozenset()  # every covered shape is read from the EC2 and Price List APIs

    cloud = "aws"

    def __init__(self, deadline: Deadline, progress: Callable[[str], None], session: boto3.Session | None = None):
        self.deadline = deadline
        self.progress = progress
        self.session = session or boto3.Session()
        self.api_versions = {"boto3": boto3.__version__, "botocore": botocore.__version__, "ec2": "2016-11-15", "pricing": "2017-10-15"}
        self.shapes = list(refresh.COVERAGE["aws"]["shapes"])
        self._pricing = AwsRegion(self.session, PRICING_REGION, deadline)

    def sources(self) -> list[str]:
        return ["AWS APIs with the caller's credentials: ec2 DescribeInstanceTypes (vCPUs, memory, GPUs, NetworkInfo, InstanceStorageInfo), "
                "DescribeInstanceTypeOfferings (zones by ID), DescribeSpotPriceHistory (Linux/UNIX); pricing GetProducts (AmazonEC2 on-demand)"]

    def choices(self) -> list[str]:
        return [
            "one row per (instance_type, region) the region offers and prices; zones = availability-zone IDs offering it, sorted",
            "on_demand_usd_hr = Price List GetProducts: operatingSystem Linux, tenancy Shared, preInstalledSw NA, capacitystatus Used, "
            "licenseModel No License required; the OnDemand term's hourly USD price",
            "spot_usd_hr = median over the offering zones of each zone's latest Linux/UNIX spot price (DescribeSpotPriceHistory)",
            "gpu_memory_gib = the nominal size per GPU (T4 16, A10G 24, L4 24, L40S 48, A100 40/80 by reported MiB, H100 80, H200 141)",
            f"network_gbps from NetworkInfo.NetworkPerformance (the maximum); efa_interfaces = EfaInfo.MaximumEfaInterfaces; gpudirect efa when "
            f"EFA is supported; nic_mtu {NIC_MTU}; local_nvme_gib = InstanceStorageInfo.TotalSizeInGB (GB) in GiB, rounded",
            f"covered shapes: {len(self.shapes)} (aiinfra.catalog.refresh.AWS_SHAPES)",
        ]

    def _on_demand(self, region: str, shape: str) -> float | None:
        filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
            ("instanceType", shape), ("regionCode", region), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
            ("preInstalledSw", "NA"), ("capacitystatus", "Used"), ("licenseModel", "No License required"))]
        prices = []
        token = None
        while True:
            kwargs = {"ServiceCode": "AmazonEC2", "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            page = self._pricing.call("pricing", "get_products", **kwargs)
            for item in page.get("PriceList", []):
                product = json.loads(item) if isinstance(item, str) else item
                price = _usd(product)
                if price is not None and price > 0:
                    prices.append(price)
            token = page.get("NextToken")
            if not token:
                break
        return min(prices) if prices else None

    def region_rows(self, region: str) -> tuple[list[dict[str, str]], list[str]]:
        try:
            return self._region_rows(region)
        except RegionDown as exc:
            from aiinfra.preflight import PreflightError

            fix = getattr(exc, "fix", "")
            raise PreflightError(f"catalog refresh: {exc}; {fix + '; then ' if fix else ''}rerun to resume (finished regions are kept)") from None

    def _region_rows(self, region: str) -> tuple[list[dict[str, str]], list[str]]:
        reg = AwsRegion(self.session, region, self.deadline)
        offered = reg.offered_zones(self.shapes)
        present = [s for s in self.shapes if offered.get(s)]
        infos = {}
        for i in range(0, len(present), 100):
            for t in reg.paginate("ec2", "describe_instance_types", "InstanceTypes", InstanceTypes=present[i:i + 100]):
                infos[t["InstanceType"]] = t
        zone_ids = {z["ZoneName"]: z["ZoneId"] for z in reg.call("ec2", "describe_availability_zones").get("AvailabilityZones", [])}
        latest: dict[tuple[str, str], tuple[datetime.datetime, float]] = {}
        if present:
            now = datetime.datetime.now(datetime.timezone.utc)
            for p in reg.paginate("ec2", "describe_spot_price_history", "SpotPriceHistory", InstanceTypes=present,
                                  ProductDescriptions=["Linux/UNIX"], StartTime=now):
                key = (p["InstanceType"], zone_ids.get(p.get("AvailabilityZone", ""), p.get("AvailabilityZoneId", "")))
                ts = p.get("Timestamp") or now
                if key not in latest or ts > latest[key][0]:
                    latest[key] = (ts, float(p["SpotPrice"]))
        rows, missing = [], []
        for n, shape in enumerate(self.shapes, start=1):
            zones = sorted(offered.get(shape, set()))
            if not zones:
                missing.append(f"{shape}: not offered in {region}")
                continue
            info = infos.get(shape)
            if info is None:
                missing.append(f"{shape}: offered in {region} but DescribeInstanceTypes did not describe it")
                continue
            self.deadline.check(f"pricing:GetProducts for {shape}")
            od = self._on_demand(region, shape)
            spots = [latest[(shape, z)][1] for z in zones if (shape, z) in latest]
            spot = statistics.median(spots) if spots else None
            if od is None and spot is None:
                missing.append(f"{shape}: offered in {region} with neither an on-demand nor a spot price")
                continue
            gpu, count, mem = gpu_of(info)
            net = info.get("NetworkInfo") or {}
            efa = (net.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0) if net.get("EfaSupported") else 0
            storage_gb = (info.get("InstanceStorageInfo") or {}).get("TotalSizeInGB", 0)
            rows.append({
                "instance_type": shape, "family": refresh.family_of("aws", shape), "accelerator_type": "", "gpu": gpu,
                "gpu_count": str(count), "gpu_memory_gib": str(mem),
                "vcpus": str((info.get("VCpuInfo") or {}).get("DefaultVCpus", 0)),
                "memory_gib": refresh.fmt((info.get("MemoryInfo") or {}).get("SizeInMiB", 0) / 1024),
                "network_gbps": refresh.fmt(network_gbps(net.get("NetworkPerformance", ""))),
                "network_cards": str(net.get("MaximumNetworkCards", 1)), "efa_interfaces": str(efa),
                "gpudirect": "efa" if efa else "", "gpu_nics": "0", "nic_mtu": str(NIC_MTU),
                "local_nvme_gib": str(round(storage_gb * 1e9 / 2**30)), "region": region, "zones": " ".join(zones),
                "on_demand_usd_hr": refresh.fmt(od) if od is not None else "", "spot_usd_hr": refresh.fmt(spot) if spot is not None else "",
            })
            if n % 10 == 0:
                self.progress(f"  {region}: {n}/{len(self.shapes)} shapes priced")
        return rows, missing
