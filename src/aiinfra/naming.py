"""Names of stacks and resources: ``<project>-<environment>-<cloud>-<part>``."""

from __future__ import annotations

import hashlib

ENV_SHORT = {"development": "dev", "staging": "stg", "production": "prod"}


def resource_prefix(project: str, environment: str) -> str:
    """``acme-ml-prod``: the start of every resource name of a project's environment."""
    return f"{project}-{ENV_SHORT[environment]}"


# The tag (AWS) / label (GCP) every billed resource of a project's environment carries, with
# ``resource_prefix`` as its value: the budgets count exactly what carries it.
COST_SCOPE_KEY = "cost-scope"


def cost_labels(project: str, environment: str) -> dict[str, str]:
    """Tags / labels a budget filters on, for resources the providers' default tags do not reach."""
    return {"project": project, "environment": environment, COST_SCOPE_KEY: resource_prefix(project, environment)}


def stack_name(project: str, environment: str, cloud: str, part: str) -> str:
    return f"{project}-{environment}-{cloud}-{part}"


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a stable hash suffix when cut (load balancer
    and target group names are 32 characters at most)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{text[: limit - 7].rstrip('-')}-{digest}"
