"""The node monitoring agents and the job wrapper's metrics, the same on both clouds.

- ``cloudwatch_agent_config(collect, log_group)``: the CloudWatch agent's JSON configuration (AWS),
  rendered from ``data/cloudwatch-agent.json``; with ``log_group`` it also ships the boot log
  (``BOOT_LOG``) to that CloudWatch Logs group.
- ``ops_agent_config(collect, dcgm)``: the Ops Agent's YAML configuration (GCP), rendered from
  ``data/ops-agent.yaml``; it always ships the boot log to Cloud Logging (log ``BOOT_LOG_ID``).
- ``produced_metrics(cloud, collect, dcgm)``: what a rendered configuration makes the agent publish,
  read back from that configuration (``"CWAgent/<MetricName>"`` on AWS, full metric types on GCP).
- ``JOB_METRICS``: the metrics the boot's job wrapper publishes itself (runs started / succeeded /
  failed / restarted, run duration, a node's failed boot). The boot writes their names into
  ``workload.env``; the stacks create the GCP metric descriptors and the alarms from the same rows.
- ``dcgm_in_image(image)`` / ``ops_agent_supported(image)``: what the GCP boot images allow.

``collect`` names metric groups (``COLLECT``). ``"app"`` is a local endpoint for the container's
own metrics: the CloudWatch agent's StatsD listener on AWS, the Ops Agent's OTLP receiver on GCP
(docs/observability.md, "Publishing your own metrics").

Cost on AWS: every unique metric name + dimension set is a billed custom metric, so the agent
appends only ``AutoScalingGroupName`` (which also drops the ``host`` dimension), rolls every metric
up to it (``aggregation_dimensions``) and drops the per-GPU / per-disk / per-interface originals
(``drop_original_metrics``): a group publishes one series per metric name, whatever its size.
Cloud Monitoring bills ingested samples, not series, so the GCP side keeps per-instance series and
only leaves out the metric groups not collected.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["BOOT_LOG", "BOOT_LOG_ID", "BOOT_LOG_STREAM", "COLLECT", "JOB_METRICS", "JobMetric", "OTLP_PORT", "STATSD_PORT", "cloudwatch_agent_config",
           "cloudwatch_agent_json", "dcgm_in_image", "ops_agent_config", "ops_agent_supported", "ops_agent_yaml",
           "produced_metrics"]

COLLECT = ("gpu", "cpu", "memory", "disk", "disk_io", "network", "app")
CLOUDS = ("aws", "gcp")

# The container's endpoint. StatsD: the CloudWatch agent listens on UDP service_address, default
# ":8125" (all interfaces, so a bridged container reaches it through the docker host gateway).
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-custom-metrics-statsd.html
STATSD_PORT = 8125
# OTLP: the Ops Agent's otlp receiver speaks gRPC only, grpc_endpoint default 0.0.0.0:4317.
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/otlp
# https://github.com/GoogleCloudPlatform/ops-agent/blob/master/apps/otlp.go (defaultGRPCEndpoint)
OTLP_PORT = 4317
# The boot's own log file on the node (node.sh writes every step there as well as to the journal);
# the agents ship it, so a failed boot is readable after its node is gone.
BOOT_LOG = "/var/log/aiinfra/boot.log"
# AWS: its stream in the workload's log group, one per instance ("{instance_id}" is the agent's own
# placeholder: log_stream_name on
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
BOOT_LOG_STREAM = "{instance_id}/boot"
# GCP: the Ops Agent's files receiver id, which is the log's name in Cloud Logging
# (projects/<p>/logs/aiinfra_boot on the gce_instance: "Logging receivers" on
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/configuration).
BOOT_LOG_ID = "aiinfra_boot"


def _data(name: str) -> str:
    return (Path(__file__).parent / "data" / name).read_text(encoding="utf-8")  # pathlib: plan imports no tempfile


def _groups(collect: Collection[str]) -> tuple[str, ...]:
    """``collect`` in COLLECT order; ValueError naming the unknown ones and the known ones."""
    if isinstance(collect, str):
        collect = (collect,)
    unknown = sorted({c for c in collect if c not in COLLECT}, key=str)
    if unknown:
        raise ValueError(f"unknown collect name(s) {', '.join(repr(u) for u in unknown)}; "
                         f"known: {', '.join(COLLECT)}")
    return tuple(c for c in COLLECT if c in set(collect))


# ---------------------------------------------------------------- AWS: CloudWatch agent

# collect group -> the agent's metrics_collected section. "nvidia_gpu" and its measurements
# (published as nvidia_smi_<measurement>, dimensions index / name / host):
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-NVIDIA-GPU.html
# cpu / mem / disk / diskio / net and their measurements:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/metrics-collected-by-CloudWatch-agent.html
# statsd: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-custom-metrics-statsd.html
_CW_SECTION = {"gpu": "nvidia_gpu", "cpu": "cpu", "memory": "mem", "disk": "disk", "disk_io": "diskio",
               "network": "net", "app": "statsd"}
# A measurement is published as "<plugin>_<measurement>" unless it already holds the section's
# name; nvidia_gpu is the nvidia_smi plugin. The agent's own rule (GetDropOriginalMetrics and
# DecorateMetricName):
# https://github.com/aws/amazon-cloudwatch-agent/blob/main/translator/translate/otel/common/metrics.go
# https://github.com/aws/amazon-cloudwatch-agent/blob/main/translator/translate/metrics/config/plugin_alias_map.go
_CW_PLUGIN = {"nvidia_gpu": "nvidia_smi"}

# The template's choices, checked against the agent's source (translator and cloudwatch output):
# - append_dimensions {"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}: the only dimension
#   added, and with it the agent publishes no "host" dimension (Configuration-File-Details above;
#   the ec2tagger processor reads the instance's aws:autoscaling:groupName tag, so the node's role
#   needs ec2:DescribeTags, as in CloudWatchAgentServerPolicy).
# - aggregation_dimensions [["AutoScalingGroupName"]]: each metric is also sent with that dimension
#   alone, when it has more dimensions than that (ProcessRollup in
#   https://github.com/aws/amazon-cloudwatch-agent/blob/main/plugins/outputs/cloudwatch/cloudwatch.go).
# - drop_original_metrics ["*"] (a section's measurements, wildcard "*"): the originals (per GPU
#   index, per mount, per device, per interface, cpu-total) are not sent, only the rollup
#   (GetDropOriginalMetrics above; IsDropping in cloudwatch.go). Not on "mem": its metrics carry
#   AutoScalingGroupName alone, so no rollup is made and dropping would drop them entirely.
#   Not on "statsd": there the option takes exact metric names only (the container's, unknown
#   here), so a StatsD metric is sent twice per group: with AutoScalingGroupName alone (the
#   rollup) and with AutoScalingGroupName + metric_type (the StatsD plugin's own tag, see
#   https://github.com/aws/amazon-cloudwatch-agent/blob/main/plugins/inputs/statsd/statsd.go).
#   A container's "queue_depth:12|g" lands as CWAgent/queue_depth {AutoScalingGroupName}.
# - metrics_collection_interval 60 (agent section): standard resolution.
# - logs.logs_collected.files.collect_list (with a log group): one entry, file_path BOOT_LOG,
#   log_group_name the workload's group (created and KMS-encrypted by the stack, so the agent never
#   creates it), log_stream_name BOOT_LOG_STREAM. No retention_in_days: the group's retention is
#   Terraform's, and the agent would need logs:PutRetentionPolicy to set its own. Fields:
#   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
#   ("logs" section); the node role needs logs:CreateLogStream, logs:PutLogEvents and
#   logs:DescribeLogStreams on the group (aws.WorkloadIdentity).


def cloudwatch_agent_config(collect: Collection[str], log_group: str | None = None) -> dict:
    """The CloudWatch agent configuration collecting ``collect`` (see the module's notes) and, with
    ``log_group``, shipping ``BOOT_LOG`` to that group (stream ``BOOT_LOG_STREAM``). With no metric
    group the ``metrics`` section is left out: "If you're using the agent only to collect logs, you
    can omit the metrics section" (CloudWatch-Agent-Configuration-File-Details, above)."""
    groups = _groups(collect)
    if not groups and not log_group:
        raise ValueError(f"collect is empty and there is no log_group: name at least one of {', '.join(COLLECT)}, or a log group")
    cfg = json.loads(_data("cloudwatch-agent.json"))
    if groups:
        sections = cfg["metrics"]["metrics_collected"]
        wanted = {_CW_SECTION[g] for g in groups}
        cfg["metrics"]["metrics_collected"] = {k: v for k, v in sections.items() if k in wanted}
    else:
        del cfg["metrics"]
    if log_group:
        (entry,) = cfg["logs"]["logs_collected"]["files"]["collect_list"]
        entry.update(file_path=BOOT_LOG, log_group_name=log_group, log_stream_name=BOOT_LOG_STREAM)
    else:
        del cfg["logs"]
    return cfg


def cloudwatch_agent_json(collect: Collection[str], log_group: str | None = None) -> str:
    """``cloudwatch_agent_config`` as the file the boot writes (compact JSON: it travels in the
    16 KB user data)."""
    return json.dumps(cloudwatch_agent_config(collect, log_group), separators=(",", ":")) + "\n"


def _cloudwatch_produced(cfg: dict) -> frozenset[str]:
    if "metrics" not in cfg:
        return frozenset()
    namespace = cfg["metrics"].get("namespace", "CWAgent")
    names = set()
    for section, body in cfg["metrics"]["metrics_collected"].items():
        if section == "statsd":
            continue  # the container's names
        plugin = _CW_PLUGIN.get(section, section)
        for m in body.get("measurement", ()):
            name = m if isinstance(m, str) else m.get("rename") or m["name"]
            names.add(f"{namespace}/{name if section in name else f'{plugin}_{name}'}")
    return frozenset(names)


# ---------------------------------------------------------------- GCP: Ops Agent

_AGENT = "agent.googleapis.com/"
# Every metric the hostmetrics receiver publishes on a Linux VM (the GPU ones on VMs with NVIDIA
# GPUs, through the agent's NVML receiver), as the metric list names them:
# https://cloud.google.com/monitoring/api/metrics_opsagent
# (names as the agent renames them: https://github.com/GoogleCloudPlatform/ops-agent/blob/master/apps/hostmetrics.go)
_HOST_ALL = tuple(_AGENT + m for m in (
    "cpu/usage_time", "cpu/utilization", "cpu/load_1m", "cpu/load_5m", "cpu/load_15m",
    "disk/read_bytes_count", "disk/write_bytes_count", "disk/operation_count", "disk/io_time", "disk/weighted_io_time",
    "disk/operation_time", "disk/pending_operations", "disk/merged_operations", "disk/bytes_used", "disk/percent_used",
    "memory/bytes_used", "memory/percent_used",
    "interface/traffic", "interface/errors", "interface/packets", "network/tcp_connections",
    "processes/fork_count", "processes/count_by_state", "processes/cpu_time", "processes/disk/read_bytes_count",
    "processes/disk/write_bytes_count", "processes/rss_usage", "processes/vm_usage",
    "swap/bytes_used", "swap/percent_used", "swap/io", "pagefile/percent_used",
    "gpu/utilization", "gpu/memory/bytes_used", "gpu/processes/utilization", "gpu/processes/max_bytes_used",
))
# What each group keeps; the rest is excluded. The GPU metrics are the NVML ones the agent
# collects by default on GPU VMs (Ops Agent >= 2.38.0): "GPU metrics" on
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/third-party-nvidia
# (excluding all four turns the NVML receiver off: MergeMetricsProcessor in hostmetrics.go).
# Per-process series (gpu/processes/*, processes/*) and per-core CPU time are never kept.
_HOST_KEEP = {
    "gpu": ("gpu/utilization", "gpu/memory/bytes_used"),
    # CPU comes from the hypervisor (compute.googleapis.com/instance/cpu/utilization, free): the
    # agent's cpu/utilization is one series per core and state (1,600+ on a 208-vCPU A3), billed.
    "cpu": (),
    "memory": ("memory/percent_used",),
    "disk": ("disk/percent_used",),
    "disk_io": ("disk/read_bytes_count", "disk/write_bytes_count", "disk/io_time"),
    "network": ("interface/traffic",),
}
# The dcgm receiver, receiver_version 2 (Ops Agent >= 2.51.0; DCGM 3.1 - 3.3.9 running as the
# nvidia-dcgm service on localhost:5555), "DCGM receiver version 2 metrics" on
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/third-party-nvidia
# (the page is generated from
# https://github.com/GoogleCloudPlatform/ops-agent/blob/master/integration_test/third_party_apps_test/applications/dcgm/metadata.yaml).
_DCGM_V2 = tuple("workload.googleapis.com/gpu.dcgm." + m for m in (
    "utilization", "sm.utilization", "pipe.utilization", "codec.encoder.utilization", "codec.decoder.utilization",
    "memory.bytes_used", "memory.bandwidth_utilization", "pcie.io", "nvlink.io", "energy_consumption", "temperature",
    "clock.frequency", "clock.throttle_duration.time", "ecc_errors",
))


def _exclusions(groups: tuple[str, ...]) -> list[str]:
    """exclude_metrics patterns (globs on full metric types) leaving only the groups' metrics: a
    whole family (``agent.googleapis.com/swap/*``) when none of it is kept, exact names otherwise."""
    keep = {_AGENT + m for g in groups for m in _HOST_KEEP.get(g, ())}
    families: dict[str, list[str]] = {}
    for m in _HOST_ALL:
        families.setdefault(m[len(_AGENT):].split("/")[0], []).append(m)
    out = []
    for family, members in families.items():
        if not keep & set(members):
            out.append(f"{_AGENT}{family}/*")
        else:
            out += [m for m in members if m not in keep]
    return sorted(out)


def ops_agent_config(collect: Collection[str], dcgm: bool = False) -> dict:
    """The Ops Agent configuration collecting ``collect`` (none: host metrics off, the agent only
    ships logs); ``dcgm`` adds the DCGM receiver (with "gpu" only, and only where DCGM runs: see
    ``dcgm_in_image``). Every configuration ships ``BOOT_LOG`` (log ``BOOT_LOG_ID``) beside the
    agent's built-in syslog pipeline."""
    groups = _groups(collect)
    cfg = yaml.safe_load(_data("ops-agent.yaml"))
    metrics = cfg["metrics"]
    pipelines = metrics["service"]["pipelines"]
    metrics["processors"]["metrics_filter"]["metrics_pattern"] = _exclusions(groups)
    if not set(groups) & set(_HOST_KEEP):
        # "To turn off host-metrics ingestion": the default pipeline with no receivers (configuration page).
        pipelines["default_pipeline"] = {"receivers": []}
    if not (dcgm and "gpu" in groups):
        del metrics["receivers"]["dcgm"], pipelines["dcgm"]
    if "app" not in groups:
        del pipelines["otlp"], cfg["combined"], cfg["traces"]
    return cfg


def ops_agent_yaml(collect: Collection[str], dcgm: bool = False) -> str:
    """``ops_agent_config`` as the file the boot writes to /etc/google-cloud-ops-agent/config.yaml."""
    return _ops_agent_yaml(_groups(collect), dcgm)


@functools.lru_cache(maxsize=64)
def _ops_agent_yaml(groups: tuple[str, ...], dcgm: bool) -> str:
    # One rendering per (groups, dcgm) a process: a synth renders it for every GCP workload, and
    # PyYAML's pure-Python parse of the template costs ~10 ms.
    head = "# aiinfra: rendered by aiinfra.observability.agents.ops_agent_config; merged with the agent's built-in configuration\n"
    return head + yaml.safe_dump(ops_agent_config(groups, dcgm), sort_keys=False, default_flow_style=False)


def _ops_agent_produced(cfg: dict) -> frozenset[str]:
    metrics = cfg["metrics"]
    pipelines = metrics["service"]["pipelines"]
    out: set[str] = set()
    if "hostmetrics" in pipelines["default_pipeline"].get("receivers", ()):
        patterns = metrics["processors"]["metrics_filter"]["metrics_pattern"]
        out |= {m for m in _HOST_ALL if not any(fnmatch.fnmatchcase(m, p) for p in patterns)}
    if "dcgm" in pipelines:
        out |= set(_DCGM_V2)
    return frozenset(out)  # otlp: the container's names, as workload.googleapis.com/<name>


def produced_metrics(cloud: str, collect: Collection[str], dcgm: bool = False) -> frozenset[str]:
    """The metrics the agent publishes with the rendered configuration: ``"CWAgent/<MetricName>"``
    (AWS) or full metric types (GCP), as the providers' metric lists name them. The container's
    own metrics ("app") have the container's names and are not listed."""
    if cloud == "aws":
        return _cloudwatch_produced(cloudwatch_agent_config(collect))
    if cloud == "gcp":
        return _ops_agent_produced(ops_agent_config(collect, dcgm))
    raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")


# ---------------------------------------------------------------- images

# Boot images (aiinfra.boot.IMAGES, GCP rows) that ship DCGM running as a service. Neither the
# Deep Learning VM image page (https://cloud.google.com/deep-learning-vm/docs/images) nor the
# accelerator image guide (https://docs.cloud.google.com/ai-hypercomputer/docs/create/create-vm)
# says DCGM is installed, so none is counted; Container-Optimized OS runs no Ops Agent at all.
_DCGM_IMAGES: dict[str, bool] = {
    "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570": False,
    "projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2204-amd64-with-nvidia-570": False,
    "projects/cos-cloud/global/images/family/cos-stable": False,
}


def dcgm_in_image(image: str) -> bool:
    """Whether DCGM is documented to run on the boot image (an IMAGES ``image`` value); False for
    images nobody documents."""
    return _DCGM_IMAGES.get(image, False)


def ops_agent_supported(image: str) -> bool:
    """Container-Optimized OS is not among the Ops Agent's supported operating systems
    (https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent#supported_operating_systems)
    and has no package manager to install it with; its own node-problem-detector reports health
    metrics instead (https://cloud.google.com/container-optimized-os/docs/how-to/monitoring)."""
    return not image.startswith("projects/cos-cloud/")


# ---------------------------------------------------------------- the job wrapper's metrics

# AWS: namespace "aiinfra", dimension AutoScalingGroupName=<BootConfig.metric_id>, put with
# `aws cloudwatch put-metric-data` (units: MetricDatum.Unit,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html).
# GCP: custom metric types, resource "global", metric label workload=<metric_id>, written with
# projects.timeSeries.create (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/create);
# the stacks create the descriptors (unit codes: https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.metricDescriptors).
JOB_NAMESPACE = "aiinfra"
JOB_AWS_DIMENSION = "AutoScalingGroupName"
JOB_GCP_LABEL = "workload"
JOB_GCP_RESOURCE = "global"
_CUSTOM = "custom.googleapis.com/aiinfra/"


@dataclass(frozen=True)
class JobMetric:
    """One metric of the job wrapper (rank 0 only, best effort; ``boot_failed``: any node)."""

    key: str          # workload.env: AIINFRA_JOB_METRIC_<KEY upper>_{NAME,UNIT,TYPE}
    aws_name: str     # CloudWatch metric name in JOB_NAMESPACE
    gcp_type: str     # Cloud Monitoring metric type
    aws_unit: str     # CloudWatch unit
    gcp_unit: str     # MetricDescriptor unit
    value_type: str   # GCP value type: INT64 (value 1) or DOUBLE
    description: str
    metric_kind: str = "GAUGE"

    def name(self, cloud: str) -> str:
        if cloud not in CLOUDS:
            raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")
        return self.aws_name if cloud == "aws" else self.gcp_type


JOB_METRICS = (
    JobMetric("run_started", "RunStarted", _CUSTOM + "run_started", "Count", "1", "INT64",
              "A new run started (its first attempt), value 1."),
    JobMetric("run_succeeded", "RunSucceeded", _CUSTOM + "run_succeeded", "Count", "1", "INT64",
              "A run's container exited 0, value 1."),
    JobMetric("run_failed", "RunFailed", _CUSTOM + "run_failed", "Count", "1", "INT64",
              "A run failed for good (retries spent or max_runtime reached), value 1."),
    JobMetric("run_restarted", "RunRestarted", _CUSTOM + "run_restarted", "Count", "1", "INT64",
              "A run's attempt after the first started (after a failure, a lost node or a reboot), value 1."),
    JobMetric("run_duration", "RunDuration", _CUSTOM + "run_duration", "Seconds", "s", "DOUBLE",
              "Seconds from a run's start to its end (succeeded or failed)."),
    # Written by the failing node itself (any node, not only rank 0), just before its boot exits
    # non-zero: otherwise a boot that fails restarts until the hard stop and nothing is raised.
    JobMetric("boot_failed", "BootFailed", _CUSTOM + "boot_failed", "Count", "1", "INT64",
              "A node's boot failed before its work could start (members never arrived, image pull, GPU check, signature), value 1."),
)
