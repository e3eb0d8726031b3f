"""aiinfra.preflight.gcp against recorded Compute Engine v1 answers (tests/gcp_api_server.py), with
the real google-cloud-compute REST clients and the real default credential chain (a service-account
key file made per test; the server verifies each request's self-signed JWT against it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from aiinfra.catalog import load_catalog
from aiinfra.preflight import Deadline, PreflightError
from aiinfra.preflight.needs import NodeNeed, RegionNeeds
from tests.gcp_api_server import GcpApiServer, verify_jwt

gcp = pytest.importorskip("aiinfra.preflight.gcp")

PROJECT = "aiinfra-test"
UC1 = f"/compute/v1/projects/{PROJECT}/regions/us-central1"
UE4 = f"/compute/v1/projects/{PROJECT}/regions/us-east4"
UE1 = f"/compute/v1/projects/{PROJECT}/regions/us-east1"


@pytest.fixture
def api(tmp_path, monkeypatch):
    with GcpApiServer() as server:
        for k, v in server.env(tmp_path).items():
            monkeypatch.setenv(k, v)
        # Fast backoff for the tests (our own retry settings, not the SDK's).
        monkeypatch.setattr(gcp, "RETRY_INITIAL_S", 0.01)
        monkeypatch.setattr(gcp, "RETRY_MAXIMUM_S", 0.05)
        monkeypatch.setattr(gcp, "RETRY_BUDGET_S", 1.0)
        yield server


def node(instance_type="n1-standard-8", zones=("us-central1-a", "us-central1-b"), vcpus=8, gpus=1, accel="nvidia-tesla-t4",
         steady=2, peak=None, spot=0, peak_spot=None, reservation=None, local_ssd=0, data_gib=0, data_type="pd-ssd", name="train"):
    return NodeNeed(workload=name, instance_type=instance_type, zones=tuple(zones), vcpus_per_node=vcpus, gpus_per_node=gpus,
                    accelerator_type=accel, steady_on_demand=steady, steady_spot=spot,
                    peak_on_demand=steady if peak is None else peak, peak_spot=spot if peak_spot is None else peak_spot,
                    local_ssd_gib_per_node=local_ssd, data_volume_gib_per_node=data_gib, data_volume_type=data_type,
                    reservation=reservation)


def a2(zones=("us-central1-a", "us-central1-b"), steady=1, peak=None, reservation=None, name="train"):
    return node("a2-highgpu-8g", zones, vcpus=96, gpus=8, accel="nvidia-tesla-a100", steady=steady, peak=peak,
                reservation=reservation, name=name)


def region(name="us-central1", *nodes, nat=1, internal=0):
    return RegionNeeds("gcp", name, list(nodes), nat_gateways=nat, regional_addresses=internal)


def run(*regions, timeout=60.0):
    return gcp.checks(list(regions), Deadline(timeout), load_catalog(), PROJECT)


def by_check(rows):
    return {(r.region, r.check): r for r in rows}


def test_ok_shapes_offered_and_quotas_hold(api):
    rows = run(region("us-central1", node()))
    got = by_check(rows)
    assert {r.verdict for r in rows} == {"ok"}, [r for r in rows if r.verdict != "ok"]
    for z in ("us-central1-a", "us-central1-b"):
        assert got[("us-central1", f"n1-standard-8 offered in {z}")].current == "offered"
        assert got[("us-central1", f"nvidia-tesla-t4 offered in {z}")].api == "compute.acceleratorTypes.get"
    cpus = got[("us-central1", "CPUS")]
    assert (cpus.current, cpus.need) == ("24 vCPUs, 4 in use", "16 steady, 16 peak vCPUs")
    assert got[("us-central1", "NVIDIA_T4_GPUS")].current == "4 GPUs, 0 in use"
    # Boot disks (2 x 200 GB pd-balanced) count against SSD_TOTAL_GB; NAT's address against IN_USE_ADDRESSES.
    assert got[("us-central1", "SSD_TOTAL_GB")].need == "400 steady, 400 peak GB"
    assert got[("us-central1", "IN_USE_ADDRESSES")].current == "8 addresses, 1 in use"
    # The SDK really called the server, signed with the service-account key the default chain loaded.
    seen = api.requests_to(UC1)
    assert len(seen) == 1
    claims = verify_jwt(seen[0].headers["authorization"].removeprefix("Bearer "), api.verify_with)
    assert claims and claims["iss"] == "aiinfra-preflight@aiinfra-test.iam.gserviceaccount.com"
    assert api.requests_to(f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/machineTypes/n1-standard-8")


def test_zone_lacking_the_machine_type_fails_naming_the_zones_that_have_it(api):
    rows = run(region("us-central1", node("g2-standard-8", ("us-central1-a", "us-central1-f"), vcpus=8, gpus=1, accel="nvidia-l4", steady=1)))
    got = by_check(rows)
    assert got[("us-central1", "g2-standard-8 offered in us-central1-a")].verdict == "ok"
    miss = got[("us-central1", "g2-standard-8 offered in us-central1-f")]
    assert (miss.verdict, miss.current) == ("fail", "not offered")
    assert "us-central1 zones us-central1-a us-central1-b us-central1-c" in miss.fix
    assert "aiinfra catalog refresh --cloud gcp --regions us-central1" in miss.fix
    acc = got[("us-central1", "nvidia-l4 offered in us-central1-f")]
    assert acc.verdict == "fail" and "us-central1-a us-central1-b us-central1-c" in acc.fix


def test_region_without_the_gpus_fails_and_names_the_nearest_region_with_quota(api):
    rows = run(region("us-east4", a2(("us-east4-a",))))
    got = by_check(rows)
    offer = got[("us-east4", "a2-highgpu-8g offered in us-east4-a")]
    assert offer.verdict == "fail"
    assert "nearest configured region with it is us-central1 (us-central1-a us-central1-b us-central1-c us-central1-f)" in offer.fix
    gpu = got[("us-east4", "NVIDIA_A100_GPUS")]
    assert (gpu.verdict, gpu.current) == ("fail", "not listed in us-east4 (limit 0)")
    assert gpu.fix.startswith("request NVIDIA_A100_GPUS to 8 in us-east4: gcloud quotas preferences create --service=compute.googleapis.com "
                              f"--project={PROJECT} --quota-id=NVIDIA-A100-GPUS-per-project-region --preferred-value=8 --dimensions=region=us-east4")
    assert "or place it in us-central1 (NVIDIA_A100_GPUS 8, 0 in use; set region: us-central1)" in gpu.fix
    cpu = got[("us-east4", "A2_CPUS")]
    assert (cpu.verdict, cpu.current) == ("fail", "0 vCPUs, 0 in use")


def test_quota_zero_fails(api):
    body = api.recording("regions/us-central1.json")
    for q in body["quotas"]:
        if q["metric"] == "NVIDIA_L4_GPUS":
            q["limit"] = 0.0
    api.override(UC1, body=body)
    rows = run(region("us-central1", node("g2-standard-8", ("us-central1-a",), vcpus=8, gpus=1, accel="nvidia-l4", steady=2)))
    l4 = by_check(rows)[("us-central1", "NVIDIA_L4_GPUS")]
    assert (l4.verdict, l4.current, l4.need) == ("fail", "0 GPUs, 0 in use", "2 steady, 2 peak GPUs")
    assert "--quota-id=NVIDIA-L4-GPUS-per-project-region --preferred-value=2 --dimensions=region=us-central1" in l4.fix
    assert f"https://console.cloud.google.com/iam-admin/quotas?project={PROJECT}&metric=NVIDIA_L4_GPUS&location=us-central1" in l4.fix


def test_steady_fits_peak_does_not_warns(api):
    rows = run(region("us-central1", a2(steady=1, peak=2)))
    got = by_check(rows)
    gpu, cpu = got[("us-central1", "NVIDIA_A100_GPUS")], got[("us-central1", "A2_CPUS")]
    assert (gpu.verdict, gpu.current, gpu.need) == ("warn", "8 GPUs, 0 in use", "8 steady, 16 peak GPUs")
    assert "request NVIDIA_A100_GPUS to 16 in us-central1" in gpu.fix
    assert (cpu.verdict, cpu.need) == ("warn", "96 steady, 192 peak vCPUs")


def test_spot_uses_the_preemptible_quota_where_the_project_has_one(api):
    rows = run(region("us-central1", replace(a2(steady=0, peak=0), steady_spot=2, peak_spot=2)))
    got = by_check(rows)
    assert got[("us-central1", "PREEMPTIBLE_NVIDIA_A100_GPUS")].verdict == "ok"  # 16 >= 2 x 8
    assert ("us-central1", "NVIDIA_A100_GPUS") not in got
    # PREEMPTIBLE_CPUS is 0 in the recording: spot vCPUs count against the regular A2_CPUS (96 < 192).
    assert got[("us-central1", "A2_CPUS")].verdict == "fail"


def test_throttling_is_retried(api):
    api.override(UC1, status=429, times=2)
    rows = run(region("us-central1", node()))
    assert rows and {r.verdict for r in rows} == {"ok"}
    assert len(api.requests_to(UC1)) == 3


def test_one_regions_quota_api_down_costs_its_quota_checks_and_the_others_are_checked(api):
    api.override(UE1, status=503)
    rows = run(region("us-east1", node(zones=("us-east1-b",))), region("us-central1", node()))
    east = [r for r in rows if r.region == "us-east1"]
    down = [r for r in east if r.verdict == "error"]
    assert {r.check for r in down} >= {"CPUS", "NVIDIA_T4_GPUS"} and {r.api for r in down} == {"compute.regions.get"}
    assert down[0].current == "HTTP 503 backendError: The service is currently unavailable. (after retries)"
    assert [r.api for r in east if r.verdict != "error"] == ["compute.machineTypes.get", "compute.acceleratorTypes.get"]  # still asked
    assert len(api.requests_to(UE1)) >= 2  # retried before giving up
    assert {r.verdict for r in rows if r.region == "us-central1"} == {"ok"}


PROXY_500 = ("<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 500 (Server Error)!!1</title>\n<style>*{margin:0}</style>"
             "<p><b>500.</b> <ins>That's an error.</ins>\n<p>There was an error. Please try again later. <ins>That's all we know.</ins>")


def test_a_500_page_on_regions_get_costs_only_the_quota_checks_one_line_each(api):
    api.override(UC1, status=500, body=PROXY_500)
    rows = run(region("us-central1", node()))
    got = by_check(rows)
    for z in ("us-central1-a", "us-central1-b"):  # what machineTypes / acceleratorTypes answered is shown
        assert got[("us-central1", f"n1-standard-8 offered in {z}")].verdict == "ok"
        assert got[("us-central1", f"nvidia-tesla-t4 offered in {z}")].verdict == "ok"
    errors = [r for r in rows if r.verdict == "error"]
    assert {r.check for r in errors} == {"CPUS", "NVIDIA_T4_GPUS", "SSD_TOTAL_GB", "IN_USE_ADDRESSES"}
    assert errors[0].current == ("HTTP 500: Error 500 (Server Error)!!1 500. That's an error. There was an error. Please try again later. "
                                 "That's all we know. (after retries)")
    assert not any("<" in r.current or "\n" in r.current or "margin" in r.current for r in rows)
    from aiinfra.preflight.run import exit_code
    assert exit_code(rows) == 2


def test_connection_refused_is_an_error_row(api, monkeypatch):
    monkeypatch.setenv("AIINFRA_GCP_COMPUTE_ENDPOINT", "http://127.0.0.1:1")
    rows = run(region("us-central1", node()))
    assert [(r.verdict, r.check) for r in rows] == [("error", "region's APIs answer")]
    assert "did not answer in us-central1" in rows[0].current


def test_missing_fields_do_not_crash(api):
    body = api.recording("regions/us-central1.json")
    for q in body["quotas"]:
        if q["metric"] == "CPUS":
            del q["usage"]
    api.override(UC1, body=body)
    got = by_check(run(region("us-central1", node())))
    cpus = got[("us-central1", "CPUS")]
    assert cpus.verdict == "ok" and cpus.current == "24 vCPUs, 0 in use (no usage in the answer: taken as 0)"

    body = api.recording("regions/us-east4.json")
    del body["quotas"]
    api.override(UE4, body=body)
    rows = run(region("us-east4", node(zones=("us-east4-a",))))
    got = by_check(rows)
    assert got[("us-east4", "n1-standard-8 offered in us-east4-a")].verdict == "ok"
    q = got[("us-east4", "regional quotas readable")]
    assert q.verdict == "warn" and "could not read the quotas" in q.fix


def test_h100_quota_not_listed_is_a_warning_not_a_fail(api):
    body = api.recording("regions/us-central1.json")
    body["quotas"] = [q for q in body["quotas"] if "H100" not in q["metric"]]
    api.override(UC1, body=body)
    rows = run(region("us-central1", node("a3-highgpu-8g", ("us-central1-a",), vcpus=208, gpus=8, accel="nvidia-h100-80gb", steady=1)))
    got = by_check(rows)
    h100 = got[("us-central1", "NVIDIA_H100_GPUS")]
    assert (h100.verdict, h100.current) == ("warn", "not listed by compute.regions.get")
    assert got[("us-central1", "a3-highgpu-8g offered in us-central1-a")].verdict == "fail"  # not in the recording


def test_missing_credentials_is_one_line(tmp_path):
    """The real default chain with nothing to find: no GOOGLE_APPLICATION_CREDENTIALS, an empty gcloud
    config, no metadata server (run in a fresh interpreter: google.auth reads these at import)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_"))}
    (tmp_path / "gcloud").mkdir()
    env.update(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true", GCE_METADATA_HOST="127.0.0.1:1",
               GCE_METADATA_IP="127.0.0.1:1", AIINFRA_GCP_COMPUTE_ENDPOINT="http://127.0.0.1:1")
    code = ("import sys\nfrom aiinfra.catalog import load_catalog\nfrom aiinfra.preflight import Deadline, PreflightError\n"
            "from aiinfra.preflight import gcp\nfrom aiinfra.preflight.needs import RegionNeeds\n"
            "try:\n    gcp.checks([RegionNeeds('gcp', 'us-central1')], Deadline(30), load_catalog(), 'p')\n"
            "except PreflightError as e:\n    print(e)\n    sys.exit(3)\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, check=False, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == ("preflight: no GCP credentials for compute.regions.get in us-central1: run `gcloud auth "
                                "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS")


def test_refused_credentials_is_one_line(api, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(api.write_credentials(tmp_path, signed_by_other_key=True)))
    with pytest.raises(PreflightError) as exc:
        run(region("us-central1", node()))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("preflight: GCP refused the credentials for compute.regions.get in us-central1 (401: Request had invalid "
                          "authentication credentials")


def test_forbidden_costs_that_apis_checks_and_names_the_permission_and_role(api):
    api.override(UC1, status=403)
    rows = run(region("us-central1", node()))
    errors = [r for r in rows if r.verdict == "error"]
    assert errors and {r.api for r in errors} == {"compute.regions.get"}
    assert errors[0].current == "HTTP 403 forbidden: Required 'compute.regions.get' permission for 'projects/aiinfra-test/regions/us-central1'"
    assert f"gcloud projects add-iam-policy-binding {PROJECT} " in errors[0].fix and "--role=roles/compute.viewer" in errors[0].fix
    assert {r.verdict for r in rows if r.api != "compute.regions.get"} == {"ok"}
    assert len(api.requests_to(UC1)) == 1  # refused: not asked again


def test_forbidden_on_machine_types_costs_that_zones_offering_check(api):
    api.override(f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/machineTypes/n1-standard-8", status=403)
    got = by_check(run(region("us-central1", node())))
    refused = got[("us-central1", "n1-standard-8 offered in us-central1-a")]
    assert refused.verdict == "error" and refused.api == "compute.machineTypes.get" and "roles/compute.viewer" in refused.fix
    assert got[("us-central1", "n1-standard-8 offered in us-central1-b")].verdict == "ok"
    assert got[("us-central1", "CPUS")].verdict == "ok"


def test_reservation_that_matches(api):
    rows = run(region("us-central1", a2(("us-central1-b", "us-central1-a"), steady=2, reservation="a2-reserved")))
    res = by_check(rows)[("us-central1", "reservation a2-reserved for train")]
    assert res.verdict == "ok", res
    assert res.current == "a2-highgpu-8g, us-central1-a, 2/2 free, READY, specific reservation required (only VMs naming it consume it)"
    assert res.api == "compute.reservations.get"
    assert api.requests_to(f"/compute/v1/projects/{PROJECT}/zones/us-central1-b/reservations/a2-reserved")  # looked in each zone


def test_open_reservation_is_explained_and_counts_free_vms(api):
    rows = run(region("us-central1", node(zones=("us-central1-a",), steady=3, reservation="n1-t4-open")))
    res = by_check(rows)[("us-central1", "reservation n1-t4-open for train")]
    assert res.verdict == "ok"
    assert "3/4 free" in res.current and "specificReservationRequired false" in res.current
    rows = run(region("us-central1", node(zones=("us-central1-a",), steady=4, reservation="n1-t4-open")))
    res = by_check(rows)[("us-central1", "reservation n1-t4-open for train")]
    assert res.verdict == "fail" and "only 3 of its 4 VMs are free (1 in use)" in res.fix


def test_reservation_missing(api):
    rows = run(region("us-central1", a2(("us-central1-b",), reservation="a2-reserved")))
    res = by_check(rows)[("us-central1", "reservation a2-reserved for train")]
    assert (res.verdict, res.current) == ("fail", "not found")
    assert f"no reservation a2-reserved in us-central1-b for project {PROJECT}" in res.fix


def test_reservation_with_the_wrong_machine_type(api):
    rows = run(region("us-central1", a2(("us-central1-a",), steady=2, reservation="a2-small")))
    res = by_check(rows)[("us-central1", "reservation a2-small for train")]
    assert res.verdict == "fail" and "it reserves a2-highgpu-4g, the plan runs a2-highgpu-8g" in res.fix


def test_reservation_not_ready_and_too_small(api):
    body = api.recording("reservations/us-central1-a.json")["items"][0]
    body["status"] = "CREATING"
    api.override(f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/reservations/a2-reserved", body=body)
    rows = run(region("us-central1", a2(("us-central1-a",), steady=3, reservation="a2-reserved")))
    res = by_check(rows)[("us-central1", "reservation a2-reserved for train")]
    assert res.verdict == "fail"
    assert "its status is CREATING" in res.fix and "it holds 2 VMs, the plan runs 3" in res.fix


def test_no_cloud_sdk_at_import_of_the_needs():
    code = "import sys, aiinfra.preflight, aiinfra.preflight.needs; print(json.dumps(sorted(m for m in sys.modules if m.startswith('google'))))"
    p = subprocess.run([sys.executable, "-c", "import json\n" + code], check=False, capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).parent.parent)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == []


def test_the_cli_plans_the_spec_checks_it_and_exits_1_with_the_fix(api, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""project: pf-gcp
environment: production
clouds:
  gcp: {{region: us-central1, project: {PROJECT}}}
workload_inventory:
  - name: trainer
    type: training
    gpu_requirements: "8x A100-80GB"
    estimated_runtime: "10 hours"
    training_frequency: weekly
""")
    env = {k: v for k, v in os.environ.items() if v != ""}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "preflight", str(spec), "--format", "json"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["summary"] == {"ok": 8, "warn": 0, "fail": 1, "error": 0} and out["exit_code"] == 1
    (failed,) = [c for c in out["checks"] if c["verdict"] == "fail"]
    assert (failed["check"], failed["current"], failed["need"]) == ("NVIDIA_A100_80GB_GPUS", "0 GPUs, 0 in use", "8 steady, 8 peak GPUs")
    assert failed["fix"].startswith(f"request NVIDIA_A100_80GB_GPUS to 8 in us-central1: gcloud quotas preferences create "
                                    f"--service=compute.googleapis.com --project={PROJECT}")
    assert {c["check"] for c in out["checks"] if c["verdict"] == "ok"} >= {"a2-ultragpu-8g offered in us-central1-a", "A2_CPUS"}
    assert "preflight: gcp us-central1: a2-ultragpu-8g" in r.stderr
