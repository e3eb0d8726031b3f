"""Pydantic models of the workload requirements spec (contract v1, ``shared/SPEC.md``).

Key names and value formats are the planning guide's own, so its examples paste in
unchanged. Values are parsed into numbers with units in their names at load time
(``dataset_size`` -> bytes, ``latency_sla`` -> ms); the original text is not needed after.
Unknown keys are errors: a typo must never silently drop a requirement.

Startup cost matters (``aiinfra validate`` is budgeted at 0.5 s): annotations are real
objects, not strings (no ``from __future__ import annotations``), so pydantic has nothing
to evaluate, and ``defer_build`` builds one validator, Spec's, when the first spec is read.
"""

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from aiinfra.spec import units

Cloud = Literal["aws", "gcp"]
CLOUDS: tuple[str, ...] = ("aws", "gcp")
ENVIRONMENTS: tuple[str, ...] = ("development", "staging", "production")


def _parsed(fn):
    """A pydantic before-validator that runs one of the unit parsers."""
    return BeforeValidator(fn)


SizeBytes = Annotated[int, _parsed(units.parse_size_bytes)]
ModelSizeT = Annotated[units.ModelSize, _parsed(units.parse_model_size)]
GpuAskT = Annotated[units.GpuAsk, _parsed(units.parse_gpu_ask)]
DurationS = Annotated[float, _parsed(units.parse_duration_seconds)]
LatencyMs = Annotated[float, _parsed(units.parse_latency_ms)]
RateQps = Annotated[float, _parsed(units.parse_rate_qps)]
Percent = Annotated[float, _parsed(units.parse_percent)]
PercentRange = Annotated[tuple[float, float], _parsed(units.parse_percent_range)]
PerMonth = Annotated[float, _parsed(units.parse_frequency_per_month)]
FrequencyT = Annotated[units.Frequency, _parsed(units.parse_frequency)]
CronT = Annotated[str, _parsed(units.parse_cron)]
Growth = Annotated[float, _parsed(units.parse_growth_factor)]
Days = Annotated[int, _parsed(units.parse_days)]
Cores = Annotated[float, _parsed(units.parse_cpu_cores)]
Count = Annotated[int, _parsed(units.parse_count)]
NodeRange = Annotated[tuple[int, int], _parsed(units.parse_node_range)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Domain = Annotated[str, Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest] (the OCI distribution grammar, lowercase paths).
IMAGE_RE = r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9-]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
# Names the container gets from aiinfra itself (SPEC.md "What runs on the nodes").
RESERVED_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "NNODES", "GPUS_PER_NODE", "WORLD_SIZE", "RANK", "LOCAL_RANK")
# env values are written into user_data / instance metadata, which anyone who may describe the
# instance can read: names like these are refused (fetch secrets at run time instead).
SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "ACCESS_KEY", "API_KEY", "APIKEY")


def _image(v: str) -> str:
    if len(v) > 500 or not re.fullmatch(IMAGE_RE, v):
        raise ValueError(f"{v!r} is not a container image reference; expected [registry/]repository[:tag][@sha256:digest], "
                         "e.g. nvcr.io/nvidia/pytorch:24.08-py3")
    return v


def _command(v: Any) -> Any:
    """A command as a list of arguments; a string is split as a shell would (no shell runs it)."""
    if isinstance(v, str):
        import shlex

        try:
            parts = shlex.split(v)
        except ValueError as exc:
            raise ValueError(f"cannot split command {v!r}: {exc}") from None
        if not parts:
            raise ValueError("command is empty")
        return parts
    return v


def _env(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    out = {}
    for key, value in v.items():
        name = str(key)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
            raise ValueError(f"env name {name!r} must be letters, digits and underscores, not starting with a digit")
        if name.upper().startswith("AIINFRA_") or name.upper() in RESERVED_ENV:
            raise ValueError(f"env name {name!r} is set by aiinfra itself (AIINFRA_*, {', '.join(RESERVED_ENV[:5])})")
        if any(word in name.upper() for word in SECRET_WORDS):
            raise ValueError(f"env {name!r} looks like a secret; env values are readable in the instance's user data / metadata: "
                             "read secrets at run time from AWS Secrets Manager or Google Secret Manager with the workload's identity")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)) or isinstance(value, str) and len(value) > 4096:
            raise ValueError(f"env {name!r} must be a plain string or number (4096 characters at most)")
        out[name] = str(value)
    return out


class Strict(BaseModel):
    """Base of every spec block: unknown keys are errors, models are frozen.

    defer_build: a block's validator is built on first use, not at import; reading a spec
    builds Spec's alone (with every block inside it) instead of one per block.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=False, defer_build=True)


# ---- clouds -------------------------------------------------------------------------

HttpsUrl = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$", max_length=500)]
# A cosign verification key: a PEM public key, or a KMS key cosign reads the public half of
# (https://docs.sigstore.dev/cosign/key_management/overview/: awskms:// and gcpkms:// URIs).
SIGNING_KEY_RE = (r"^(-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?"
                  r"|awskms:///arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+"
                  r"|gcpkms://projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+"
                  r"(/cryptoKeyVersions/[0-9]+)?)$")


class AwsOidc(Strict):
    """The identity provider the HTTPS endpoints authenticate callers with (ALB authenticate-oidc;
    the client secret is a sensitive Terraform variable, never in the spec)."""

    issuer: HttpsUrl
    authorization_endpoint: HttpsUrl
    token_endpoint: HttpsUrl
    user_info_endpoint: HttpsUrl
    client_id: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
    scope: Annotated[str, Field(min_length=1, max_length=256)] = "openid"


def _k8s_version(v: Any) -> Any:
    """A Kubernetes minor version as text: YAML reads an unquoted 1.30 as the number 1.3."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        raise ValueError(f"write the version as quoted text, e.g. \"1.35\": YAML reads an unquoted {v!r} as a number "
                         "(1.30 would become 1.3)")
    return v


def _cidr(v: Any) -> Any:
    """An IPv4 network in CIDR notation, host bits zero ('203.0.113.0/24')."""
    import ipaddress

    if not isinstance(v, str):
        raise ValueError(f"expected an IPv4 CIDR such as \"203.0.113.0/24\", got {type(v).__name__} {v!r}")
    try:
        net = ipaddress.IPv4Network(v.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{v!r} is not an IPv4 CIDR; expected e.g. \"203.0.113.0/24\" (one address: \"203.0.113.7/32\")") from None
    if "/" not in v or str(net) != v.strip():
        raise ValueError(f"{v!r} is not a network in CIDR notation: write {str(net)!r}" + (" (host bits cleared)" if "/" in v else " (a prefix length is required)"))
    return str(net)


class KubernetesConfig(Strict):
    """``clouds.<cloud>.kubernetes`` (SPEC.md v3 "Platforms"): read when the cloud's platform is kubernetes."""

    # A minor version ("1.35") from catalog/data/kubernetes_versions.csv; default: the newest both EKS and GKE offer.
    version: Annotated[str, BeforeValidator(_k8s_version), Field(min_length=1, max_length=20)] | None = None
    # Who may reach the API server (where Terraform and kubectl run); empty: the endpoint is private (reached from
    # inside the VPC only).
    endpoint_cidrs: Annotated[list[Annotated[str, BeforeValidator(_cidr)]], Field(max_length=50)] = []
    # A cluster to deploy the node pools into instead of creating one (its control plane is not in the plan's cost).
    # EKS names: alphanumerics, hyphens and underscores, starting alphanumeric, at most 100 characters (CreateCluster
    # name: https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html); GKE's stricter rule: spec/checks.py.
    existing_cluster: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")] | None = None


Platform = Literal["vm", "kubernetes"]


class AwsCloud(Strict):
    region: str = "us-east-1"
    account_id: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None
    # Extensions for synthesis: the nodes' image (default: the AWS Deep Learning Base AMI looked
    # up from its public SSM parameter), the HTTPS endpoints' ACM certificate, alert e-mails.
    ami_id: Annotated[str, Field(pattern=r"^ami-[0-9a-f]{8,17}$")] | None = None
    certificate_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")] | None = None
    # DNS names of the HTTPS endpoints: an ACM certificate with DNS validation is requested for
    # them (records created in hosted_zone_id when given, else printed for the DNS owner).
    domains: list[Domain] = []
    hosted_zone_id: Annotated[str, Field(pattern=r"^Z[0-9A-Z]{1,32}$")] | None = None
    alert_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    # API authentication at the load balancer (security_controls.access_management.api_authentication).
    oidc: AwsOidc | None = None
    # An AWS CloudHSM key store of the account: the data keys are created in it (HSM key management).
    custom_key_store_id: Annotated[str, Field(pattern=r"^cks-[0-9a-z]{17}$")] | None = None
    # SPEC.md v3: vm (instance groups, the default) or kubernetes (an EKS cluster with a node pool a planned shape).
    platform: Platform = "vm"
    kubernetes: KubernetesConfig | None = None


class GcpCloud(Strict):
    region: str = "us-central1"
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    # Extensions for synthesis: the nodes' boot image (default: the Deep Learning VM image family),
    # the HTTPS endpoints' names (a Google-managed certificate each) or existing certificates,
    # alert e-mails.
    image: Annotated[str, Field(pattern=r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/images/(family/)?[a-z][a-z0-9-]{0,62}|https://\S+)$")] | None = None
    domains: list[Domain] = []
    ssl_certificates: list[Annotated[str, Field(pattern=r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/sslCertificates/[a-z][a-z0-9-]{0,62}$")]] = []
    alert_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    # The Cloud Billing account paying for the project: a budget at 50 / 80 / 100 % of the plan.
    billing_account: Annotated[str, Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None = None
    # Who may call the HTTPS endpoints through Identity-Aware Proxy (API authentication): IAM members.
    iap_members: list[Annotated[str, Field(pattern=r"^(user|group|serviceAccount|domain|principal|principalSet):[^\s]{3,300}$")]] = []
    # Cloud Storage usage logs of the data bucket: grants group:cloud-storage-analytics@google.com on the
    # logs bucket, which domain-restricted sharing (constraints/iam.allowedPolicyMemberDomains) refuses.
    storage_usage_logs: bool = False
    # SPEC.md v3: vm (managed instance groups, the default) or kubernetes (a GKE cluster with a node pool a planned shape).
    platform: Platform = "vm"
    kubernetes: KubernetesConfig | None = None


class Clouds(Strict):
    aws: AwsCloud | None = None
    gcp: GcpCloud | None = None

    def configured(self) -> list[str]:
        return [c for c in CLOUDS if getattr(self, c) is not None]

    def region(self, cloud: str) -> str:
        return getattr(self, cloud).region


# ---- workloads ----------------------------------------------------------------------

class Workload(Strict):
    """One entry of the guide's ``workload_inventory`` plus optional placement keys."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")]
    type: Literal["training", "inference", "data_processing"]
    framework: Text | None = None
    dataset_size: SizeBytes | None = None
    model_size: ModelSizeT | None = None
    training_frequency: FrequencyT | None = None
    gpu_requirements: GpuAskT | None = None
    estimated_runtime: DurationS | None = None
    expected_qps: RateQps | None = None
    latency_sla: LatencyMs | None = None
    availability_requirement: Percent | None = None
    # Placement keys (SPEC.md): pin a cloud, override the spot default, override the region.
    cloud: Cloud | None = None
    spot: bool | None = None
    region: str | None = None
    # Extensions: override the documented per-replica throughput model, and the node count
    # of a data-processing cluster.
    replica_qps: RateQps | None = None
    # Where replica_qps was measured: an accelerator ask ('8x H200') or an instance type; defaults to
    # gpu_requirements. The measurement is used on that shape only, never scaled to others.
    replica_qps_measured_on: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    nodes: NodeRange | None = None
    # Training: whether each node of a data-parallel run stages the whole dataset (replicated, the
    # default) or only its shard (sharded: dataset_size / nodes a node).
    dataset_sharding: Literal["replicated", "sharded"] | None = None
    description: Text | None = None
    # What runs on the nodes (SPEC.md v2). Left out, the nodes are prepared (disks, drivers,
    # interconnect) and wait for the user's own deployment; the image is then a deploy-time input.
    image: Annotated[str, AfterValidator(_image)] | None = None
    # The image's signature is verified with this key at boot before the container starts (cosign).
    image_signing_key: Annotated[str, Field(pattern=SIGNING_KEY_RE, max_length=4096)] | None = None
    command: Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]], BeforeValidator(_command), Field(min_length=1, max_length=200)] | None = None
    env: Annotated[dict[str, str], BeforeValidator(_env)] = {}
    # Inference: the port the container serves on (default 8080) and its health path (default /health).
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    health_check_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$", max_length=200)] | None = None
    # Inference: public HTTPS (default, on both clouds) or internal (inside the VPC only).
    exposure: Literal["public", "internal"] | None = None
    # Training / data processing: when runs start (cron, UTC), the hard stop of one run, restarts.
    schedule: CronT | None = None
    max_runtime: DurationS | None = None
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    # A named capacity reservation the nodes launch into (SPEC.md v2): an AWS On-Demand Capacity
    # Reservation id (cr-...) or a GCP reservation name in one of the workload's zones. Needs `cloud`;
    # the nodes run on-demand (reserved capacity is billed whether it is used or not).
    reservation: Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")] | None = None
    # AWS: the reservation is an EC2 Capacity Block for ML (bought for fixed dates), launched into
    # with the launch template's market type capacity-block.
    capacity_block: bool | None = None
    # Memory fit and LLM serving (planner/memory.py, rules.py): the serving precision of the weights
    # (default 16-bit), how a training run updates the model (default full), a language model
    # (sized by output tokens; also inferred from the framework or over 1B parameters), and the
    # tokens a request reads and writes.
    precision: Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"] | None = None
    training_method: Literal["full", "lora", "qlora"] | None = None
    model_type: Literal["llm", "other"] | None = None
    input_tokens_per_request: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    output_tokens_per_request: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    # Serving (issue 27): the mean bytes of one response, for the load balancer's processed data and
    # internet egress (planner/network.py); default a JSON prediction, or the streamed output tokens.
    response_size: SizeBytes | None = None
    # SPEC.md v3 "Platforms": the guide's HorizontalPodAutoscaler, its spec (minReplicas, maxReplicas, metrics, behavior)
    # or the whole autoscaling/v2 document, kept as written (spec/autoscaling.py checks it; k8s/serving.py deploys it).
    autoscaling: dict[str, Any] | None = None

    @field_validator("spot", mode="before")
    @classmethod
    def _spot_bool(cls, v: Any) -> Any:
        if not isinstance(v, bool):
            raise ValueError(f"expected true or false, got {v!r}")
        return v


# ---- the guide's other blocks -------------------------------------------------------

class TrainingPerformance(Strict):
    max_training_time: DurationS | None = None
    concurrent_experiments: Count | None = None
    model_size_limit: ModelSizeT | None = None


class InferencePerformance(Strict):
    p95_latency: LatencyMs | None = None
    throughput: RateQps | None = None
    availability: Percent | None = None


class PerformanceRequirements(Strict):
    training: TrainingPerformance | None = None
    inference: InferencePerformance | None = None


class StorageTier(Strict):
    type: Text | None = None
    use_case: Text | None = None
    performance: Text | None = None
    cost: Text | None = None
    # Extensions: explicit size and the age at which objects move into this tier.
    size: SizeBytes | None = None
    transition_after_days: Annotated[int, Field(ge=1, le=36500)] | None = None


class StorageTiers(Strict):
    hot: StorageTier | None = None
    warm: StorageTier | None = None
    cold: StorageTier | None = None


class Ingestion(Strict):
    source: Text
    destination: Text | None = None
    # As written (a cron, 'every 6 hours' ...) and in runs a month: the transfer's schedule (planner/pipeline.py).
    schedule: FrequencyT | None = None


class Preprocessing(Strict):
    framework: Text
    cluster_size: NodeRange | None = None
    output: Text | None = None


class Serving(Strict):
    cache_layer: Text | None = None
    cache_size: SizeBytes | None = None
    ttl: DurationS | None = None


class DataPipeline(Strict):
    ingestion: list[Ingestion] = []
    preprocessing: list[Preprocessing] = []
    serving: list[Serving] = []


class TrainingNetwork(Strict):
    bandwidth: Annotated[str, Field(pattern=r"^\d+(\.\d+)?\s*[GT]bps$")] | None = None
    topology: Text | None = None
    isolation: Text | None = None


class InferenceNetwork(Strict):
    load_balancer: Literal["application_layer", "network_layer", "none"] | None = None
    ssl_termination: Literal["enabled", "disabled"] | None = None
    cdn: Text | None = None


class Network(Strict):
    training_network: TrainingNetwork | None = None
    inference_network: InferenceNetwork | None = None


class AccessManagement(Strict):
    identity_provider: Text | None = None
    rbac: Text | None = None
    api_authentication: Text | None = None


class DataProtection(Strict):
    encryption_at_rest: Text | None = None
    encryption_in_transit: Annotated[str, Field(pattern=r"^TLS 1\.[23]$")] | None = None
    key_management: Text | None = None


def _client_rate(v: Any) -> Any:
    """'20 qps' (requests a second) or '10%' (a share of the endpoint's planned peak) -> (value, unit)."""
    text = str(v).strip() if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None
    if text is not None and text.endswith("%"):
        return (units.parse_percent(text), "%")
    try:
        return (units.parse_rate_qps(v), "qps")
    except ValueError:
        raise ValueError(f"cannot read rate_limit_per_client {v!r}; expected requests a second ('20 qps') "
                         "or a share of the endpoint's planned peak ('10%')") from None


class NetworkSecurity(Strict):
    network_segmentation: Text | None = None
    intrusion_detection: Text | None = None
    vulnerability_scanning: Text | None = None
    # What one client address may send a public endpoint (the WAF / Cloud Armor rate rule): requests a
    # second, or a share of the planned peak; left out, rules.RATE_LIMIT_CLIENT_SHARE of it (docs/security.md).
    rate_limit_per_client: Annotated[tuple[float, Literal["qps", "%"]], BeforeValidator(_client_rate)] | None = None


def _merge_items(v: Any) -> Any:
    # The guide writes each control as a one-key list item; a mapping is accepted too.
    if isinstance(v, list) and all(isinstance(i, dict) for i in v):
        merged: dict[str, Any] = {}
        for item in v:
            for key, value in item.items():
                if key in merged:
                    raise ValueError(f"control '{key}' is listed twice")
                merged[key] = value
        return merged
    return v


class SecurityControls(Strict):
    access_management: Annotated[AccessManagement, BeforeValidator(_merge_items)] | None = None
    data_protection: Annotated[DataProtection, BeforeValidator(_merge_items)] | None = None
    network_security: Annotated[NetworkSecurity, BeforeValidator(_merge_items)] | None = None


_CONDITION_RE = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>.+?)\s*$")


def _check_condition(v: str) -> str:
    if not _CONDITION_RE.match(v):
        raise ValueError(f"cannot read condition {v!r}; expected '<metric> <op> <value>', e.g. 'gpu_memory_utilization > 95%'")
    return v


class AlertRule(Strict):
    name: Text
    condition: Annotated[str, AfterValidator(_check_condition)]
    duration: DurationS | None = None
    severity: Literal["info", "warning", "high", "critical"]
    action: Text | None = None

    def parsed_condition(self) -> tuple[str, str, str]:
        m = _CONDITION_RE.match(self.condition)
        assert m  # checked at load
        return m["metric"], m["op"], m["value"].strip("'\"")


class Quota(Strict):
    requests_cpu: Cores | None = Field(None, alias="requests.cpu")
    requests_memory: SizeBytes | None = Field(None, alias="requests.memory")
    requests_gpu: Count | None = Field(None, alias="requests.nvidia.com/gpu")
    limits_cpu: Cores | None = Field(None, alias="limits.cpu")
    limits_memory: SizeBytes | None = Field(None, alias="limits.memory")
    limits_gpu: Count | None = Field(None, alias="limits.nvidia.com/gpu")
    persistentvolumeclaims: Count | None = None
    requests_storage: SizeBytes | None = Field(None, alias="requests.storage")
    pods: Count | None = None


class RightSizing(Strict):
    method: Text | None = None
    frequency: Text | None = None
    target_utilization: PercentRange | None = None


class Scheduling(Strict):
    training_jobs: Literal["off_peak_hours", "anytime", "business_hours"] | None = None
    spot_instances: Literal["non_critical_workloads", "all_workloads", "none"] | None = None
    preemptible_vms: Literal["development_environments", "non_production_environments", "all_environments", "none"] | None = None


def _noncurrent_days(v: Any) -> Any:
    """'30_days' -> 30; 'never' (noncurrent versions kept) -> 0."""
    if isinstance(v, str) and v.strip().lower() == "never":
        return 0
    try:
        return units.parse_days(v)
    except ValueError as exc:
        raise ValueError(f"{exc}, or 'never' to keep them") from None


class LifecycleManagement(Strict):
    model_archival: Days | None = None
    data_retention: Text | None = None
    # How long "compliance_based" retention locks objects (S3 Object Lock / GCS retention policy).
    retention_period: Days | None = None
    resource_cleanup: Text | None = None
    # Issue 27: noncurrent (overwritten or deleted) versions of the data bucket are deleted this long
    # after they were replaced ('30_days', the default rules.NONCURRENT_EXPIRATION_DAYS; 'never' keeps
    # them: 0), and the prefixes that are archives by nature, the only ones moved by age (planner/storage.py).
    noncurrent_version_expiration: Annotated[int, BeforeValidator(_noncurrent_days)] | None = None
    archive_prefixes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/=-]{0,199}/$")]] = []


class CostOptimization(Strict):
    right_sizing: RightSizing | None = None
    scheduling: Scheduling | None = None
    lifecycle_management: LifecycleManagement | None = None


class GrowthForecast(Strict):
    qps_growth: Growth | None = None
    dataset_growth: Growth | None = None
    model_size_growth: Growth | None = None
    horizon_months: Annotated[int, Field(ge=1, le=60)] | None = None


class AwsState(Strict):
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    region: str | None = None
    kms_key_id: str | None = None


class GcsState(Strict):
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")]
    # State files are written with this Cloud KMS key (customer-managed encryption).
    kms_encryption_key: Annotated[str, Field(pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")]


class State(Strict):
    """Remote Terraform state (extension): an S3 and/or GCS backend; local when absent."""

    aws: AwsState | None = None
    gcp: GcsState | None = None


class SecurityException(Strict):
    """A written exemption from one policy rule for one resource (extension)."""

    rule: Annotated[str, Field(pattern=r"^AIINFRA-[A-Z]+-\d{3}$")]
    resource: Annotated[str, Field(min_length=3, max_length=500, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")]
    reason: Annotated[str, Field(min_length=10, max_length=500)]


MetricName = Annotated[str, Field(min_length=1, max_length=64)]


class MonitoringConfig(Strict):
    """The guide's Step 5 block: the metrics collected, charted and alarmable (names checked
    against ``aiinfra.observability.metrics`` in ``checks``)."""

    infrastructure_metrics: list[MetricName] = []
    ai_specific_metrics: list[MetricName] = []
    business_metrics: list[MetricName] = []

    def names(self) -> list[str]:
        return [*self.infrastructure_metrics, *self.ai_specific_metrics, *self.business_metrics]


class Spec(Strict):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
    environment: Literal["development", "staging", "production"] = "production"
    clouds: Clouds
    workload_inventory: Annotated[list[Workload], Field(min_length=1, max_length=5000)]
    performance_requirements: PerformanceRequirements | None = None
    storage_tiers: StorageTiers | None = None
    data_pipeline: DataPipeline | None = None
    network: Network | None = None
    security_controls: SecurityControls | None = None
    alerting_rules: list[AlertRule] = []
    resource_quotas: dict[Literal["development", "staging", "production"], Quota] = {}
    cost_optimization: CostOptimization | None = None
    growth_forecast: GrowthForecast | None = None
    monitoring_config: MonitoringConfig | None = None
    state: State | None = None
    security_exceptions: list[SecurityException] = []
