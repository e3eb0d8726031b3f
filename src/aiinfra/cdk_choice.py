"""Which CDK ``aiinfra.cdk`` binds to, decided without importing either (``aiinfra synth`` keys its
cache on it and hands it to its worker processes before any jsii starts). See ``aiinfra.cdk``."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys

CHOICES = ("cdktf", "cdktn")
_INSTALL = {"cdktf": "pip install 'cdktf-aiinfra[synth]'", "cdktn": "pip install 'cdktf-aiinfra[synth-cdktn]'"}


class CdkChoiceError(ImportError):
    """``AIINFRA_CDK`` names no CDK, or one that is not installed, or neither is installed.
    ``where`` names the setting at fault, ``reason`` what is wrong (``str()``: both, one line)."""

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}")


def choose() -> tuple[str, str]:
    """(the CDK to bind, why)."""
    asked = os.environ.get("AIINFRA_CDK", "").strip()
    if asked:
        if asked not in CHOICES:
            raise CdkChoiceError(f"AIINFRA_CDK={asked}", "expected cdktf or cdktn")
        if importlib.util.find_spec(asked) is None:
            raise CdkChoiceError(f"AIINFRA_CDK={asked}", f"{asked} is not installed ({_INSTALL[asked]})")
        return asked, f"AIINFRA_CDK={asked}"
    imported = [name for name in CHOICES if name in sys.modules]
    if imported:
        return imported[0], f"{imported[0]} already imported"
    for name in CHOICES:
        if importlib.util.find_spec(name) is not None:
            return name, f"{name} installed"
    raise CdkChoiceError("synth", f"neither cdktf nor cdktn is installed: {_INSTALL['cdktf']} (or {_INSTALL['cdktn']})")


def current() -> str:
    """The CDK ``aiinfra.cdk`` is bound to in this process, or would bind to if imported now."""
    return sys.modules["aiinfra.cdk"].NAME if "aiinfra.cdk" in sys.modules else choose()[0]


def describe() -> str:
    """``"cdktf 0.21.0"``: ``current()`` and its installed version."""
    name = current()
    return f"{name} {importlib.metadata.version(name)}"
