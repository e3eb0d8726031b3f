"""The policy rules, one per file (``<cloud>_<nnn>_<what>.py``, each with a ``RULE``). ``RULES``
is every rule, in id order: a new file is picked up without editing this one."""

import importlib
import pkgutil

_MODULES = [importlib.import_module(f"{__name__}.{m.name}") for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
            if not m.name.startswith("_")]
RULES = tuple(sorted((m.RULE for m in _MODULES), key=lambda r: r.id))
RULES_BY_ID = {r.id: r for r in RULES}
if len(RULES_BY_ID) != len(RULES):  # pragma: no cover - a packaging mistake
    raise ImportError("two policy rules share an id")
