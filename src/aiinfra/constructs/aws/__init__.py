"""Reusable, typed cdktf / cdktn constructs for GPU infrastructure on AWS. None of them reads the spec."""

from aiinfra.constructs.aws.alerts import AlarmTarget, AlertRule, Alerts
from aiinfra.constructs.aws.budget import Budget
from aiinfra.constructs.aws.cache import ServingCache
from aiinfra.constructs.aws.cdn import StaticContentCdn
from aiinfra.constructs.aws.certificate import Certificate
from aiinfra.constructs.aws.dashboard import Dashboard, DashboardRow
from aiinfra.constructs.aws.cluster_network import ClusterNetwork
from aiinfra.constructs.aws.eks_cluster import KubernetesCluster
from aiinfra.constructs.aws.eks_node_pool import GpuNodePool
from aiinfra.constructs.aws.eks_workload_identity import PodIdentity
from aiinfra.constructs.aws.encryption_key import EncryptionKey
from aiinfra.constructs.aws.gpu_instance_group import GpuInstanceGroup
from aiinfra.constructs.aws.inference_endpoint import InferenceEndpoint, OidcAuthentication
from aiinfra.constructs.aws.ingestion import ScheduledIngestion
from aiinfra.constructs.aws.log_group import LogGroup
from aiinfra.constructs.aws.node_security_group import NodeSecurityGroup
from aiinfra.constructs.aws.provider import AwsProvider
from aiinfra.constructs.aws.run_schedule import RunSchedule
from aiinfra.constructs.aws.spark_runs import EmrSparkRuns
from aiinfra.constructs.aws.spot_pool import SpotPool
from aiinfra.constructs.aws.threat_detection import ThreatDetection
from aiinfra.constructs.aws.tiered_storage import TieredStorage
from aiinfra.constructs.aws.web_acl import WebAcl
from aiinfra.constructs.aws.workload_identity import WorkloadIdentity

__all__ = ["AlarmTarget", "AlertRule", "Alerts", "AwsProvider", "Budget", "Certificate", "ClusterNetwork", "Dashboard", "DashboardRow", "EmrSparkRuns", "InferenceEndpoint", "EncryptionKey",
           "GpuInstanceGroup", "GpuNodePool", "KubernetesCluster", "LogGroup", "NodeSecurityGroup", "OidcAuthentication", "PodIdentity", "RunSchedule", "ScheduledIngestion", "ServingCache", "SpotPool", "StaticContentCdn", "ThreatDetection", "TieredStorage", "WebAcl", "WorkloadIdentity"]
