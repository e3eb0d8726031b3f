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


# Characters typed for one another ('A1OO' for 'A100', 'us-east-l' for 'us-east-1').
_LOOKALIKE = str.maketrans({"o": "0", "l": "1", "i": "1"})
# A name this short is a part code ('B200', 'L4', 'T4'): one character replaced makes another real part
# (B200 / H200, L4 / T4), so only an added, dropped or swapped character counts as a typo.
SHORT_CODE = 5


def _edits(a: str, b: str, substitutions: bool) -> int:
    """Optimal-string-alignment distance (insert, delete, swap two neighbours, and replace when
    ``substitutions``); replacing a digit by another digit never counts as a typo (us-east-1 /
    us-east-2, europe-west1 / europe-west4 are different places)."""
    inf = len(a) + len(b) + 1
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                sub = d[i - 1][j - 1]
            elif substitutions and not (a[i - 1].isdigit() and b[j - 1].isdigit()):
                sub = d[i - 1][j - 1] + 1
            else:
                sub = inf
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, sub)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def close_matches(value: str, known: list[str] | tuple[str, ...]) -> list[str]:
    """The known names ``value`` is a typo of, best first; several only when they are equally close
    (the caller names them all rather than pick one), none when nothing is close.

    Close is, in order: the same name but for case, separators ('-', '_', ' ') and look-alike
    characters (O / 0, l / I / 1); then one edit away (two for names of 8 characters or more), where
    a replaced character does not count in part codes of at most ``SHORT_CODE`` characters, and
    the numbers in both must agree but for one digit added or dropped ('H1000' -> 'H100', never
    'us-east-7' -> 'us-east-1'); then, for snake_case names, the one known name whose words it
    abbreviates or misspells word for word ('gpu_mem_utilisation' -> 'gpu_memory_utilization'), else
    the one known name sharing a whole word with it ('queue_length' -> 'queue_depth')."""
    def norm(s: str) -> str:
        return "".join(c for c in s.lower() if c not in "-_ ")

    want = norm(value)
    same = [k for k in known if norm(k) == want] or [k for k in known if norm(k).translate(_LOOKALIKE) == want.translate(_LOOKALIKE)]
    if same:
        return same[:3]
    v = value.lower()
    limit = 1 if len(v) < 8 else 2
    subs = len(v) > SHORT_CODE
    digits = "".join(c for c in v if c.isdigit())
    # The numbers must agree but for one digit added or dropped ('H1000' -> 'H100'; never 'us-east-7' -> 'us-east-1').
    scored = sorted((_edits(v, k.lower(), subs), k) for k in known if _edits(digits, "".join(c for c in k if c.isdigit()), False) <= 1)
    best = [k for d, k in scored if d <= limit and d == scored[0][0]] if scored else []
    if best:
        return best[:3]
    if "_" not in v:
        return []
    words = v.split("_")

    def same_word(a: str, b: str) -> bool:  # 'mem' / 'memory', 'utilisation' / 'utilization'
        return a == b or (len(a) >= 3 and len(b) >= 3 and (a.startswith(b) or b.startswith(a))) or (min(len(a), len(b)) >= 6 and _edits(a, b, True) <= 2)

    alike = [k for k in known if len(k.split("_")) == len(words) and all(same_word(a, b) for a, b in zip(words, k.lower().split("_")))]
    if len(alike) == 1:
        return alike
    sharing = [k for k in known if {w for w in words if len(w) >= 3} & set(k.lower().split("_"))]
    return sharing if len(sharing) == 1 else []


def did_you_mean(value: str, known: list[str] | tuple[str, ...], what: str) -> str:
    """"unknown GPU 'A1OO'; did you mean 'A100'? known: A100, A10G, ..." (``close_matches``)."""
    close = close_matches(value, known)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ";"
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


def _loc(err: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "json-or-python"))))


def _problems(exc: ValidationError, lines: "LoadedSpec") -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = _loc(err)
        path = _path(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            key = str(loc[-1])
            message = did_you_mean(key, _allowed_keys(parent), "key").replace(" known: ", " allowed: ") if parent else f"unknown key '{key}'"
        else:
            message = _message(err)
        problems.append(Problem(path, message, lines.line(path)))
    return problems


class _Pruned(typing.NamedTuple):
    """The spec's data with what the schema refused taken out, so the checks past the schema (the
    catalog's regions and GPUs, the cross-field rules) still run on the rest: a key typo must not
    hide a GPU typo in the same file."""

    spec: Spec
    renamed: dict[str, str]  # path the checks see -> path in the file (a misspelt key moved to the one it is close to)
    dropped: list[str]  # paths taken out (their problems are already reported)
    kept: dict[str, list[int]]  # top-level list -> the file's index of each element left in it


_DROPPED = object()


def _sweep(node: Any) -> None:
    """Take the items ``_prune`` marked out of every list under ``node``."""
    if isinstance(node, dict):
        for v in node.values():
            _sweep(v)
    elif isinstance(node, list):
        node[:] = [v for v in node if v is not _DROPPED]
        for v in node:
            _sweep(v)


def _prune(data: dict[str, Any], exc: ValidationError) -> _Pruned | None:
    """Take out (or, for a misspelt key with one close match, rename) every value the schema refused
    and validate again, a few rounds; a required value refused drops its top-level list element
    (a workload, an alert rule). None when what is left still does not validate."""
    import copy

    data = copy.deepcopy(data)
    renamed: dict[str, str] = {}
    dropped: list[str] = []
    kept = {k: list(range(len(v))) for k, v in data.items() if isinstance(v, list)}

    def in_file(loc: tuple[Any, ...]) -> str:  # a path of the data as it is now, with the file's indices
        if len(loc) > 1 and loc[0] in kept and isinstance(loc[1], int) and loc[1] < len(kept[loc[0]]):
            loc = (loc[0], kept[loc[0]][loc[1]], *loc[2:])
        return _path(loc)

    for _round in range(4):
        drop: dict[str, set[int]] = {}
        for err in exc.errors(include_url=False):
            loc = _loc(err)
            node: Any = data
            depth = 0
            for part in loc[:-1]:  # as far as the data goes (a union's member tags are not in it)
                if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                    node, depth = node[part], depth + 1
                else:
                    break
            last = loc[depth] if depth < len(loc) else None
            in_list = isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node)
            if in_list and err["type"] != "missing" and depth > 1:
                # A refused item of a nested list ('endpoint_cidrs[1]'): taken out after this round (popping it
                # now would shift the indices of the other errors in the same list).
                node[last] = _DROPPED
                dropped.append(in_file(loc[:depth + 1]))
                continue
            if err["type"] == "missing" or not (isinstance(node, dict) and last in node):
                if len(loc) < 2 or loc[0] not in kept or not isinstance(loc[1], int):
                    return None  # a required top-level value: nothing sensible is left to check
                drop.setdefault(loc[0], set()).add(loc[1])
                continue
            was = in_file(loc[:depth + 1])
            if err["type"] == "literal_error" and isinstance(node[last], str):
                allowed = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
                close = close_matches(node[last], allowed)
                if len(close) == 1:  # 'trainning': checked as the 'training' it is reported to mean
                    node[last] = close[0]
                    continue
            value = node.pop(last)
            if err["type"] == "extra_forbidden":
                parent = _model_at(loc[:depth])
                close = close_matches(str(last), _allowed_keys(parent)) if parent else []
                if len(close) == 1 and close[0] not in node:
                    node[close[0]] = value
                    renamed[in_file((*loc[:depth], close[0]))] = was
                    continue
            dropped.append(was)
        _sweep(data)
        for key, indices in drop.items():
            dropped += [f"{key}[{kept[key][i]}]" for i in sorted(indices) if i < len(kept[key])]
            data[key] = [v for i, v in enumerate(data[key]) if i not in indices]
            kept[key] = [o for i, o in enumerate(kept[key]) if i not in indices]
        try:
            return _Pruned(Spec.model_validate(data), renamed, dropped, kept)
        except ValidationError as again:
            exc = again
    return None


def load_spec_text(text: str, source: str = "<spec>", catalog=None) -> LoadedSpec:
    """Read and check a spec's text. Raises SpecError with every problem found."""
    data, lines = load_yaml(text)
    placeholder = LoadedSpec(None, lines, source)  # type: ignore[arg-type]
    if not isinstance(data, dict):
        raise SpecError([Problem("<root>", f"the spec must be a mapping of keys (project, clouds, workload_inventory, ...), got {type(data).__name__}")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, placeholder)
        raise SpecError(problems + _checks_past_the_schema(data, exc, problems, lines, source, catalog)) from None
    loaded = LoadedSpec(spec, lines, source)
    from aiinfra.spec.checks import check_spec  # the catalog is needed only past the schema

    problems = check_spec(loaded, catalog)
    if problems:
        raise SpecError(problems)
    return loaded


def _checks_past_the_schema(data: dict[str, Any], exc: ValidationError, reported: list[Problem], lines: dict[str, int], source: str,
                            catalog) -> list[Problem]:
    """The catalog and cross-field checks over what the schema accepted (``_prune``), each problem at
    its place in the file; none at or under a value already reported."""
    pruned = _prune(data, exc)
    if pruned is None:
        return []
    from aiinfra.spec.checks import check_spec

    loaded = LoadedSpec(pruned.spec, lines, source)
    # A misspelt key's own line is reported; what its value holds is still checked (under the key it meant).
    seen = [p.path for p in reported if p.path not in pruned.renamed.values()] + pruned.dropped
    out = []
    for p in check_spec(LoadedSpec(pruned.spec, {}, source), catalog):
        path = p.path
        for key, kept in pruned.kept.items():  # back to the file's indices
            path = re.sub(rf"^{re.escape(key)}\[(\d+)\]", lambda m, key=key, kept=kept: f"{key}[{kept[int(m.group(1))]}]", path)
        for now, was in pruned.renamed.items():
            if path == now or path.startswith((now + ".", now + "[")):
                path = was + path[len(now):]
        if any(path == s or path.startswith((s + ".", s + "[")) for s in seen):
            continue
        out.append(Problem(path, p.message, loaded.line(path)))
    return out


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
