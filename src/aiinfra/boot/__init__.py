"""Boot configuration of a workload's nodes, the same on both clouds.

``aws_user_data(cfg)`` renders a ``#cloud-config`` document (EC2 user data) and ``gcp_metadata(cfg)``
the instance metadata (``startup-script`` and the files it fetches). Both install the same
files: ``node.sh`` (the common boot and job wrapper), the cloud adapter ``aws.sh`` / ``gcp.sh`` (same
function names in both), ``workload.env`` (``KEY=value`` lines rendered from the typed
``BootConfig``) and, with ``collect``, the monitoring agent's configuration. The scripts are files
in this package; Python only quotes values into ``workload.env``. Nothing secret goes into either:
the node's role / service account does the rest.

Example::

    from aiinfra.boot import BootConfig, aws_user_data_gzip, IMAGES

    cfg = BootConfig(cloud="aws", workload="fraud-detection-training", kind="training",
                     region="us-east-1", groups=("acme-train",), object_prefix="fraud-detection-training",
                     image="nvcr.io/nvidia/pytorch:24.08-py3", command=("torchrun", "train.py"),
                     gpus_per_node=8, nodes=2, interconnect="efa", efa_interfaces=4, retries=3,
                     max_runtime_seconds=86400)
    user_data = aws_user_data_gzip(cfg)     # the launch template's user data (base64 it)
    image = IMAGES["aws-gpu"]["ssm_parameter"]

Two values are known only at apply time and are read at boot from the instance's metadata (AWS:
instance tags through IMDS, with ``instance_metadata_tags`` on; GCP: instance metadata attributes):
``aiinfra-data-bucket`` (always: the data bucket's name) and ``aiinfra-image`` (only when
``BootConfig.image`` is None; an empty value means "no image": the node is prepared and waits for
the user's own deployment).

What the container sees: ``AIINFRA_WORKLOAD``, ``AIINFRA_RUN_ID``, ``AIINFRA_ATTEMPT``,
``AIINFRA_CHECKPOINT_URI`` (``s3://`` / ``gs://<bucket>/<object_prefix>/checkpoints/``),
``AIINFRA_DATA_URI`` (``.../<object_prefix>/data/``), ``AIINFRA_SCRATCH`` (``/scratch``, the local
NVMe), ``AIINFRA_DATA_DIR`` (``/data``, when a data volume is attached), for training /
data_processing torchrun's ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``,
``PET_MASTER_ADDR``, ``PET_MASTER_PORT`` and the generic ``MASTER_ADDR``, ``MASTER_PORT``,
``NODE_RANK``, ``NNODES``, ``GPUS_PER_NODE``, ``WORLD_SIZE``, ``NCCL_SOCKET_IFNAME`` /
``GLOO_SOCKET_IFNAME``, the user's ``env`` and the interconnect's settings. A run's record is
``<object_prefix>/runs/latest.json`` in the data bucket, written by the run's coordinator only:
``{"run_id", "started_epoch", "status": running|done|failed, "attempts", "interruptions",
"coordinator", "members", "reason"}`` (docs/boot.md: how membership, ranks and restarts work).

Image integrity: an image given as ``<repo>@sha256:<digest>`` (in ``BootConfig.image`` or in
``aiinfra-image``) is pulled and run by that digest. With ``BootConfig.signing_key`` the node first
checks the image's signature with cosign (the pinned release, checked against its published sha256)
and pulls and runs ``<repo>@<the digest cosign verified>``; an image that cannot be verified or
pulled ends a training / data_processing run as failed (the run-failed metric, groups scaled to
zero) and keeps an inference node from serving.

Monitoring (``BootConfig.collect``, ``aiinfra.observability.agents``): after the drivers and before
the container, the node starts its monitoring agent (the CloudWatch agent / the Ops Agent, installed
when the image lacks it) with the configuration rendered into the boot files (``agent.json`` /
``agent.yaml``); a node whose agent cannot start logs it and runs the workload all the same. With
"app" collected the container also sees ``AIINFRA_STATSD_ADDR`` (AWS) or ``AIINFRA_OTLP_ENDPOINT``
(GCP). Rank 0 of a training / data_processing run publishes the job metrics
(``agents.JOB_METRICS``: run started / succeeded / failed / restarted, run duration) for
``BootConfig.metric_id``, best effort.

Images, as the providers document them for each flavour (``IMAGES``, so the constructs pick the
same ones): see the table's ``source`` for each row.
"""

from __future__ import annotations

import functools
import gzip
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from aiinfra.observability import agents
from aiinfra.spec.models import SIGNING_KEY_RE

__all__ = ["BootConfig", "IMAGES", "RUNTIMES", "TPU_RUNTIME_VERSIONS", "aws_user_data", "aws_user_data_gzip", "boot_files", "compact_script", "gcp_metadata"]

# Boot images per flavour. AWS rows name the public SSM parameter holding the current AMI id;
# GCP rows an image family. ``source`` is the page the fact is taken from.
IMAGES: dict[str, dict[str, str]] = {
    # Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04): NVIDIA driver, docker, NVIDIA
    # Container Toolkit, EFA, aws-ofi-nccl; instance store mounted on /opt/dlami/nvme.
    "aws-gpu": {
        "ssm_parameter": "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id",
        "source": "https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html "
                  "https://docs.aws.amazon.com/dlami/latest/devguide/aws-deep-learning-ami-gpubaseoss-ul2204-2026-02-03.html",
    },
    # Deep Learning Base Neuron AMI (Ubuntu 24.04), for Inferentia2 / Trainium / Trainium2 (inf2, trn1,
    # trn1n, trn2): the Neuron driver, EFA and the Neuron tools (neuron-ls, neuron-monitor), no NVIDIA
    # driver, CUDA or NVIDIA Container Toolkit; "Base DLAMIs: Include only Neuron drivers, EFA, and
    # tools - ideal for containerized applications". The SSM parameter prefix is the guide's table row
    # "Deep Learning Base Neuron AMI (Ubuntu 24.04)"; <prefix>/latest/image_id as its get-parameter example.
    "aws-neuron": {
        "ssm_parameter": "/aws/service/neuron/dlami/base/ubuntu-24.04/latest/image_id",
        "source": "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/dlami/index.html "
                  "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/deploy/environments/dlami.html",
    },
    # Amazon Linux 2023: AWS CLI v2 installed, docker installed at boot with dnf.
    "aws-cpu": {
        "ssm_parameter": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "source": "https://docs.aws.amazon.com/linux/al2023/ug/ec2.html",
    },
    # Deep Learning VM, base image with CUDA 12.8 and driver 570, for GPU shapes without GPUDirect.
    "gcp-gpu": {
        "image": "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570",
        "source": "https://cloud.google.com/deep-learning-vm/docs/images",
    },
    # A3 High with GPUDirect-TCPX: the VM guide uses Container-Optimized OS (cos-extensions driver).
    "gcp-tcpx": {
        "image": "projects/cos-cloud/global/images/family/cos-stable",
        "source": "https://cloud.google.com/compute/docs/gpus/gpudirect",
    },
    # A3 Mega with GPUDirect-TCPXO: Container-Optimized OS, as for TCPX.
    "gcp-tcpxo": {
        "image": "projects/cos-cloud/global/images/family/cos-stable",
        "source": "https://docs.cloud.google.com/cluster-toolkit/docs/machine-learning/a3-mega-enable-gpudirect-tcpxo",
    },
    # A3 Ultra with GPUDirect RDMA (gIB): the Ubuntu accelerator image with the NVIDIA driver.
    "gcp-rdma": {
        "image": "projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2204-amd64-with-nvidia-570",
        "source": "https://docs.cloud.google.com/ai-hypercomputer/docs/create/create-vm",
    },
    # CPU nodes: Container-Optimized OS (docker, no package manager; the adapter uses curl only).
    "gcp-cpu": {
        "image": "projects/cos-cloud/global/images/family/cos-stable",
        "source": "https://cloud.google.com/container-optimized-os/docs/concepts/features-and-benefits",
    },
}

# TPU VM software versions ("runtime version") for PyTorch and JAX, per TPU generation: the
# software preinstalled on the TPU VM (Ubuntu, Docker, the TPU driver); the framework comes in the
# container. Keyed by the catalog's canonical TPU name. https://cloud.google.com/tpu/docs/runtimes
TPU_RUNTIME_VERSIONS = {"TPU-v6e": "v2-alpha-tpuv6e", "TPU-v5p": "v2-alpha-tpuv5", "TPU-v5e": "v2-alpha-tpuv5-lite"}
TPU_RUNTIME_SOURCE = "https://cloud.google.com/tpu/docs/runtimes"

CLOUDS = ("aws", "gcp")
KINDS = ("training", "inference", "data_processing")
# The accelerator's software stack on the node (WorkloadPlan.accelerator_runtime): "" or "cuda"
# (NVIDIA GPUs, or none), "neuron" (AWS Inferentia / Trainium), "tpu" (Google Cloud TPU VMs).
RUNTIMES = {"": CLOUDS, "cuda": CLOUDS, "neuron": ("aws",), "tpu": ("gcp",)}
INTERCONNECTS = {"": CLOUDS, "efa": ("aws",), "tcpx": ("gcp",), "tcpxo": ("gcp",), "rdma": ("gcp",)}
# Names the node sets itself; the user's env may not shadow them.
CONTRACT_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT", "MASTER_ADDR",
                "MASTER_PORT", "NODE_RANK", "NNODES", "GPUS_PER_NODE", "WORLD_SIZE", "LD_LIBRARY_PATH")
# EC2 accepts at most 16 KB of user data before base64 (aws_user_data_gzip sends it compressed).
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html
AWS_USER_DATA_LIMIT = 16 * 1024

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORKLOAD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_METRIC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_SIGNING_KEY = re.compile(SIGNING_KEY_RE)
# CloudWatch Logs group names (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html);
# Cloud Logging log ids take a subset of these (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry: logName).
_LOG_GROUP = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")
# The KMS a cosign key URI names, and the cloud whose node identity can read it.
_KMS_CLOUD = {"awskms://": "aws", "gcpkms://": "gcp"}
# The agent configuration among the boot files (written to the agent's own path at boot).
AGENT_CONFIG = {"aws": "agent.json", "gcp": "agent.yaml"}


def _choice(field: str, value: str, allowed) -> str:
    allowed = [a for a in allowed]
    shown = ", ".join(repr(a) for a in allowed)
    import difflib  # only bad input needs it

    hint = difflib.get_close_matches(str(value), [a for a in allowed if a], n=1)
    tail = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"{field} must be one of {shown}, got {value!r}{tail}"


@dataclass(frozen=True)
class BootConfig:
    """Typed inputs of one workload's node boot.

    Args:
        cloud: ``"aws"`` or ``"gcp"``.
        workload: the workload's name (``AIINFRA_WORKLOAD``, the log prefix, the metric's job name).
        kind: ``"training"``, ``"inference"`` or ``"data_processing"``.
        region: the groups' region.
        groups: AWS: the Auto Scaling group's name; GCP: the workload's regional MIGs (spot and
            on-demand). Rank 0 scales every one of them to zero when a run is over.
        object_prefix: the workload's folder in the data bucket (run records, checkpoints, data).
        image: the container image; None: read at boot from the metadata key ``aiinfra-image``
            (empty there: the node is prepared and nothing is started).
        command: replaces the image's command when non-empty.
        env: the user's plain values (never secrets), as ``(name, value)`` pairs or a mapping.
        port: inference: the container's port, published on the host at the same port.
        health_check_path: inference: logged once the server answers it.
        gpus_per_node: 0 for CPU nodes (no GPU options are passed to docker).
        nodes: nodes per run; more than 1 is a multi-node run (one coordinator, rank 0, fixes each
            attempt's members and ranks in the run record: docs/boot.md).
        interconnect: ``""``, ``"efa"`` (AWS), ``"tcpx"`` (A3 High), ``"tcpxo"`` (A3 Mega) or
            ``"rdma"`` (A3 Ultra).
        efa_interfaces: EFA interfaces per node (with ``interconnect="efa"``).
        retries: restarts of a run after a failure or a lost node (attempts = retries + 1).
        max_runtime_seconds: node-side watchdog of one run, counted from the run's start (0: none).
            It is also the window in which a recorded run is current: a reboot inside it resumes
            the run, a finished run inside it is not started again. Without it the window is a day.
        project: GCP project id; None: read from the metadata server.
        master_port: ``MASTER_PORT`` of multi-node runs.
        collect: metric groups the node's monitoring agent collects (``agents.COLLECT``); empty:
            no agent is started.
        metric_id: the identity of the job metrics (AWS: the Auto Scaling group's name, their
            ``AutoScalingGroupName`` dimension; GCP: the workload's resource name, their
            ``workload`` label); None: the workload name.
        dcgm: GCP: the Ops Agent also reads DCGM (with "gpu" collected; only where DCGM runs,
            ``agents.dcgm_in_image``).
        signing_key: the cosign key the image's signature is verified with before the container
            starts: a PEM public key, ``awskms:///<key or alias ARN>`` (AWS nodes) or
            ``gcpkms://projects/.../cryptoKeys/<key>[/cryptoKeyVersions/<n>]`` (GCP nodes), read
            with the node's identity (``signing_key_arns`` / ``signing_key_ids`` in
            ``aiinfra.boot.workload`` give the keys to grant); None: no signature check.
        hard_stop_cron: training / data_processing: the cloud's hard stop of scheduled runs (the
            planner's ``stop_schedule``, five-field cron in UTC). The node works out its next firing
            and ends the run itself (watchdog, checkpoint grace, run record, RunFailed) strictly
            before the cloud scales the group to zero. None: runs are started by hand only.
        log_group: where the container's output goes, so it outlives the node: AWS, the CloudWatch
            Logs group (docker's ``awslogs`` driver; the agent ships the boot log there too); GCP,
            the Cloud Logging log name (docker's ``gcplogs`` driver). None: the node's journal only.
        accelerator_runtime: the accelerator's software stack (``RUNTIMES``): ``""`` / ``"cuda"``
            (NVIDIA: ``nvidia-smi`` counts the GPUs, the NVIDIA runtime gives them to the
            container, NCCL's transport is checked), ``"neuron"`` (AWS: the Neuron devices
            ``/dev/neuron*`` are counted and passed with ``--device``, no NVIDIA runtime, no NCCL
            check) or ``"tpu"`` (GCP TPU VMs: one node a run, the container privileged on the
            host network as Google documents; at the run's end the node deletes itself through
            the TPU API instead of resizing a group). ``gpus_per_node`` counts its chips.
        procs_per_node: processes a node runs (``PET_NPROC_PER_NODE``, ``WORLD_SIZE`` = nodes x
            this); 0: ``gpus_per_node`` (one a GPU). Neuron runs one a NeuronCore.
    """

    cloud: str
    workload: str
    kind: str
    region: str
    groups: tuple[str, ...]
    object_prefix: str
    image: str | None = None
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    port: int = 8080
    health_check_path: str = "/health"
    gpus_per_node: int = 0
    nodes: int = 1
    interconnect: str = ""
    efa_interfaces: int = 0
    retries: int = 0
    max_runtime_seconds: int = 0
    project: str | None = None
    master_port: int = 29500
    collect: tuple[str, ...] = ()
    metric_id: str | None = None
    dcgm: bool = False
    signing_key: str | None = None
    hard_stop_cron: str | None = None
    log_group: str | None = None
    accelerator_runtime: str = ""
    procs_per_node: int = 0

    def __post_init__(self) -> None:
        # Lists and mappings are accepted for convenience; the config keeps tuples (hashable).
        if isinstance(self.groups, (list, str)):
            object.__setattr__(self, "groups", (self.groups,) if isinstance(self.groups, str) else tuple(self.groups))
        if isinstance(self.command, (list, str)):
            object.__setattr__(self, "command", (self.command,) if isinstance(self.command, str) else tuple(self.command))
        if isinstance(self.collect, (list, str)):
            object.__setattr__(self, "collect", (self.collect,) if isinstance(self.collect, str) else tuple(self.collect))
        if isinstance(self.env, Mapping):
            object.__setattr__(self, "env", tuple(self.env.items()))
        elif isinstance(self.env, list):
            object.__setattr__(self, "env", tuple(tuple(pair) for pair in self.env))
        problems = self._problems()
        if problems:
            raise ValueError("invalid BootConfig: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        p: list[str] = []
        if self.cloud not in CLOUDS:
            p.append(_choice("cloud", self.cloud, CLOUDS))
        if self.kind not in KINDS:
            p.append(_choice("kind", self.kind, KINDS))
        if not isinstance(self.workload, str) or not _WORKLOAD.match(self.workload):
            p.append(f"workload must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {self.workload!r}")
        if not isinstance(self.region, str) or not _REGION.match(self.region):
            p.append(f"region must look like 'us-east-1' or 'us-central1', got {self.region!r}")
        if not self.groups:
            p.append("groups must name at least one group")
        for g in self.groups:
            if not isinstance(g, str) or not _GROUP.match(g):
                p.append(f"groups entries must be letters, digits, '.', '_' or '-', got {g!r}")
        if len(set(self.groups)) != len(self.groups):
            p.append(f"groups must not repeat a name, got {self.groups!r}")
        if not isinstance(self.object_prefix, str) or not _PREFIX.match(self.object_prefix):
            p.append("object_prefix must be one or more '/'-separated parts of letters, digits, '.', '_' or '-' "
                     f"(no leading or trailing '/'), got {self.object_prefix!r}")
        if self.image is not None and (not isinstance(self.image, str) or not self.image or re.search(r"\s", self.image)):
            p.append(f"image must be a non-empty reference without spaces, or None to read it at boot, got {self.image!r}")
        for part in self.command:
            if not isinstance(part, str) or "\0" in part:
                p.append(f"command parts must be strings without NUL, got {part!r}")
        seen: set[str] = set()
        for pair in self.env:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                p.append(f"env entries must be (name, value) pairs, got {pair!r}")
                continue
            name, value = pair
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                p.append(f"env name must match ^[A-Za-z_][A-Za-z0-9_]*$, got {name!r}")
            elif name.startswith("AIINFRA_"):
                p.append(f"env name {name!r} is reserved: names starting with AIINFRA_ are set by the node")
            elif name in CONTRACT_ENV:
                p.append(f"env name {name!r} is reserved: the node sets {', '.join(CONTRACT_ENV)}")
            elif name in seen:
                p.append(f"env name {name!r} is given twice")
            else:
                seen.add(name)
            if not isinstance(value, str) or "\0" in value:
                p.append(f"env value of {name!r} must be a string without NUL, got {value!r}")
        for field, lo, hi in (("port", 1, 65535), ("master_port", 1, 65535)):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                p.append(f"{field} must be between {lo} and {hi}, got {value!r}")
        for field, lo in (("gpus_per_node", 0), ("nodes", 1), ("efa_interfaces", 0), ("retries", 0),
                          ("max_runtime_seconds", 0)):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                p.append(f"{field} must be an integer >= {lo}, got {value!r}")
        if not isinstance(self.health_check_path, str) or not self.health_check_path.startswith("/") \
                or re.search(r"\s", self.health_check_path):
            p.append(f"health_check_path must start with '/' and hold no spaces, got {self.health_check_path!r}")
        if self.interconnect not in INTERCONNECTS:
            p.append(_choice("interconnect", self.interconnect, INTERCONNECTS))
        elif self.cloud in CLOUDS and self.cloud not in INTERCONNECTS[self.interconnect]:
            p.append(f"interconnect {self.interconnect!r} is not available on {self.cloud} "
                     f"(aws: 'efa'; gcp: 'tcpx', 'tcpxo', 'rdma')")
        elif self.interconnect and isinstance(self.gpus_per_node, int) and self.gpus_per_node == 0:
            p.append(f"interconnect {self.interconnect!r} needs GPU nodes, got gpus_per_node=0")
        if self.interconnect == "efa" and self.efa_interfaces == 0:
            p.append("interconnect 'efa' needs efa_interfaces >= 1")
        if self.interconnect != "efa" and isinstance(self.efa_interfaces, int) and self.efa_interfaces > 0:
            p.append(f"efa_interfaces={self.efa_interfaces} needs interconnect='efa'")
        if self.project is not None and (self.cloud != "gcp" or not isinstance(self.project, str)
                                         or not _PROJECT.match(self.project)):
            p.append(f"project must be a GCP project id and only given for cloud 'gcp', got {self.project!r}")
        for name in self.collect:
            if name not in agents.COLLECT:
                p.append(_choice("collect entries", name, agents.COLLECT))
        if len(set(self.collect)) != len(self.collect):
            p.append(f"collect must not repeat a name, got {self.collect!r}")
        if "gpu" in self.collect and isinstance(self.gpus_per_node, int) and self.gpus_per_node == 0:
            p.append("collect 'gpu' needs GPU nodes, got gpus_per_node=0")
        if self.metric_id is not None and (not isinstance(self.metric_id, str) or not _METRIC_ID.match(self.metric_id)):
            p.append(f"metric_id must be 1-255 letters, digits, '.', '_' or '-' (starting with a letter or digit), "
                     f"or None for the workload name, got {self.metric_id!r}")
        if not isinstance(self.dcgm, bool):
            p.append(f"dcgm must be True or False, got {self.dcgm!r}")
        elif self.dcgm and (self.cloud != "gcp" or "gpu" not in self.collect):
            p.append("dcgm needs cloud 'gcp' and 'gpu' in collect (the Ops Agent's DCGM receiver)")
        if self.hard_stop_cron is not None:
            from aiinfra.cron import Cron  # only a batch workload with a schedule needs it

            try:
                Cron.parse(self.hard_stop_cron)
            except (ValueError, TypeError) as err:
                p.append(f"hard_stop_cron must be a five-field cron expression, got {self.hard_stop_cron!r}: {err}")
            if self.kind == "inference":
                p.append("hard_stop_cron is for training / data_processing runs, not inference")
        if self.accelerator_runtime not in RUNTIMES:
            p.append(_choice("accelerator_runtime", self.accelerator_runtime, RUNTIMES))
        elif self.cloud in CLOUDS and self.cloud not in RUNTIMES[self.accelerator_runtime]:
            p.append(f"accelerator_runtime {self.accelerator_runtime!r} is not available on {self.cloud} (aws: 'neuron'; gcp: 'tpu')")
        elif self.accelerator_runtime in ("neuron", "tpu"):
            if isinstance(self.gpus_per_node, int) and self.gpus_per_node == 0:
                p.append(f"accelerator_runtime {self.accelerator_runtime!r} needs gpus_per_node >= 1 (its chips a node)")
            if "gpu" in self.collect or self.dcgm:
                p.append(f"collect 'gpu' and dcgm read NVIDIA's NVML / DCGM, which {self.accelerator_runtime!r} nodes do not have")
            if self.interconnect not in ("", "efa"):
                p.append(f"interconnect {self.interconnect!r} is an NVIDIA GPUDirect network, not for {self.accelerator_runtime!r} nodes")
        if self.accelerator_runtime == "tpu":
            # A TPU VM is one node of its own (no managed instance group): no load balancer can
            # front it and a multi-slice run needs queued resources (planner/checks.py refuses both).
            if self.kind == "inference":
                p.append("accelerator_runtime 'tpu' runs training / data_processing only (no load-balanced TPU VM serving)")
            if self.nodes != 1 or len(self.groups) != 1:
                p.append("accelerator_runtime 'tpu' runs one TPU VM a run: nodes must be 1 and groups the node's name")
        if isinstance(self.procs_per_node, bool) or not isinstance(self.procs_per_node, int) or self.procs_per_node < 0:
            p.append(f"procs_per_node must be an integer >= 0, got {self.procs_per_node!r}")
        if self.log_group is not None and (not isinstance(self.log_group, str) or not _LOG_GROUP.match(self.log_group)):
            p.append(f"log_group must be 1-512 letters, digits, '_', '-', '/', '.' or '#', got {self.log_group!r}")
        if self.signing_key is not None:
            if not isinstance(self.signing_key, str) or not _SIGNING_KEY.match(self.signing_key):
                shown = self.signing_key if not isinstance(self.signing_key, str) else self.signing_key[:60]
                p.append("signing_key must be a PEM public key, awskms:///arn:aws:kms:... or "
                         f"gcpkms://projects/.../cryptoKeys/..., got {shown!r}")
            else:
                kms = next((c for prefix, c in _KMS_CLOUD.items() if self.signing_key.startswith(prefix)), None)
                if kms is not None and self.cloud in CLOUDS and kms != self.cloud:
                    p.append(f"signing_key {self.signing_key.split('://')[0]}:// can only be read by {kms} nodes "
                             f"(their role / service account), got cloud {self.cloud!r}; use a PEM public key or a {self.cloud} KMS key")
        return p


# ---------------------------------------------------------------- rendering


@functools.lru_cache(maxsize=None)
def _package_file(name: str) -> str:
    """A package file, read once a process (a synth renders the same scripts for every workload)."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")  # pathlib: no tempfile import


def _workload_env(cfg: BootConfig) -> str:
    values: list[tuple[str, str | int]] = [
        ("AIINFRA_CLOUD", cfg.cloud),
        ("AIINFRA_WORKLOAD", cfg.workload),
        ("AIINFRA_KIND", cfg.kind),
        ("AIINFRA_REGION", cfg.region),
        ("AIINFRA_GROUPS", " ".join(cfg.groups)),
        ("AIINFRA_OBJECT_PREFIX", cfg.object_prefix),
        ("AIINFRA_IMAGE", cfg.image or ""),  # empty: read aiinfra-image from the metadata at boot
        ("AIINFRA_PORT", cfg.port),
        ("AIINFRA_HEALTH_CHECK_PATH", cfg.health_check_path),
        ("AIINFRA_GPUS_PER_NODE", cfg.gpus_per_node),
        ("AIINFRA_NODES", cfg.nodes),
        ("AIINFRA_INTERCONNECT", cfg.interconnect),
        ("AIINFRA_EFA_INTERFACES", cfg.efa_interfaces),
        ("AIINFRA_RETRIES", cfg.retries),
        ("AIINFRA_MAX_RUNTIME_SECONDS", cfg.max_runtime_seconds),
        ("AIINFRA_PROJECT", cfg.project or ""),
        ("AIINFRA_MASTER_PORT", cfg.master_port),
        ("AIINFRA_COMMAND_COUNT", len(cfg.command)),
        ("AIINFRA_COLLECT", " ".join(cfg.collect)),
        ("AIINFRA_APP_METRICS_PORT", agents.STATSD_PORT if cfg.cloud == "aws" else agents.OTLP_PORT),
        ("AIINFRA_METRIC_ID", cfg.metric_id or cfg.workload),
        ("AIINFRA_SIGNING_KEY", cfg.signing_key or ""),  # a public key or a KMS key URI, never a secret
        ("AIINFRA_LOG_GROUP", cfg.log_group or ""),
        ("AIINFRA_ACCELERATOR_RUNTIME", cfg.accelerator_runtime or ("cuda" if cfg.gpus_per_node else "")),
        ("AIINFRA_PROCS_PER_NODE", cfg.procs_per_node or cfg.gpus_per_node or 1),
    ]
    values += _hard_stop_env(cfg.hard_stop_cron)
    if cfg.cloud == "aws":
        values += [("AIINFRA_JOB_METRIC_NAMESPACE", agents.JOB_NAMESPACE), ("AIINFRA_JOB_METRIC_DIMENSION", agents.JOB_AWS_DIMENSION)]
    else:
        values += [("AIINFRA_JOB_METRIC_RESOURCE", agents.JOB_GCP_RESOURCE), ("AIINFRA_JOB_METRIC_LABEL", agents.JOB_GCP_LABEL)]
    # "<name> <AWS unit> <GCP value type>" per job metric, read by node.sh's job_metric.
    values += [(f"AIINFRA_JOB_METRIC_{m.key.upper()}", f"{m.name(cfg.cloud)} {m.aws_unit} {m.value_type}") for m in agents.JOB_METRICS]
    values += [(f"AIINFRA_COMMAND_{i}", part) for i, part in enumerate(cfg.command, start=1)]
    values.append(("AIINFRA_USER_ENV", " ".join(name for name, _ in cfg.env)))
    values += [(f"AIINFRA_ENV_{name}", value) for name, value in cfg.env]
    lines = ["# aiinfra boot settings, rendered from BootConfig (shell-quoted values; no secrets)"]
    lines += [f"{key}={shlex.quote(str(value))}" for key, value in values]
    return "\n".join(lines) + "\n"


def _hard_stop_env(cron: str | None) -> list[tuple[str, str | int]]:
    """The hard stop's cron, field by field as node.sh's next_hard_stop reads them (the expanded
    values, so the node needs no cron parser); empty fields: no hard stop."""
    if cron is None:
        fields: tuple = ("", "", "", "", "", "", 0, 0)
    else:
        from aiinfra.cron import Cron

        c = Cron.parse(cron)
        fields = (c.text, *(" ".join(map(str, v)) for v in (c.minutes, c.hours, c.days, c.months, c.weekdays)),
                  int(c.any_day), int(c.any_weekday))
    names = ("CRON", "MINUTES", "HOURS", "DAYS", "MONTHS", "WEEKDAYS", "ANY_DAY", "ANY_WEEKDAY")
    return [(f"AIINFRA_HARD_STOP_{n}", v) for n, v in zip(names, fields)]


def boot_files(cfg: BootConfig) -> dict[str, str]:
    """The node's boot files: ``node.sh``, the adapter ``<cloud>.sh``, ``workload.env``, when
    ``collect`` names anything (AWS: or there is a ``log_group``) the agent's configuration
    (``agent.json`` / ``agent.yaml``) and, with
    a ``signing_key``, ``image.sh`` (the signature check; left out otherwise, so EC2 user data keeps
    its room)."""
    files = {
        "node.sh": _package_file("node.sh"),
        f"{cfg.cloud}.sh": _package_file(f"{cfg.cloud}.sh"),
        "workload.env": _workload_env(cfg),
    }
    if cfg.cloud == "aws" and (cfg.collect or cfg.log_group):
        # The CloudWatch agent also ships the boot log (BOOT_LOG) to the log group.
        files[AGENT_CONFIG["aws"]] = agents.cloudwatch_agent_json(cfg.collect, cfg.log_group)
    elif cfg.cloud == "gcp" and cfg.collect:
        # The Ops Agent also ships the boot log (its files receiver). The stacks collect nothing on
        # Container-Optimized OS, whose journal reaches Cloud Logging with google-logging-enabled.
        files[AGENT_CONFIG["gcp"]] = agents.ops_agent_yaml(cfg.collect, cfg.dcgm)
    if cfg.signing_key:
        files["image.sh"] = _package_file("image.sh")
    return files


class _LiteralDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter (PyYAML's own spends ~10 ms a document on the scripts), with multi-line
    text as literal blocks so the scripts read as themselves in the decoded user data."""


_LiteralDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


_COMMENT_LINE = re.compile(r"^[ \t]*#(?!!).*\n", re.M)


@functools.lru_cache(maxsize=16)
def compact_script(text: str) -> str:
    """A boot script without its comment-only lines (the shebang stays): what the EC2 user data
    carries, so the scripts fit its 16 KB; the package files keep their comments. The boot scripts
    hold no multi-line string or here-document a ``#`` line could be part of (tests check the
    compact scripts with shellcheck and run them in the sandbox)."""
    return _COMMENT_LINE.sub("", text)


def aws_user_data(cfg: BootConfig) -> str:
    """EC2 user data as text: a ``#cloud-config`` document that writes the boot files under
    /opt/aiinfra (the scripts as ``compact_script`` gives them), installs the ``aiinfra-boot``
    systemd unit (it runs node.sh at every boot) and starts it. The launch template takes
    ``aws_user_data_gzip`` (the same, compressed), which stays inside EC2's 16 KB limit;
    cloud-init reads gzip user data as it is
    (https://cloudinit.readthedocs.io/en/latest/explanation/format.html).
    """
    if cfg.cloud != "aws":
        raise ValueError(f"aws_user_data needs cloud 'aws', got {cfg.cloud!r}")
    files = {name: compact_script(text) if name.endswith(".sh") else text for name, text in boot_files(cfg).items()}
    write_files = [
        {"path": "/opt/aiinfra/node.sh", "owner": "root:root", "permissions": "0755", "content": files["node.sh"]},
        {"path": "/opt/aiinfra/aws.sh", "owner": "root:root", "permissions": "0644", "content": files["aws.sh"]},
        {"path": "/opt/aiinfra/workload.env", "owner": "root:root", "permissions": "0644", "content": files["workload.env"]},
        {"path": "/etc/systemd/system/aiinfra-boot.service", "owner": "root:root", "permissions": "0644",
         "content": _package_file("aiinfra-boot.service")},
    ]
    if "image.sh" in files:
        write_files.insert(2, {"path": "/opt/aiinfra/image.sh", "owner": "root:root", "permissions": "0644", "content": files["image.sh"]})
    if AGENT_CONFIG["aws"] in files:
        write_files.insert(len(write_files) - 1, {"path": f"/opt/aiinfra/{AGENT_CONFIG['aws']}", "owner": "root:root", "permissions": "0644",
                               "content": files[AGENT_CONFIG["aws"]]})
    doc = {
        "write_files": write_files,
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "aiinfra-boot.service"],
            ["systemctl", "start", "--no-block", "aiinfra-boot.service"],
        ],
    }
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False, width=1_000_000)


def aws_user_data_gzip(cfg: BootConfig) -> bytes:
    """``aws_user_data`` compressed (no timestamp: the same input gives the same bytes, so
    Terraform sees no change); base64 it for the launch template. Raises ValueError when even
    compressed it is over EC2's 16 KB user-data limit
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html)."""
    packed = gzip.compress(aws_user_data(cfg).encode("utf-8"), compresslevel=9, mtime=0)
    if len(packed) > AWS_USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(packed)} bytes compressed, over EC2's limit of {AWS_USER_DATA_LIMIT}; shorten command or env")
    return packed


def gcp_metadata(cfg: BootConfig) -> dict[str, str]:
    """Instance metadata: the static ``startup-script`` and the files it fetches
    (``aiinfra-node-sh``, ``aiinfra-gcp-sh``, ``aiinfra-workload-env``, and
    ``aiinfra-agent-config`` when ``collect`` names anything; ``aiinfra-image-sh``, which node.sh
    fetches itself, with a ``signing_key``)."""
    if cfg.cloud != "gcp":
        raise ValueError(f"gcp_metadata needs cloud 'gcp', got {cfg.cloud!r}")
    files = boot_files(cfg)
    md = {
        "startup-script": _package_file("gcp-startup.sh"),
        "aiinfra-node-sh": files["node.sh"],
        "aiinfra-gcp-sh": files["gcp.sh"],
        "aiinfra-workload-env": files["workload.env"],
    }
    if AGENT_CONFIG["gcp"] in files:
        md["aiinfra-agent-config"] = files[AGENT_CONFIG["gcp"]]
    if "image.sh" in files:
        md["aiinfra-image-sh"] = files["image.sh"]
    return md
