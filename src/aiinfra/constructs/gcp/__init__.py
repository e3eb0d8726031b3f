"""Reusable, typed cdktf / cdktn constructs for GPU infrastructure on Google Cloud. None of them reads the spec."""

from aiinfra.constructs.gcp.alerts import AlertRule, Alerts, JobMetric, MetricDescriptors, PolicyTarget
from aiinfra.constructs.gcp.budget import BillingBudget
from aiinfra.constructs.gcp.cache import ServingCache
from aiinfra.constructs.gcp.cdn import StaticContentCdn
from aiinfra.constructs.gcp.dashboard import Dashboard, DashboardRow
from aiinfra.constructs.gcp.cluster_network import ClusterNetwork, CompactPlacement, GpuNicNetworks
from aiinfra.constructs.gcp.encryption_key import EncryptionKey
from aiinfra.constructs.gcp.gke_cluster import KubernetesCluster
from aiinfra.constructs.gcp.gke_node_pool import GpuNodePool, NodeServiceAccount, gpu_nic_node_networks
from aiinfra.constructs.gcp.gke_workload_identity import WorkloadIdentityBinding
from aiinfra.constructs.gcp.gpu_instance_group import GpuInstanceGroup
from aiinfra.constructs.gcp.inference_endpoint import HealthCheck, InferenceEndpoint
from aiinfra.constructs.gcp.ingestion import ScheduledIngestion
from aiinfra.constructs.gcp.internal_endpoint import InternalEndpoint
from aiinfra.constructs.gcp.node_firewall import NodeFirewall
from aiinfra.constructs.gcp.project_services import ProjectServices
from aiinfra.constructs.gcp.provider import GoogleProvider
from aiinfra.constructs.gcp.run_schedule import GroupRunnerRole, RunSchedule
from aiinfra.constructs.gcp.spark_runs import DataprocSparkRuns
from aiinfra.constructs.gcp.spot_pool import SpotPool
from aiinfra.constructs.gcp.threat_detection import ThreatDetection
from aiinfra.constructs.gcp.tiered_storage import TieredStorage
from aiinfra.constructs.gcp.workload_identity import WorkloadIdentity

__all__ = ["AlertRule", "Alerts", "BillingBudget", "JobMetric", "MetricDescriptors", "PolicyTarget", "ClusterNetwork", "CompactPlacement", "Dashboard", "DashboardRow", "DataprocSparkRuns", "EncryptionKey", "GoogleProvider", "GpuInstanceGroup", "GpuNicNetworks", "GpuNodePool", "GroupRunnerRole", "HealthCheck",
           "InferenceEndpoint", "InternalEndpoint", "KubernetesCluster", "NodeFirewall", "NodeServiceAccount", "ProjectServices", "RunSchedule", "ScheduledIngestion", "ServingCache", "SpotPool", "StaticContentCdn", "ThreatDetection", "TieredStorage", "WorkloadIdentity", "WorkloadIdentityBinding", "gpu_nic_node_networks"]
