"""Boot configuration (aiinfra.boot): the renderer, shellcheck over the scripts, cloud-init's schema
over the AWS user data, and sandbox runs of the real node.sh + aws.sh with bash.

The sandbox runs use the real AWS CLI against the moto server, an IMDSv2 stub on 127.0.0.1 that
serves the ids and addresses of the instances moto launched, and stub programs on PATH for the
host tools (docker records its argv and environment and exits with the code the test lists;
lsblk/blkid/mkfs/mdadm/mount/mountpoint keep a small fake disk state). Every host path the scripts
write or mount is under AIINFRA_ROOT, a temporary folder.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from aiinfra.boot import IMAGES, BootConfig, aws_user_data, aws_user_data_gzip, boot_files, compact_script, gcp_metadata
from aiinfra.boot.workload import CACHE_ENDPOINT_KEY, CACHE_NAME_KEY, CACHE_TTL_KEY, CACHE_USER_KEY
from aiinfra.observability import agents
from tests.tf_harness import moto_server  # noqa: F401  (session fixture)

BOOT_DIR = Path(__file__).resolve().parent.parent / "src" / "aiinfra" / "boot"
VENV_BIN = Path(sys.executable).parent
SHELLCHECK = VENV_BIN / "shellcheck"
AWS_CLI = VENV_BIN / "aws"
SETUP_HINT = "run `make setup`"


def _aws_cfg(**kw) -> BootConfig:
    base = dict(cloud="aws", workload="fraud-detection-training", kind="training", region="us-east-1",
                groups=("acme-train",), object_prefix="fraud-detection-training",
                image="nvcr.io/nvidia/pytorch:24.08-py3", gpus_per_node=8)
    base.update(kw)
    return BootConfig(**base)


def _gcp_cfg(**kw) -> BootConfig:
    base = dict(cloud="gcp", workload="fraud-detection-training", kind="training", region="us-central1",
                groups=("acme-train-spot", "acme-train"), object_prefix="fraud-detection-training",
                image="us-docker.pkg.dev/acme/ml/train:1", gpus_per_node=8)
    base.update(kw)
    return BootConfig(**base)


def _env_lines(text: str) -> dict[str, str]:
    """workload.env parsed the way bash reads it (shlex is POSIX quoting, as bash's)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            (parsed,) = shlex.split(value) or [""]
            out[key] = parsed
    return out


# ---------------------------------------------------------------- renderer


def test_env_file_quotes_spaces_quotes_and_dollars_so_bash_reads_them_back(tmp_path):
    tricky = {"MSG": "hello world", "QUOTE": "it's \"quoted\"", "DOLLAR": "$HOME and `id` and $(id)",
              "EMPTY": "", "NEWLINE": "a\nb"}
    cfg = _aws_cfg(env=tricky, command=("python", "-c", "print('hi $there')"))
    env_file = tmp_path / "workload.env"
    env_file.write_text(boot_files(cfg)["workload.env"])
    script = ("source \"$1\"; for n in $AIINFRA_USER_ENV; do v=AIINFRA_ENV_$n; printf '%s=%s\\0' \"$n\" \"${!v}\"; done; "
              "for ((i=1;i<=AIINFRA_COMMAND_COUNT;i++)); do v=AIINFRA_COMMAND_$i; printf 'CMD%s=%s\\0' $i \"${!v}\"; done")
    out = subprocess.run(["bash", "-c", script, "bash", str(env_file)], capture_output=True, check=True).stdout
    got = dict(item.split("=", 1) for item in out.decode().split("\0") if item)
    assert {k: got[k] for k in tricky} == tricky
    assert [got["CMD1"], got["CMD2"], got["CMD3"]] == ["python", "-c", "print('hi $there')"]


def test_env_file_holds_the_typed_settings():
    env = _env_lines(boot_files(_aws_cfg(nodes=2, retries=3, max_runtime_seconds=86400, interconnect="efa",
                                         efa_interfaces=4))["workload.env"])
    assert env["AIINFRA_WORKLOAD"] == "fraud-detection-training"
    assert env["AIINFRA_CLOUD"] == "aws" and env["AIINFRA_KIND"] == "training"
    assert env["AIINFRA_GROUPS"] == "acme-train"
    assert (env["AIINFRA_NODES"], env["AIINFRA_RETRIES"], env["AIINFRA_MAX_RUNTIME_SECONDS"]) == ("2", "3", "86400")
    assert (env["AIINFRA_INTERCONNECT"], env["AIINFRA_EFA_INTERFACES"]) == ("efa", "4")
    assert env["AIINFRA_IMAGE"] == "nvcr.io/nvidia/pytorch:24.08-py3"
    assert env["AIINFRA_COLLECT"] == "" and env["AIINFRA_METRIC_ID"] == "fraud-detection-training"  # the workload's name


def test_env_file_names_the_job_metrics_from_agents_and_the_metric_identity():
    aws = _env_lines(boot_files(_aws_cfg(collect=["gpu", "app"], metric_id="acme-train-asg"))["workload.env"])
    assert (aws["AIINFRA_COLLECT"], aws["AIINFRA_METRIC_ID"], aws["AIINFRA_APP_METRICS_PORT"]) == \
        ("gpu app", "acme-train-asg", str(agents.STATSD_PORT))
    assert (aws["AIINFRA_JOB_METRIC_NAMESPACE"], aws["AIINFRA_JOB_METRIC_DIMENSION"]) == ("aiinfra", "AutoScalingGroupName")
    gcp = _env_lines(boot_files(_gcp_cfg(collect=("cpu",)))["workload.env"])
    assert (gcp["AIINFRA_JOB_METRIC_RESOURCE"], gcp["AIINFRA_JOB_METRIC_LABEL"]) == ("global", "workload")
    assert gcp["AIINFRA_APP_METRICS_PORT"] == str(agents.OTLP_PORT)
    for m in agents.JOB_METRICS:
        key = f"AIINFRA_JOB_METRIC_{m.key.upper()}"
        assert aws[key] == f"{m.aws_name} {m.aws_unit} {m.value_type}"
        assert gcp[key] == f"{m.gcp_type} {m.aws_unit} {m.value_type}"
    assert "TrainingJobFailed" not in "".join(boot_files(_aws_cfg()).values())


def test_the_agent_configuration_travels_in_the_boot_files_only_when_collected():
    assert "agent.json" not in boot_files(_aws_cfg()) and "aiinfra-agent-config" not in gcp_metadata(_gcp_cfg())
    aws = _aws_cfg(collect=agents.COLLECT)
    assert boot_files(aws)["agent.json"] == agents.cloudwatch_agent_json(agents.COLLECT)
    doc = yaml.safe_load(aws_user_data(aws))
    [agent] = [f for f in doc["write_files"] if f["path"] == "/opt/aiinfra/agent.json"]
    assert (agent["content"], agent["permissions"]) == (agents.cloudwatch_agent_json(agents.COLLECT), "0644")
    gcp = _gcp_cfg(collect=("gpu", "cpu", "app"), dcgm=True)
    md = gcp_metadata(gcp)
    assert md["aiinfra-agent-config"] == agents.ops_agent_yaml(("gpu", "cpu", "app"), True) == boot_files(gcp)["agent.yaml"]
    assert "aiinfra-agent-config" in md["startup-script"]


def test_image_none_leaves_the_image_to_the_metadata_and_a_given_image_is_fixed():
    assert _env_lines(boot_files(_aws_cfg(image=None))["workload.env"])["AIINFRA_IMAGE"] == ""
    assert _env_lines(boot_files(_aws_cfg(image="a/b:1"))["workload.env"])["AIINFRA_IMAGE"] == "a/b:1"


def test_boot_files_are_the_package_scripts_and_the_adapter_of_the_cloud():
    aws = boot_files(_aws_cfg())
    assert set(aws) == {"node.sh", "aws.sh", "workload.env"}
    assert aws["node.sh"] == (BOOT_DIR / "node.sh").read_text()
    assert aws["aws.sh"] == (BOOT_DIR / "aws.sh").read_text()
    assert set(boot_files(_gcp_cfg())) == {"node.sh", "gcp.sh", "workload.env"}


def test_gcp_metadata_has_the_static_startup_script_and_the_three_files():
    md = gcp_metadata(_gcp_cfg(image=None))
    assert set(md) == {"startup-script", "aiinfra-node-sh", "aiinfra-gcp-sh", "aiinfra-workload-env"}
    assert md["startup-script"] == (BOOT_DIR / "gcp-startup.sh").read_text()
    assert md["aiinfra-node-sh"] == (BOOT_DIR / "node.sh").read_text()
    assert md["aiinfra-gcp-sh"] == (BOOT_DIR / "gcp.sh").read_text()
    env = _env_lines(md["aiinfra-workload-env"])
    assert env["AIINFRA_IMAGE"] == "" and env["AIINFRA_GROUPS"] == "acme-train-spot acme-train"
    for key in ("aiinfra-node-sh", "aiinfra-gcp-sh", "aiinfra-workload-env"):
        assert key in md["startup-script"]  # the startup script fetches exactly these keys


def test_aws_user_data_writes_the_scripts_unit_and_env_and_starts_the_unit():
    cfg = _aws_cfg(env={"WANDB_MODE": "offline"})
    text = aws_user_data(cfg)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc["write_files"]}
    assert set(files) == {"/opt/aiinfra/node.sh", "/opt/aiinfra/aws.sh", "/opt/aiinfra/workload.env",
                          "/etc/systemd/system/aiinfra-boot.service"}
    for path, name in (("/opt/aiinfra/node.sh", "node.sh"), ("/opt/aiinfra/aws.sh", "aws.sh")):
        assert "encoding" not in files[path]  # plain text: the whole document is compressed (aws_user_data_gzip)
        assert files[path]["content"] == compact_script((BOOT_DIR / name).read_text())
        assert "\n# " not in files[path]["content"]  # no comment lines in EC2's 16 KB
    assert "    #!/usr/bin/env bash\n" in text  # the scripts read as themselves (literal blocks)
    assert files["/opt/aiinfra/workload.env"]["content"] == boot_files(cfg)["workload.env"]
    unit = files["/etc/systemd/system/aiinfra-boot.service"]["content"]
    assert "ExecStart=/bin/bash /opt/aiinfra/node.sh" in unit and "WantedBy=multi-user.target" in unit
    assert doc["runcmd"][-1] == ["systemctl", "start", "--no-block", "aiinfra-boot.service"]
    assert ["systemctl", "enable", "aiinfra-boot.service"] in doc["runcmd"]
    packed = aws_user_data_gzip(cfg)
    assert gzip.decompress(packed).decode() == text
    assert aws_user_data_gzip(cfg) == packed  # deterministic (gzip without a timestamp): no Terraform diff


def test_aws_user_data_fits_ec2s_16_kb_limit_and_says_so_when_it_cannot():
    cfg = _aws_cfg(command=("torchrun", "--nnodes=4", "--nproc-per-node=8", "train.py", "--config", "configs/big.yaml"),
                   env={"WANDB_MODE": "offline", "HF_HOME": "/scratch/hf", "NCCL_DEBUG": "WARN"},
                   nodes=4, interconnect="efa", efa_interfaces=32, retries=3, max_runtime_seconds=86400,
                   collect=agents.COLLECT, metric_id="acme-train-asg")
    # compressed, with every agent section: 4 KB left for the user's command and env
    assert len(aws_user_data_gzip(cfg)) <= 12 * 1024
    noise = base64.b64encode(__import__("random").Random(0).randbytes(9000)).decode()  # 12 KB that gzip cannot shrink much
    with pytest.raises(ValueError, match="compressed, over EC2's limit of 16384"):
        aws_user_data_gzip(_aws_cfg(env={"BIG": noise[:4000], "BIG2": noise[4000:8000]}, command=("run", noise[:6000])))


def test_user_data_and_metadata_hold_no_secret_looking_values():
    for text in (aws_user_data(_aws_cfg()), *gcp_metadata(_gcp_cfg()).values()):
        assert not re.search(r"AKIA[0-9A-Z]{16}|BEGIN [A-Z ]*PRIVATE KEY|ya29\.", text)


@pytest.mark.parametrize("kw, message", [
    (dict(cloud="azure"), "cloud must be one of 'aws', 'gcp', got 'azure'"),
    (dict(kind="trainig"), "did you mean 'training'?"),
    (dict(interconnect="tcpx"), "interconnect 'tcpx' is not available on aws"),
    (dict(interconnect="efo", efa_interfaces=1), "did you mean 'efa'?"),
    (dict(interconnect="efa"), "interconnect 'efa' needs efa_interfaces >= 1"),
    (dict(efa_interfaces=2), "efa_interfaces=2 needs interconnect='efa'"),
    (dict(interconnect="efa", efa_interfaces=1, gpus_per_node=0), "needs GPU nodes"),
    (dict(port=0), "port must be between 1 and 65535, got 0"),
    (dict(port=70000), "port must be between 1 and 65535, got 70000"),
    (dict(master_port=-1), "master_port must be between 1 and 65535"),
    (dict(retries=-1), "retries must be an integer >= 0, got -1"),
    (dict(nodes=0), "nodes must be an integer >= 1, got 0"),
    (dict(max_runtime_seconds=-5), "max_runtime_seconds must be an integer >= 0"),
    (dict(env={"1BAD": "x"}), "env name must match ^[A-Za-z_][A-Za-z0-9_]*$, got '1BAD'"),
    (dict(env={"BAD-NAME": "x"}), "got 'BAD-NAME'"),
    (dict(env={"AIINFRA_RUN_ID": "x"}), "names starting with AIINFRA_ are set by the node"),
    (dict(env={"MASTER_ADDR": "x"}), "env name 'MASTER_ADDR' is reserved"),
    (dict(groups=()), "groups must name at least one group"),
    (dict(groups=("a b",)), "groups entries must be"),
    (dict(object_prefix="/lead"), "object_prefix must be"),
    (dict(object_prefix="a//b"), "object_prefix must be"),
    (dict(image=""), "image must be a non-empty reference"),
    (dict(health_check_path="health"), "health_check_path must start with '/'"),
    (dict(workload="has space"), "workload must be"),
    (dict(project="my-project"), "only given for cloud 'gcp'"),
    (dict(collect=("gpu", "iops")), "collect entries must be one of 'gpu', 'cpu', 'memory', 'disk', 'disk_io', 'network', 'app', got 'iops'"),
    (dict(collect=("disk_ios",)), "did you mean 'disk_io'?"),
    (dict(collect=("cpu", "cpu")), "collect must not repeat a name"),
    (dict(collect=("gpu",), gpus_per_node=0), "collect 'gpu' needs GPU nodes, got gpus_per_node=0"),
    (dict(metric_id=""), "metric_id must be 1-255 letters"),
    (dict(metric_id="has space"), "metric_id must be 1-255 letters"),
    (dict(metric_id="a" * 256), "metric_id must be 1-255 letters"),
    (dict(dcgm=True, collect=("gpu",)), "dcgm needs cloud 'gcp' and 'gpu' in collect"),
    (dict(dcgm="yes"), "dcgm must be True or False"),
])
def test_bootconfig_rejects_bad_values_naming_field_and_value(kw, message):
    with pytest.raises(ValueError) as err:
        _aws_cfg(**kw)
    assert message in str(err.value)


def test_bootconfig_reports_every_problem_at_once():
    with pytest.raises(ValueError) as err:
        _aws_cfg(port=0, retries=-1, kind="x")
    text = str(err.value)
    assert "port must be" in text and "retries must be" in text and "kind must be" in text


def test_bootconfig_accepts_gcp_interconnects_and_normalises_lists():
    cfg = _gcp_cfg(interconnect="tcpxo", groups=["a", "b"], command=["x"], env=[("A", "1")], project="acme-ml-prod",
                   collect=["gpu", "app"], dcgm=True, metric_id="acme-train")
    assert cfg.groups == ("a", "b") and cfg.command == ("x",) and cfg.env == (("A", "1"),) and cfg.collect == ("gpu", "app")
    assert _gcp_cfg(collect="cpu").collect == ("cpu",)
    with pytest.raises(ValueError, match="dcgm needs cloud 'gcp' and 'gpu' in collect"):
        _gcp_cfg(dcgm=True, collect=("cpu",))
    with pytest.raises(ValueError, match="interconnect 'efa' is not available on gcp"):
        _gcp_cfg(interconnect="efa", efa_interfaces=1)


def test_images_table_names_every_flavour_with_a_source():
    assert set(IMAGES) == {"aws-gpu", "aws-neuron", "aws-cpu", "gcp-gpu", "gcp-tcpx", "gcp-tcpxo", "gcp-rdma", "gcp-cpu"}
    for key, row in IMAGES.items():
        assert row["source"].startswith("https://")
        if key.startswith("aws-"):
            assert row["ssm_parameter"].startswith("/aws/service/")
        else:
            assert re.match(r"^projects/[a-z0-9-]+/global/images/family/[a-z0-9-]+$", row["image"])


# ---------------------------------------------------------------- static checks


def test_every_boot_script_is_shellcheck_clean(tmp_path):
    assert SHELLCHECK.exists(), f"shellcheck not in {VENV_BIN}: {SETUP_HINT}"
    scripts = sorted(p.name for p in BOOT_DIR.glob("*.sh"))
    assert {"node.sh", "aws.sh", "gcp.sh", "gcp-startup.sh"} <= set(scripts)
    proc = subprocess.run([str(SHELLCHECK), "-x", "-P", "SCRIPTDIR", *scripts], cwd=BOOT_DIR,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and as the EC2 user data carries them, without their comment lines (so without the source
    # directives: SC1090 / SC1091 only say shellcheck cannot follow a sourced file)
    compact = tmp_path / "compact"
    compact.mkdir()
    for name in scripts:
        (compact / name).write_text(compact_script((BOOT_DIR / name).read_text()))
    proc = subprocess.run([str(SHELLCHECK), "-x", "-P", "SCRIPTDIR", "-e", "SC1090,SC1091", *scripts], cwd=compact,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in scripts:
        text = (BOOT_DIR / name).read_text()
        assert "set -euo pipefail" in text or name in ("aws.sh", "gcp.sh")  # adapters are sourced
        assert "shellcheck disable" not in text


def _cloud_init() -> str:
    found = shutil.which("cloud-init")
    assert found, f"cloud-init not on PATH: {SETUP_HINT}"
    return found


@pytest.mark.parametrize("cfg", [
    _aws_cfg(nodes=2, interconnect="efa", efa_interfaces=4, retries=3, max_runtime_seconds=3600,
             command=("torchrun", "train.py"), env={"WANDB_MODE": "offline"}),
    _aws_cfg(kind="inference", workload="recommendation-inference", port=8000, health_check_path="/v2/health/ready",
             gpus_per_node=1, image=None),
    _aws_cfg(kind="data_processing", workload="etl", gpus_per_node=0, image="python:3.12-slim",
             command=("python", "-m", "etl")),
    _aws_cfg(collect=agents.COLLECT, metric_id="acme-train-asg"),
], ids=["gpu-training", "inference", "cpu-data-processing", "with-agent"])
def test_cloud_init_schema_accepts_the_aws_user_data(tmp_path, cfg):
    path = tmp_path / "user-data"
    path.write_text(aws_user_data(cfg))
    proc = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Valid cloud-config" in proc.stdout + proc.stderr


def test_cloud_init_schema_rejects_a_broken_document(tmp_path):
    # The schema check above can fail: a write_files entry without its path is refused.
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\nwrite_files:\n- content: x\n  permissions: 0755\n  nope: 1\n")
    proc = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0


# ---------------------------------------------------------------- sandbox: stubs

STUBS = {
    # docker: every call recorded as calls/NNNN.argv and .env (NUL-separated); a foreground `run`
    # takes the next line of run-codes ("<exit code> [<seconds to run>]"), stops early (143) when
    # `docker stop` was called meanwhile.
    "docker": r'''#!/bin/bash
set -u
d="$STUB_STATE/docker"; mkdir -p "$d"
n=$(ls "$d" | grep -c '\.argv$' || true); n=$(printf '%04d' $((n + 1)))
# argv last (renamed into place): a reader that sees it also sees the env
printf '%s\0' "$@" >"$d/$n.argv.new"; env -0 >"$d/$n.env"; mv "$d/$n.argv.new" "$d/$n.argv"
case "$1" in
  run)
    for a in "$@"; do [[ "$a" == --detach || "$a" == -d ]] && { echo 0123456789ab; exit 0; }; done
    name=""; prev=""; for a in "$@"; do [[ "$prev" == --name ]] && name="$a"; prev="$a"; done
    [[ "$name" == aiinfra-* ]] || exit 0  # helper containers (plugin installers) just succeed
    if [[ -n "${STUB_EXEC:-}" ]]; then
      # The container as a local process: exactly the --env names it is given (values from docker's
      # own environment, as docker passes them), the command after the image, in STUB_WORKDIR.
      envs=(); cmd=(); image=""; skip=""
      for a in "${@:2}"; do
        if [[ -n "$image" ]]; then cmd+=("$a")
        elif [[ -n "$skip" ]]; then skip=""
        elif [[ "$a" == --env=* ]]; then n="${a#--env=}"; envs+=("$n=${!n-}")
        elif [[ "$a" == --*=* || "$a" == --rm || "$a" == --privileged ]]; then :
        elif [[ "$a" == --* ]]; then skip=1
        else image="$a"; fi
      done
      # Its own process group, as a container is its own PID namespace: `docker stop` reaches
      # every process in it, and after the grace kills what is left (as docker does).
      cd "$STUB_WORKDIR" || exit 125
      setsid env -i PATH=/usr/bin:/bin HOME="$STUB_WORKDIR" "${envs[@]}" "${cmd[@]}" &
      echo $! >"$STUB_STATE/container.pid"
      wait $!; rc=$?; rm -f "$STUB_STATE/container.pid"; exit $rc
    fi
    c="$STUB_STATE/run-count"; i=$(( $(cat "$c" 2>/dev/null || echo 0) + 1 )); echo $i >"$c"
    spec=$(sed -n "${i}p" "$STUB_STATE/run-codes" 2>/dev/null); read -r code secs <<<"${spec:-0 0}"
    rm -f "$STUB_STATE/stopped"
    [[ -z "${STUB_OUTPUT:-}" ]] || echo "$STUB_OUTPUT"
    end=$(( $(date +%s) + ${secs:-0} ))
    while (( $(date +%s) < end )); do [[ -e "$STUB_STATE/stopped" ]] && exit 143; sleep 0.1; done
    exit "${code:-0}" ;;
  stop)
    touch "$STUB_STATE/stopped"
    if [[ -e "$STUB_STATE/container.pid" && ! -e "$STUB_STATE/stopping" ]]; then
      touch "$STUB_STATE/stopping"; g=$(cat "$STUB_STATE/container.pid")
      kill -TERM -- "-$g" 2>/dev/null
      ( sleep "${3:-10}"; kill -KILL -- "-$g" 2>/dev/null; rm -f "$STUB_STATE/stopping" ) >/dev/null 2>&1 &
    fi
    exit 0 ;;
  login) cat >"$d/$n.stdin"; exit 0 ;;
  image) [[ "${2:-}" == inspect ]] && echo "LD_LIBRARY_PATH=/usr/local/cuda/lib64"; exit 0 ;;
  logs) [[ "${2:-}" == receive-datapath-manager ]] && echo "I1207 fastrak_gpumem_manager.cc] Buffer manager initialization completed."; exit 0 ;;
  inspect) exit 1 ;;
  *) exit 0 ;;
esac
''',
    "nvidia-smi": r'''#!/bin/bash
for ((i = 0; i < ${STUB_GPUS:-8}; i++)); do echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-$i)"; done
''',
    "lsblk": r'''#!/bin/bash
# -dpno NAME,MODEL: the disk table; -pno NAME DEV: DEV (no partitions); -no MOUNTPOINT DEV: its mount.
case "$*" in
  "-dpno NAME,MODEL") cat "$STUB_STATE/lsblk.txt" 2>/dev/null ;;
  "-pno NAME "*) echo "${@: -1}"; grep "^${@: -1}p" "$STUB_STATE/partitions" 2>/dev/null ;;
  "-no MOUNTPOINT "*) awk -v d="${@: -1}" '$1 == d {print $2}' "$STUB_STATE/mounts" 2>/dev/null ;;
esac
exit 0
''',
    "blkid": r'''#!/bin/bash
f="$STUB_STATE/fs/$(echo "${@: -1}" | tr / _)"; [[ -e "$f" ]] || exit 2; cat "$f"
''',
    "mkfs.ext4": r'''#!/bin/bash
mkdir -p "$STUB_STATE/fs"; echo ext4 >"$STUB_STATE/fs/$(echo "${@: -1}" | tr / _)"; echo "$*" >>"$STUB_STATE/mkfs.log"
''',
    "mdadm": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/mdadm.log"; mkdir -p "$STUB_STATE/fs" "$(dirname "$2")"; touch "$2"
for dev in "${@:3}"; do [[ "$dev" == /* ]] && echo linux_raid_member >"$STUB_STATE/fs/$(echo "$dev" | tr / _)"; done
exit 0
''',
    "mount": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/mount.log"
[[ "$*" == *remount* ]] && exit 0
echo "${@: -2:1} ${@: -1}" >>"$STUB_STATE/mounts"
''',
    "mountpoint": r'''#!/bin/bash
awk -v t="${@: -1}" '$2 == t {found = 1} END {exit !found}' "$STUB_STATE/mounts" 2>/dev/null
''',
    "systemctl": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/systemctl.log"; [[ "$1" == is-active ]] && exit 3; exit 0
''',
    "iptables": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/iptables.log"; [[ "$*" == *" -C "* ]] && exit 1; exit 0
''',
    "cos-extensions": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/cos-extensions.log"
''',
    # ip -o -4 addr show: the node's interfaces as the test lists them in ip-addr (none by default).
    "ip": r'''#!/bin/bash
cat "$STUB_STATE/ip-addr" 2>/dev/null; exit 0
''',
    "modprobe": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/modprobe.log"; [[ -z "${STUB_MODPROBE_FAIL:-}" ]]
''',
    # systemd-run: run the unit's command in the foreground, with this environment.
    "systemd-run": r'''#!/bin/bash
echo "$*" >>"$STUB_STATE/systemd-run.log"
while (($#)) && [[ "$1" == -* ]]; do case "$1" in --unit|--description|--property|--setenv) shift 2 ;; *) shift ;; esac; done
exec "$@"
''',
}


# The agents' documented paths (aws.sh / gcp.sh): what the boot checks, writes and runs.
CWAGENT_CTL = "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
CWAGENT_CONFIG = "opt/aws/amazon-cloudwatch-agent/etc/cloudwatch-agent.json"
OPS_AGENT_ENGINE = "opt/google-cloud-ops-agent/libexec/google_cloud_ops_agent_engine"
OPS_AGENT_CONFIG = "etc/google-cloud-ops-agent/config.yaml"


class Sandbox:
    """A node's host: AIINFRA_ROOT, the stub state and the boot files at /opt/aiinfra."""

    def __init__(self, base: Path, files: dict[str, str], dest: str = "opt/aiinfra"):
        self.root = base / "root"
        self.state = base / "stub-state"
        self.bin = base / "bin"
        for d in (self.root, self.state, self.bin):
            d.mkdir(parents=True, exist_ok=True)
        for name, text in STUBS.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.boot = self.root / dest
        self.boot.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (self.boot / name).write_text(text)

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root), "LANG": "C.UTF-8",
            "AIINFRA_ROOT": str(self.root), "STUB_STATE": str(self.state),
            "AIINFRA_POLL_SECONDS": "0.2", "AIINFRA_MEMBERS_TIMEOUT_SECONDS": "20",
            "AIINFRA_MEMBER_CHECK_SECONDS": "1", "AIINFRA_GPU_TIMEOUT_SECONDS": "5", "AIINFRA_LOG_FLUSH_SECONDS": "1",
            "AIINFRA_HEALTH_TIMEOUT_SECONDS": "1",
        }
        env.update(extra)
        return env

    def run_codes(self, *specs: str) -> None:
        (self.state / "run-codes").write_text("".join(f"{s}\n" for s in specs))
        (self.state / "run-count").unlink(missing_ok=True)

    def docker_calls(self) -> list[tuple[list[str], dict[str, str]]]:
        calls = []
        for argv in sorted((self.state / "docker").glob("*.argv")) if (self.state / "docker").exists() else []:
            args = argv.read_bytes().decode().split("\0")[:-1]
            env = dict(e.split("=", 1) for e in argv.with_suffix(".env").read_bytes().decode().split("\0") if "=" in e)
            calls.append((args, env))
        return calls

    def job_runs(self) -> list[tuple[list[str], dict[str, str]]]:
        """Foreground `docker run`s (the job container), with the env each one was given."""
        out = []
        for args, env in self.docker_calls():
            if args[0] == "run" and "--detach" not in args and "--name" in args \
                    and args[args.index("--name") + 1].startswith("aiinfra-"):
                names = [a.split("=", 1)[1] for a in args if a.startswith("--env=")]
                out.append((args, {n: env[n] for n in names}))
        return out

    def log(self, name: str) -> str:
        path = self.state / name
        return path.read_text() if path.exists() else ""

    def _record_argv(self, path: str, log: str) -> None:
        """A program at ROOT/<path> that records its arguments in the stub state's <log>."""
        exe = self.root / path
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(f'#!/bin/bash\necho "$*" >>"$STUB_STATE/{log}"\n')
        exe.chmod(0o755)

    def image_has_cloudwatch_agent(self) -> None:
        """The image ships the CloudWatch agent (its control script at the documented path)."""
        self._record_argv(CWAGENT_CTL, "cwagent-ctl.log")

    def image_has_ops_agent(self) -> None:
        """The image has the Ops Agent (its configuration engine where the package installs it)."""
        self._record_argv(OPS_AGENT_ENGINE, "ops-agent-engine.log")


class ImdsStub:
    """IMDSv2 on 127.0.0.1: a session token is required for every GET."""

    def __init__(self, instance_id: str, ip: str, tags: dict[str, str], instance_type: str = "p4d.24xlarge"):
        self.meta = {"instance-id": instance_id, "local-ipv4": ip, "placement/region": "us-east-1",
                     "instance-type": instance_type}
        self.tags = dict(tags)
        self.spot_action: str | None = None
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._send(200, "stub-token")
                return self._send(400)

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != "stub-token":
                    return self._send(401)
                path = self.path.removeprefix("/latest/meta-data/")
                if path.startswith("tags/instance/"):
                    key = path.removeprefix("tags/instance/")
                    return self._send(200, stub.tags[key]) if key in stub.tags else self._send(404)
                if path == "spot/instance-action":
                    return self._send(200, stub.spot_action) if stub.spot_action else self._send(404)
                return self._send(200, stub.meta[path]) if path in stub.meta else self._send(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- sandbox: AWS


_LOCAL = threading.local()


def _client(moto, service: str):
    """A boto3 client for moto, one per thread (the default boto3 session is not thread-safe)."""
    clients = _LOCAL.__dict__.setdefault("clients", {})
    if service not in clients:
        session = _LOCAL.__dict__.setdefault("session", boto3.session.Session())
        clients[service] = session.client(service, endpoint_url=moto.endpoint, region_name=moto.region,
                                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return clients[service]


_AMI: list[str] = []


def _moto_ami(ec2) -> str:
    """One of moto's built-in AMIs (describe_images takes a second, so it is asked once)."""
    if not _AMI:
        _AMI.append(ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"])
    return _AMI[0]


class AwsWorld:
    """moto resources of one test: a bucket and an Auto Scaling group with running instances."""

    def __init__(self, moto, desired: int, loopback: int = 0):
        """``loopback`` N > 0: the group launches into a subnet 127.0.N.0/24, so its nodes' private IPs
        are loopback addresses real processes on this machine can listen on and reach."""
        self.moto = moto
        tag = uuid.uuid4().hex[:8]
        self.workload = f"wl-{tag}"
        self.bucket = f"aiinfra-data-{tag}"
        self.group = f"asg-{tag}"
        self.prefix = f"{self.workload}-prefix"
        _client(moto, "s3").create_bucket(Bucket=self.bucket)
        ec2 = _client(moto, "ec2")
        ami = _moto_ami(ec2)
        ec2.create_launch_template(LaunchTemplateName=f"lt-{tag}",
                                   LaunchTemplateData={"ImageId": ami, "InstanceType": "p4d.24xlarge"})
        self.asg = _client(moto, "autoscaling")
        where: dict = {"AvailabilityZones": ["us-east-1a"]}
        if loopback:
            vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
            where = {"VPCZoneIdentifier": ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.0.{loopback}.0/24",
                                                           AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]}
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=self.group, LaunchTemplate={"LaunchTemplateName": f"lt-{tag}", "Version": "$Latest"},
            MinSize=desired, MaxSize=4, DesiredCapacity=desired, **where)
        self.refresh()

    def refresh(self) -> list[tuple[str, str]]:
        """The group's in-service instances as (id, private IP), lowest IP first."""
        ids = [i["InstanceId"] for i in self.asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0]["Instances"] if i["LifecycleState"] == "InService"]
        res = _client(self.moto, "ec2").describe_instances(InstanceIds=ids)["Reservations"] if ids else []
        self.instances = sorted(((i["InstanceId"], i["PrivateIpAddress"]) for r in res for i in r["Instances"]),
                                key=lambda x: tuple(int(p) for p in x[1].split(".")))
        return self.instances

    def desired(self) -> int:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0][
            "DesiredCapacity"]

    def state(self) -> dict | None:
        try:
            body = _client(self.moto, "s3").get_object(Bucket=self.bucket, Key=f"{self.prefix}/runs/latest.json")["Body"]
        except ClientError as err:
            if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(body.read())

    def put_state(self, record: dict) -> None:
        _client(self.moto, "s3").put_object(Bucket=self.bucket, Key=f"{self.prefix}/runs/latest.json",
                                          Body=json.dumps(record).encode())

    def job_metric(self, name: str, statistic: str = "Sum") -> float:
        """A job metric of this group, as moto's CloudWatch has it (0 when nothing arrived)."""
        now = datetime.now(timezone.utc)
        stats = _client(self.moto, "cloudwatch").get_metric_statistics(
            Namespace=agents.JOB_NAMESPACE, MetricName=name,
            Dimensions=[{"Name": agents.JOB_AWS_DIMENSION, "Value": self.group}],
            StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600, Statistics=[statistic])
        return sum(p[statistic] for p in stats["Datapoints"])

    def failures(self) -> float:
        return self.job_metric("RunFailed")

    def cfg(self, **kw) -> BootConfig:
        base = dict(cloud="aws", workload=self.workload, kind="training", region="us-east-1", groups=(self.group,),
                    object_prefix=self.prefix, image="nvcr.io/nvidia/pytorch:24.08-py3",
                    command=("torchrun", "train.py"), gpus_per_node=8, metric_id=self.group,
                    env={"WANDB_MODE": "offline", "NOTE": "it's $HOME \"quoted\""})
        base.update(kw)
        return BootConfig(**base)


def _node_factory(base: Path, moto, stubs: list[ImdsStub]):
    """make(desired, lsblk, loopback, **BootConfig overrides) -> (world, [(sandbox, imds stub, env) per
    instance]); ``world.add_node(iid, ip)`` gives the same for an instance launched later."""

    def make(desired: int = 1, lsblk: str = "", loopback: int = 0, **cfg_kw):
        world = AwsWorld(moto, desired, loopback)
        cfg = world.cfg(**cfg_kw)

        def add_node(iid: str, ip: str):
            imds = ImdsStub(iid, ip, {"aiinfra-data-bucket": world.bucket})
            stubs.append(imds)
            box = Sandbox(base / f"node-{iid}", _user_data_files(cfg))
            (box.state / "lsblk.txt").write_text(lsblk)
            (box.state / "partitions").write_text("/dev/nvme0n1p1\n")  # the root volume's
            # The environment is built from scratch, so moto's empty "mask" values are left out
            # (the CLI v1 reads AWS_PROFILE="" as a profile named "").
            aws_env = {k: v for k, v in moto.env().items() if v}
            env = box.env({**aws_env, "AIINFRA_IMDS_ENDPOINT": imds.url})
            return box, imds, env

        world.add_node = add_node
        return world, [add_node(iid, ip) for iid, ip in world.instances]

    return make


def _user_data_files(cfg: BootConfig) -> dict[str, str]:
    """The boot files under /opt/aiinfra exactly as the EC2 user data writes them."""
    return {Path(f["path"]).name: f["content"] for f in yaml.safe_load(aws_user_data(cfg))["write_files"]
            if f["path"].startswith("/opt/aiinfra/")}


_SCENARIOS: dict[str, Callable] = {}


def scenario(body: Callable) -> Callable:
    """A sandbox test whose body runs on the module's thread pool, concurrently with the others
    (one boot takes seconds: every AWS CLI call starts a Python); the test waits for its body and
    re-raises whatever it raised."""
    _SCENARIOS[body.__name__] = body

    def test(aws_scenarios):
        aws_scenarios(body.__name__)

    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    return test


@pytest.fixture(scope="module")
def aws_scenarios(request, moto_server, tmp_path_factory):
    assert AWS_CLI.exists(), f"aws CLI not in {VENV_BIN}: {SETUP_HINT}"
    selected = {item.name for item in request.session.items}
    stubs: list[ImdsStub] = []
    pool = ThreadPoolExecutor(max_workers=6)
    futures = {}
    # The ones that mostly wait (watchdog, spot notice, reboot, two nodes) start first.
    waiting = ("two_nodes", "watchdog", "spot", "reboot")
    for name, body in sorted(_SCENARIOS.items(), key=lambda kv: not any(w in kv[0] for w in waiting)):
        if name in selected:
            make = _node_factory(tmp_path_factory.mktemp(name[9:40]), moto_server, stubs)
            futures[name] = pool.submit(body, make)

    def result(name: str) -> None:
        futures[name].result(timeout=900)  # the pool's scenarios all run meanwhile

    yield result
    pool.shutdown(wait=True, cancel_futures=True)
    _reap()
    for stub in stubs:
        stub.close()


def boot(box: Sandbox, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(box.boot / "node.sh")], env=env, capture_output=True, text=True, timeout=timeout)


DISKS = ("/dev/nvme0n1 Amazon Elastic Block Store\n"      # root volume (has a partition below)
         "/dev/nvme1n1 Amazon EC2 NVMe Instance Storage\n"
         "/dev/nvme2n1 Amazon EC2 NVMe Instance Storage\n"
         "/dev/nvme3n1 Amazon Elastic Block Store\n")     # blank data volume


ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"


@scenario
def test_aws_job_that_exits_0_is_done_and_the_group_goes_to_zero(aws_node):
    world, [(box, imds, env)] = aws_node(lsblk=DISKS, image=ECR_IMAGE, interconnect="efa", efa_interfaces=2,
                                         collect=agents.COLLECT)
    box.image_has_cloudwatch_agent()
    for dev in ("uverbs0", "uverbs1"):
        (box.root / "dev" / "infiniband").mkdir(parents=True, exist_ok=True)
        (box.root / "dev" / "infiniband" / dev).touch()
    # the Ubuntu DLAMI's aws-ofi-nccl (<= 1.16) keeps the plugin under lib/x86_64-linux-gnu
    (box.root / "opt/amazon/ofi-nccl/lib/x86_64-linux-gnu").mkdir(parents=True)
    (box.root / "opt/amazon/ofi-nccl/lib/x86_64-linux-gnu/libnccl-net.so").touch()
    (box.state / "ip-addr").write_text(f"1: lo    inet 127.0.0.1/8 scope host lo\n"
                                        f"2: ens32    inet {world.instances[0][1]}/24 brd 10.0.0.255 scope global ens32\n")
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [(args, seen)] = box.job_runs()
    iid, ip = world.instances[0]
    assert seen["AIINFRA_CHECKPOINT_URI"] == f"s3://{world.bucket}/{world.prefix}/checkpoints/"
    assert seen["AIINFRA_DATA_URI"] == f"s3://{world.bucket}/{world.prefix}/data/"
    assert (seen["NNODES"], seen["NODE_RANK"], seen["MASTER_ADDR"], seen["MASTER_PORT"]) == ("1", "0", ip, "29500")
    assert (seen["GPUS_PER_NODE"], seen["AIINFRA_SCRATCH"], seen["AIINFRA_ATTEMPT"]) == ("8", "/scratch", "1")
    assert seen["AIINFRA_WORKLOAD"] == world.workload and re.fullmatch(r"\d{8}T\d{4}Z", seen["AIINFRA_RUN_ID"])
    assert seen["NOTE"] == "it's $HOME \"quoted\"" and seen["WANDB_MODE"] == "offline"
    assert seen["AIINFRA_DATA_DIR"] == "/data"
    assert "AIINFRA_CACHE_ENDPOINT" not in seen  # a batch run has no serving cache
    # the container: all GPUs, host network and IPC, NCCL ulimits, scratch and data mounted, the command last
    assert args[args.index("--gpus") + 1] == "all"
    assert args[args.index("--network") + 1] == "host" and args[args.index("--ipc") + 1] == "host"
    assert "memlock=-1" in args
    assert f"{box.root}/scratch:/scratch" in args and f"{box.root}/data:/data" in args
    assert args[-3:] == [ECR_IMAGE, "torchrun", "train.py"]
    # EFA: the devices, the host's libfabric and aws-ofi-nccl, libfabric's settings for p4d
    assert ["--device", "/dev/infiniband/uverbs0", "--device", "/dev/infiniband/uverbs1"] == \
        args[args.index("/dev/infiniband/uverbs0") - 1:][:4]
    assert "/opt/amazon/ofi-nccl:/opt/amazon/ofi-nccl:ro" in args and "/opt/amazon/efa:/opt/amazon/efa:ro" in args
    assert seen["FI_PROVIDER"] == "efa" and "FI_EFA_USE_DEVICE_RDMA" not in seen  # libfabric >= 1.18 decides
    assert seen["LD_LIBRARY_PATH"] == "/opt/amazon/ofi-nccl/lib/x86_64-linux-gnu:/opt/amazon/efa/lib:/usr/local/cuda/lib64"
    # NCCL's bootstrap on the interface of the node's private IP; NCCL names its transport (checked)
    assert (seen["NCCL_SOCKET_IFNAME"], seen["GLOO_SOCKET_IFNAME"]) == ("ens32", "ens32")
    assert (seen["NCCL_DEBUG"], seen["NCCL_DEBUG_SUBSYS"]) == ("INFO", "INIT,NET")
    # torchrun's own names: one node of 8 GPUs
    assert (seen["PET_NNODES"], seen["PET_NPROC_PER_NODE"], seen["PET_NODE_RANK"]) == ("1", "8", "0")
    assert (seen["PET_MASTER_ADDR"], seen["PET_MASTER_PORT"], seen["WORLD_SIZE"]) == (ip, "29500", "8")
    # pulled after an ECR login with the instance role (moto's authorization token)
    verbs = [a[0] for a, _ in box.docker_calls()]
    assert verbs.index("login") < verbs.index("pull") < verbs.index("run")
    assert world.desired() == 0
    assert world.state() == {"run_id": seen["AIINFRA_RUN_ID"], "started_epoch": world.state()["started_epoch"],
                             "status": "done", "attempts": 1, "interruptions": 0, "coordinator": ip, "members": ip,
                             "reason": ""}
    # the job metrics of the group (rank 0): one run started and succeeded, its duration
    assert (world.job_metric("RunStarted"), world.job_metric("RunSucceeded")) == (1, 1)
    assert (world.failures(), world.job_metric("RunRestarted")) == (0, 0)
    assert world.job_metric("RunDuration", "SampleCount") == 1
    # the CloudWatch agent: its configuration at the documented path, started with it, after the
    # GPUs are up and before the container; the container sends its own metrics to its StatsD port
    config = box.root / CWAGENT_CONFIG
    assert config.read_text() == agents.cloudwatch_agent_json(agents.COLLECT)
    assert box.log("cwagent-ctl.log") == f"-a fetch-config -m ec2 -s -c file:{config}\n"
    assert proc.stdout.index("gpu: 8 GPUs visible") < proc.stdout.index("agent: collecting") < proc.stdout.index("docker: pulled")
    assert seen["AIINFRA_STATSD_ADDR"] == f"127.0.0.1:{agents.STATSD_PORT}"  # host network
    # disks: two instance-store NVMe as RAID 0, the blank EBS volume formatted; every step logged
    assert "--create" in box.log("mdadm.log") and "nvme1n1 /dev/nvme2n1" in box.log("mdadm.log")
    formatted = [line.split()[-1] for line in box.log("mkfs.log").splitlines()]
    assert formatted == [f"{box.root}/dev/md/aiinfra-scratch", "/dev/nvme3n1"]  # never the root volume
    assert all(line.startswith(f"aiinfra-boot[{world.workload}]: ") for line in proc.stdout.splitlines()
               if line.startswith("aiinfra-boot"))
    assert f"aiinfra-boot[{world.workload}]: job: run {seen['AIINFRA_RUN_ID']} done" in proc.stdout


@scenario
def test_aws_failing_job_retries_with_the_same_checkpoint_then_fails_and_alerts(aws_node):
    world, [(box, imds, env)] = aws_node(retries=2)
    box.run_codes("1", "1", "1")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [seen for _, seen in box.job_runs()]
    assert [r["AIINFRA_ATTEMPT"] for r in runs] == ["1", "2", "3"]
    assert len({r["AIINFRA_CHECKPOINT_URI"] for r in runs}) == 1
    assert len({r["AIINFRA_RUN_ID"] for r in runs}) == 1
    state = world.state()
    assert (state["status"], state["attempts"], state["run_id"]) == ("failed", 3, runs[0]["AIINFRA_RUN_ID"])
    # one run, started once, restarted after each failure, then failed for good
    assert (world.job_metric("RunStarted"), world.job_metric("RunRestarted"), world.failures()) == (1, 2, 1)
    assert world.job_metric("RunSucceeded") == 0 and world.job_metric("RunDuration", "SampleCount") == 1
    assert "AIINFRA_STATSD_ADDR" not in runs[0]  # no agent asked for
    assert world.desired() == 0


@scenario
def test_aws_reboot_mid_run_resumes_the_same_run_with_the_next_attempt(aws_node):
    world, [(box, imds, env)] = aws_node(lsblk=DISKS, retries=3, max_runtime_seconds=3600)
    box.run_codes("0 60")  # the first attempt runs until the node loses power
    node = subprocess.Popen(["bash", str(box.boot / "node.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not box.job_runs() and time.monotonic() < deadline and node.poll() is None:
        time.sleep(0.1)
    assert box.job_runs(), node.communicate()[0] if node.poll() is not None else "no job container started"
    os.killpg(node.pid, signal.SIGKILL)  # power loss: no trap, no cleanup
    node.wait()
    assert world.state()["status"] == "running" and world.state()["attempts"] == 1
    formatted = box.log("mkfs.log")
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = (seen for _, seen in box.job_runs())
    assert second["AIINFRA_RUN_ID"] == first["AIINFRA_RUN_ID"]
    assert (first["AIINFRA_ATTEMPT"], second["AIINFRA_ATTEMPT"]) == ("1", "2")
    assert second["AIINFRA_CHECKPOINT_URI"] == first["AIINFRA_CHECKPOINT_URI"]
    assert world.state()["status"] == "done" and world.state()["attempts"] == 2
    assert box.log("mkfs.log") == formatted  # mounted disks are not formatted again
    assert "resuming run" in proc.stdout
    # started once (first boot), restarted once (after the power loss), succeeded once
    assert [world.job_metric(m) for m in ("RunStarted", "RunRestarted", "RunSucceeded")] == [1, 1, 1]


@scenario
def test_aws_finished_run_inside_the_window_runs_nothing_and_a_stale_one_starts_anew(aws_node):
    world, [(box, imds, env)] = aws_node(max_runtime_seconds=3600)
    world.put_state({"run_id": "20250101T0000Z", "started_epoch": int(time.time()) - 60, "status": "done", "attempts": 1})
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box.job_runs() == [] and world.desired() == 0
    assert "already done; nothing to run" in proc.stdout
    # The group is scaled up again (the next schedule): a new instance boots the same way.
    world.asg.set_desired_capacity(AutoScalingGroupName=world.group, DesiredCapacity=1)
    imds.meta["instance-id"], imds.meta["local-ipv4"] = world.refresh()[0]
    world.put_state({"run_id": "20250101T0000Z", "started_epoch": int(time.time()) - 7200, "status": "running",
                     "attempts": 2})
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [(_, seen)] = box.job_runs()
    assert seen["AIINFRA_RUN_ID"] != "20250101T0000Z" and seen["AIINFRA_ATTEMPT"] == "1"


def _no_image(kind: str, tag: str | None) -> Callable:
    def body(aws_node):
        world, [(box, imds, env)] = aws_node(lsblk=DISKS, image=None, kind=kind)
        if tag is not None:
            imds.tags["aiinfra-image"] = tag
        proc = boot(box, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert box.docker_calls() == []
        assert "waits for your own deployment" in proc.stdout
        assert f"{box.root}/scratch" in box.log("mounts") and f"{box.root}/data" in box.log("mounts")
        assert world.desired() == 1  # nothing ran, nothing was scaled

    body.__name__ = f"test_aws_no_image_{kind}_{'empty_tag' if tag == '' else 'no_tag'}_prepares_the_node_and_never_calls_docker"
    return scenario(body)


test_aws_no_image_training_empty_tag_prepares_the_node_and_never_calls_docker = _no_image("training", "")
test_aws_no_image_training_no_tag_prepares_the_node_and_never_calls_docker = _no_image("training", None)
test_aws_no_image_inference_empty_tag_prepares_the_node_and_never_calls_docker = _no_image("inference", "")
test_aws_no_image_inference_no_tag_prepares_the_node_and_never_calls_docker = _no_image("inference", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@scenario
def test_aws_inference_runs_one_supervised_server_publishing_the_port(aws_node):
    port = _free_port()
    world, [(box, imds, env)] = aws_node(kind="inference", port=port, health_check_path="/v2/health/ready",
                                         command=(), gpus_per_node=1, image=None, collect=("gpu", "app"))
    box.image_has_cloudwatch_agent()
    image = "public.ecr.aws/acme/serve@sha256:" + "a" * 64
    imds.tags["aiinfra-image"] = image  # the image the constructs tag the instances with
    # the serving cache's endpoint and key TTL, as stacks/aws.py tags a serving group with a data_pipeline.serving cache
    imds.tags[CACHE_ENDPOINT_KEY] = "clustercfg.acme-cache.abc123.use1.cache.amazonaws.com:6379"
    imds.tags[CACHE_TTL_KEY] = "86400"
    imds.tags[CACHE_USER_KEY], imds.tags[CACHE_NAME_KEY] = "acme-cache-0-app", "acme-cache-0"
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [(a, e) for a, e in box.docker_calls() if a[0] == "run"]
    assert len(runs) == 1
    args, env_seen = runs[0]
    assert "--detach" in args and args[args.index("--restart") + 1] == "unless-stopped"
    assert args[args.index("--publish") + 1] == f"{port}:{port}"
    assert "--network" not in args  # bridge network: only the published port is reachable
    assert args[-1] == image
    assert "login" not in [a[0] for a, _ in box.docker_calls()]  # a public registry needs no login
    assert env_seen["AIINFRA_PORT"] == str(port) and env_seen["AIINFRA_WORKLOAD"] == world.workload
    assert (env_seen["AIINFRA_CACHE_ENDPOINT"], env_seen["AIINFRA_CACHE_TTL_SECONDS"]) == (
        "clustercfg.acme-cache.abc123.use1.cache.amazonaws.com:6379", "86400")
    assert (env_seen["AIINFRA_CACHE_USER"], env_seen["AIINFRA_CACHE_NAME"]) == ("acme-cache-0-app", "acme-cache-0")
    # the bridged container reaches the host's StatsD listener through the docker host gateway
    assert "--add-host=host.docker.internal:host-gateway" in args
    assert env_seen["AIINFRA_STATSD_ADDR"] == f"host.docker.internal:{agents.STATSD_PORT}"
    assert json.loads((box.root / CWAGENT_CONFIG).read_text()) == agents.cloudwatch_agent_config(("gpu", "app"))
    assert world.job_metric("RunStarted") == 0  # no job metrics for a server
    assert "not healthy yet" in proc.stdout  # nothing really listens here; the node does not hang
    assert world.state() is None and world.desired() == 1


@scenario
def test_aws_an_agent_that_cannot_install_and_a_failed_metric_put_never_stop_the_run(aws_node):
    world, [(box, imds, env)] = aws_node(collect=("cpu", "app"), gpus_per_node=0)
    # no agent on the image and its install fails; CloudWatch does not answer the job metrics
    (box.bin / "dnf").write_text('#!/bin/bash\necho "$*" >>"$STUB_STATE/dnf.log"; exit 1\n')
    (box.bin / "dnf").chmod(0o755)
    env = {**env, "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://127.0.0.1:{_free_port()}"}
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "install -y -q amazon-cloudwatch-agent" in box.log("dnf.log")
    assert "agent: ERROR: the monitoring agent did not start" in proc.stdout
    assert "metric: WARNING: could not publish RunStarted" in proc.stdout
    assert "metric: WARNING: could not publish RunSucceeded" in proc.stdout
    [(_, seen)] = box.job_runs()
    assert "AIINFRA_STATSD_ADDR" not in seen  # nothing listens for it
    assert world.state()["status"] == "done" and world.desired() == 0
    assert world.job_metric("RunStarted") == 0


@scenario
def test_aws_watchdog_stops_a_run_past_max_runtime_as_failed(aws_node):
    # max_runtime counts from the run's start (before the agent, the metric puts and the pull): long
    # enough that the container is running when the watchdog fires, on a loaded machine too.
    world, [(box, imds, env)] = aws_node(max_runtime_seconds=40, retries=5)
    box.run_codes("0 150")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "watchdog: run" in proc.stderr and "reached its deadline" in proc.stderr  # logged from inside the attempt
    assert [a[0] for a, _ in box.docker_calls()].count("stop") >= 1
    assert len(box.job_runs()) == 1  # no retry after the watchdog
    assert world.state()["status"] == "failed" and world.failures() == 1 and world.desired() == 0


@scenario
def test_aws_spot_notice_stops_the_container_with_grace_and_leaves_the_run_to_the_replacement(aws_node):
    world, [(box, imds, env)] = aws_node(retries=3, lsblk=DISKS)
    # The Deep Learning AMI has already mounted the instance store on /opt/dlami/nvme.
    (box.state / "mounts").write_text(f"/dev/md0 {box.root}/opt/dlami/nvme\n")
    box.run_codes("0 60")
    node = _start(box, env)
    deadline = time.monotonic() + 60
    while not box.job_runs() and time.monotonic() < deadline and node.poll() is None:
        time.sleep(0.1)
    imds.spot_action = json.dumps({"action": "terminate", "time": "2026-12-01T23:00:00Z"})
    out = node.communicate(timeout=60)[0]
    assert node.returncode == 0, out
    stops = [a for a, _ in box.docker_calls() if a[0] == "stop"]
    assert stops and stops[0][:3] == ["stop", "--time", "90"] and stops[0][-1] == f"aiinfra-{world.workload}"
    assert "spot: notice from the cloud" in out
    [(args, _)] = box.job_runs()
    assert f"{box.root}/opt/dlami/nvme:/scratch" in args and box.log("mdadm.log") == ""  # reused as it is
    # not a failure: the run stays running for the node that replaces this one
    assert world.state()["status"] == "running" and world.state()["attempts"] == 1
    assert world.failures() == 0 and world.desired() == 1


@scenario
def test_aws_two_nodes_rank_by_lowest_ip_and_share_the_run(aws_node):
    world, nodes = aws_node(desired=2, nodes=2)
    for box, _, _ in nodes:
        box.run_codes("0 4")  # long enough for the other rank to join under load
    procs = [_start(box, env) for box, _, env in nodes]
    outs = _finish(procs, 240)
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    (low_ip, high_ip) = (ip for _, ip in world.instances)
    seen = {}
    for (box, imds, _) in nodes:
        [(_, env_seen)] = box.job_runs()
        seen[imds.meta["local-ipv4"]] = env_seen
    assert seen[low_ip]["NODE_RANK"] == "0" and seen[high_ip]["NODE_RANK"] == "1"
    assert {s["MASTER_ADDR"] for s in seen.values()} == {low_ip}
    assert {s["NNODES"] for s in seen.values()} == {"2"}
    assert len({s["AIINFRA_RUN_ID"] for s in seen.values()}) == 1
    assert world.state()["status"] == "done" and world.desired() == 0
    assert (world.job_metric("RunStarted"), world.job_metric("RunSucceeded")) == (1, 1)  # rank 0 only


@scenario
def test_aws_two_nodes_a_lower_ip_that_joins_never_makes_a_second_rank_0(aws_node):
    """The live coordinator keeps its run when a node with a lower address joins (a replacement):
    before, rank 0 was the lowest IP of a snapshot, and a replacement with a lower IP made two."""
    world, nodes = aws_node(desired=2, nodes=2, max_runtime_seconds=3600, retries=3)
    (_, low_ip), (_, high_ip) = world.instances
    world.put_state({"run_id": "20261207T0100Z", "started_epoch": int(time.time()) - 600, "status": "running", "attempts": 1,
                     "interruptions": 0, "coordinator": high_ip, "members": f"{high_ip} 10.255.255.254", "reason": ""})
    for box, _, _ in nodes:
        box.run_codes("0 4")
    procs = [_start(box, env) for box, _, env in nodes]
    outs = _finish(procs, 240)
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    seen = {}
    for box, imds, _ in nodes:
        [(_, env_seen)] = box.job_runs()
        seen[imds.meta["local-ipv4"]] = env_seen
    assert (seen[high_ip]["PET_NODE_RANK"], seen[low_ip]["PET_NODE_RANK"]) == ("0", "1")
    assert {s["PET_MASTER_ADDR"] for s in seen.values()} == {high_ip} == {s["MASTER_ADDR"] for s in seen.values()}
    assert {s["AIINFRA_ATTEMPT"] for s in seen.values()} == {"2"} and {s["AIINFRA_RUN_ID"] for s in seen.values()} == {"20261207T0100Z"}
    state = world.state()
    assert (state["status"], state["attempts"], state["coordinator"], state["members"]) == ("done", 2, high_ip, f"{high_ip} {low_ip}")


# ---------------------------------------------------------------- real rendezvous (torchrun, gloo)

# What a training job does with the node's contract: `torchrun train.py`, no flags; one gloo world
# across the nodes (Debian's python3-torch, CPU). Each worker records what it saw; rank 0 keeps a
# step checkpoint in CKPT_DIR (the bucket's checkpoints in production), so a restart resumes.
TRAIN_PY = r'''
import json, os, time
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
ckpt = os.path.join(os.environ["CKPT_DIR"], "step.json")
start = json.load(open(ckpt))["step"] if os.path.exists(ckpt) else 0
t = torch.ones(1)
dist.all_reduce(t)
seen = {"attempt": int(os.environ["AIINFRA_ATTEMPT"]), "run": os.environ["AIINFRA_RUN_ID"], "rank": rank, "world": world,
        "sum": t.item(), "group_rank": int(os.environ["GROUP_RANK"]), "pet_node_rank": os.environ["PET_NODE_RANK"],
        "pet_master": os.environ["PET_MASTER_ADDR"], "start": start}
with open(os.path.join(os.environ["CKPT_DIR"], f"seen-{seen['attempt']}-{rank}.json"), "w") as f:
    json.dump(seen, f)
assert world == int(os.environ["EXPECT_WORLD"]), f"world of {world}"
for step in range(start, int(os.environ["STEPS"])):
    time.sleep(float(os.environ["STEP_SECONDS"]))
    dist.all_reduce(torch.ones(1))
    if rank == 0:
        with open(ckpt + ".tmp", "w") as f:
            json.dump({"step": step + 1}, f)
        os.replace(ckpt + ".tmp", ckpt)
dist.barrier()
dist.destroy_process_group()
'''
TORCHRUN = Path("/usr/bin/torchrun")  # Debian's python3-torch (make setup installs it)
_LOOPBACK = iter(range(10, 250))  # one 127.0.N.0/24 subnet per world: their nodes never share an address


def _torch_job(box: Sandbox, steps: int, step_seconds: float) -> tuple[dict[str, str], Path]:
    """The job's env (user env of the workload) and its work folder (train.py, the checkpoint)."""
    work = box.state.parent.parent / "job"
    return _torch_env(work, steps, step_seconds), work


def _torch_env(work: Path, steps: int, step_seconds: float) -> dict[str, str]:
    assert TORCHRUN.exists(), f"{TORCHRUN} missing: {SETUP_HINT} (Debian's python3-torch)"
    work.mkdir(exist_ok=True)
    (work / "train.py").write_text(TRAIN_PY)
    # PET_REDIRECTS / PET_TEE: torchrun 1.13 on Python 3.11 needs them (Std.from_str("0") is None
    # there); a test setting only, never the product's.
    return {"CKPT_DIR": str(work), "STEPS": str(steps), "STEP_SECONDS": str(step_seconds), "EXPECT_WORLD": "4",
            "PET_REDIRECTS": "2", "PET_TEE": "1"}


def _exec_node(box: Sandbox, imds: ImdsStub, env: dict[str, str], work: Path) -> dict[str, str]:
    """The node runs its container as a local process; its interface holds its (loopback) IP."""
    (box.state / "ip-addr").write_text(f"1: lo    inet {imds.meta['local-ipv4']}/8 scope host lo\n")
    # Polling once a second: every poll is an AWS CLI process, and torch's ranks need the CPU. A
    # stopped container gets 10 s before it is killed.
    return {**env, "STUB_EXEC": "1", "STUB_WORKDIR": str(work), "STUB_GPUS": "2", "AIINFRA_POLL_SECONDS": "1",
            "AIINFRA_STOP_GRACE_SECONDS": "10"}


_RUNNING: list[subprocess.Popen] = []


def _start(box: Sandbox, env: dict[str, str], script: Path | None = None) -> subprocess.Popen:
    """A node's boot (node.sh, or the GCP startup script) in a session of its own; whatever a failed
    test leaves running is ended by _reap (the fixtures' teardown)."""
    proc = subprocess.Popen(["bash", str(script or box.boot / "node.sh")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    _RUNNING.append(proc)
    return proc


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[str]:
    """Every node's output once all have ended; past ``timeout`` (seconds, for all) the ones still
    running are killed and the test fails with the tail of every node's output, not a cut repr."""
    deadline = time.monotonic() + timeout
    outs, late = [], []
    for proc in procs:
        try:
            outs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            outs.append(proc.communicate()[0])
            late.append(proc.pid)
    if late:
        pytest.fail(f"nodes still running after {timeout:.0f}s:\n" + "\n=====\n".join(o[-4000:] for o in outs))
    return outs


def _reap() -> None:
    while _RUNNING:
        proc = _RUNNING.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _seen(work: Path, attempt: int) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in work.glob(f"seen-{attempt}-*.json")), key=lambda s: s["rank"])


@scenario
def test_aws_two_nodes_real_torchrun_forms_one_world_of_nodes_x_gpus(aws_node):
    """`torchrun train.py` on 2 nodes x 2 GPUs forms one world of 4 with the env the boot gives."""
    port = _free_port()
    world, nodes = aws_node(desired=2, nodes=2, gpus_per_node=2, loopback=next(_LOOPBACK), master_port=port)
    job_env, work = _torch_job(nodes[0][0], steps=2, step_seconds=0.1)
    # the workload's env is the user's: rebuild the boot files with it
    cfg = world.cfg(nodes=2, gpus_per_node=2, master_port=port, env=job_env)
    procs = []
    for box, imds, env in nodes:
        (box.boot / "workload.env").write_text(boot_files(cfg)["workload.env"])
        procs.append(_start(box, _exec_node(box, imds, env, work)))
    outs = _finish(procs, 400)
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    (low, low_ip), (_, high_ip) = world.instances
    seen = _seen(work, 1)
    assert [s["rank"] for s in seen] == [0, 1, 2, 3] and {s["world"] for s in seen} == {4} and {s["sum"] for s in seen} == {4.0}
    assert [s["group_rank"] for s in seen] == [0, 0, 1, 1]  # node 0 holds global ranks 0-1, node 1 ranks 2-3
    assert {s["pet_master"] for s in seen} == {low_ip} and len({s["run"] for s in seen}) == 1
    assert json.loads((work / "step.json").read_text()) == {"step": 2}
    state = world.state()
    assert (state["status"], state["attempts"], state["coordinator"], state["members"]) == ("done", 1, low_ip, f"{low_ip} {high_ip}")
    assert world.desired() == 0 and world.job_metric("RunSucceeded") == 1


@scenario
def test_aws_two_nodes_lose_one_mid_run_and_restart_every_rank_from_the_checkpoint_as_one_attempt(aws_node):
    port = _free_port()
    world, nodes = aws_node(desired=2, nodes=2, gpus_per_node=2, loopback=next(_LOOPBACK), master_port=port)
    job_env, work = _torch_job(nodes[0][0], steps=40, step_seconds=0.25)
    cfg = world.cfg(nodes=2, gpus_per_node=2, master_port=port, env=job_env, retries=3)
    procs = {}
    for box, imds, env in nodes:
        (box.boot / "workload.env").write_text(boot_files(cfg)["workload.env"])
        procs[imds.meta["local-ipv4"]] = _start(box, _exec_node(box, imds, env, work))
    (low, low_ip), (high, high_ip) = world.instances
    deadline = time.monotonic() + 300

    def under_way() -> bool:
        return (work / "step.json").exists() and json.loads((work / "step.json").read_text())["step"] >= 3

    while time.monotonic() < deadline and not under_way():
        assert all(p.poll() is None for p in procs.values()), "a node ended before the run was under way"
        time.sleep(0.2)
    assert under_way(), "the run did not reach step 3 in 300 s"
    # The cloud takes the higher node away (its processes die with it); the group launches a replacement.
    world.asg.terminate_instance_in_auto_scaling_group(InstanceId=high, ShouldDecrementDesiredCapacity=False)
    container = nodes[1][0].state / "container.pid"
    os.killpg(procs[high_ip].pid, signal.SIGKILL)
    if container.exists():  # the container's processes go with the node
        os.killpg(int(container.read_text()), signal.SIGKILL)
    procs[high_ip].wait()
    [(new, new_ip)] = [i for i in world.refresh() if i[0] not in (low, high)]
    box, imds, env = world.add_node(new, new_ip)
    (box.boot / "workload.env").write_text(boot_files(cfg)["workload.env"])
    procs[new_ip] = _start(box, _exec_node(box, imds, env, work))
    outs = dict(zip((low_ip, new_ip), _finish([procs[low_ip], procs[new_ip]], 420)))
    assert [procs[ip].returncode for ip in (low_ip, new_ip)] == [0, 0], "\n".join(outs.values())
    first, second = _seen(work, 1), _seen(work, 2)
    assert not list(work.glob("seen-3-*.json"))  # the loss cost exactly one new attempt
    for attempt in (first, second):  # one world of 4 each time, one rank 0, on the coordinator
        assert [s["rank"] for s in attempt] == [0, 1, 2, 3] and {s["world"] for s in attempt} == {4}
        assert {s["pet_master"] for s in attempt} == {low_ip} and [s["group_rank"] for s in attempt][:2] == [0, 0]
    assert {s["start"] for s in first} == {0} and min(s["start"] for s in second) >= 3  # every rank resumed
    assert json.loads((work / "step.json").read_text()) == {"step": 40}
    state = world.state()
    assert (state["status"], state["attempts"], state["coordinator"], state["members"]) == ("done", 2, low_ip, f"{low_ip} {new_ip}")
    assert [world.job_metric(m) for m in ("RunStarted", "RunRestarted", "RunSucceeded", "RunFailed")] == [1, 1, 1, 0]
    assert f"rank: {high_ip} of attempt 1 is no longer in service" in outs[low_ip] or "ended with exit" in outs[low_ip]


def test_the_node_works_out_the_hard_stop_as_cron_does(tmp_path):
    """node.sh's next_hard_stop against aiinfra.cron for the schedules the planner writes."""
    import datetime as dt

    from aiinfra.cron import Cron

    text = (BOOT_DIR / "node.sh").read_text()
    funcs = re.search(r"^in_list\(\).*?$", text, re.M).group(0) + "\n" + re.search(r"^next_hard_stop\(\) \{.*?^\}", text, re.M | re.S).group(0)
    after = dt.datetime(2026, 12, 7, 4, 33, tzinfo=dt.timezone.utc)
    for cron in ("0 6 * * 0", "30 1 * * 1-5", "0 7 2 * *", "15 2,14 * * *", "0 0 1,15 * 3", "0 6 29 2 *", "45 23 * * 6"):
        env = _env_lines(boot_files(_aws_cfg(hard_stop_cron=cron))["workload.env"])
        script = "\n".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("AIINFRA_HARD_STOP_")) + \
            f"\n{funcs}\nnext_hard_stop {int(after.timestamp())}\n"
        got = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
        want = next(Cron.parse(cron).fires(after + dt.timedelta(minutes=1), after + dt.timedelta(days=1500)))
        assert int(got) == int(want.timestamp()), (cron, dt.datetime.fromtimestamp(int(got), dt.timezone.utc), want)
    assert subprocess.run(["bash", "-c", "AIINFRA_HARD_STOP_HOURS=''\n" + funcs + "\nnext_hard_stop 0"], capture_output=True,
                          text=True, check=True).stdout == ""  # no schedule: no hard stop


@scenario
def test_aws_watchdog_ends_the_run_before_the_clouds_hard_stop_and_records_it(aws_node):
    # The cloud's hard stop fires at the start of a minute 120-180 s from now; max_runtime is far
    # longer, so only the hard stop can bound the run: the node must stop the container (grace),
    # record the run failed (timeout), send RunFailed and scale down before it (a margin of 60 s
    # for four AWS CLI calls on a loaded machine; 120 s in production).
    stop_at = (int(time.time()) // 60 + 3) * 60
    at = datetime.fromtimestamp(stop_at, timezone.utc)
    world, [(box, imds, env)] = aws_node(max_runtime_seconds=6 * 3600, retries=3, hard_stop_cron=f"{at.minute} {at.hour} * * *")
    env = {**env, "AIINFRA_STOP_GRACE_SECONDS": "3", "AIINFRA_RECORD_MARGIN_SECONDS": "60"}
    box.run_codes("0 600")
    proc = boot(box, env, timeout=240)
    finished = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert finished < stop_at, f"recorded {finished - stop_at:.0f}s after the hard stop"
    assert "reached its deadline" in proc.stderr and [a[0] for a, _ in box.docker_calls()].count("stop") >= 1
    state = world.state()
    assert (state["status"], state["reason"], state["attempts"]) == ("failed", "timeout", 1)
    assert world.failures() == 1 and world.job_metric("RunDuration", "SampleCount") == 1 and world.desired() == 0


@scenario
def test_aws_nccl_on_sockets_with_efa_fails_the_run_fast(aws_node):
    world, [(box, imds, env)] = aws_node(interconnect="efa", efa_interfaces=2, retries=3)
    env = {**env, "STUB_OUTPUT": "ip-10-0-0-5:123:456 [0] NCCL INFO Using network Socket"}
    box.run_codes("0 120")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(box.job_runs()) == 1  # no retry: the image, not the attempt, is at fault
    state = world.state()
    assert (state["status"], state["reason"]) == ("failed", "nccl-socket")
    assert world.failures() == 1 and world.desired() == 0
    assert "NCCL chose its socket transport" in proc.stderr


@scenario
def test_aws_a_boot_that_cannot_see_its_gpus_sends_boot_failed(aws_node):
    world, [(box, imds, env)] = aws_node()
    proc = boot(box, {**env, "STUB_GPUS": "4"})  # 4 of 8 GPUs: the driver or a GPU is broken
    assert proc.returncode != 0 and "4 of 8 GPUs visible" in proc.stdout
    assert world.job_metric("BootFailed") == 1 and world.job_metric("RunStarted") == 0
    assert box.job_runs() == [] and world.state() is None
    assert "gpu: 4 of 8 GPUs visible" in (box.root / "var/log/aiinfra/boot.log").read_text()  # for the agent to ship


@scenario
def test_aws_container_output_and_boot_log_go_to_the_log_group(aws_node):
    world, [(box, imds, env)] = aws_node(log_group="/aiinfra/acme-prod/train", gpus_per_node=0)
    box.image_has_cloudwatch_agent()
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [(args, _)] = box.job_runs()
    iid = world.instances[0][0]
    opts = [args[i + 1] for i, a in enumerate(args) if a == "--log-opt"]
    assert args[args.index("--log-driver") + 1] == "awslogs"
    assert opts == ["awslogs-region=us-east-1", "awslogs-group=/aiinfra/acme-prod/train", f"awslogs-stream={iid}/aiinfra-{world.workload}"]
    # no metrics asked for, yet the agent runs: it ships the boot log (its configuration says where)
    assert (box.root / CWAGENT_CONFIG).read_text() == agents.cloudwatch_agent_json((), "/aiinfra/acme-prod/train")
    assert "shipping /var/log/aiinfra/boot.log to /aiinfra/acme-prod/train" in proc.stdout
    assert "job: run" in (box.root / "var/log/aiinfra/boot.log").read_text()
    # the agent gets its flush interval before the nodes go
    assert proc.stdout.index("logs: giving the agent 1s") < proc.stdout.index(f"group: {world.group} scaled to zero")


# ---------------------------------------------------------------- sandbox: GCP


class GcpFake:
    """The metadata server and the Compute / Storage / Monitoring JSON APIs the GCP adapter calls,
    on one 127.0.0.1 port, in their wire format (only what gcp.sh asks for; every API call must
    carry the metadata server's token)."""

    TOKEN = "test-access-token-0123"

    def __init__(self, project: str, region: str, attributes: dict[str, str]):
        self.project, self.region = project, region
        self.attributes = dict(attributes)
        self.instances: dict[str, dict] = {}  # name -> {"zone", "ip", "group", "status"}
        self.groups: dict[str, int] = {}      # MIG name -> target size
        self.objects: dict[tuple[str, str], bytes] = {}
        self.time_series: list[dict] = []
        self.me = ""
        self.maintenance_event = "NONE"  # TERMINATE_ON_HOST_MAINTENANCE: a GPU VM's hour of notice
        self.deleted_nodes: list[tuple[str, str, str]] = []  # TPU nodes deleted through the TPU API
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: bytes | str | dict = b"", ctype: str = "application/json") -> None:
                data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, message: str) -> None:
                self._send(code, {"error": {"code": code, "message": message}})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_DELETE(self):
                self._route("DELETE")

            def _route(self, method: str) -> None:
                from urllib.parse import parse_qs, unquote, urlsplit
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if url.path.startswith("/computeMetadata/v1/"):
                    if self.headers.get("Metadata-Flavor") != "Google":
                        return self._error(403, "Missing Metadata-Flavor:Google header")
                    return fake.metadata(self, url.path.removeprefix("/computeMetadata/v1/"))
                if self.headers.get("Authorization") != f"Bearer {fake.TOKEN}":
                    return self._error(401, "Request is missing required authentication credential")
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                return fake.api(self, method, parts, query, body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add_instance(self, name: str, ip: str, group: str, zone: str = "us-central1-a") -> None:
        self.instances[name] = {"zone": zone, "ip": ip, "group": group, "status": "RUNNING"}

    def metadata(self, h, path: str) -> None:
        me = self.instances[self.me]
        values = {
            "instance/id": "4242", "instance/name": self.me, "instance/network-interfaces/0/ip": me["ip"],
            "instance/zone": f"projects/1234/zones/{me['zone']}", "instance/preempted": "FALSE",
            "instance/maintenance-event": self.maintenance_event,
            "project/project-id": self.project,
            "instance/service-accounts/default/token": json.dumps(
                {"access_token": self.TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
        }
        if path.startswith("instance/attributes/"):
            key = path.removeprefix("instance/attributes/")
            return h._send(200, self.attributes[key], "application/text") if key in self.attributes else h._send(404, "")
        return h._send(200, values[path], "application/text") if path in values else h._send(404, "")

    def api(self, h, method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
        # compute/v1/projects/P/regions/R/instanceGroupManagers/G/{listManagedInstances,resize}
        if parts[:3] == ["compute", "v1", "projects"] and parts[4] == "regions" and parts[6] == "instanceGroupManagers":
            assert (parts[3], parts[5]) == (self.project, self.region), parts
            group, verb = parts[7], parts[8]
            if group not in self.groups:
                return h._error(404, f"The resource 'projects/{self.project}/regions/{self.region}/instanceGroupManagers/{group}' was not found")
            if method == "POST" and verb == "listManagedInstances":
                items = [{"instance": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{i['zone']}/instances/{n}",
                          "id": "77", "instanceStatus": i["status"], "currentAction": "NONE",
                          "version": {"instanceTemplate": "t", "name": "v1"}}
                         for n, i in self.instances.items() if i["group"] == group]
                if query.get("fields") == "managedInstances(instance,instanceStatus)":
                    items = [{"instance": i["instance"], "instanceStatus": i["instanceStatus"]} for i in items]
                return h._send(200, {"managedInstances": items} if items else {})
            if method == "POST" and verb == "resize":
                self.groups[group] = int(query["size"])
                return h._send(200, {"kind": "compute#operation", "operationType": "compute.instanceGroupManagers.resize",
                                     "status": "RUNNING"})
        # compute/v1/projects/P/zones/Z/instances/N
        if parts[:3] == ["compute", "v1", "projects"] and parts[4] == "zones" and parts[6] == "instances" and method == "GET":
            inst = self.instances.get(parts[7])
            if not inst:
                return h._error(404, "not found")
            full = {"name": parts[7], "networkInterfaces": [{"name": "nic0", "network": "n", "networkIP": inst["ip"]}]}
            if query.get("fields") == "networkInterfaces(networkIP)":
                full = {"networkInterfaces": [{"networkIP": inst["ip"]}]}
            return h._send(200, full)
        # storage/v1/b/B/o/NAME?alt=media ; upload/storage/v1/b/B/o?uploadType=media&name=NAME
        if parts[:3] == ["storage", "v1", "b"] and parts[4] == "o" and method == "GET" and query.get("alt") == "media":
            data = self.objects.get((parts[3], "/".join(parts[5:])))
            return h._send(200, data, "application/octet-stream") if data is not None else h._error(404, "No such object")
        if parts[:4] == ["upload", "storage", "v1", "b"] and parts[5] == "o" and method == "POST":
            assert query["uploadType"] == "media"
            self.objects[(parts[4], query["name"])] = body
            return h._send(200, {"kind": "storage#object", "bucket": parts[4], "name": query["name"], "size": str(len(body))})
        # Cloud TPU v2: DELETE v2/projects/P/locations/Z/nodes/N (a TPU VM deleting itself)
        if parts[:2] == ["v2", "projects"] and parts[3] == "locations" and parts[5] == "nodes" and method == "DELETE":
            self.deleted_nodes.append((parts[2], parts[4], parts[6]))
            return h._send(200, {"name": f"projects/{parts[2]}/locations/{parts[4]}/operations/op-1", "done": False})
        # v3/projects/P/timeSeries
        if parts[:2] == ["v3", "projects"] and parts[3] == "timeSeries" and method == "POST":
            self.time_series.append(json.loads(body))
            return h._send(200, {})
        return h._error(404, f"no fake for {method} {'/'.join(parts)}")

    def state(self, bucket: str, prefix: str) -> dict | None:
        data = self.objects.get((bucket, f"{prefix}/runs/latest.json"))
        return json.loads(data) if data is not None else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gcp_node(tmp_path):
    fakes: list[GcpFake] = []

    def make(run_codes: tuple[str, ...] = ("0",), **cfg_kw):
        tag = uuid.uuid4().hex[:6]
        base = dict(cloud="gcp", workload=f"wl-{tag}", kind="training", region="us-central1",
                    groups=(f"mig-{tag}-spot", f"mig-{tag}"), object_prefix=f"wl-{tag}",
                    image="us-docker.pkg.dev/acme-ml/train/trainer:1", command=("python", "train.py"),
                    gpus_per_node=8, interconnect="tcpx", env={"NOTE": "a b $c"})
        base.update(cfg_kw)
        cfg = BootConfig(**base)
        bucket = f"acme-data-{tag}"
        fake = GcpFake("acme-ml-prod", "us-central1", {**gcp_metadata(cfg), "aiinfra-data-bucket": bucket})
        fakes.append(fake)
        fake.groups = {g: 1 for g in cfg.groups}
        fake.add_instance(f"{cfg.groups[0]}-x1z2", "10.128.0.7", cfg.groups[0])
        fake.me = f"{cfg.groups[0]}-x1z2"
        box = Sandbox(tmp_path, {})
        (box.root / "etc").mkdir()
        (box.root / "etc" / "os-release").write_text("NAME=\"Container-Optimized OS\"\nID=cos\n")
        devs = box.root / "dev"
        (devs / "disk" / "by-id").mkdir(parents=True)
        for name in ("google-local-nvme-ssd-0", "google-local-nvme-ssd-1", "google-data"):
            (devs / "disk" / "by-id" / name).touch()
        for name in [f"nvidia{i}" for i in range(8)] + ["nvidia-uvm", "nvidiactl"]:
            (devs / name).touch()
        # what the TCPX plugin installer leaves on the host
        (box.root / "var" / "lib" / "tcpx" / "lib64").mkdir(parents=True)
        box.run_codes(*run_codes)
        env = box.env({"AIINFRA_GCE_METADATA": fake.url, "AIINFRA_GCP_API_BASE": fake.url})
        return cfg, bucket, fake, box, env

    yield make
    _reap()
    for f in fakes:
        f.close()


def startup(box: Sandbox, env: dict[str, str], fake: GcpFake) -> subprocess.CompletedProcess:
    """Boot as GCE does: the startup-script from the metadata, which fetches and starts node.sh."""
    script = box.root / "startup-script"
    script.write_text(fake.attributes["startup-script"])
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=90)


def _series(fake: GcpFake) -> list[dict]:
    """The time series the node wrote, one per timeSeries.create call (each writes one)."""
    out = []
    for body in fake.time_series:
        [ts] = body["timeSeries"]
        out.append(ts)
    return out


def test_gcp_tcpx_job_on_cos_runs_once_then_the_migs_go_to_zero(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(collect=("gpu", "cpu", "app"))
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the startup script wrote the metadata's files and started node.sh as a transient unit
    for name, key in (("node.sh", "aiinfra-node-sh"), ("gcp.sh", "aiinfra-gcp-sh"), ("workload.env", "aiinfra-workload-env"),
                      ("agent.yaml", "aiinfra-agent-config")):
        assert (box.root / "var/lib/aiinfra" / name).read_text() == gcp_metadata(cfg)[key]
    assert "--unit aiinfra-boot" in box.log("systemd-run.log") and "/bin/bash" in box.log("systemd-run.log")
    # COS: driver through cos-extensions, /var/lib/nvidia and /var/lib/tcpx remounted exec
    assert "install gpu" in box.log("cos-extensions.log")
    assert f"-o remount,exec {box.root}/var/lib/nvidia" in box.log("mount.log")
    assert f"-o remount,exec {box.root}/var/lib/tcpx" in box.log("mount.log")
    # local SSDs as RAID 0 on /mnt/disks/scratch, the data disk on /mnt/disks/data
    assert "--create" in box.log("mdadm.log") and "google-local-nvme-ssd-1" in box.log("mdadm.log")
    assert f"{box.root}/mnt/disks/scratch" in box.log("mounts") and f"{box.root}/mnt/disks/data" in box.log("mounts")
    calls = box.docker_calls()
    rxdm = next(a for a, _ in calls if a[0] == "run" and "receive-datapath-manager" in a)
    assert "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/tcpgpudmarxd-dev:v2.0.9" in rxdm
    plugin = "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/nccl-plugin-gpudirecttcpx-dev:v3.1.9"
    assert any(a[-3:] == [plugin, "install", "--install-nccl"] for a, _ in calls if a[0] == "run")
    assert calls.index(next(c for c in calls if c[0][-3:] == [plugin, "install", "--install-nccl"])) < \
        calls.index(next(c for c in calls if "--name" in c[0] and c[0][c[0].index("--name") + 1] == f"aiinfra-{cfg.workload}"))
    [(args, seen)] = box.job_runs()
    assert seen["AIINFRA_CHECKPOINT_URI"] == f"gs://{bucket}/{cfg.object_prefix}/checkpoints/"
    assert (seen["NODE_RANK"], seen["NNODES"], seen["MASTER_ADDR"]) == ("0", "1", "10.128.0.7")
    assert seen["NCCL_GPUDIRECTTCPX_SOCKET_IFNAME"] == "eth1,eth2,eth3,eth4"
    assert seen["NCCL_GPUDIRECTTCPX_UNIX_CLIENT_PREFIX"] == "/run/tcpx"
    assert seen["LD_LIBRARY_PATH"] == "/usr/local/tcpx/lib64:/usr/local/nvidia/lib64:/usr/local/cuda/lib64"
    assert seen["NOTE"] == "a b $c"
    assert "--device" in args and "/dev/nvidia0:/dev/nvidia0" in args and "/dev/nvidiactl:/dev/nvidiactl" in args
    assert f"{box.root}/var/lib/nvidia/lib64:/usr/local/nvidia/lib64" in args
    assert "--gpus" not in args  # COS has no NVIDIA Container Toolkit
    # Artifact Registry login with the token on stdin, never on the command line
    login = next(i for i, (a, _) in enumerate(calls) if a[0] == "login")
    assert calls[login][0][-1] == "https://us-docker.pkg.dev"
    assert (box.state / "docker" / f"{login + 1:04d}.stdin").read_text().strip() == GcpFake.TOKEN
    assert all(GcpFake.TOKEN not in " ".join(a) for a, _ in calls)
    assert fake.state(bucket, cfg.object_prefix) == {
        "run_id": seen["AIINFRA_RUN_ID"], "status": "done", "attempts": 1, "interruptions": 0,
        "coordinator": "10.128.0.7", "members": "10.128.0.7", "reason": "",
        "started_epoch": fake.state(bucket, cfg.object_prefix)["started_epoch"]}
    assert fake.groups == {g: 0 for g in cfg.groups}
    # COS runs no Ops Agent: said so, node-problem-detector started, no endpoint for the container
    assert "the Ops Agent does not run on Container-Optimized OS" in proc.stdout
    assert "agent: ERROR: the monitoring agent did not start" in proc.stdout
    assert "start node-problem-detector" in box.log("systemctl.log")
    assert not (box.root / OPS_AGENT_CONFIG).exists() and "AIINFRA_OTLP_ENDPOINT" not in seen
    # the job metrics still go to Cloud Monitoring: started, succeeded, the run's duration
    series = _series(fake)
    assert [ts["metric"]["type"] for ts in series] == [
        "custom.googleapis.com/aiinfra/run_started", "custom.googleapis.com/aiinfra/run_succeeded",
        "custom.googleapis.com/aiinfra/run_duration"]
    assert {ts["metric"]["labels"]["workload"] for ts in series} == {cfg.workload}  # metric_id None: the workload name
    assert isinstance(series[2]["points"][0]["value"]["doubleValue"], (int, float))


def test_gcp_failing_job_spends_its_retries_then_writes_the_failure_metric(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(run_codes=("3", "3"), retries=1, interconnect="", gpus_per_node=0,
                                           metric_id="acme-fraud-training")
    (box.root / "dev" / "disk" / "by-id" / "google-data").unlink()
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [seen for _, seen in box.job_runs()]
    assert [r["AIINFRA_ATTEMPT"] for r in runs] == ["1", "2"]
    assert len({r["AIINFRA_CHECKPOINT_URI"] for r in runs}) == 1 and len({r["AIINFRA_RUN_ID"] for r in runs}) == 1
    assert fake.state(bucket, cfg.object_prefix)["status"] == "failed"
    series = _series(fake)
    assert [ts["metric"]["type"].removeprefix("custom.googleapis.com/aiinfra/") for ts in series] == \
        ["run_started", "run_restarted", "run_failed", "run_duration"]
    failed = series[2]
    assert failed["metric"] == {"type": "custom.googleapis.com/aiinfra/run_failed", "labels": {"workload": "acme-fraud-training"}}
    assert failed["resource"] == {"type": "global", "labels": {"project_id": "acme-ml-prod"}}
    assert failed["points"][0]["value"] == {"int64Value": "1"}
    assert set(series[3]["points"][0]["value"]) == {"doubleValue"}
    assert fake.groups == {g: 0 for g in cfg.groups}
    assert "cos-extensions.log" not in os.listdir(box.state)  # a CPU node installs no driver


def test_gcp_container_output_goes_to_cloud_logging(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(log_group="aiinfra-train", interconnect="", gpus_per_node=0)
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [(args, _)] = box.job_runs()
    assert args[args.index("--log-driver") + 1] == "gcplogs"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--log-opt"] == \
        ["gcp-log-cmd=true", "env=AIINFRA_WORKLOAD,AIINFRA_RUN_ID,AIINFRA_ATTEMPT,NODE_RANK"]


def test_gcp_no_image_prepares_the_node_and_starts_nothing(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(image=None, kind="inference", interconnect="", gpus_per_node=1)
    fake.attributes["aiinfra-image"] = ""
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box.docker_calls() == [] and "iptables.log" not in os.listdir(box.state)
    assert "waits for your own deployment" in proc.stdout
    assert fake.groups == {g: 1 for g in cfg.groups}


def test_gcp_tcpxo_starts_the_rxdm_and_passes_the_plugins_profile(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(interconnect="tcpxo")
    lib = box.root / "var" / "lib" / "tcpxo" / "lib64"
    lib.mkdir(parents=True)
    # what the plugin installer leaves: its env profile (it reads NCCL_LIB_DIR)
    (lib / "nccl-env-profile.sh").write_text(
        'export NCCL_FASTRAK_NUM_FLOWS=2\nexport NCCL_TUNER_CONFIG_PATH="${NCCL_LIB_DIR}/a3plus_tuner_config.textproto"\n')
    (box.root / "dev" / "dmabuf_import_helper").touch()
    _aperture_devices(box, "0000:06:00.1", "0000:07:00.1")
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box.log("modprobe.log") == "import-helper\n"  # the dmabuf import helper module first
    for bdf in ("0000:06:00.1", "0000:07:00.1"):  # each NIC aperture bind-mounted, resources writable
        assert f"--bind {box.root}/sys/bus/pci/devices/{bdf} {box.root}/dev/aperture_devices/{bdf}" in box.log("mount.log")
        assert oct((box.root / "sys/bus/pci/devices" / bdf / "resource0").stat().st_mode & 0o777) == "0o666"
    assert "resource0" not in box.log("mount.log") and "0000:08:00.0" not in box.log("mount.log")  # another vendor's device
    calls = box.docker_calls()
    verbs = [(a[0], a[1] if len(a) > 1 else "") for a, _ in calls]
    rxdm = next(a for a, _ in calls if a[0] == "run" and "receive-datapath-manager" in a)
    assert "us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/tcpgpudmarxd-dev:v1.0.21" in rxdm
    assert "/dev/dmabuf_import_helper:/dev/dmabuf_import_helper" in rxdm and rxdm[-1] == "--num_hops=2"  # v1.0.20+ flags
    # the job starts only once the RxDM has said it is ready
    job = next(i for i, (a, _) in enumerate(calls) if a[0] == "run" and f"aiinfra-{cfg.workload}" in a)
    assert ("logs", "receive-datapath-manager") in verbs[:job]
    assert "tcpxo: the receive-datapath-manager is ready" in proc.stdout and "2 aperture devices" in proc.stdout
    [(args, seen)] = box.job_runs()
    assert seen["NCCL_FASTRAK_NUM_FLOWS"] == "2"
    assert seen["NCCL_TUNER_CONFIG_PATH"] == "/var/lib/tcpxo/lib64/a3plus_tuner_config.textproto"
    assert seen["NCCL_FASTRAK_IFNAME"] == "eth1,eth2,eth3,eth4,eth5,eth6,eth7,eth8"
    assert seen["LD_LIBRARY_PATH"].startswith("/var/lib/tcpxo/lib64:/usr/local/nvidia/lib64")
    assert f"{box.root}/dev/aperture_devices:/dev/aperture_devices" in args


def _aperture_devices(box: Sandbox, *bdfs: str) -> None:
    """sysfs as an A3 Mega shows it: the NICs' PCI apertures (1ae0:0084) and one other device."""
    for bdf, vendor, device in [*((b, "0x1ae0", "0x0084") for b in bdfs), ("0000:08:00.0", "0x10de", "0x2330")]:
        d = box.root / "sys/bus/pci/devices" / bdf
        d.mkdir(parents=True)
        (d / "vendor").write_text(vendor + "\n")
        (d / "device").write_text(device + "\n")
        (d / "resource0").write_text("")
        (d / "resource0").chmod(0o600)


def test_gcp_tcpxo_without_aperture_devices_fails_the_boot_loudly(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(interconnect="tcpxo")
    (box.root / "dev" / "dmabuf_import_helper").touch()
    proc = startup(box, env, fake)
    assert proc.returncode != 0 and "no PCI aperture device (1ae0:0084)" in proc.stdout
    assert box.job_runs() == []
    assert [ts["metric"]["type"] for ts in _series(fake)] == ["custom.googleapis.com/aiinfra/boot_failed"]


def test_gcp_host_maintenance_checkpoints_and_resumes_without_spending_a_retry(gcp_node):
    # retries 0: before, one maintenance event ended the month's run
    cfg, bucket, fake, box, env = gcp_node(run_codes=("0 60", "0"), retries=0, interconnect="", gpus_per_node=0)
    script = box.root / "startup-script"
    script.write_text(fake.attributes["startup-script"])
    node = _start(box, env, script)
    deadline = time.monotonic() + 60
    while not box.job_runs() and time.monotonic() < deadline and node.poll() is None:
        time.sleep(0.1)
    fake.maintenance_event = "TERMINATE_ON_HOST_MAINTENANCE"  # the hour's notice of a GPU VM
    out = node.communicate(timeout=60)[0]
    assert node.returncode == 0, out
    stop = next(a for a, _ in box.docker_calls() if a[0] == "stop")
    assert stop[:3] == ["stop", "--time", "25"]  # the container checkpoints in its grace
    state = fake.state(bucket, cfg.object_prefix)
    assert (state["status"], state["attempts"], state["interruptions"]) == ("running", 1, 1)
    assert fake.groups == {g: 1 for g in cfg.groups}  # nothing scaled down, nothing failed
    # The VM comes back from maintenance and boots again: the run resumes, no retry spent.
    fake.maintenance_event = "NONE"
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = fake.state(bucket, cfg.object_prefix)
    assert (state["status"], state["attempts"], state["interruptions"]) == ("done", 2, 1)
    assert [ts["metric"]["type"].rsplit("/", 1)[1] for ts in _series(fake)] == \
        ["run_started", "run_restarted", "run_succeeded", "run_duration"]


def test_gcp_two_nodes_real_torchrun_forms_one_world_of_nodes_x_gpus(gcp_node, tmp_path):
    port = _free_port()
    work = tmp_path / "job"
    job_env = _torch_env(work, steps=2, step_seconds=0.1)
    cfg, bucket, fake, box, env = gcp_node(nodes=2, gpus_per_node=2, interconnect="", master_port=port, env=job_env,
                                           command=("torchrun", "train.py"))
    # Two VMs in the spot MIG on loopback addresses; the second has a metadata server of its own.
    fake.instances[fake.me]["ip"] = "127.0.5.2"
    other = f"{cfg.groups[0]}-q9w8"
    fake.add_instance(other, "127.0.5.3", cfg.groups[0])
    md2 = GcpFake(fake.project, fake.region, fake.attributes)
    md2.instances = {other: fake.instances[other]}
    md2.me = other
    try:
        box2 = Sandbox(tmp_path / "vm2", {})
        shutil.copytree(box.root / "etc", box2.root / "etc")
        nodes = [(box, env, "127.0.5.2"), (box2, box2.env({"AIINFRA_GCE_METADATA": md2.url, "AIINFRA_GCP_API_BASE": fake.url}),
                                           "127.0.5.3")]
        procs = []
        for b, e, ip in nodes:
            (b.state / "ip-addr").write_text(f"1: lo    inet {ip}/8 scope host lo\n")
            script = b.root / "startup-script"
            script.write_text(fake.attributes["startup-script"])
            procs.append(_start(b, {**e, "STUB_EXEC": "1", "STUB_WORKDIR": str(work), "STUB_GPUS": "2"}, script))
        outs = _finish(procs, 400)
    finally:
        md2.close()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    seen = _seen(work, 1)
    assert [s["rank"] for s in seen] == [0, 1, 2, 3] and {s["world"] for s in seen} == {4} and {s["sum"] for s in seen} == {4.0}
    assert [s["group_rank"] for s in seen] == [0, 0, 1, 1] and {s["pet_master"] for s in seen} == {"127.0.5.2"}
    state = fake.state(bucket, cfg.object_prefix)
    assert (state["status"], state["attempts"], state["members"]) == ("done", 1, "127.0.5.2 127.0.5.3")
    assert fake.groups == {g: 0 for g in cfg.groups}


def test_gcp_rdma_on_ubuntu_installs_gib_and_uses_the_nvidia_toolkit(gcp_node):
    cfg, bucket, fake, box, env = gcp_node(interconnect="rdma", collect=agents.COLLECT)
    (box.root / "etc" / "os-release").write_text("NAME=\"Ubuntu\"\nID=ubuntu\n")
    box.image_has_ops_agent()
    (box.bin / "nvidia-ctk").write_text("#!/bin/bash\n")  # the image already has the toolkit
    (box.bin / "nvidia-ctk").chmod(0o755)
    ib = box.root / "dev" / "infiniband"
    ib.mkdir()
    for dev in ("uverbs0", "rdma_cm"):
        (ib / dev).touch()
    gib = box.root / "usr" / "local" / "gib" / "scripts"
    gib.mkdir(parents=True)
    (gib / "set_nccl_env.sh").write_text("export NCCL_NET=gIB\nexport NCCL_IB_GID_INDEX=3\n")
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = box.docker_calls()
    install = next(a for a, _ in calls if a[0] == "run" and "install" in a)
    assert "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.1.2@sha256:" \
           "b71627dcf88862cd0e64434dfd0224441960db58f2022f94b5f56123659c207e" in install
    assert f"{box.root}/usr/local/gib:/var/lib/gib" in install
    [(args, seen)] = box.job_runs()
    assert (seen["NCCL_NET"], seen["NCCL_IB_GID_INDEX"]) == ("gIB", "3")
    assert seen["LD_LIBRARY_PATH"] == "/usr/local/gib/lib64:/usr/local/cuda/lib64"
    assert args[args.index("--gpus") + 1] == "all"  # not COS: the NVIDIA Container Toolkit
    assert "/dev/infiniband/uverbs0" in args and "/dev/infiniband/rdma_cm" in args
    assert "cos-extensions.log" not in os.listdir(box.state)
    # the Ops Agent: the rendered configuration at its documented path, the agent restarted with
    # it before the container, and the container told where its OTLP receiver is
    assert (box.root / OPS_AGENT_CONFIG).read_text() == agents.ops_agent_yaml(agents.COLLECT) == \
        gcp_metadata(cfg)["aiinfra-agent-config"]
    assert "restart google-cloud-ops-agent" in box.log("systemctl.log")
    assert proc.stdout.index("agent: collecting") < proc.stdout.index("docker: pulled")
    assert seen["AIINFRA_OTLP_ENDPOINT"] == f"http://127.0.0.1:{agents.OTLP_PORT}"


# ---------------------------------------------------------------- image integrity (digest, signature)

DIGEST = "sha256:" + "b" * 64
PEM_KEY = ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2Hc6dN3sYy9Fq1d2mXxwQm0c0b8l\n"
           "b3Zr0Q8V4y3JqkqJ1eQ5r6e0Tt1o7Hc9tD0s2H5w8bq7m1zY3gP4x7sQ==\n-----END PUBLIC KEY-----\n")
# A stand-in for the cosign release: records its argv, its environment and how many docker calls came
# before it; prints what `cosign verify` prints on success (the verified payloads, JSON), or fails.
FAKE_COSIGN = r'''#!/bin/bash
d="$STUB_STATE/cosign"; mkdir -p "$d"
printf '%s\0' "$@" >"$d/argv"; env -0 >"$d/env"
ls "$STUB_STATE/docker" 2>/dev/null | grep -c '\.argv$' >"$d/docker-calls-before"
if [[ -n "${STUB_COSIGN_FAIL:-}" ]]; then
  echo "Error: no matching signatures: invalid signature when validating ASN.1 encoded signature" >&2
  exit 1
fi
printf '[{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},' "${!#}" "$STUB_COSIGN_DIGEST"
printf '"type":"cosign container image signature"},"optional":null}]\n'
'''


def _cosign_release(box: Sandbox, env: dict[str, str], pinned: bool = False, **extra: str) -> dict[str, str]:
    """Serve FAKE_COSIGN as the download (a file:// URL); with ``pinned`` the node checks it against
    the real published sha256 (which it does not match), else against the fake's own."""
    import hashlib

    release = box.state.parent / "cosign-release"
    release.write_text(FAKE_COSIGN)
    env = {**env, "AIINFRA_COSIGN_URL": release.as_uri(), "STUB_COSIGN_DIGEST": DIGEST, **extra}
    if not pinned:
        env["AIINFRA_COSIGN_SHA256"] = hashlib.sha256(release.read_bytes()).hexdigest()
    return env


def _cosign_call(box: Sandbox) -> tuple[list[str], dict[str, str], int]:
    d = box.state / "cosign"
    argv = (d / "argv").read_bytes().decode().split("\0")[:-1]
    env = dict(e.split("=", 1) for e in (d / "env").read_bytes().decode().split("\0") if "=" in e)
    return argv, env, int((d / "docker-calls-before").read_text())


def test_node_pins_the_cosign_release_by_its_published_checksums():
    # the sums of cosign_checksums.txt of v3.0.6, as sigstore/cosign-installer's action.yml pins them
    text = (BOOT_DIR / "image.sh").read_text()
    assert 'COSIGN_VERSION="v3.0.6"' in text
    assert 'COSIGN_SHA256_AMD64="c956e5dfcac53d52bcf058360d579472f0c1d2d9b69f55209e256fe7783f4c74"' in text
    assert 'COSIGN_SHA256_ARM64="bedac92e8c3729864e13d4a17048007cfafa79d5deca993a43a90ffe018ef2b8"' in text
    assert "releases/download/${COSIGN_VERSION}/cosign-linux-${arch}" in text


@scenario
def test_aws_image_pinned_by_digest_at_deploy_time_is_pulled_and_run_by_that_digest(aws_node):
    world, [(box, imds, env)] = aws_node(image=None)
    image = f"public.ecr.aws/acme/train@{DIGEST}"
    imds.tags["aiinfra-image"] = image
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = [a for a, _ in box.docker_calls()]
    assert ["pull", "--quiet", image] in calls
    [(args, _)] = box.job_runs()
    assert args[-3:] == [image, "torchrun", "train.py"]
    assert "cosign" not in os.listdir(box.state)  # no signing key: no signature check


@scenario
def test_aws_signed_image_is_verified_with_the_pem_key_and_runs_by_the_verified_digest(aws_node):
    world, [(box, imds, env)] = aws_node(image=ECR_IMAGE, signing_key=PEM_KEY)
    env = _cosign_release(box, env)
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv, cosign_env, docker_before = _cosign_call(box)
    key_file = box.root / "var/lib/aiinfra/signing-key.pub"
    assert argv == ["verify", "--key", str(key_file), "--output", "json", ECR_IMAGE]
    assert key_file.read_text() == PEM_KEY
    # cosign runs after the ECR login, with the same docker config (root's home) docker wrote it to
    calls = box.docker_calls()
    assert [a[0] for a, _ in calls[:docker_before]].count("login") == 1
    assert cosign_env["HOME"] == calls[0][1]["HOME"] and "DOCKER_CONFIG" not in cosign_env
    verified = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/train@{DIGEST}"
    assert ["pull", "--quiet", verified] in [a for a, _ in calls]
    assert ["pull", "--quiet", ECR_IMAGE] not in [a for a, _ in calls]  # never the tag
    [(args, _)] = box.job_runs()
    assert args[-3:] == [verified, "torchrun", "train.py"]
    assert (box.root / "var/lib/aiinfra/bin/cosign-v3.0.6").exists()
    assert world.state()["status"] == "done"


def _unverified_fails_the_run(pinned: bool) -> Callable:
    def body(aws_node):
        world, [(box, imds, env)] = aws_node(signing_key=f"awskms:///arn:aws:kms:us-east-1:123456789012:key/{'1' * 8}")
        env = _cosign_release(box, env, pinned=pinned, STUB_COSIGN_FAIL="" if pinned else "1")
        box.run_codes("0")
        proc = boot(box, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert box.job_runs() == [] and "pull" not in [a[0] for a, _ in box.docker_calls()]
        if pinned:  # the download is not the published build: deleted, never run
            assert "the published one is c956e5df" in proc.stdout or "the published one is bedac92e" in proc.stdout
            assert "cosign" not in os.listdir(box.state) and not list((box.root / "var/lib/aiinfra/bin").iterdir())
        else:
            argv, _, _ = _cosign_call(box)
            assert argv[:3] == ["verify", "--key", f"awskms:///arn:aws:kms:us-east-1:123456789012:key/{'1' * 8}"]  # as is
            assert "is not signed by the workload's key" in proc.stdout
        # the training-failure path: the run recorded failed, the failure metric, the group at zero
        assert world.state()["status"] == "failed" and world.failures() == 1 and world.desired() == 0

    kind = "a_cosign_download_that_is_not_the_published_build" if pinned else "a_failed_verification"
    body.__name__ = f"test_aws_{kind}_fails_the_run_and_never_starts_the_container"
    return scenario(body)


test_aws_a_failed_verification_fails_the_run_and_never_starts_the_container = _unverified_fails_the_run(False)
test_aws_a_cosign_download_that_is_not_the_published_build_fails_the_run_and_never_starts_the_container = \
    _unverified_fails_the_run(True)


@scenario
def test_aws_inference_with_an_image_that_does_not_verify_does_not_serve(aws_node):
    world, [(box, imds, env)] = aws_node(kind="inference", command=(), gpus_per_node=1, signing_key=PEM_KEY,
                                         image="public.ecr.aws/acme/serve:2")
    env = _cosign_release(box, env, STUB_COSIGN_FAIL="1")
    proc = boot(box, env)
    assert proc.returncode != 0  # systemd starts the boot again; nothing serves meanwhile
    assert "inference: not serving: cosign: public.ecr.aws/acme/serve:2 is not signed" in proc.stdout
    assert [a for a, _ in box.docker_calls() if a[0] in ("run", "pull")] == []


def test_gcp_cos_node_verifies_with_the_cloud_kms_key_and_runs_the_verified_digest(gcp_node):
    key = "gcpkms://projects/acme-ml-prod/locations/us-central1/keyRings/signing/cryptoKeys/images"
    cfg, bucket, fake, box, env = gcp_node(signing_key=key, interconnect="", gpus_per_node=0)
    env = _cosign_release(box, env)
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv, cosign_env, docker_before = _cosign_call(box)
    assert argv == ["verify", "--key", key, "--output", "json", cfg.image]  # cosign reads it with the service account
    # the Artifact Registry login went first, into the docker config cosign reads (COS: under /var)
    assert "login" in [a[0] for a, _ in box.docker_calls()[:docker_before]]
    assert cosign_env["DOCKER_CONFIG"] == str(box.root / "var/lib/aiinfra/docker")
    assert f"-o remount,exec {box.root}/var/lib/aiinfra/bin" in box.log("mount.log")  # /var is noexec on COS
    [(args, _)] = box.job_runs()
    assert args[-3:] == [f"us-docker.pkg.dev/acme-ml/train/trainer@{DIGEST}", "python", "train.py"]
    assert fake.state(bucket, cfg.object_prefix)["status"] == "done"


def test_the_signature_check_travels_only_with_a_signing_key():
    assert "image.sh" not in boot_files(_aws_cfg()) and "aiinfra-image-sh" not in gcp_metadata(_gcp_cfg())
    signed = _aws_cfg(signing_key=PEM_KEY)
    assert boot_files(signed)["image.sh"] == (BOOT_DIR / "image.sh").read_text()
    doc = yaml.safe_load(aws_user_data(signed))
    [script] = [f for f in doc["write_files"] if f["path"] == "/opt/aiinfra/image.sh"]
    assert script["content"] == compact_script((BOOT_DIR / "image.sh").read_text())
    assert doc["write_files"][-1]["path"] == "/etc/systemd/system/aiinfra-boot.service"
    key = "gcpkms://projects/acme-ml-prod/locations/us-central1/keyRings/signing/cryptoKeys/images"
    assert gcp_metadata(_gcp_cfg(signing_key=key))["aiinfra-image-sh"] == (BOOT_DIR / "image.sh").read_text()
    # with every agent section and the check, EC2's limit still leaves room for the user's command and env
    assert len(aws_user_data_gzip(_aws_cfg(signing_key=PEM_KEY, collect=agents.COLLECT, metric_id="acme-train-asg"))) <= 14 * 1024


# ---------------------------------------------------------------- Neuron (AWS) and TPU VM (GCP) nodes


NEURON_IMAGE = "public.ecr.aws/neuron/pytorch-training-neuronx:2.1.2-neuronx-py310-sdk2.20.0-ubuntu20.04"


def _neuron_devices(box: Sandbox, count: int) -> None:
    (box.root / "dev").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (box.root / "dev" / f"neuron{i}").touch()


@scenario
def test_aws_neuron_node_runs_the_container_with_its_neuron_devices_and_no_nvidia_runtime(aws_node):
    world, [(box, imds, env)] = aws_node(accelerator_runtime="neuron", gpus_per_node=2, procs_per_node=4, interconnect="efa",
                                         efa_interfaces=2, image=NEURON_IMAGE)
    _neuron_devices(box, 2)
    (box.root / "dev" / "infiniband").mkdir(parents=True)
    (box.root / "dev" / "infiniband" / "uverbs0").touch()
    (box.state / "ip-addr").write_text(f"2: ens5    inet {world.instances[0][1]}/24 brd 10.0.0.255 scope global ens5\n")
    # Neuron's collectives are not NCCL: a line NCCL would print on sockets ends nothing here
    env = {**env, "STUB_OUTPUT": "ip-10-0-0-5:123:456 [0] NCCL INFO Using network Socket", "STUB_GPUS": "0"}
    box.run_codes("0")
    proc = boot(box, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "neuron: 2 Neuron devices visible" in proc.stdout and "GPUs visible" not in proc.stdout
    [(args, seen)] = box.job_runs()
    # each Neuron device as the Neuron container guide passes it; no NVIDIA runtime, no GPU devices
    assert [a for a in args if a.startswith("--device=")] == ["--device=/dev/neuron0", "--device=/dev/neuron1"]
    assert "--gpus" not in args and "--runtime" not in args and not any("nvidia" in a for a in args)
    assert ["--device", "/dev/infiniband/uverbs0"] == args[args.index("/dev/infiniband/uverbs0") - 1:][:2]
    # Neuron's multi-node environment over EFA, the host's EFA libraries (no aws-ofi-nccl plugin)
    assert (seen["FI_PROVIDER"], seen["FI_EFA_USE_DEVICE_RDMA"]) == ("efa", "1")
    assert seen["LD_LIBRARY_PATH"] == "/opt/amazon/efa/lib:/usr/local/cuda/lib64"
    assert "NCCL_DEBUG" not in seen  # no NCCL transport check on Neuron
    # the torchrun contract unchanged, one process a NeuronCore (2 devices x 2 cores)
    ip = world.instances[0][1]
    assert (seen["PET_NNODES"], seen["PET_NPROC_PER_NODE"], seen["WORLD_SIZE"], seen["GPUS_PER_NODE"]) == ("1", "4", "4", "2")
    assert (seen["MASTER_ADDR"], seen["PET_MASTER_ADDR"]) == (ip, ip)
    assert world.state()["status"] == "done" and world.desired() == 0
    assert world.job_metric("RunSucceeded") == 1 and world.failures() == 0


@scenario
def test_aws_neuron_node_missing_a_device_fails_its_boot_loudly(aws_node):
    world, [(box, imds, env)] = aws_node(accelerator_runtime="neuron", gpus_per_node=2, procs_per_node=4)
    _neuron_devices(box, 1)
    proc = boot(box, env)
    assert proc.returncode != 0 and "gpu: 1 of 2 Neuron devices visible" in proc.stdout
    assert world.job_metric("BootFailed") == 1 and box.job_runs() == []


def test_bootconfig_keeps_neuron_on_aws_and_tpu_on_gcp_single_node_batch():
    with pytest.raises(ValueError, match="accelerator_runtime 'neuron' is not available on gcp"):
        _gcp_cfg(accelerator_runtime="neuron", interconnect="")
    with pytest.raises(ValueError, match="accelerator_runtime 'tpu' runs training / data_processing only"):
        _gcp_cfg(accelerator_runtime="tpu", kind="inference", groups=("n",))
    with pytest.raises(ValueError, match="nodes must be 1 and groups the node's name"):
        _gcp_cfg(accelerator_runtime="tpu", nodes=2)
    with pytest.raises(ValueError, match="collect 'gpu' and dcgm read NVIDIA's NVML"):
        _aws_cfg(accelerator_runtime="neuron", collect=("gpu",))
    env = _env_lines(boot_files(_aws_cfg(accelerator_runtime="neuron", gpus_per_node=16, procs_per_node=32))["workload.env"])
    assert (env["AIINFRA_ACCELERATOR_RUNTIME"], env["AIINFRA_PROCS_PER_NODE"]) == ("neuron", "32")
    env = _env_lines(boot_files(_aws_cfg())["workload.env"])  # a GPU node: NVIDIA's runtime, one process a GPU
    assert (env["AIINFRA_ACCELERATOR_RUNTIME"], env["AIINFRA_PROCS_PER_NODE"]) == ("cuda", "8")


def test_gcp_tpu_vm_runs_the_container_privileged_on_the_host_network_then_deletes_itself(gcp_node):
    tag = uuid.uuid4().hex[:6]
    cfg, bucket, fake, box, env = gcp_node(accelerator_runtime="tpu", groups=(f"tpu-{tag}",), interconnect="", gpus_per_node=8)
    # a TPU VM runs its TPU software version's Ubuntu with Docker (not COS) and has no NVIDIA device
    (box.root / "etc" / "os-release").write_text("NAME=\"Ubuntu\"\nID=ubuntu\n")
    for dev in (box.root / "dev").glob("nvidia*"):
        dev.unlink()
    proc = startup(box, env, fake)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tpu: 8 TPU chips on this TPU VM" in proc.stdout
    [(args, seen)] = box.job_runs()
    # as Google's "Run TPU workloads in a Docker container": privileged, host network
    assert "--privileged" in args and args[args.index("--network") + 1] == "host"
    assert "--gpus" not in args and not any("nvidia" in a for a in args)
    assert "install gpu" not in box.log("cos-extensions.log") and "nvidia" not in box.log("systemctl.log")
    assert (seen["PET_NNODES"], seen["PET_NPROC_PER_NODE"], seen["WORLD_SIZE"], seen["MASTER_ADDR"]) == ("1", "8", "8", "10.128.0.7")
    assert "NCCL_DEBUG" not in seen
    # the run record and metrics as on any node; at the end the node deletes itself through the TPU API
    assert fake.state(bucket, cfg.object_prefix)["status"] == "done"
    assert fake.deleted_nodes == [("acme-ml-prod", "us-central1-a", f"tpu-{tag}")]
    assert f"tpu: node tpu-{tag} deleted (us-central1-a)" in proc.stdout
    assert [ts["metric"]["type"] for ts in _series(fake)][:2] == ["custom.googleapis.com/aiinfra/run_started",
                                                                   "custom.googleapis.com/aiinfra/run_succeeded"]
