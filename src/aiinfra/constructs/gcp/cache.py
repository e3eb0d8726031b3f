"""The serving cache on Google Cloud: a Memorystore for Redis Cluster under the foundation's key (CMEK), TLS in transit,
IAM authentication, shards spread over the region's zones, reached over Private Service Connect from the foundation's
network, and the IAM role its clients connect with."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import GcpContext, check_name

# google_redis_cluster (google provider 6.x) enums: transit_encryption_mode TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION
# (TLS, the server authenticated by the cluster's CA), authorization_mode AUTH_MODE_IAM_AUTH, node_type one of NODE_TYPES
# (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/redis_cluster).
TLS_MODE = "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
IAM_AUTH = "AUTH_MODE_IAM_AUTH"
NODE_TYPES = ("REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE")
# Private Service Connect: a service connection policy for this service class on the client network and region lets the
# cluster create its endpoints there (https://cloud.google.com/memorystore/docs/cluster/networking).
SERVICE_CLASS = "gcp-memorystore-redis"
# The role a principal connects with under IAM authentication (its access token is the password); granted on the
# project, it reaches every cluster of the project (https://cloud.google.com/memorystore/docs/cluster/manage-iam-auth).
CONNECT_ROLE = "roles/redis.dbConnectionUser"
# CMEK: the Memorystore for Redis service agent encrypts with the key; the key is in the cluster's region
# (https://cloud.google.com/memorystore/docs/cluster/use-cmek, https://cloud.google.com/memorystore/docs/cluster/about-cmek).
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Redis's eviction policies (https://redis.io/docs/latest/develop/reference/eviction/); Memorystore takes them as the
# maxmemory-policy redis config. volatile-ttl evicts the keys nearest their expiry first: the cache's TTL is the client's.
EVICTION_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random",
                     "volatile-ttl")
MAX_SHARDS = 250
MAX_REPLICAS = 5


def node_type_of(value: str) -> str:
    """``redis-highmem-medium`` (gcloud's spelling) or ``REDIS_HIGHMEM_MEDIUM`` as the provider's enum."""
    out = value.strip().upper().replace("-", "_")
    if out not in NODE_TYPES:
        raise ValueError(f"node_type must be one of {', '.join(NODE_TYPES)}, got {value!r}")
    return out


class ServingCache(Construct):
    """A Memorystore for Redis Cluster for the serving workloads.

    Example::

        cache = ServingCache(stack, "cache", project="acme-ml-prod", name="acme-prod-cache-0", region="us-central1",
                             network=net.network_id, subnetwork=net.subnetwork_self_link, kms_key_id=key.id, shard_count=3,
                             replica_count=1, node_type="REDIS_HIGHMEM_MEDIUM", client_members=[identity.member])

    Clients connect over TLS (the cluster's CA: ``managed_server_ca``) to ``discovery_address``:``discovery_port`` with a
    Google access token as the password, as a principal holding ``CONNECT_ROLE``.

    Args:
        project, region: where the cluster lives (the key must be in this region).
        name: the cluster's name (and the policy's, ``<name>-psc``).
        network: the client VPC's id (``projects/P/global/networks/N``): the cluster's PSC endpoints are created there.
        subnetwork: a subnetwork of ``network`` in ``region`` the endpoints take their addresses from.
        kms_key_id: the customer key of the cluster's data at rest; the service agent is granted it.
        shard_count: 1 to 250; replica_count: replicas per shard, 0 to 5 (default 1: a shard survives a zone).
        node_type: one of ``NODE_TYPES`` (gcloud's lowercase spelling accepted); default REDIS_HIGHMEM_MEDIUM.
        eviction_policy: ``maxmemory-policy``; default ``volatile-ttl``.
        multi_zone: spread nodes over the region's zones (default); False: one zone (``zone`` required then).
        client_members: IAM principals granted ``CONNECT_ROLE`` on the project (``allow`` grants one from another stack).
        connection_policy: create the PSC service connection policy (default); False when another cluster of the
            same network and region already made it (one policy per network, region and service class), passing it
            as ``depends_on``.
        deletion_protection: refuse to delete the cluster (default on).

    Attributes:
        cluster, connection_policy (None when not created), grant, discovery_address, discovery_port.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, network: str, subnetwork: str, kms_key_id: str,
                 shard_count: int, replica_count: int = 1, node_type: str = "REDIS_HIGHMEM_MEDIUM", eviction_policy: str = "volatile-ttl",
                 multi_zone: bool = True, zone: str | None = None, client_members: Sequence[str] = (), connection_policy: bool = True,
                 deletion_protection: bool = True, depends_on: Sequence = ()):
        super().__init__(scope, id)
        check_name(name, "name", 55)
        problems = []
        if isinstance(shard_count, bool) or not isinstance(shard_count, int) or not 1 <= shard_count <= MAX_SHARDS:
            problems.append(f"shard_count must be a whole number from 1 to {MAX_SHARDS}, got {shard_count!r}")
        if isinstance(replica_count, bool) or not isinstance(replica_count, int) or not 0 <= replica_count <= MAX_REPLICAS:
            problems.append(f"replica_count must be a whole number from 0 to {MAX_REPLICAS}, got {replica_count!r}")
        if eviction_policy not in EVICTION_POLICIES:
            problems.append(f"eviction_policy must be one of {', '.join(EVICTION_POLICIES)}, got {eviction_policy!r}")
        if not multi_zone and not zone:
            problems.append("a single-zone cluster needs zone")
        try:
            node_type = node_type_of(node_type)
        except ValueError as e:
            problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))
        ctx = GcpContext(self, project)
        self.connection_policy = None
        if connection_policy:
            self.connection_policy = resource(self, "psc-policy", "google_network_connectivity_service_connection_policy", project=project,
                                              name=f"{name}-psc", location=region, service_class=SERVICE_CLASS, network=network,
                                              description="Memorystore for Redis Cluster endpoints on the workloads' network (aiinfra)",
                                              psc_config={"subnetworks": [subnetwork]})
        agent = f"serviceAccount:service-{ctx.number}@cloud-redis.iam.gserviceaccount.com"
        self.grant = resource(self, "key-agent", "google_kms_crypto_key_iam_member", crypto_key_id=kms_key_id, role=ENCRYPTER_DECRYPTER,
                              member=agent)
        deps = [p for p in (self.connection_policy, self.grant, *depends_on) if p is not None]
        self.cluster = resource(
            self, "cluster", "google_redis_cluster", project=project, name=name, region=region, shard_count=shard_count,
            replica_count=replica_count, node_type=node_type, transit_encryption_mode=TLS_MODE, authorization_mode=IAM_AUTH,
            kms_key=kms_key_id, redis_configs={"maxmemory-policy": eviction_policy},
            zone_distribution_config={"mode": "MULTI_ZONE"} if multi_zone else {"mode": "SINGLE_ZONE", "zone": zone},
            psc_configs=[{"network": network}], deletion_protection_enabled=deletion_protection, depends_on=deps)
        self.discovery_address: str = self.cluster.get_string_attribute("discovery_endpoints[0].address")
        self.discovery_port: str = self.cluster.get_string_attribute("discovery_endpoints[0].port")
        self.project = project
        self.client_grants = [self.allow(self, f"client-{i}", m) for i, m in enumerate(dict.fromkeys(client_members))]

    def allow(self, scope: Construct, id: str, member: str):
        """Grant ``member`` ``CONNECT_ROLE`` with a resource in ``scope``: this construct, or the client's own stack (applied
        after the cache's, so the client's service account exists when it is granted and the client can read the endpoint)."""
        return resource(scope, id, "google_project_iam_member", project=self.project, role=CONNECT_ROLE, member=member)
