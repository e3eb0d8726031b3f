"""`aiinfra preflight` on AWS: real boto3 clients against the moto server (EC2: instance types and
offerings with AWS's own data, instances, volumes, addresses, capacity reservations) and a local
server answering Service Quotas from recorded responses (tests/aws_api_server.py), both through the
SDK's endpoint settings. No SDK call is patched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.catalog import load_catalog
from aiinfra.planner import make_plan
from aiinfra.preflight import Deadline, PreflightError
from aiinfra.preflight.needs import NodeNeed, RegionNeeds, region_needs
from aiinfra.spec import load_spec
from tests.aws_api_server import DATA, AwsApiServer
from tests.tf_harness import MotoServer, MotoStartError

ROOT = Path(__file__).resolve().parent.parent
AWS_ONLY = ROOT / "examples" / "aws-only.yaml"


@pytest.fixture(scope="module")
def moto():
    server = MotoServer(env={"AIINFRA_TEST_SPOT_PRICES": str(DATA / "spot_prices.json")})
    try:
        server.start()
    except MotoStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def aws(moto, monkeypatch):
    """The environment boto3's default chain and endpoint settings read, pointed at the two servers."""
    moto.reset()
    with AwsApiServer() as api:
        for k, v in {**moto.env(), **api.env()}.items():
            if v:
                monkeypatch.setenv(k, v)
            else:  # the harness's "" masks (terraform reads them as unset; boto3 reads AWS_PROFILE="" as a profile)
                monkeypatch.delenv(k, raising=False)
        yield api


def checks(needs, timeout=60.0):
    from aiinfra.preflight import aws as pf_aws

    return pf_aws.checks(needs, Deadline(timeout), load_catalog())


def plan_needs(path: Path = AWS_ONLY, region: str | None = None, tmp_path: Path | None = None):
    if region:
        text = path.read_text().replace("region: us-east-1", f"region: {region}").replace("certificate_arn: arn:aws:acm:us-east-1", f"certificate_arn: arn:aws:acm:{region}")
        path = tmp_path / "spec.yaml"
        path.write_text(text)
    plan = make_plan(load_spec(path))
    assert not plan.errors, plan.errors
    return plan, region_needs(plan)


def by_check(rows, text):
    found = [r for r in rows if text in r.check]
    assert found, f"no check mentioning {text!r} in {[r.check for r in rows]}"
    return found


def run_cli(env, *args, timeout=180):
    full = {k: v for k, v in {**os.environ, **env}.items() if v != ""}  # "" = unset here
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "preflight", *args], capture_output=True, text=True, env=full, timeout=timeout)


# ---- the plan's needs ------------------------------------------------------------------------

def test_needs_of_the_aws_example_count_steady_and_peak_nodes():
    plan, needs = plan_needs()
    (r,) = needs
    trainer = next(n for n in r.nodes if n.workload == "fraud-detection-training")
    server = next(n for n in r.nodes if n.workload == "recommendation-inference")
    assert (trainer.instance_type, trainer.steady_on_demand, trainer.peak_on_demand, trainer.vcpus_per_node) == ("p4d.24xlarge", 2, 2, 96)
    w = next(x for x in plan.workloads if x.name == "recommendation-inference")
    assert w.instance_type.startswith(("g4dn.", "g5.", "g6.")) and w.nodes >= 2
    assert (server.instance_type, server.steady_on_demand, server.peak_on_demand) == (w.instance_type, w.nodes, w.max_nodes)
    assert r.nat_gateways == 2  # production: one NAT gateway in each public zone


# ---- the whole run, through the CLI ----------------------------------------------------------

def test_aws_example_passes_with_the_accounts_quotas(aws):
    r = run_cli({}, str(AWS_ONLY), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["summary"]["fail"] == 0 and out["summary"]["error"] == 0 and out["exit_code"] == 0
    rows = {c["check"]: c for c in out["checks"]}
    p = rows["Running On-Demand P instances (L-417A185B)"]
    assert (p["current"], p["need"], p["verdict"]) == ("192 vCPUs (applied), 0 in use", "192 steady, 192 peak vCPUs", "ok")
    g = rows["Running On-Demand G and VT instances (L-DB2E81BA)"]
    w = next(x for x in make_plan(load_spec(AWS_ONLY)).workloads if x.name == "recommendation-inference")
    steady, peak = w.nodes * w.vcpus_per_node, w.max_nodes * w.vcpus_per_node
    assert (g["current"], g["need"], g["verdict"]) == ("256 vCPUs (applied), 0 in use", f"{steady} steady, {peak} peak vCPUs", "ok")
    offered = [c for c in out["checks"] if c["check"].startswith("p4d.24xlarge offered in use1-")]
    assert offered and all(c["verdict"] == "ok" for c in offered)
    eip = rows["EC2-VPC Elastic IPs (L-0263D0A3)"]
    assert (eip["current"], eip["need"], eip["verdict"]) == ("5 (AWS default), 0 in use", "2 (one a NAT gateway)", "ok")
    # The quotas really came from the recorded Service Quotas server: applied first, default after.
    assert any(b["QuotaCode"] == "L-417A185B" for b in aws.calls("GetServiceQuota", "us-east-1"))
    assert any(b["QuotaCode"] == "L-0263D0A3" for b in aws.calls("GetAWSDefaultServiceQuota", "us-east-1"))
    assert f"preflight: aws us-east-1: p4d.24xlarge, {w.instance_type}" in r.stderr  # progress


def test_a_quota_of_zero_fails_with_the_request_and_the_nearest_region(aws, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(AWS_ONLY.read_text().replace("region: us-east-1", "region: us-west-2")
                    .replace("arn:aws:acm:us-east-1", "arn:aws:acm:us-west-2"))
    r = run_cli({}, str(spec))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if "Running On-Demand P instances (L-417A185B)" in line)
    assert "0 vCPUs (AWS default), 0 in use" in lines[i] and lines[i].rstrip().endswith("FAIL")
    assert lines[i + 1].strip().startswith("fix: request Running On-Demand P instances (L-417A185B) to 192 vCPUs in us-west-2: "
                                           "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-417A185B "
                                           "--desired-value 192 --region us-west-2")
    assert "or place it in us-east-1 (quota 192 vCPUs, 0 in use; set region: us-east-1)" in lines[i + 1]
    assert "checks:" in lines[-1] and "fail" in lines[-1]


def test_running_instances_use_up_the_quota(aws, moto):
    ec2 = moto.client("ec2")
    ec2.run_instances(ImageId="ami-12c6146b", InstanceType="p4d.24xlarge", MinCount=1, MaxCount=1)
    _plan, needs = plan_needs()
    (p,) = by_check(checks(needs), "L-417A185B")
    assert (p.current, p.verdict) == ("192 vCPUs (applied), 96 in use", "fail")
    assert "--desired-value 288 " in p.fix  # what runs (96) + the plan's peak (192)


def test_steady_nodes_fit_but_the_peak_does_not_warn(aws, tmp_path):
    # Three times the traffic forecast: the serving group's max replicas grow, its min does not.
    spec = tmp_path / "spec.yaml"
    spec.write_text(AWS_ONLY.read_text() + '\ngrowth_forecast:\n  qps_growth: "3x"\n')
    plan, needs = plan_needs(spec)
    w = next(x for x in plan.workloads if x.name == "recommendation-inference")
    steady, peak = w.nodes * w.vcpus_per_node, w.max_nodes * w.vcpus_per_node
    assert steady < peak
    aws.applied["us-east-1"]["ec2/L-DB2E81BA"] = float(steady)
    (g,) = by_check(checks(needs), "L-DB2E81BA")
    assert (g.current, g.need, g.verdict) == (f"{steady} vCPUs (applied), 0 in use", f"{steady} steady, {peak} peak vCPUs", "warn")
    assert f"--desired-value {peak} --region us-east-1" in g.fix


def test_a_shape_missing_from_a_chosen_zone_fails_naming_the_zones_that_have_it(aws):
    # AWS's offering data (served by moto) has p4de.24xlarge in use1-az4 and use1-az6 only; a stale
    # catalog (SkyPilot v7 listed it in all six us-east-1 zones) places a node in use1-az1.
    need = NodeNeed("trainer", "p4de.24xlarge", ("use1-az1",), 96, 8, "", 1, 0, 1, 0, 0, 0, "")
    rows = checks([RegionNeeds("aws", "us-east-1", [need], nat_gateways=1)])
    (z,) = by_check(rows, "p4de.24xlarge offered in use1-az1")
    assert (z.current, z.verdict) == ("not offered", "fail")
    assert z.fix.startswith("p4de.24xlarge is offered in us-east-1 zones use1-az4 use1-az6: the catalog's zones are stale; "
                            "run `aiinfra catalog refresh --cloud aws --regions us-east-1`")


def test_a_region_without_the_gpu_shape_names_the_nearest_region_that_has_it(aws):
    # us-west-1 offers no p4d.24xlarge (AWS's data in moto) and its P quota is the default 0.
    need = NodeNeed("trainer", "p4d.24xlarge", ("usw1-az1",), 96, 8, "", 2, 0, 2, 0, 0, 0, "")
    rows = checks([RegionNeeds("aws", "us-west-1", [need], nat_gateways=1)])
    (z,) = by_check(rows, "p4d.24xlarge offered in usw1-az1")
    assert z.verdict == "fail"
    assert z.fix.startswith("p4d.24xlarge is not offered in us-west-1: the nearest configured region with it is us-west-2 (usw2-")
    (q,) = by_check(rows, "L-417A185B")
    assert (q.current, q.verdict) == ("0 vCPUs (AWS default), 0 in use", "fail")


def test_throttling_is_retried_with_backoff_then_answers(aws):
    aws.throttle["GetServiceQuota"] = 2
    _plan, needs = plan_needs()
    (p,) = by_check(checks(needs), "L-417A185B")
    assert p.verdict == "ok"
    first = [b["QuotaCode"] for b in aws.calls("GetServiceQuota")]
    assert first[:3] == [first[0]] * 3  # the same call, twice throttled, then answered


def test_one_regions_service_quotas_down_costs_its_quota_checks_only(aws):
    aws.down.add("us-west-2")
    need = NodeNeed("server", "g6.xlarge", ("usw2-az1",), 4, 1, "", 1, 0, 2, 0, 0, 0, "")
    east = region_needs(make_plan(load_spec(AWS_ONLY)))
    rows = checks(east + [RegionNeeds("aws", "us-west-2", [need], nat_gateways=1)])
    west = [r for r in rows if r.region == "us-west-2"]
    down = [r for r in west if r.verdict == "error"]
    assert {r.check for r in down} >= {"Running On-Demand G and VT instances (L-DB2E81BA)", "EC2-VPC Elastic IPs (L-0263D0A3)"}
    assert all(r.api == "servicequotas:GetServiceQuota" and r.current.startswith("HTTP 503 ServiceUnavailableException: Service Unavailable")
               for r in down), down
    assert [(r.check, r.verdict) for r in west if r.api == "ec2:DescribeInstanceTypeOfferings"] == [("g6.xlarge offered in usw2-az1", "ok")]
    assert any(r.region == "us-east-1" and "L-417A185B" in r.check and r.verdict == "ok" for r in rows)
    from aiinfra.preflight.run import exit_code
    assert exit_code(rows) == 2


PROXY_500 = ("<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title><style>body {font: 13px}</style></head>\n"
             "<body><h1>Internal Server Error</h1>\n<p>The server encountered an internal error &amp; could not complete your request.</p>"
             "</body></html>\n")


def test_a_500_on_service_quotas_costs_only_the_quota_checks_one_line_each(aws):
    aws.fail["GetServiceQuota"] = (500, "text/html", PROXY_500)
    r = run_cli({}, str(AWS_ONLY), "--format", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    rows = json.loads(r.stdout)["checks"]
    offered = [c for c in rows if c["api"] == "ec2:DescribeInstanceTypeOfferings"]
    assert offered and {c["verdict"] for c in offered} == {"ok"}  # what EC2 answered is shown
    errors = [c for c in rows if c["verdict"] == "error"]
    assert {c["check"] for c in errors} >= {"Running On-Demand P instances (L-417A185B)", "Running On-Demand G and VT instances (L-DB2E81BA)",
                                            "EC2-VPC Elastic IPs (L-0263D0A3)", "VPCs per Region (L-F678F1CE)"}
    assert all(c["api"] == "servicequotas:GetServiceQuota" for c in errors)
    assert errors[0]["current"] == ("HTTP 500: 500 Internal Server Error Internal Server Error The server encountered an internal error & "
                                    "could not complete your request. (after retries)")
    assert not any("<" in c["current"] or "\n" in c["current"] or "font:" in c["current"] for c in rows)
    # Retried (botocore's standard mode) once, then not asked again for the region's other quotas.
    asked = aws.calls("GetServiceQuota", "us-east-1")
    assert len(asked) >= 2 and len({b["QuotaCode"] for b in asked}) == 1 and not aws.calls("GetAWSDefaultServiceQuota")
    text = run_cli({}, str(AWS_ONLY))
    assert text.returncode == 2 and "<" not in text.stdout and "ERROR" in text.stdout and "ok" in text.stdout


def test_access_denied_on_service_quotas_costs_only_the_quota_checks_and_names_the_permission(aws):
    aws.fail["GetServiceQuota"] = (400, "application/x-amz-json-1.1", json.dumps({
        "__type": "AccessDeniedException",
        "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: servicequotas:GetServiceQuota"}))
    _plan, needs = plan_needs()
    rows = checks(needs)
    (p,) = by_check(rows, "L-417A185B")
    assert p.verdict == "error" and p.current == ("HTTP 400 AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not "
                                                  "authorized to perform: servicequotas:GetServiceQuota")
    assert p.fix.startswith("grant servicequotas:GetServiceQuota to these credentials")
    assert {r.verdict for r in rows if r.api == "ec2:DescribeInstanceTypeOfferings"} == {"ok"}
    assert len(aws.calls("GetServiceQuota")) == 1  # refused once: not asked again


def test_a_quota_answered_without_its_value_is_a_warning_not_a_crash(aws):
    aws.drop_fields = ("Value",)
    _plan, needs = plan_needs()
    (p,) = by_check(checks(needs), "L-417A185B")
    assert (p.current, p.verdict) == ("answered without a Value", "warn")
    assert "aws service-quotas get-service-quota --service-code ec2 --quota-code L-417A185B --region us-east-1" in p.fix


def test_expired_credentials_are_one_line_naming_the_api_and_exit_2(aws):
    aws.expired = True
    r = run_cli({}, str(AWS_ONLY))
    assert r.returncode == 2
    assert r.stdout == ""
    err = [line for line in r.stderr.splitlines() if not line.startswith("preflight: aws us-east-1:")]
    assert len(err) == 1, r.stderr
    assert err[0].startswith("preflight: AWS refused the credentials for servicequotas:GetServiceQuota in us-east-1 (ExpiredTokenException")
    assert "aws sso login" in err[0]


def test_missing_credentials_are_one_line_and_exit_2(aws, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": ""}
    r = run_cli(env, str(AWS_ONLY), "--format", "json")
    assert r.returncode == 2 and r.stdout == ""
    err = [line for line in r.stderr.splitlines() if not line.startswith("preflight: aws us-east-1:")]
    assert err == ["preflight: no AWS credentials for ec2:DescribeInstanceTypeOfferings in us-east-1: run `aws configure` or "
                   "`aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID"]


def test_the_run_is_bounded_in_time(aws):
    _plan, needs = plan_needs()
    with pytest.raises(PreflightError, match=r"gave up after the --timeout of 0 s"):
        checks(needs, timeout=0)


# ---- named capacity reservations -------------------------------------------------------------

def _reserve(moto, zone_id, itype="p4d.24xlarge", count=2):
    ec2 = moto.client("ec2")
    return ec2.create_capacity_reservation(InstanceType=itype, InstancePlatform="Linux/UNIX", AvailabilityZoneId=zone_id,
                                           InstanceCount=count, InstanceMatchCriteria="targeted")["CapacityReservation"]


def _reserved_needs(tmp_path, cr_id):
    text = AWS_ONLY.read_text().replace('    gpu_requirements: "16x A100"', f'    gpu_requirements: "16x A100"\n    cloud: aws\n    reservation: {cr_id}')
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    plan = make_plan(load_spec(spec))
    assert not plan.errors, plan.errors
    return plan, region_needs(plan)


def test_a_matching_reservation_passes_and_the_plan_launches_into_it(aws, moto, tmp_path):
    probe, _ = _reserved_needs(tmp_path, "cr-0123456789abcdef0")
    zone = probe.workloads[0].zones[0]
    cr = _reserve(moto, zone)
    plan, needs = _reserved_needs(tmp_path, cr["CapacityReservationId"])
    w = plan.workloads[0]
    assert (w.reservation, w.capacity) == (cr["CapacityReservationId"], "on_demand")
    assert "billed for its whole term" in w.reasons["capacity"]
    (c,) = by_check(checks(needs), "capacity reservation")
    assert c.verdict == "ok", c
    assert c.current == f"p4d.24xlarge, {zone}, 2/2 free, active, targeted"


def test_a_reservation_for_another_shape_or_zone_fails_with_what_differs(aws, moto, tmp_path):
    probe, _ = _reserved_needs(tmp_path, "cr-0123456789abcdef0")
    zone = probe.workloads[0].zones[0]
    other_zone = next(z for z in ("use1-az1", "use1-az2", "use1-az4", "use1-az6") if z != zone)
    cr = _reserve(moto, other_zone, itype="p4de.24xlarge", count=1)
    _plan, needs = _reserved_needs(tmp_path, cr["CapacityReservationId"])
    (c,) = by_check(checks(needs), "capacity reservation")
    assert c.verdict == "fail"
    assert "it reserves p4de.24xlarge, the plan runs p4d.24xlarge" in c.fix
    assert f"it is in {other_zone}, the plan places fraud-detection-training in {zone}" in c.fix
    assert "it holds 1 instances, the plan runs 2" in c.fix


def test_an_unknown_reservation_fails(aws, tmp_path):
    _plan, needs = _reserved_needs(tmp_path, "cr-0123456789abcdef0")
    (c,) = by_check(checks(needs), "capacity reservation")
    assert (c.current, c.verdict) == ("not found", "fail")
    assert "aws ec2 describe-capacity-reservations" in c.fix


def _block(moto, zone_id, count=2):
    ec2 = moto.client("ec2")
    return ec2.create_capacity_reservation(InstanceType="p4d.24xlarge", InstancePlatform="Linux/UNIX", AvailabilityZoneId=zone_id,
                                           InstanceCount=count, TagSpecifications=[{"ResourceType": "capacity-reservation", "Tags": [
                                               {"Key": "aiinfra-harness:reservation-type", "Value": "capacity-block"}]}])["CapacityReservation"]


def test_a_capacity_block_needs_capacity_block_true_and_then_passes(aws, moto, tmp_path):
    probe, _ = _reserved_needs(tmp_path, "cr-0123456789abcdef0")
    zone = probe.workloads[0].zones[0]
    cr = _block(moto, zone)
    assert cr["ReservationType"] == "capacity-block" and cr["State"] == "scheduled"
    _plan, needs = _reserved_needs(tmp_path, cr["CapacityReservationId"])
    (c,) = by_check(checks(needs), "capacity reservation")
    assert c.verdict == "fail" and "it is a Capacity Block, which needs the launch template's market type capacity-block: " \
                                   "set capacity_block: true on fraud-detection-training" in c.fix
    text = AWS_ONLY.read_text().replace('    gpu_requirements: "16x A100"', '    gpu_requirements: "16x A100"\n    cloud: aws\n'
                                        f'    reservation: {cr["CapacityReservationId"]}\n    capacity_block: true')
    spec = tmp_path / "block.yaml"
    spec.write_text(text)
    plan = make_plan(load_spec(spec))
    w = plan.workloads[0]
    assert w.capacity_block and "Capacity Block" in w.reasons["capacity"]
    (c,) = by_check(checks(region_needs(plan)), "capacity reservation")
    assert c.verdict == "ok", c
    assert c.current.startswith(f"p4d.24xlarge, {zone}, 2/2 free, scheduled, targeted, Capacity Block 20")
    assert c.need.endswith("2 instances, a Capacity Block, scheduled or active")


def test_each_quota_is_read_once_a_region_even_when_fixes_look_elsewhere(aws, tmp_path):
    # us-east-1 is checked, then us-west-2's P quota of 0 sends its fix to look at us-east-1 again:
    # every (region, quota) is still asked once.
    _plan, east = plan_needs()
    _plan, west = plan_needs(region="us-west-2", tmp_path=tmp_path)
    checks(east + west)
    asked = [(r, b["QuotaCode"]) for op, r, b in aws.requests if op == "GetServiceQuota"]
    assert asked and len(asked) == len(set(asked)), sorted(asked)
    assert ("us-east-1", "L-417A185B") in asked  # the nearest-region fix did look
