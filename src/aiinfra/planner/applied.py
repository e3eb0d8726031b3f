"""Which spec keys change the plan or the stacks, and which are accepted and change nothing yet.

Issue 14, "No silent keys": the spec accepts every key of the planning guide's blocks, so its
examples paste in unchanged, but not every key is built. A reviewer reading the plan must not
believe a key is in place when it is not: every field path of the spec models is in exactly one
of these registries (``tests/test_not_applied.py`` walks the models and fails otherwise).

- ``APPLIED``: path -> where it takes effect, ``<file under src/aiinfra>: <what>`` (the test
  checks that the file names the attribute; ``(via NAME)`` names the attribute read instead).
- ``NOT_APPLIED``: path -> why it changes nothing, in words a reviewer understands. A block in
  here changes nothing at all: every key under it is in here too.
- ``CONDITIONS``: path -> ``fn(spec, owner, value, key)``: keys applied in some specs only (a
  workload's ``framework`` counts only for data processing matched to ``data_pipeline.preprocessing``,
  another environment's quotas are not checked ...); ``fn`` returns the reason it is not applied
  in this spec, or None. Its paths may also be list items (``x[]``) and dict values (``x.*``).

Applied means: the value changes the plan (placement, sizes, schedule, cost, or a warning or
error finding when a check fails) or the synthesized stacks. A key read only for an info
message, or only validated (``spec/checks.py``), is not applied.

Paths are the spec's own keys (aliases such as ``requests.cpu``), ``[]`` for list items and
``*`` for mapping keys in the registry; ``not_applied(spec)`` reports concrete paths
(``workload_inventory[2].framework``, ``resource_quotas.development``), as the spec errors do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from aiinfra.planner import rules
from aiinfra.planner.model import NotApplied

W = "workload_inventory[]"

APPLIED: dict[str, str] = {
    "project": "stacks/aws.py: stack and resource names, cost tags; stacks/gcp.py: the same",
    "environment": "planner/compute.py: spot default, production zones; stacks/aws.py: names, NAT gateway per zone",
    "clouds": "planner/compute.py: the clouds and regions a workload may run in",
    "clouds.aws": "stacks/aws.py: the AWS stacks",
    "clouds.aws.region": "planner/compute.py: the default region of AWS workloads",
    "clouds.aws.ami_id": "stacks/aws.py: the nodes' image",
    "clouds.aws.certificate_arn": "stacks/aws.py: the HTTPS listener's certificate",
    "clouds.aws.domains": "stacks/aws.py: an ACM certificate requested for the endpoints",
    "clouds.aws.hosted_zone_id": "stacks/aws.py: the certificate's DNS validation records",
    "clouds.aws.alert_emails": "stacks/aws.py: e-mail subscriptions of the alerts topic",
    "clouds.gcp": "stacks/gcp.py: the GCP stacks",
    "clouds.gcp.region": "planner/compute.py: the default region of GCP workloads",
    "clouds.gcp.project": "stacks/gcp.py: the project every resource is created in",
    "clouds.gcp.image": "stacks/gcp.py: the nodes' boot image",
    "clouds.gcp.domains": "stacks/gcp.py: Google-managed certificates of the endpoints",
    "clouds.gcp.ssl_certificates": "stacks/gcp.py: existing certificates of the endpoints",
    "clouds.gcp.alert_emails": "stacks/gcp.py: e-mail notification channels",
    "clouds.gcp.billing_account": "stacks/gcp.py: a budget at the plan's monthly cost",
    "clouds.gcp.storage_usage_logs": "stacks/gcp.py: the usage-log grant to Cloud Storage's analytics account on the logs bucket",
    "clouds.aws.platform": "planner/platform.py: vm instance groups, or a cluster with node pools",
    "clouds.aws.kubernetes": "planner/platform.py: the cluster's version, endpoint and whether it is created",
    "clouds.aws.kubernetes.version": "planner/platform.py: the cluster's Kubernetes version, support and control plane cost",
    "clouds.aws.kubernetes.endpoint_cidrs": "planner/platform.py: who may reach the cluster's API server",
    "clouds.aws.kubernetes.existing_cluster": "planner/platform.py: the pools join it; no control plane is created or costed",
    "clouds.gcp.platform": "planner/platform.py: vm instance groups, or a cluster with node pools",
    "clouds.gcp.kubernetes": "planner/platform.py: the cluster's version, endpoint and whether it is created",
    "clouds.gcp.kubernetes.version": "planner/platform.py: the cluster's Kubernetes version, support and control plane cost",
    "clouds.gcp.kubernetes.endpoint_cidrs": "planner/platform.py: who may reach the cluster's API server",
    "clouds.gcp.kubernetes.existing_cluster": "planner/platform.py: the pools join it; no control plane is created or costed",
    "workload_inventory": "planner/__init__.py: one workload plan each",
    f"{W}.name": "planner/compute.py: the workload's plan; stacks/aws.py: its stack and group names",
    f"{W}.type": "planner/compute.py: training, serving or data processing sizing",
    f"{W}.framework": ("planner/compute.py: a data_processing workload's framework picks its data_pipeline.preprocessing cluster_size; "
                       "an LLM serving framework (vllm, tgi ...) makes a serving model a language model"),
    f"{W}.dataset_size": "planner/compute.py: data volumes, data processing nodes and hours; planner/storage.py: warm tier size",
    f"{W}.model_size": "planner/compute.py: inferred GPUs, replica throughput, checkpoints; planner/storage.py: model versions kept",
    f"{W}.training_frequency": "planner/schedule.py: the start schedule and runs a month",
    f"{W}.gpu_requirements": "planner/compute.py: the shapes and node counts considered",
    f"{W}.estimated_runtime": "planner/compute.py: the hours costed a run",
    f"{W}.expected_qps": "planner/compute.py: replica counts and cost per 1k predictions",
    f"{W}.latency_sla": ("planner/compute.py: the response time a replica must meet (the batch it is sized at; an error when no shape "
                         "can meet it); planner/checks.py: a warning when looser than performance_requirements.inference.p95_latency"),
    f"{W}.availability_requirement": "planner/compute.py: zones and minimum replicas",
    f"{W}.cloud": "planner/compute.py: pins the cloud",
    f"{W}.spot": "planner/compute.py: the capacity type",
    f"{W}.region": "planner/compute.py: overrides the region",
    f"{W}.replica_qps": "planner/compute.py: replica sizing; stacks/aws.py: requests a target the autoscaler tracks",
    f"{W}.replica_qps_measured_on": "planner/compute.py: the only shape replica_qps is used on",
    f"{W}.dataset_sharding": "planner/compute.py: data staged a node (the whole dataset, or its shard)",
    f"{W}.nodes": "planner/compute.py: a data_processing cluster's node range",
    f"{W}.image": "planner/compute.py: the plan's image; stacks/nodes.py: what the nodes run",
    f"{W}.command": "boot/workload.py: the container's command on the nodes",
    f"{W}.env": "boot/workload.py: the container's environment on the nodes",
    f"{W}.port": "planner/compute.py: the serving port; stacks/aws.py: target group and health check port",
    f"{W}.health_check_path": "planner/compute.py: the health path; stacks/aws.py: the target group's health check",
    f"{W}.exposure": "planner/compute.py: public or internal; stacks/aws.py: internet-facing or internal load balancer",
    f"{W}.schedule": "planner/schedule.py: when runs start",
    f"{W}.max_runtime": "planner/schedule.py: the hard stop of a run",
    f"{W}.retries": "planner/schedule.py: restarts of a run",
    f"{W}.reservation": "stacks/aws.py: launches into the capacity reservation; stacks/gcp.py: the same; preflight/needs.py: checked to exist",
    f"{W}.capacity_block": "stacks/aws.py: launch template market type capacity-block; preflight/aws.py: checks the reservation's kind",
    f"{W}.precision": "planner/compute.py: GPU memory fit (bytes a parameter)",
    f"{W}.training_method": "planner/compute.py: GPU memory fit (full fine-tune or adapters)",
    f"{W}.model_type": "planner/compute.py: LLM throughput model",
    f"{W}.output_tokens_per_request": "planner/compute.py: LLM throughput a replica",
    f"{W}.input_tokens_per_request": "planner/compute.py: LLM throughput a replica",
    f"{W}.autoscaling": ("planner/compute.py: its minReplicas / maxReplicas bound the replicas (min, max, those costed); "
                         "k8s/serving.py: the HorizontalPodAutoscaler on the kubernetes platform"),
    "performance_requirements": "planner/checks.py: checks against the workloads",
    "performance_requirements.training": "planner/checks.py: training checks",
    "performance_requirements.training.max_training_time": "planner/schedule.py: default hard stop of a run; planner/compute.py: default runtime; planner/checks.py: a warning when estimated_runtime exceeds it",
    "performance_requirements.training.model_size_limit": "planner/checks.py: a warning when a training model_size exceeds it",
    "performance_requirements.inference": "planner/checks.py: serving checks",
    "performance_requirements.inference.p95_latency": ("planner/compute.py: the latency target of serving workloads without latency_sla; "
                                                       "planner/checks.py: a warning when a workload's latency_sla is looser"),
    "performance_requirements.inference.throughput": "planner/checks.py: a warning when demand or planned capacity misses it",
    "performance_requirements.inference.availability": "planner/compute.py: zones of serving workloads without availability_requirement; planner/checks.py: a warning when a workload's is lower",
    "storage_tiers": "planner/storage.py: tier sizes and lifecycle days",
    "storage_tiers.warm": "planner/storage.py: the warm tier",
    "storage_tiers.warm.size": "planner/storage.py: the warm tier's size and cost (buckets are not capped)",
    "storage_tiers.warm.transition_after_days": "planner/storage.py: days before objects move to the warm class (without live tiering)",
    "storage_tiers.cold": "planner/storage.py: the cold tier",
    "storage_tiers.cold.size": "planner/storage.py: the cold tier's size and cost (buckets are not capped)",
    "storage_tiers.cold.transition_after_days": "planner/storage.py: days before the archive prefixes move to the cold class; stacks/aws.py: the bucket lifecycle",
    "data_pipeline": ("planner/compute.py: data_processing node counts from preprocessing cluster sizes; planner/pipeline.py: the "
                      "managed ingestion and cache"),
    "data_pipeline.ingestion": "planner/pipeline.py: one scheduled transfer each (AWS DataSync / GCP Storage Transfer Service), priced",
    "data_pipeline.ingestion[].source": "planner/pipeline.py: the transfer's source bucket, prefix and cloud (and egress when it is the other cloud)",
    "data_pipeline.ingestion[].destination": "planner/pipeline.py (via destination_prefix): the data bucket prefix the transfer writes",
    "data_pipeline.ingestion[].schedule": "planner/pipeline.py: the transfer's cron (UTC)",
    "data_pipeline.serving": ("planner/pipeline.py: one cache cluster each on every cloud with a serving workload (ElastiCache for "
                              "Valkey / Memorystore for Redis Cluster), priced"),
    "data_pipeline.serving[].cache_size": "planner/pipeline.py: the node type and shard count (the cheapest cluster that holds it)",
    "data_pipeline.serving[].ttl": ("planner/pipeline.py: the clients' TTL (AIINFRA_CACHE_TTL_SECONDS) with the volatile-ttl eviction "
                                    "policy"),
    "network": "planner/pipeline.py: network.inference_network.cdn; the rest of the network is not configured from the spec",
    "network.inference_network": "planner/pipeline.py (via cdn_asked): the CDN of the public endpoints",
    "network.inference_network.cdn": "planner/pipeline.py (via cdn_asked): CloudFront / Cloud CDN for each public serving workload",
    "data_pipeline.preprocessing": "planner/compute.py: data_processing node counts",
    "data_pipeline.preprocessing[].framework": "planner/compute.py: matched against a data_processing workload's framework",
    "data_pipeline.preprocessing[].cluster_size": "planner/compute.py: the matched workload's node range",
    "data_pipeline.preprocessing[].output": "planner/spark.py: the managed Spark job's output prefix in the data bucket",
    "alerting_rules": "observability/workload.py: the workloads' alarms; stacks/aws.py: alarms and budget thresholds",
    "alerting_rules[].name": "observability/workload.py: the alarm's name",
    "alerting_rules[].condition": "observability/workload.py (via parsed_condition): metric, operator and threshold",
    "alerting_rules[].duration": "observability/workload.py: how long the condition holds",
    "alerting_rules[].severity": "observability/workload.py: the alarm's severity",
    "alerting_rules[].action": "planner/schedule.py: restart_with_checkpoint on the training_job_status rule gives batch runs retries",
    "resource_quotas": "planner/checks.py: the plan environment's quotas",
    "resource_quotas.*.requests.cpu": ("planner/checks.py: a warning when the plan's vCPUs exceed it; k8s/queues.py: the namespace's "
                                       "ResourceQuota and the Kueue ClusterQueue's cpu quota on the kubernetes platform"),
    "resource_quotas.*.requests.memory": ("planner/checks.py: a warning when the plan's memory exceeds it; k8s/queues.py: the namespace's "
                                          "ResourceQuota and the Kueue ClusterQueue's memory quota on the kubernetes platform"),
    "resource_quotas.*.requests.nvidia.com/gpu": ("planner/checks.py: an error when steady GPUs exceed it, a warning at peak; k8s/queues.py: "
                                                  "the namespace's ResourceQuota and the Kueue ClusterQueue's GPU quota on the kubernetes platform"),
    "resource_quotas.*.limits.nvidia.com/gpu": ("planner/checks.py: an error when steady GPUs exceed it, a warning at peak; k8s/queues.py: "
                                                "the namespace's ResourceQuota (as requests.nvidia.com/gpu) and the ClusterQueue's GPU quota "
                                                "on the kubernetes platform"),
    **{f"resource_quotas.*.{k}": "k8s/queues.py: the namespace's ResourceQuota on the kubernetes platform"
       for k in ("limits.cpu", "limits.memory", "persistentvolumeclaims", "requests.storage", "pods")},
    "cost_optimization": "planner/compute.py: spot and target utilisation",
    "cost_optimization.right_sizing": "planner/compute.py: target utilisation",
    "cost_optimization.right_sizing.target_utilization": "planner/compute.py: replicas sized for its lower bound, the autoscaler's target",
    "cost_optimization.scheduling": "planner/compute.py: spot; planner/schedule.py: start times",
    "cost_optimization.scheduling.training_jobs": "planner/schedule.py: the local hour derived schedules start at",
    "cost_optimization.scheduling.spot_instances": "planner/compute.py: which workloads run on spot",
    "cost_optimization.scheduling.preemptible_vms": "planner/compute.py: spot in the named environments",
    "cost_optimization.lifecycle_management": "planner/storage.py: lifecycle days",
    "cost_optimization.lifecycle_management.model_archival": "planner/storage.py: days before the archive prefixes move to the cold class",
    "cost_optimization.lifecycle_management.data_retention": ("planner/storage.py (via compliance_retention_days): locked noncurrent versions "
                                                              "outlive their expiry; planner/security.py: the warm-tier bucket locked (Object Lock / retention)"),
    "cost_optimization.lifecycle_management.noncurrent_version_expiration": ("planner/storage.py: days noncurrent versions are kept and "
                                                                             "their cost; stacks/aws.py (via lifecycle): the data buckets' expiry"),
    "cost_optimization.lifecycle_management.archive_prefixes": ("planner/storage.py: the prefixes moved by age on AWS; "
                                                                "stacks/aws.py (via lifecycle): their lifecycle rules"),
    f"{W}.response_size": "planner/network.py: load balancer data processed and internet egress",
    "cost_optimization.lifecycle_management.retention_period": "planner/security.py (via compliance_retention_days): the lock's period",
    "security_controls": "planner/security.py (via requirements): the Step 4 controls in the plan; stacks/__init__.py (via requirements): recorded in each stack",
    "security_controls.access_management": "planner/security.py (via api_authentication): API authentication",
    "security_controls.access_management.api_authentication": (
        "planner/security.py: the endpoints authenticate callers; stacks/aws.py (via api_authentication): ALB OIDC; "
        "stacks/gcp.py (via api_authentication): Identity-Aware Proxy"),
    "security_controls.data_protection": "planner/security.py (via hsm_keys): key protection",
    "security_controls.data_protection.key_management": (
        "planner/security.py (via hsm_keys): HSM keys when it names one; stacks/gcp.py (via key_protection): Cloud KMS protection level"),
    "security_controls.network_security": "planner/security.py (via segmentation): the network controls",
    "security_controls.network_security.network_segmentation": (
        "planner/security.py (via segmentation): the policy pack judges per-workload node groups and firewalls"),
    "security_controls.network_security.intrusion_detection": (
        "planner/security.py (via threat_detection): GuardDuty / Security Command Center; stacks/aws.py (via threat_detection): deployed"),
    "security_controls.network_security.vulnerability_scanning": (
        "planner/security.py (via vulnerability_scanning): Inspector / VM Manager; stacks/gcp.py (via vulnerability_scanning): deployed"),
    "security_controls.network_security.rate_limit_per_client": (
        "planner/security.py: one client's rate on the public endpoints (the plan's edge_filtering); stacks/aws.py (via client_qps): "
        "the WAF rate rule; stacks/gcp.py (via client_qps): the Cloud Armor throttle"),
    "clouds.aws.oidc": "stacks/aws.py: the endpoints' ALB OIDC authentication",
    "clouds.aws.oidc.issuer": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.oidc.authorization_endpoint": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.oidc.token_endpoint": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.oidc.user_info_endpoint": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.oidc.client_id": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.oidc.scope": "stacks/aws.py (via oidc): the identity provider",
    "clouds.aws.custom_key_store_id": "stacks/aws.py: the data key is created in the CloudHSM key store",
    "clouds.gcp.iap_members": "stacks/gcp.py: who may call the endpoints through Identity-Aware Proxy",
    f"{W}.image_signing_key": "boot/workload.py: the image's signature is verified at boot",
    "growth_forecast": "planner/compute.py: max replicas and data volumes",
    "growth_forecast.qps_growth": "planner/compute.py: max replicas",
    "growth_forecast.dataset_growth": "planner/compute.py: data volumes; planner/storage.py: warm tier size",
    "monitoring_config": "observability/workload.py: what the agents collect and the dashboards chart",
    "monitoring_config.infrastructure_metrics": "observability/workload.py (via names): what the agents collect and the dashboards chart",
    "monitoring_config.ai_specific_metrics": "observability/workload.py (via names): what the agents collect and the dashboards chart",
    "monitoring_config.business_metrics": "observability/workload.py (via names): what the agents collect and the dashboards chart",
    "state": "stacks/aws.py: the S3 backend; stacks/gcp.py: the GCS backend",
    "state.aws": "stacks/aws.py: the S3 backend",
    "state.aws.bucket": "stacks/aws.py: the S3 backend's bucket",
    "state.aws.region": "stacks/aws.py: the S3 backend's region",
    "state.aws.kms_key_id": "stacks/state.py: the S3 backend's KMS key",
    "state.gcp": "stacks/gcp.py: the GCS backend",
    "state.gcp.bucket": "stacks/gcp.py: the GCS backend's bucket",
    "state.gcp.kms_encryption_key": "stacks/state.py: the GCS backend's Cloud KMS key",
    "security_exceptions": "stacks/__init__.py: policy rules waived for one resource",
    "security_exceptions[].rule": "stacks/__init__.py: the rule waived",
    "security_exceptions[].resource": "stacks/__init__.py: the resource it is waived for",
    "security_exceptions[].reason": "stacks/__init__.py: printed with the waiver",
}

_DESCRIPTIVE = "descriptive only: the tier's storage class is fixed per cloud (warm: STANDARD_IA / NEARLINE, cold: GLACIER_IR / COLDLINE)"
_HOT = ("the hot tier is the nodes' own storage (instance NVMe, and a data volume a node sized from the workload's dataset and "
        "checkpoints): nothing in storage_tiers.hot changes it")
_CACHE_LAYER = ("not read: the cache is ElastiCache for Valkey on AWS (Redis OSS compatible, priced below Redis OSS) and Memorystore "
                "for Redis Cluster on GCP, whatever it names")
_RIGHT_SIZING = ("no right-sizing analysis runs: node and replica counts come from the plan's rules (planner/rules.py) each time "
                 "it is planned, not from measured utilisation")
_NO_K8S = "there is no Kubernetes namespace to enforce it: workloads run as one container a VM in instance groups"

NOT_APPLIED: dict[str, str] = {
    "clouds.aws.account_id": ("not checked: the stacks deploy into whichever account the AWS credentials belong to "
                              "(the provider sets no allowed_account_ids)"),
    f"{W}.description": "a note for readers: it is not written to any resource, tag or label",
    "performance_requirements.training.concurrent_experiments": (
        "not provisioned: the plan runs one run of each training workload at a time (an info finding shows the GPUs the "
        "concurrent experiments would need)"),
    "storage_tiers.hot": _HOT,
    **{f"storage_tiers.hot.{k}": _HOT for k in ("type", "use_case", "performance", "cost", "size", "transition_after_days")},
    **{f"storage_tiers.{t}.{k}": _DESCRIPTIVE for t in ("warm", "cold") for k in ("type", "use_case", "performance", "cost")},
    "data_pipeline.serving[].cache_layer": _CACHE_LAYER,
    "network.training_network": ("the training network is not configured from the spec: multi-node jobs get their shape's "
                                 "interconnect (EFA / GPUDirect-TCPX(O)) and compact placement"),
    "network.training_network.bandwidth": ("not checked: the interconnect and its bandwidth follow the chosen instance type "
                                           "(EFA / GPUDirect NICs), not this value"),
    "network.training_network.topology": ("no topology is built: multi-node jobs get a cluster placement group (AWS) or a compact "
                                          "placement policy (GCP) whatever it says"),
    "network.training_network.isolation": ("training nodes are not isolated from the other workloads: their primary interfaces "
                                           "share the region's private subnets (no dedicated VLAN or VPC)"),
    "network.inference_network.load_balancer": ("not read: every serving workload gets an HTTPS application load balancer (AWS "
                                                "ALB; GCP external or internal HTTPS load balancer); network_layer and none are not built"),
    "network.inference_network.ssl_termination": ("not read: TLS always terminates at the load balancer (HTTPS only, on 443); "
                                                  "disabled is not built"),
    "security_controls.access_management.identity_provider": (
        "not read: the endpoints authenticate with the identity provider of clouds.aws.oidc (AWS) and Google identities through "
        "Identity-Aware Proxy (GCP; a directory such as Active Directory joins through Workforce Identity Federation, outside the "
        "stacks); everything else is the clouds' own IAM"),
    "security_controls.access_management.rbac": (
        "not read: each workload has its own least-privilege IAM role or service account; on the kubernetes platform its pods run "
        "as their own Kubernetes service account (that role through EKS Pod Identity / GKE Workload Identity) with no Kubernetes "
        "API rights, a scheduled run's launcher may only create JobSets in its namespace, and the cluster's only admin is the "
        "applier's EKS access entry / GKE IAM: people get access through your own RBAC bindings"),
    "security_controls.data_protection.encryption_at_rest": (
        "not read: buckets, volumes and disks are always encrypted with a customer-managed KMS / Cloud KMS key (AES-256-GCM), "
        "whatever it says"),
    "security_controls.data_protection.encryption_in_transit": (
        "not read: the HTTPS endpoints accept TLS 1.2 and 1.3 (AWS ELBSecurityPolicy-TLS13-1-2-2021-06, GCP RESTRICTED "
        "policy with TLS 1.2 minimum), whatever it says"),
    "cost_optimization.right_sizing.method": _RIGHT_SIZING,
    "cost_optimization.right_sizing.frequency": _RIGHT_SIZING,
    "cost_optimization.lifecycle_management.resource_cleanup": (
        "no cleanup job is deployed: batch groups scale to zero at each run's hard stop; nothing else is removed"),
    "growth_forecast.model_size_growth": "not read: GPU memory, checkpoints and model storage are sized for today's model_size",
    "growth_forecast.horizon_months": ("not read: the growth factors are applied as given (max replicas, data volumes, storage), "
                                       "whatever the horizon"),
}



# ---- keys applied in some specs only ---------------------------------------------------

def _preprocessing_match(spec, w) -> int | None:
    """The data_pipeline.preprocessing entry whose cluster_size sizes ``w`` (planner/compute.py data_options)."""
    if w.type != "data_processing" or w.gpu_requirements is not None or w.nodes is not None or not spec.data_pipeline:
        return None
    fw = (w.framework or "").lower()
    for j, p in enumerate(spec.data_pipeline.preprocessing):
        if p.cluster_size and fw and fw in p.framework.lower():
            return j
    return None


def _llm_framework(w) -> bool:
    """Whether the framework makes a serving workload a language model (planner/compute.py _is_llm)."""
    if w.type != "inference" or w.replica_qps is not None or getattr(w, "model_type", None) is not None:
        return False
    fw = (w.framework or "").lower()
    return any(f in fw for f in rules.LLM_FRAMEWORKS)


def _framework(spec, w, value, key) -> str | None:
    if _preprocessing_match(spec, w) is not None or _llm_framework(w):
        return None
    why = "nothing is installed or tuned for it: the image the nodes run brings the framework"
    if w.type == "data_processing" and w.gpu_requirements is None:
        return why + (" (nodes: is set, so no data_pipeline.preprocessing cluster_size is looked up)" if w.nodes is not None else
                      " (no data_pipeline.preprocessing entry with a cluster_size names it)")
    if w.type == "inference":
        return why + " (only an LLM serving framework such as vllm or tgi changes the plan, when model_type and replica_qps are not set)"
    return why


def _preprocessing_item(spec, owner, p, j) -> str | None:
    if any(_preprocessing_match(spec, w) == j for w in spec.workload_inventory):
        return None
    return ("no data_processing workload is sized from it (one is when its framework is part of this entry's framework and it "
            "sets no nodes:), and no preprocessing job is deployed")


def _measured_on(spec, w, value, key) -> str | None:
    if w.type == "inference" and w.replica_qps is not None:
        return None
    return "replica_qps is not set on a serving workload: there is no measurement to place"


def _dataset_sharding(spec, w, value, key) -> str | None:
    if w.type == "training" and w.dataset_size:
        return None
    return ("data processing nodes always hold a shard (dataset_size / nodes)" if w.type == "data_processing" else
            "only training workloads with a dataset_size stage data on their nodes")


def _nodes(spec, w, value, key) -> str | None:
    if w.type == "data_processing" and w.gpu_requirements is None:
        return None
    return "nodes: sizes data_processing clusters only; this workload's node count comes from its GPU ask"


def _training_frequency(spec, w, value, key) -> str | None:
    return "schedule: is set on the workload and wins: runs start at its cron" if w.schedule else None


def _latency_sla(spec, w, value, key) -> str | None:
    if w.type == "inference":
        return None
    return "only serving workloads are sized for a latency target"


def _p95_latency(spec, owner, value, key) -> str | None:
    if any(w.type == "inference" and not w.latency_sla for w in spec.workload_inventory):
        return None
    return "every serving workload sets its own latency_sla, which wins; this is only checked against them"


def _action(spec, rule, value, key) -> str | None:
    if rule.parsed_condition()[0] == "training_job_status" and "restart" in value:
        return None
    return f"alerts notify (the alerts topic / notification channels) and nothing acts on them: {value!r} is not automated"


def _quota_block(spec, owner, quota, env) -> str | None:
    if env == spec.environment:
        return None
    return f"quotas of the {env} environment: this plan is for {spec.environment}; they are checked when {env} is planned"


# The quota keys only a Kubernetes namespace enforces (k8s/queues.py writes them into the namespace's ResourceQuota):
# on the vm platform nothing does.
_VM_QUOTA = {
    "resource_quotas.*.limits.cpu": f"not checked: the plan compares its vCPUs with requests.cpu only; {_NO_K8S}",
    "resource_quotas.*.limits.memory": f"not checked: the plan compares its memory with requests.memory only; {_NO_K8S}",
    "resource_quotas.*.persistentvolumeclaims": f"not checked: each node gets its own data volume, there are no volume claims; {_NO_K8S}",
    "resource_quotas.*.requests.storage": f"not checked against the plan's volumes and buckets; {_NO_K8S}",
    "resource_quotas.*.pods": f"not checked: {_NO_K8S}",
}


def _namespace_quota(reason: str) -> Condition:
    def condition(spec, owner, value, key) -> str | None:
        on_kubernetes = any(getattr(spec.clouds, c).platform == "kubernetes" for c in spec.clouds.configured())
        return None if on_kubernetes else reason
    return condition


def _model_archival(spec, owner, value, key) -> str | None:
    cold = spec.storage_tiers.cold if spec.storage_tiers else None
    if cold is not None and cold.transition_after_days:
        return "storage_tiers.cold.transition_after_days is set and wins"
    return _by_age(spec, owner, value, key)


def _by_age(spec, owner, value, key) -> str | None:
    """Issue 27: days move only the archive prefixes on AWS; live data is tiered by access."""
    lm = spec.cost_optimization.lifecycle_management if spec.cost_optimization else None
    if lm and lm.archive_prefixes and "aws" in spec.clouds.configured():
        return None
    return ("live data is tiered by access (S3 Intelligent-Tiering: 30 / 90 days unread; GCS Autoclass), never by age: the days "
            "move only cost_optimization.lifecycle_management.archive_prefixes on AWS, and none is set")


def _warm_days(spec, owner, value, key) -> str | None:
    return ("live data is tiered by access (S3 Intelligent-Tiering's Infrequent Access after 30 days unread, GCS Autoclass's "
            "NEARLINE likewise), never moved to the warm class by age")


def _aws_domains(spec, aws, value, key) -> str | None:
    return "clouds.aws.certificate_arn is set and wins: no certificate is requested" if aws.certificate_arn else None


def _aws_zone(spec, aws, value, key) -> str | None:
    if aws.certificate_arn:
        return "clouds.aws.certificate_arn is set and wins: no certificate is requested, so nothing is validated in the zone"
    if not aws.domains:
        return "only validates the certificate requested for clouds.aws.domains, which is not set"
    return None


def _preemptible(spec, owner, pre, key) -> str | None:
    env = spec.environment
    if (pre == "development_environments" and env == "development") or (pre == "non_production_environments" and env != "production") \
            or pre == "all_environments":
        return None
    return (f"{pre} does not cover the {env} environment: spot follows cost_optimization.scheduling.spot_instances or the "
            "environment's default")


def _training_jobs(spec, owner, policy, key) -> str | None:
    return "anytime is the default: derived schedules start at midnight UTC" if policy == "anytime" else None


def _data_retention(spec, owner, value, key) -> str | None:
    if "compliance" in value.lower():
        return None
    return f"{value!r} is not read: only compliance_based changes the stacks (the warm-tier bucket is locked)"


def _retention_period(spec, owner, value, key) -> str | None:
    if owner.data_retention and "compliance" in owner.data_retention.lower():
        return None
    return "only read with data_retention: compliance_based"


def _off(value) -> bool:
    from aiinfra.planner.security import asked

    return not asked(value)


def _api_authentication(spec, owner, value, key) -> str | None:
    if _off(value):
        return None  # "none": nothing to apply, nothing claimed
    if not any(w.type == "inference" for w in spec.workload_inventory):
        return "no serving workload: there is no endpoint to authenticate"
    return None


def _asked_control(spec, owner, value, key) -> str | None:
    return f"{value!r} turns it off: nothing is deployed" if _off(value) else None


def _oidc(spec, aws, value, key) -> str | None:
    from aiinfra.planner.security import api_authentication

    if not api_authentication(spec):
        return "only read when security_controls.access_management.api_authentication asks for authentication"
    return None


def _iap_members(spec, gcp, value, key) -> str | None:
    return _oidc(spec, gcp, value, key)


def _kubernetes_block(spec, cloud, value, key) -> str | None:
    if cloud.platform == "kubernetes":
        return None
    return "the cloud runs on the vm platform (platform: vm, the default): nothing reads this block until platform: kubernetes"


def _all_on_kubernetes(spec) -> bool:
    clouds = [getattr(spec.clouds, c) for c in spec.clouds.configured()]
    return bool(clouds) and all(c.platform == "kubernetes" for c in clouds)


def _alert_rule_item(spec, owner, rule, key) -> str | None:
    # A monthly_cost rule is a budget threshold of the foundation on both platforms (stacks/aws.py, stacks/gcp.py); on
    # kubernetes the others are Prometheus rules (observability/promql.py) where a cluster metric measures them.
    if _all_on_kubernetes(spec) and rule.parsed_condition()[0] != "monthly_cost":
        from aiinfra.observability.promql import untranslatable

        why = untranslatable(rule)
        return f"on the kubernetes platform no cluster metric watches it: {why}" if why else None
    return None


# ---- keys the data pipeline's plan builds in some specs only (issue 30, planner/pipeline.py) ---------------------------
# These read the plan's pipeline parts (``reads_parts``): ``not_applied`` passes them as a fifth argument.

def _reads_parts(fn):
    fn.reads_parts = True
    return fn


@_reads_parts
def _ingestion_item(spec, owner, ing, i, parts) -> str | None:
    if any(p.part == "ingestion" and p.target == f"data_pipeline.ingestion[{i}]" for p in parts):
        return None
    from aiinfra.planner.pipeline import bucket_url

    if bucket_url(ing.source) is None:
        return (f"no transfer is built: its source {ing.source!r} is not an s3:// or gs:// bucket URL (the plan's error says so); "
                "copy the data into the data bucket yourself")
    return "no transfer is built: the plan has no cloud for it"


@_reads_parts
def _serving_item(spec, owner, item, i, parts) -> str | None:
    if any(p.part == "cache" and p.target == f"data_pipeline.serving[{i}]" for p in parts):
        return None
    if not any(w.type == "inference" for w in spec.workload_inventory):
        return ("no cache is provisioned: there is no serving workload (type inference) to use it; a cache is built on each cloud "
                "with one")
    if not any(p.part == "cache" for p in parts) and _serving_on_kubernetes(spec):
        return ("no cache is provisioned: the serving workloads run on the kubernetes platform, whose pods are not given a cache "
                "yet (a cache is built for the vm platform's serving nodes)")
    return "no cache is provisioned: the plan refused this entry (see its error)"


def _serving_on_kubernetes(spec) -> bool:
    """Every serving workload is on a cloud whose platform is kubernetes (a workload without a cloud: any configured one)."""
    clouds = spec.clouds.configured()
    kube = {c for c in clouds if getattr(spec.clouds, c).platform == "kubernetes"}
    serving = [w for w in spec.workload_inventory if w.type == "inference"]
    return bool(kube) and all((w.cloud in kube) if w.cloud else set(clouds) <= kube for w in serving)


@_reads_parts
def _cdn(spec, owner, value, key, parts) -> str | None:
    if _off(value):
        return f"{value!r} turns it off: no CDN is deployed"
    if any(p.part == "cdn" for p in parts):
        return None
    if any(w.type == "inference" for w in spec.workload_inventory) and _serving_on_kubernetes(spec):
        return ("no CDN is provisioned: the serving workloads run on the kubernetes platform, whose Ingress / Gateway gets no "
                "static path yet (a CDN is built for the vm platform's endpoints)")
    return ("no CDN is provisioned: there is no public serving workload (type inference, exposure public) to put one in front of")


@_reads_parts
def _preprocessing_output(spec, p, value, key, parts) -> str | None:
    fw = p.framework.lower()
    if any(x.part == "spark" and x.settings.get("output_prefix") for x in parts
           for w in spec.workload_inventory if w.name == x.target and (w.framework or "").lower() in fw):
        return None
    return ("no output location is configured: no Spark workload of this framework runs on the managed engine (on the "
            "kubernetes platform, or another framework, the job writes where its image writes)")


Condition = Callable[..., "str | None"]


def _on_managed_spark(reason: str) -> Condition:
    """A workload key the managed Spark engine does not use: ``reason`` when the workload runs on it (Plan.spark_part)."""
    @_reads_parts
    def condition(spec, w, value, key, parts) -> str | None:
        return reason if any(p.part == "spark" and p.target == w.name for p in parts) else None
    return condition


_spark_image = _on_managed_spark("not used: the Spark job runs on the cloud's managed engine (EMR / Dataproc) from command's main "
                                 "file, not in this container image")
_spark_retries = _on_managed_spark("not applied: a failed managed Spark run is not started again (EMR's step ends the cluster, a "
                                   "Dataproc workflow deletes its cluster); the failure alert fires and the next scheduled run "
                                   "starts afresh")


CONDITIONS: dict[str, Condition] = {
    f"{W}.framework": _framework,
    f"{W}.nodes": _nodes,
    f"{W}.replica_qps_measured_on": _measured_on,
    f"{W}.dataset_sharding": _dataset_sharding,
    f"{W}.training_frequency": _training_frequency,
    f"{W}.latency_sla": _latency_sla,
    "performance_requirements.inference.p95_latency": _p95_latency,
    "data_pipeline.preprocessing[]": _preprocessing_item,
    "data_pipeline.ingestion[]": _ingestion_item,
    "data_pipeline.preprocessing[].output": _preprocessing_output,
    "data_pipeline.serving[]": _serving_item,
    "network.inference_network.cdn": _cdn,
    f"{W}.image": _spark_image,
    f"{W}.retries": _spark_retries,
    "alerting_rules[]": _alert_rule_item,
    "alerting_rules[].action": _action,
    "resource_quotas.*": _quota_block,
    **{path: _namespace_quota(reason) for path, reason in _VM_QUOTA.items()},
    "cost_optimization.lifecycle_management.model_archival": _model_archival,
    "storage_tiers.warm.transition_after_days": _warm_days,
    "storage_tiers.cold.transition_after_days": _by_age,
    "cost_optimization.scheduling.preemptible_vms": _preemptible,
    "cost_optimization.scheduling.training_jobs": _training_jobs,
    "clouds.aws.domains": _aws_domains,
    "clouds.aws.hosted_zone_id": _aws_zone,
    "cost_optimization.lifecycle_management.data_retention": _data_retention,
    "cost_optimization.lifecycle_management.retention_period": _retention_period,
    "security_controls.access_management.api_authentication": _api_authentication,
    "security_controls.network_security.intrusion_detection": _asked_control,
    "security_controls.network_security.vulnerability_scanning": _asked_control,
    "clouds.aws.oidc": _oidc,
    "clouds.gcp.iap_members": _iap_members,
    "clouds.aws.kubernetes": _kubernetes_block,
    "clouds.gcp.kubernetes": _kubernetes_block,
}


# ---- keys of a workload on the kubernetes platform ----------------------------------------

# SPEC.md v3 "Platforms": a workload on a kubernetes cloud runs as in-cluster objects (stacks/kubernetes_objects.py:
# its Deployment / JobSet with the image, command, env, port and health checks, the exposure through the cluster's
# load balancer controller, the CronJob of its schedule, the runs' deadline and restarts: k8s/serving.py, k8s/jobs.py).
# What the VM boot does that no in-cluster object does yet stays listed here.
_NO_SIGNATURE_CHECK = ("on the kubernetes platform nothing verifies the image's signature before its pods start (the VM boot "
                       "does, with cosign); an admission policy (e.g. the Sigstore policy-controller) would: aiinfra installs none")
ON_KUBERNETES: dict[str, str] = {
    f"{W}.image_signing_key": _NO_SIGNATURE_CHECK,
}


# ---- the spec's own keys that change nothing ---------------------------------------------

def not_applied(spec: BaseModel, on_kubernetes: frozenset[str] = frozenset(), pipeline: list | tuple = ()) -> list[NotApplied]:
    """The keys ``spec`` sets (present in the YAML with a non-default value) that change nothing,
    in spec order. A block that changes nothing is one entry when every key set in it has the
    block's reason, else one entry a key; a block applied in some specs only (another
    environment's quotas ...) is one entry when this spec is not one of them. ``on_kubernetes``:
    the workloads planned on a kubernetes cloud (their ``ON_KUBERNETES`` keys build nothing there); ``pipeline``: the plan's
    PipelinePartPlans (a data pipeline key is applied where a part is built from it)."""
    return [NotApplied(path, reason) for path, reason in _model(spec, spec, "", "", on_kubernetes, tuple(pipeline))]


def _model(spec, m: BaseModel, pattern: str, path: str, kube: frozenset[str] = frozenset(), parts: tuple = ()) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    fields_set = m.model_fields_set
    for name, field in type(m).model_fields.items():
        if name not in fields_set:
            continue
        value = getattr(m, name)
        if value == field.default:
            continue
        key = field.alias or name
        out += _node(spec, m, name, value, f"{pattern}.{key}" if pattern else key, f"{path}.{key}" if path else key, kube, parts)
    return out


def _node(spec, owner, key, value, pattern: str, path: str, kube: frozenset[str] = frozenset(), parts: tuple = ()) -> list[tuple[str, str]]:
    if pattern in ON_KUBERNETES and getattr(owner, "name", None) in kube:
        return [(path, ON_KUBERNETES[pattern])]
    cond = CONDITIONS.get(pattern)
    if cond is not None:
        why = cond(spec, owner, value, key, parts) if getattr(cond, "reads_parts", False) else cond(spec, owner, value, key)
        if why:
            return [(path, why)]
    reason = NOT_APPLIED.get(pattern)
    if isinstance(value, BaseModel):
        children = _model(spec, value, pattern, path, kube, parts)
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        children = [x for i, item in enumerate(value) for x in _node(spec, owner, i, item, f"{pattern}[]", f"{path}[{i}]", kube, parts)]
    elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
        children = [x for k, item in value.items() for x in _node(spec, owner, k, item, f"{pattern}.*", f"{path}.{k}", kube, parts)]
    else:
        return [(path, reason)] if reason else []
    if reason is not None and all(why == reason for _, why in children):
        return [(path, reason)]
    return children
