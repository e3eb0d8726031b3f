"""The serving cache on AWS: ElastiCache for Valkey (or Redis OSS) in cluster mode, encrypted at rest with the
customer key and in transit, reachable from named client security groups only, authenticated with IAM (the guide's
``data_pipeline.serving``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct, TerraformOutput

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.log_group import RETENTION_DAYS

PORT = 6379
ENGINES = ("valkey", "redis")
# maxmemory-policy values (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html,
# https://valkey.io/topics/lru-cache/). The TTL is no server setting: volatile-ttl evicts the keys nearest expiry first.
EVICTION_POLICIES = ("volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-random", "allkeys-random", "volatile-ttl",
                     "noeviction")
# What a client may run: everything but the commands Valkey marks dangerous (CONFIG, KEYS, FLUSHALL, DEBUG, ...)
# (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html, access strings).
CLIENT_ACCESS = "on ~* +@all -@dangerous"
# replication_group_id: 1-40 lowercase letters, digits, hyphens; a letter first; no "--", no trailing "-"
# (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html).
_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,34}[a-z0-9]$")  # 36 + "-users" stays within the user group id's 40


def parameter_group_family(engine: str, engine_version: str) -> str:
    """The parameter group family of an engine version: Valkey 8.x is ``valkey8``, 7.2 ``valkey7``, Redis OSS 7.x
    ``redis7`` (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html)."""
    major = engine_version.split(".")[0]
    if not major.isdigit():
        raise ValueError(f"engine_version must start with the major version, got {engine_version!r}")
    return f"{engine}{major}"


class ServingCache(Construct):
    """An ElastiCache replication group in cluster mode for the serving workloads.

    Example::

        cache = ServingCache(stack, "cache", name="acme-ml-prod-cache-0", vpc_id=net.vpc_id, subnet_ids=net.private_subnet_ids,
                             kms_key_arn=key.arn, node_type="cache.r7g.large", shards=2, replicas_per_shard=1)
        cache.allow_client(workload_stack, "cache-client", security_group_id=nodes.id, role_name=identity.role_name)

    What it creates:

    * ``aws_elasticache_replication_group``: ``shards`` node groups of 1 + ``replicas_per_shard`` nodes, cluster mode
      enabled, encrypted at rest with ``kms_key_arn`` and in transit (TLS required), Multi-AZ with automatic failover
      when a shard has a replica (cluster mode always fails over), daily snapshots kept ``snapshot_retention_days``,
      slow log and engine log (JSON) delivered to a KMS log group ``/aws/elasticache/<name>``
      (https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/elasticache_replication_group).
    * IAM authentication: an ``aws_elasticache_user`` of authentication type ``iam`` whose user id and user name are
      both ``<name>-app`` (IAM authentication needs them equal and lowercase) in an ``aws_elasticache_user_group``
      attached to the group (``user_group_ids``); a client signs a token with its role and connects as that user
      (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html). Redis OSS user groups also hold a
      disabled ``default`` user, which Redis OSS requires; Valkey groups hold users that authenticate only.
    * a parameter group (``parameter_group_family``) with ``cluster-enabled yes`` and ``maxmemory-policy``.
    * a subnet group on ``subnet_ids`` and a security group open on 6379 from ``client_security_group_ids`` only
      (``allow_client`` adds a client from another stack); nothing out.
    * output ``<id>_endpoint`` (the construct's id): the configuration endpoint, ``host:6379``.

    Args:
        name: the replication group's id and prefix of the other names (2-36 lowercase letters, digits, single hyphens).
        vpc_id, subnet_ids: the private subnets the nodes live in (one a zone: Multi-AZ spreads a shard over them).
        kms_key_arn: the customer key of the data at rest (snapshots, swap) and of the log group.
        node_type, shards, replicas_per_shard: the plan's shape (1-500 shards, 0-5 replicas).
        engine, engine_version: ``valkey`` (default) or ``redis``; default version 8.0.
        eviction_policy: one of ``EVICTION_POLICIES``; default ``volatile-ttl``.
        client_security_group_ids: security groups allowed in on 6379 (each gets its ingress rule here).
        multi_az: spread each shard's primary and replicas over zones and fail over across them; default on when
            ``replicas_per_shard`` >= 1 (it needs a replica and subnets in two zones).
        snapshot_retention_days: 0-35; default 1 (0 turns backups off).
        log_retention_days: one of ``log_group.RETENTION_DAYS``; default 365.
        tags: tags of every resource.

    Attributes:
        replication_group, arn, endpoint (``host:port``), security_group_id, user, user_id, user_arn, user_group,
        parameter_group, log_group, client_policy_statement (``elasticache:Connect`` on the group and the user: what a
        client's role needs), client_policy (that statement as a policy document).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, vpc_id: str, subnet_ids: Sequence[str], kms_key_arn: str, node_type: str,
                 shards: int, replicas_per_shard: int, engine: str = "valkey", engine_version: str = "8.0",
                 eviction_policy: str = "volatile-ttl", client_security_group_ids: Sequence[str] = (), multi_az: bool | None = None,
                 snapshot_retention_days: int = 1,
                 log_retention_days: int = 365, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not _ID.match(name or ""):
            problems.append(f"name must be 2 to 36 lowercase letters, digits or single hyphens, starting with a letter, got {name!r}")
        if engine not in ENGINES:
            problems.append(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        family = None
        try:
            family = parameter_group_family(engine, engine_version)
        except ValueError as exc:
            problems.append(str(exc))
        # IAM authentication: Valkey 7.2+ or Redis OSS 7.0+ (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).
        if family and engine in ENGINES and int(engine_version.split(".")[0]) < 7:
            problems.append(f"IAM authentication needs Valkey 7.2+ or Redis OSS 7.0+, got {engine} {engine_version}")
        if not node_type.startswith("cache."):
            problems.append(f"node_type must be an ElastiCache node type (cache.*), got {node_type!r}")
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 500:
            problems.append(f"shards must be 1 to 500, got {shards!r}")
        if isinstance(replicas_per_shard, bool) or not isinstance(replicas_per_shard, int) or not 0 <= replicas_per_shard <= 5:
            problems.append(f"replicas_per_shard must be 0 to 5, got {replicas_per_shard!r}")
        if eviction_policy not in EVICTION_POLICIES:
            problems.append(f"eviction_policy must be one of {', '.join(EVICTION_POLICIES)}, got {eviction_policy!r}")
        if not subnet_ids:
            problems.append("subnet_ids must name the private subnets of the nodes")
        multi_az = (isinstance(replicas_per_shard, int) and replicas_per_shard >= 1) if multi_az is None else multi_az
        if multi_az and not (isinstance(replicas_per_shard, int) and replicas_per_shard >= 1 and len(subnet_ids) >= 2):
            problems.append("multi_az needs a replica per shard and subnets in two zones at least")
        if not 0 <= snapshot_retention_days <= 35:
            problems.append(f"snapshot_retention_days must be 0 to 35, got {snapshot_retention_days}")
        if log_retention_days not in RETENTION_DAYS:
            problems.append(f"log_retention_days must be one of {', '.join(map(str, RETENTION_DAYS))}, got {log_retention_days}")
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        self.name = name

        self.subnet_group = resource(self, "subnets", "aws_elasticache_subnet_group", name=name, description=f"Private subnets of cache {name}",
                                     subnet_ids=list(subnet_ids), tags=tags or None)
        self.security_group = resource(self, "sg", "aws_security_group", name=f"{name}-cache", vpc_id=vpc_id,
                                       description=f"Cache {name}: in on {PORT} from its clients only, nothing out",
                                       tags={**tags, "Name": f"{name}-cache"})
        self.security_group_id: str = self.security_group.get_string_attribute("id")
        for i, sg in enumerate(client_security_group_ids):
            self._ingress(self, f"client-{i}", sg)

        self.parameter_group = resource(self, "params", "aws_elasticache_parameter_group", name=name, family=family,
                                        description=f"Cache {name}: cluster mode, {eviction_policy} eviction",
                                        parameter=[{"name": "cluster-enabled", "value": "yes"}, {"name": "maxmemory-policy", "value": eviction_policy}],
                                        tags=tags or None)

        # https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/elasticache_user (authentication_mode type iam)
        self.user_id = f"{name}-app"
        self.user = resource(self, "user", "aws_elasticache_user", user_id=self.user_id, user_name=self.user_id, engine=engine,
                             access_string=CLIENT_ACCESS, authentication_mode={"type": "iam"}, tags=tags or None)
        self.user_arn: str = self.user.get_string_attribute("arn")
        members = [self.user.get_string_attribute("user_id")]
        if engine == "redis":
            # A Redis OSS user group must hold a user named "default": this one is off and may run nothing.
            default = resource(self, "default-user", "aws_elasticache_user", user_id=f"{name}-default", user_name="default", engine=engine,
                               access_string="off -@all", authentication_mode={"type": "no-password-required"}, tags=tags or None)
            members.append(default.get_string_attribute("user_id"))
        self.user_group = resource(self, "users", "aws_elasticache_user_group", user_group_id=f"{name}-users", engine=engine, user_ids=members,
                                   tags=tags or None)

        self.log_group = resource(self, "logs", "aws_cloudwatch_log_group", name=f"/aws/elasticache/{name}", retention_in_days=log_retention_days,
                                  kms_key_id=kms_key_arn, tags=tags or None)
        log_name = self.log_group.get_string_attribute("name")
        failover = True  # cluster mode enabled always fails over (AutomaticFailoverEnabled is required with it)
        self.replication_group = resource(
            self, "group", "aws_elasticache_replication_group", replication_group_id=name, description=f"Serving cache {name}",
            engine=engine, engine_version=engine_version, node_type=node_type, port=PORT,
            parameter_group_name=self.parameter_group.get_string_attribute("name"),
            subnet_group_name=self.subnet_group.get_string_attribute("name"), security_group_ids=[self.security_group_id],
            cluster_mode="enabled", num_node_groups=shards, replicas_per_node_group=replicas_per_shard,
            automatic_failover_enabled=failover, multi_az_enabled=multi_az,
            # at_rest_encryption_enabled is a string in provider 5.100 ("true" / "false").
            at_rest_encryption_enabled="true", kms_key_id=kms_key_arn,
            transit_encryption_enabled=True, transit_encryption_mode="required",
            user_group_ids=[self.user_group.get_string_attribute("user_group_id")],
            snapshot_retention_limit=snapshot_retention_days, auto_minor_version_upgrade="true",
            log_delivery_configuration=[{"destination": log_name, "destination_type": "cloudwatch-logs", "log_format": "json", "log_type": kind}
                                        for kind in ("slow-log", "engine-log")],
            tags=tags or None)
        self.arn: str = self.replication_group.get_string_attribute("arn")
        self.endpoint: str = f"{self.replication_group.get_string_attribute('configuration_endpoint_address')}:{PORT}"
        output = TerraformOutput(self, "endpoint", value=self.endpoint,
                                 description=f"Configuration endpoint of cache {name} (TLS, IAM authentication as user {self.user_id})")
        output.override_logical_id(f"{id}_endpoint")
        # A client connects as the user with a token its role signs: elasticache:Connect on the group and on the user
        # (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).
        self.client_policy_statement = {"Sid": "ConnectToServingCache", "Effect": "Allow", "Action": ["elasticache:Connect"],
                                        "Resource": [self.arn, self.user_arn]}
        self.client_policy: str = policy_json([self.client_policy_statement])

    def _ingress(self, scope: Construct, id: str, client_sg: str):
        return resource(scope, id, "aws_vpc_security_group_ingress_rule", security_group_id=self.security_group_id, ip_protocol="tcp",
                        from_port=PORT, to_port=PORT, referenced_security_group_id=client_sg, description=f"Clients of cache {self.name}")

    def allow_client(self, scope: Construct, id: str, *, security_group_id: str, role_name: str | None = None) -> None:
        """Let a client in from ``scope`` (its own stack, so that stack depends on the cache's and not the reverse):
        the cache's ingress on 6379 from ``security_group_id``, that group's egress to the cache on 6379 (a node group
        that allows HTTPS out only could not reach it), and with ``role_name`` the client's role policy
        ``client_policy``."""
        holder = Construct(scope, id)
        self._ingress(holder, "in", security_group_id)
        resource(holder, "out", "aws_vpc_security_group_egress_rule", security_group_id=security_group_id, ip_protocol="tcp", from_port=PORT,
                 to_port=PORT, referenced_security_group_id=self.security_group_id, description=f"To cache {self.name}")
        if role_name is not None:
            resource(holder, "connect", "aws_iam_role_policy", name=f"{self.name}-connect", role=role_name, policy=self.client_policy)
