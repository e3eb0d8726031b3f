"""The workload requirements spec: models, the safe YAML reader and unit parsers."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aiinfra.errors import Problem, SpecError
from aiinfra.spec.loader import load_yaml
from aiinfra.spec.models import Spec, Workload

__all__ = ["Spec", "Workload", "LoadedSpec", "load_spec", "load_spec_text", "did_you_mean"]


def did_you_mean(value: str, known: list[str] | tuple[str, ...], what: str) -> str:
    """"unknown GPU 'A1OO'; did you mean 'A100'? known: A100, A10G, ..." """
    import difflib  # only bad input needs it

    lowered = {k.lower(): k for k in known}
    # Also try with the letter O read as a zero: 'A1OO' is a typo for 'A100'.
    close = (difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
             or difflib.get_close_matches(value.lower().replace("o", "0"), list(lowered), n=1, cutoff=0.6))
    hint = f"; did you mean '{lowered[close[0]]}'?" if close else ""
    return f"unknown {what} '{value}'{hint} known: {', '.join(sorted(known))}"


class LoadedSpec(typing.NamedTuple):
    spec: Spec
    lines: dict[str, int]
    source: str

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            if parent == path:
                break
            path = parent
        return None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _unwrap_models(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model type reachable in an annotation (through Optional, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _unwrap_models(arg)
    return found


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Spec
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if n == part or f.alias == part), None)
        if field is None:
            # list index / dict key positions between models
            continue
        models = _unwrap_models(field.annotation)
        model = models[0] if models else None
    return model


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _message(err: dict[str, Any]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "value_error":
        return re.sub(r"^Value error, ", "", msg)
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        if isinstance(value, str):
            return did_you_mean(value, allowed, "value").replace(" known: ", " allowed: ")
        return f"expected one of {', '.join(allowed)}, got {value!r}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match the required pattern {err['ctx']['pattern']}"
    if kind in ("string_type", "int_type", "float_type", "bool_type", "list_type", "dict_type", "model_type", "model_attributes_type"):
        return f"{msg[0].lower()}{msg[1:]}, got {type(value).__name__} {value!r}"[:300]
    if kind in ("too_short", "too_long"):
        return msg.lower()
    return msg


def _problems(exc: ValidationError, lines: "LoadedSpec") -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "json-or-python"))))
        path = _path(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            key = str(loc[-1])
            message = did_you_mean(key, _allowed_keys(parent), "key").replace(" known: ", " allowed: ") if parent else f"unknown key '{key}'"
        else:
            message = _message(err)
        problems.append(Problem(path, message, lines.line(path)))
    return problems


def load_spec_text(text: str, source: str = "<spec>", catalog=None) -> LoadedSpec:
    """Read and check a spec's text. Raises SpecError with every problem found."""
    data, lines = load_yaml(text)
    placeholder = LoadedSpec(None, lines, source)  # type: ignore[arg-type]
    if not isinstance(data, dict):
        raise SpecError([Problem("<root>", f"the spec must be a mapping of keys (project, clouds, workload_inventory, ...), got {type(data).__name__}")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_problems(exc, placeholder)) from None
    loaded = LoadedSpec(spec, lines, source)
    from aiinfra.spec.checks import check_spec  # the catalog is needed only past the schema

    problems = check_spec(loaded, catalog)
    if problems:
        raise SpecError(problems)
    return loaded


def load_spec(path: str | Path, catalog=None) -> LoadedSpec:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError([Problem(str(path), "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(str(path), "is a directory, not a spec file")]) from None
    except OSError as exc:
        raise SpecError([Problem(str(path), f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(str(path), f"not UTF-8 text (byte {exc.start})")]) from None
    return load_spec_text(text, str(path), catalog)
