"""Names of stacks and resources (``aiinfra.naming``, a module without cdktf, re-exported here)."""

from aiinfra.naming import ENV_SHORT, resource_prefix, short, stack_name

__all__ = ["ENV_SHORT", "resource_prefix", "short", "stack_name"]
