from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    states = r.get("logging_config", "log_action_states") or []
    actions = r.get("logging_config", "log_actions") or []
    if "FAILED" not in states or not actions:
        return bad("failed transfer actions are not logged (logging_config: log_actions and log_action_states FAILED)")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-023",
    description="Storage Transfer jobs log their failed actions to Cloud Logging",
    explanation="A transfer that cannot list or copy its source fails quietly: the ingestion's failure alert reads the ERROR "
                "entries that logging_config writes for FAILED actions, and without them the pipeline trains on stale data "
                "unnoticed.",
    fix="set logging_config { log_actions = [\"FIND\", \"COPY\"], log_action_states = [\"FAILED\"] } (ScheduledIngestion does)",
    types=("google_storage_transfer_job",),
    check=check,
)
