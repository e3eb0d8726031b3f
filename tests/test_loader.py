"""The safe YAML reader: duplicates, aliases, nesting, tags and syntax errors are clean errors."""

import pytest

from aiinfra.errors import SpecError
from aiinfra.spec.loader import load_yaml


def problems(text):
    with pytest.raises(SpecError) as exc:
        load_yaml(text)
    return exc.value.problems


def test_reads_mappings_lists_and_records_lines():
    data, lines = load_yaml("a: 1\nb:\n  - x: 2\n")
    assert data == {"a": 1, "b": [{"x": 2}]}
    assert lines["b[0].x"] == 3


def test_duplicate_keys_are_all_reported_with_both_lines():
    found = problems("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [str(p) for p in found] == ["a: duplicate key 'a' (first at line 1) (line 2)", "b.c: duplicate key 'c' (first at line 4) (line 5)"]


def test_aliases_and_anchors_are_refused():
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n'
    (p,) = problems(bomb)
    assert "anchors are not allowed" in p.message and p.line == 1


def test_merge_keys_are_refused():
    (p,) = problems("a:\n  <<: {b: 1}\n")
    assert "merge keys" in p.message


def test_deep_nesting_is_refused():
    (p,) = problems("[" * 50 + "]" * 50)
    assert "nesting deeper than 20" in p.message


def test_pathological_nesting_does_not_crash():
    (p,) = problems("[" * 100_000)
    assert p.path == "<yaml>"


def test_syntax_error_names_line_and_column():
    (p,) = problems("a: 1\nb: [1, 2\nc: 3\n")
    assert p.path == "<yaml>" and p.line is not None and "column" in p.message


def test_python_tags_are_refused():
    (p,) = problems("a: !!python/object/apply:os.system ['true']\n")
    assert "python/object/apply:os.system" in p.message and "not allowed" in p.message
    (p,) = problems("a: !!python/name:os.system ''\n")
    assert "python/name:os.system" in p.message


def test_empty_and_oversized_inputs():
    assert "empty" in problems("")[0].message
    assert "larger than" in problems("a: '" + "x" * 1_100_000 + "'\n")[0].message


def test_non_string_keys_are_refused():
    (p,) = problems("? [1, 2]\n: x\n")
    assert "plain values" in p.message
