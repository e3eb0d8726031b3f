"""A safe YAML reader for specs.

PyYAML's safe loader still accepts duplicate keys (the last silently wins), aliases (the
"billion laughs" blow-up) and unbounded nesting. Specs are reviewed in pull requests, so the
reader refuses all three, and remembers the line of every value so that later errors can
point at it.

Parsing runs in libyaml (C) when PyYAML has it, the pure-Python parser otherwise; the
document is built here from the parser's event stream, iteratively, so nesting depth is
checked before anything deep is built and no input can exhaust the stack.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (AliasEvent, DocumentEndEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent, ScalarEvent,
                         SequenceEndEvent, SequenceStartEvent, StreamEndEvent, StreamStartEvent)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from aiinfra.errors import Problem, SpecError

MAX_BYTES = 1_000_000
MAX_DEPTH = 20
_SEQ_TAG, _MAP_TAG = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class _Frame:
    """A mapping or sequence being built, with the key waiting for its value (mappings)."""

    __slots__ = ("value", "path", "pending_key", "seen")

    def __init__(self, value: Any, path: str):
        self.value = value
        self.path = path
        self.pending_key: Any = _NO_KEY
        self.seen: dict[str, int] = {}


_NO_KEY = object()
_SKIP = object()  # a key already reported (duplicate, or not a plain value): drop its value


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.resolver = Resolver()
        self.constructor = SafeConstructor()

    def scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self.constructor.construct_object(node, deep=True)

    def build(self, events) -> Any:
        stack: list[_Frame] = []
        root: Any = _NO_KEY
        for event in events:
            if isinstance(event, (StreamStartEvent, DocumentStartEvent, DocumentEndEvent, StreamEndEvent)):
                if isinstance(event, DocumentStartEvent) and root is not _NO_KEY:
                    raise SpecError([Problem("<yaml>", "a spec is one YAML document; found a second '---'", event.start_mark.line + 1)])
                continue
            line = event.start_mark.line + 1
            if isinstance(event, AliasEvent):
                raise SpecError([Problem("<yaml>", f"aliases are not allowed (*{event.anchor})", line)])
            if getattr(event, "anchor", None):
                raise SpecError([Problem("<yaml>", f"anchors are not allowed (&{event.anchor})", line)])
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                frame = stack.pop()
                if stack:
                    self._attach(stack, frame.value, line)
                else:
                    root = frame.value
                continue
            # A value starts: where does it go?
            parent = stack[-1] if stack else None
            is_key = parent is not None and isinstance(parent.value, dict) and parent.pending_key is _NO_KEY
            if is_key:
                if not isinstance(event, ScalarEvent):
                    self.problems.append(Problem(parent.path or "<root>", "mapping keys must be plain values", line))
                    parent.pending_key = _SKIP
                    self._skip(events, event)
                    continue
                if event.value == "<<" and event.implicit[0]:
                    self.problems.append(Problem(parent.path or "<root>", "merge keys ('<<') are not allowed", line))
                    parent.pending_key = _SKIP
                    continue
                key = self.scalar(event)
                if key is None or not isinstance(key, (str, int, float, bool)):
                    self.problems.append(Problem(parent.path or "<root>", f"mapping key {key!r} must be a string", line))
                    parent.pending_key = _SKIP
                    continue
                key = key if isinstance(key, str) else str(key)
                if key in parent.seen:
                    self.problems.append(Problem(_child(parent.path, key), f"duplicate key '{key}' (first at line {parent.seen[key]})", line))
                    parent.pending_key = _SKIP
                    continue
                parent.seen[key] = line
                parent.pending_key = key
                continue
            path = self._path_of(parent)
            self.lines.setdefault(path or "<root>", line)
            if isinstance(event, ScalarEvent):
                value = self.scalar(event)
                if parent is None:
                    root = value
                else:
                    self._attach(stack, value, line)
                continue
            # A collection starts.
            tag = event.tag
            if tag not in (None, "!", _SEQ_TAG if isinstance(event, SequenceStartEvent) else _MAP_TAG):
                raise SpecError([Problem(path or "<root>", f"YAML tag '{tag}' is not allowed", line)])
            if len(stack) >= MAX_DEPTH:
                raise SpecError([Problem(path or "<root>", f"nesting deeper than {MAX_DEPTH} levels", line)])
            stack.append(_Frame({} if isinstance(event, MappingStartEvent) else [], path))
        return root

    def _path_of(self, parent: _Frame | None) -> str:
        if parent is None:
            return ""
        if isinstance(parent.value, dict):
            key = parent.pending_key
            return _child(parent.path, key if key is not _SKIP else "?")
        return _child(parent.path, len(parent.value))

    def _attach(self, stack: list[_Frame], value: Any, line: int) -> None:
        parent = stack[-1]
        if isinstance(parent.value, dict):
            if parent.pending_key is not _SKIP:
                parent.value[parent.pending_key] = value
            parent.pending_key = _NO_KEY
        else:
            parent.value.append(value)

    @staticmethod
    def _skip(events, start) -> None:
        """Consume the rest of a collection used as a key."""
        depth = 1
        for event in events:
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                depth += 1
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
                if depth == 0:
                    return


def load_yaml(text: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text into plain data and a map of field path -> line number.

    Raises SpecError listing every duplicate key, or the first syntax error (a parser
    cannot go on past one).
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([Problem("<file>", f"spec is larger than {MAX_BYTES // 1000} kB; a workload spec is a few kB")])
    builder = _Builder()
    try:
        data = builder.build(iter(yaml.parse(text, Loader=_Parser)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise SpecError([Problem("<yaml>", f"{message}{col}".strip(), line)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem("<yaml>", " ".join(str(exc).split())[:300])]) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # SafeConstructor raises these for out-of-range timestamps and the like.
        raise SpecError([Problem("<yaml>", f"cannot read a value: {exc}")]) from None
    if data is _NO_KEY:
        raise SpecError([Problem("<file>", "the spec is empty")])
    if builder.problems:
        raise SpecError(builder.problems)
    return data, builder.lines
