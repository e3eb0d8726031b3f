"""Names of stacks and resources (``aiinfra.naming``, a module without cdktf, re-exported here)."""

from aiinfra.naming import COST_SCOPE_KEY, ENV_SHORT, cost_labels, resource_prefix, short, stack_name

__all__ = ["COST_SCOPE_KEY", "ENV_SHORT", "cost_labels", "resource_prefix", "short", "stack_name"]
