from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    problems = []
    # The provider's defaults when the options block leaves them out: verify_mode POINT_IN_TIME_CONSISTENT, log_level OFF.
    if r.get("options", "verify_mode", default="POINT_IN_TIME_CONSISTENT") == "NONE":
        problems.append("transferred data is not verified (options.verify_mode NONE)")
    if not r.get("cloudwatch_log_group_arn") or r.get("options", "log_level", default="OFF") == "OFF":
        problems.append("the task logs nothing (cloudwatch_log_group_arn with options.log_level BASIC or TRANSFER)")
    return bad("; ".join(problems)) if problems else ok()


RULE = Rule(
    id="AIINFRA-AWS-020",
    description="DataSync tasks verify what they transfer and log their errors to CloudWatch Logs",
    explanation="Without verification a run that copied a corrupt or partial object still succeeds "
                "(https://docs.aws.amazon.com/datasync/latest/userguide/configure-data-verification-options.html); without a log "
                "group and a log level the files a run skipped or failed leave no trace "
                "(https://docs.aws.amazon.com/datasync/latest/userguide/configure-logging.html).",
    fix="set options { verify_mode = \"ONLY_FILES_TRANSFERRED\" (or POINT_IN_TIME_CONSISTENT), log_level = \"BASIC\" } and "
        "cloudwatch_log_group_arn (ScheduledIngestion does this)",
    types=("aws_datasync_task",),
    check=check,
)
