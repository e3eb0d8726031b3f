"""Names of stacks and resources (``aiinfra.naming``, a module without cdktf, re-exported here)."""

from aiinfra.naming import ENV_SHORT, short, stack_name

__all__ = ["ENV_SHORT", "short", "stack_name"]
