try:
    # moto 5.2.5 ElastiCache lacks what constructs/aws/cache.py ServingCache creates beside the replication group
    # (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/Welcome.html, shapes as botocore's model):
    #  * cache parameter groups: Create / Describe / Modify / Reset / Delete CacheParameterGroup(s) and
    #    DescribeCacheParameters (the parameters a user set, Source "user");
    #  * RBAC user groups: Create / Describe / Modify / Delete UserGroup(s), a user's UserGroupIds and a group's
    #    ReplicationGroups kept as ElastiCache keeps them;
    #  * tags of both (moto's ARN check knows no usergroup / parametergroup);
    #  * a replication group's member clusters (DescribeCacheClusters), a deleted group gone after "deleting", and
    #    DeleteCacheSubnetGroup.
    from moto.core.responses import ActionResult as _EcResult
    from moto.elasticache.exceptions import ElastiCacheException as _EcError
    from moto.elasticache.models import ElastiCacheBackend as _EcBackend
    from moto.elasticache.responses import ElastiCacheResponse as _ElastiCache
    import re as _ec_re

    class _EcNotFound(_EcError):
        def __init__(self, code, message):
            self.code = code
            super().__init__(message)

    def _ec_state(backend):
        if not hasattr(backend, "_aiinfra"):
            backend._aiinfra = {"params": {}, "groups": {}}
        return backend._aiinfra

    def _ec_arn(self, kind, name):
        return f"arn:aws:elasticache:{self.region}:{self.current_account}:{kind}:{name}"

    def _ec_tag(self, arn):
        tags = self._get_param("Tags") or []
        if tags:
            self.elasticache_backend.tagging_service.tag_resource(arn, tags)

    # ---- parameter groups
    def _ec_pg(self, name):
        found = _ec_state(self.elasticache_backend)["params"].get(name)
        if found is None:
            raise _EcNotFound("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.")
        return found

    def _ec_pg_view(pg):
        return {k: pg[k] for k in ("CacheParameterGroupName", "CacheParameterGroupFamily", "Description", "IsGlobal", "ARN")}

    def _ec_create_pg(self):
        name = self._get_param("CacheParameterGroupName")
        pgs = _ec_state(self.elasticache_backend)["params"]
        if name in pgs:
            raise _EcNotFound("CacheParameterGroupAlreadyExists", f"Parameter group {name} already exists.")
        pgs[name] = {"CacheParameterGroupName": name, "CacheParameterGroupFamily": self._get_param("CacheParameterGroupFamily"),
                     "Description": self._get_param("Description"), "IsGlobal": False, "ARN": _ec_arn(self, "parametergroup", name),
                     "values": {}}
        _ec_tag(self, pgs[name]["ARN"])
        return _EcResult({"CacheParameterGroup": _ec_pg_view(pgs[name])})

    def _ec_describe_pgs(self):
        name = self._get_param("CacheParameterGroupName")
        pgs = [_ec_pg(self, name)] if name else list(_ec_state(self.elasticache_backend)["params"].values())
        return _EcResult({"CacheParameterGroups": [_ec_pg_view(p) for p in pgs]})

    def _ec_modify_pg(self):
        pg = _ec_pg(self, self._get_param("CacheParameterGroupName"))
        for p in self._get_param("ParameterNameValues") or []:
            pg["values"][p["ParameterName"]] = p["ParameterValue"]
        return _EcResult({"CacheParameterGroupName": pg["CacheParameterGroupName"]})

    def _ec_reset_pg(self):
        pg = _ec_pg(self, self._get_param("CacheParameterGroupName"))
        if self._get_bool_param("ResetAllParameters"):
            pg["values"].clear()
        for p in self._get_param("ParameterNameValues") or []:
            pg["values"].pop(p["ParameterName"], None)
        return _EcResult({"CacheParameterGroupName": pg["CacheParameterGroupName"]})

    def _ec_describe_params(self):
        pg = _ec_pg(self, self._get_param("CacheParameterGroupName"))
        source = self._get_param("Source")
        params = [{"ParameterName": k, "ParameterValue": v, "Source": "user", "DataType": "string", "IsModifiable": True,
                   "ChangeType": "immediate"} for k, v in sorted(pg["values"].items())]
        return _EcResult({"Parameters": [p for p in params if source in (None, "user")]})

    def _ec_delete_pg(self):
        name = self._get_param("CacheParameterGroupName")
        _ec_pg(self, name)
        _ec_state(self.elasticache_backend)["params"].pop(name)
        return _EcResult({})

    # ---- user groups
    def _ec_ug(self, gid):
        found = _ec_state(self.elasticache_backend)["groups"].get(gid)
        if found is None:
            raise _EcNotFound("UserGroupNotFound", f"User group {gid} not found.")
        return found

    def _ec_ug_view(self, group):
        replication = [rg_id for rg_id, rg in self.elasticache_backend.replication_groups.items()
                       if group["UserGroupId"] in (getattr(rg, "user_group_ids", None) or [])]
        return {**group, "ReplicationGroups": replication, "ServerlessCaches": []}

    def _ec_members(self, gid, add=(), remove=()):
        users = self.elasticache_backend.users
        for uid in add:
            if uid not in users:
                raise _EcNotFound("UserNotFound", f"User {uid} not found.")
            users[uid].user_group_ids = sorted(set(users[uid].user_group_ids) | {gid})
        for uid in remove:
            if uid in users:
                users[uid].user_group_ids = [g for g in users[uid].user_group_ids if g != gid]

    def _ec_create_ug(self):
        gid = self._get_param("UserGroupId")
        groups = _ec_state(self.elasticache_backend)["groups"]
        if gid in groups:
            raise _EcNotFound("UserGroupAlreadyExists", f"User group {gid} already exists.")
        ids = list(self._get_param("UserIds") or [])
        self._ec_members(gid, add=ids)
        groups[gid] = {"UserGroupId": gid, "Status": "active", "Engine": (self._get_param("Engine") or "").lower(), "UserIds": ids,
                       "MinimumEngineVersion": "6.0", "ARN": _ec_arn(self, "usergroup", gid)}
        _ec_tag(self, groups[gid]["ARN"])
        return _EcResult(self._ec_ug_view(groups[gid]))

    def _ec_describe_ugs(self):
        gid = self._get_param("UserGroupId")
        groups = [_ec_ug(self, gid)] if gid else list(_ec_state(self.elasticache_backend)["groups"].values())
        return _EcResult({"UserGroups": [self._ec_ug_view(g) for g in groups]})

    def _ec_modify_ug(self):
        group = _ec_ug(self, self._get_param("UserGroupId"))
        add, remove = list(self._get_param("UserIdsToAdd") or []), list(self._get_param("UserIdsToRemove") or [])
        self._ec_members(group["UserGroupId"], add=add, remove=remove)
        group["UserIds"] = [u for u in group["UserIds"] if u not in remove] + [u for u in add if u not in group["UserIds"]]
        return _EcResult(self._ec_ug_view(group))

    def _ec_delete_ug(self):
        group = _ec_ug(self, self._get_param("UserGroupId"))
        self._ec_members(group["UserGroupId"], remove=group["UserIds"])
        _ec_state(self.elasticache_backend)["groups"].pop(group["UserGroupId"])
        return _EcResult({**self._ec_ug_view(group), "Status": "deleting"})

    # ---- a replication group's member clusters: ElastiCache answers DescribeCacheClusters for each (the provider reads
    # the group's encryption, transit mode and parameter group from the first); moto names them and creates none.
    _ec_describe_clusters = _ElastiCache.describe_cache_clusters

    def _ec_member_view(rg, cid):
        return {"CacheClusterId": cid, "ReplicationGroupId": rg.replication_group_id, "CacheClusterStatus": "available",
                "CacheNodeType": rg.cache_node_type, "Engine": rg.engine, "EngineVersion": rg.engine_version or "",
                "NumCacheNodes": 1, "PreferredMaintenanceWindow": rg.preferred_maintenance_window or "sun:05:00-sun:06:00",
                "CacheParameterGroup": {"CacheParameterGroupName": rg.cache_parameter_group_name or "", "ParameterApplyStatus": "in-sync",
                                        "CacheNodeIdsToReboot": []},
                "CacheSubnetGroupName": rg.cache_subnet_group_name or "",
                "SecurityGroups": [{"SecurityGroupId": sg, "Status": "active"} for sg in rg.security_group_ids or []],
                "AutoMinorVersionUpgrade": str(rg.auto_minor_version_upgrade).lower() != "false", "AuthTokenEnabled": rg.auth_token_enabled,
                "TransitEncryptionEnabled": bool(rg.transit_encryption_enabled), "AtRestEncryptionEnabled": bool(rg.at_rest_encryption_enabled),
                "TransitEncryptionMode": rg.transit_encryption_mode or "preferred", "SnapshotRetentionLimit": rg.snapshot_retention_limit,
                "SnapshotWindow": rg.snapshot_window, "NetworkType": rg.network_type, "IpDiscovery": rg.ip_discovery,
                "ReplicationGroupLogDeliveryEnabled": bool(rg.log_delivery_configurations),
                "ARN": rg.arn.replace(f"replicationgroup:{rg.replication_group_id}", f"cluster:{cid}")}

    def _ec_describe_clusters_with_members(self):
        cid = self._get_param("CacheClusterId")
        if cid and cid not in self.elasticache_backend.cache_clusters:
            for rg in self.elasticache_backend.replication_groups.values():
                if cid in rg.member_clusters:
                    return _EcResult({"CacheClusters": [_ec_member_view(rg, cid)]})
        return _ec_describe_clusters(self)

    _ElastiCache.describe_cache_clusters = _ec_describe_clusters_with_members

    # A deleted replication group stays "deleting" for ever in moto (the provider waits for it to be gone): answer it
    # deleting once, then not found, as moto already does for users.
    _ec_describe_rgs = _EcBackend.describe_replication_groups

    def _ec_describe_rgs_gone(self, replication_group_id=None):
        found = _ec_describe_rgs(self, replication_group_id)
        for rg in found:
            if rg.status == "deleting":
                self.replication_groups.pop(rg.replication_group_id, None)
        return found

    _EcBackend.describe_replication_groups = _ec_describe_rgs_gone

    # DeleteCacheSubnetGroup (moto has none: the provider retried its 500 for ever); refused while a group uses it.
    def _ec_delete_subnet_group(self):
        name = self._get_param("CacheSubnetGroupName")
        backend = self.elasticache_backend
        if name not in backend.cache_subnet_groups:
            raise _EcNotFound("CacheSubnetGroupNotFoundFault", f"CacheSubnetGroup {name} not found.")
        if any(rg.cache_subnet_group_name == name for rg in backend.replication_groups.values()):
            raise _EcNotFound("CacheSubnetGroupInUse", f"Cache subnet group {name} is in use.")
        backend.cache_subnet_groups.pop(name)
        return _EcResult({})

    # moto's ARN check for tags knows no user group / parameter group ARN.
    _ec_list_tags = _EcBackend.list_tags_for_resource

    def _ec_list_tags_any(self, arn):
        if _ec_re.match(r"^arn:aws:elasticache:.*:[0-9]*:(usergroup|parametergroup):.*$", arn):
            return self.tagging_service.list_tags_for_resource(arn)
        return _ec_list_tags(self, arn)

    _EcBackend.list_tags_for_resource = _ec_list_tags_any
    for _name, _fn in (("create_cache_parameter_group", _ec_create_pg), ("describe_cache_parameter_groups", _ec_describe_pgs),
                       ("modify_cache_parameter_group", _ec_modify_pg), ("reset_cache_parameter_group", _ec_reset_pg),
                       ("describe_cache_parameters", _ec_describe_params), ("delete_cache_parameter_group", _ec_delete_pg),
                       ("create_user_group", _ec_create_ug), ("describe_user_groups", _ec_describe_ugs),
                       ("modify_user_group", _ec_modify_ug), ("delete_user_group", _ec_delete_ug),
                       ("delete_cache_subnet_group", _ec_delete_subnet_group)):
        if hasattr(_ElastiCache, _name):
            raise TypeError(f"moto's ElastiCache now has {_name}: drop this patch's")
        setattr(_ElastiCache, _name, _fn)
    _ElastiCache._ec_ug_view = _ec_ug_view
    _ElastiCache._ec_members = _ec_members
except Exception as exc:
    print(f"tf_harness: moto patch (ElastiCache parameter groups and user groups) skipped: {exc!r}", file=sys.stderr)
