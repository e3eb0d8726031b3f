try:
    # moto 5.2.5 DataSync, as the aws provider 5.100 reads it (constructs/aws/ingestion.py ScheduledIngestion):
    #  * tags: CreateLocationS3 / CreateTask take Tags, the provider then reads ListTagsForResource (moto answers 500
    #    and the provider retries for minutes); TagResource / UntagResource on update;
    #  * an S3 location's URI: DataSync answers s3://<bucket>/<subdirectory>/ whatever the leading "/" of the
    #    subdirectory asked (moto doubles the slash, and the provider reads the subdirectory back from the URI), and its
    #    storage class (STANDARD unless asked);
    #  * a task's Schedule (CreateTask / UpdateTask; DescribeTask answers ScheduleExpression and Status ENABLED), Includes
    #    and TaskMode (BASIC unless asked), which moto drops
    #    (https://docs.aws.amazon.com/datasync/latest/userguide/API_DescribeTask.html).
    import json as _ds_json
    from moto.datasync.responses import DataSyncResponse as _DataSync

    _ds_tags = {}  # resource ARN -> {key: value}, per server

    def _ds_remember_tags(arn, tags):
        _ds_tags[arn] = {t["Key"]: t.get("Value", "") for t in tags or []}

    def _ds_create_location_s3(self):
        bucket = self._get_param("S3BucketArn").split(":")[-1]
        sub = (self._get_param("Subdirectory") or "").strip("/")
        uri = f"s3://{bucket}/{sub + '/' if sub else ''}"
        metadata = {"S3Config": self._get_param("S3Config"), "S3StorageClass": self._get_param("S3StorageClass") or "STANDARD",
                    "AgentArns": self._get_param("AgentArns")}
        arn = self.datasync_backend.create_location(uri, metadata=metadata, typ="S3")
        _ds_remember_tags(arn, self._get_param("Tags"))
        return _ds_json.dumps({"LocationArn": arn})

    def _ds_describe_location_s3(self):
        location = self._get_location(self._get_param("LocationArn"), typ="S3")
        out = {"LocationArn": location.arn, "LocationUri": location.uri, "S3Config": location.metadata["S3Config"],
               "S3StorageClass": location.metadata.get("S3StorageClass") or "STANDARD"}
        if location.metadata.get("AgentArns"):
            out["AgentArns"] = location.metadata["AgentArns"]
        return _ds_json.dumps(out)

    _ds_create_task = _DataSync.create_task
    _ds_update_task = _DataSync.update_task
    _ds_describe_task = _DataSync.describe_task

    def _ds_task_extras(self, task_arn, fresh):
        task = self.datasync_backend._get_task(task_arn)
        extra = getattr(task, "_aiinfra_extra", {})
        for key in ("Schedule", "Includes", "TaskMode", "TaskReportConfig"):
            value = self._get_param(key)
            if value is not None:
                extra[key] = value
            elif fresh and key == "TaskMode":
                extra[key] = "BASIC"
        task._aiinfra_extra = extra

    def _ds_create(self):
        out = _ds_create_task(self)
        arn = _ds_json.loads(out)["TaskArn"]
        _ds_task_extras(self, arn, True)
        _ds_remember_tags(arn, self._get_param("Tags"))
        return out

    def _ds_update(self):
        task = self.datasync_backend._get_task(self._get_param("TaskArn"))
        before = dict(task.metadata)
        out = _ds_update_task(self)
        # UpdateTask changes only what it names (moto overwrote every field with None).
        for key, value in before.items():
            if task.metadata.get(key) is None:
                task.metadata[key] = value
        _ds_task_extras(self, task.arn, False)
        return out

    def _ds_describe(self):
        doc = _ds_json.loads(_ds_describe_task(self))
        task = self.datasync_backend._get_task(self._get_param("TaskArn"))
        extra = dict(getattr(task, "_aiinfra_extra", {}))
        schedule = extra.pop("Schedule", None)
        if schedule and schedule.get("ScheduleExpression"):
            doc["Schedule"] = {"ScheduleExpression": schedule["ScheduleExpression"], "Status": schedule.get("Status") or "ENABLED"}
        doc.update(extra)
        return _ds_json.dumps({k: v for k, v in doc.items() if v is not None})

    def _ds_list_tags(self):
        tags = _ds_tags.get(self._get_param("ResourceArn"), {})
        return _ds_json.dumps({"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})

    def _ds_tag(self):
        _ds_tags.setdefault(self._get_param("ResourceArn"), {}).update(
            {t["Key"]: t.get("Value", "") for t in self._get_param("Tags") or []})
        return "{}"

    def _ds_untag(self):
        tags = _ds_tags.setdefault(self._get_param("ResourceArn"), {})
        for key in self._get_param("Keys") or []:
            tags.pop(key, None)
        return "{}"

    _DataSync.create_location_s3 = _ds_create_location_s3
    _DataSync.describe_location_s3 = _ds_describe_location_s3
    _DataSync.create_task = _ds_create
    _DataSync.update_task = _ds_update
    _DataSync.describe_task = _ds_describe
    for _name, _fn in (("list_tags_for_resource", _ds_list_tags), ("tag_resource", _ds_tag), ("untag_resource", _ds_untag)):
        if hasattr(_DataSync, _name):
            raise TypeError(f"moto's DataSync now has {_name}: drop this patch's")
        setattr(_DataSync, _name, _fn)
except Exception as exc:
    print(f"tf_harness: moto patch (DataSync locations, schedules and tags) skipped: {exc!r}", file=sys.stderr)
