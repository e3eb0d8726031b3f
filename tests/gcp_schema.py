"""Schema oracle for the Terraform ``google`` provider (and the ``kubernetes`` and ``helm`` providers of the
in-cluster stacks), derived from the prebuilt cdktf bindings.

There is no google provider binary on this machine, so ``terraform validate`` cannot check the GCP
stacks.  The cdktf bindings (``cdktf_cdktf_provider_google``) ship a jsii assembly generated from the
provider schema; this module reads it (without importing the bindings, which would start node) and
derives, for every resource type, data source and the provider itself, the tree of arguments:
name -> (required, kind, nested block).  The same goes for ``cdktf_cdktf_provider_kubernetes`` (12.1.1:
hashicorp/kubernetes 2.38.0) and ``cdktf_cdktf_provider_helm`` (12.1.2: hashicorp/helm 3.1.1): pass
``provider="kubernetes"`` / ``provider="helm"`` (``PROVIDERS``).

``check_stack(tf_json)`` then checks one synthesized ``cdk.tf.json`` against that tree and returns
human-readable problems (an empty list means the stack conforms); ``check_stack(tf_json, provider="helm")``
checks the helm resources / data sources / provider blocks of it.

Derivation rules (jsii -> Terraform):
* the Terraform type name comes from the class docs link ``.../docs/resources/<x> google_<x>}``
  (the static ``tfResourceType`` constant carries no value in the assembly);
* argument names come from the registry anchor in each property's docs
  (``.../compute_instance_template#machine_type ComputeInstanceTemplate#machine_type``), which also
  undoes cdktf's renames (``buildAttribute`` -> ``build``); camel->snake is only the fallback;
* ``optional: true`` absent -> required (this covers required blocks as well as attributes);
* a struct type -> single nested block (max one), ``IResolvable | Struct[]`` -> list/set block,
  ``string[]``/``number[]`` -> list_of_primitive, ``{string: string}`` -> map, ``{string: any}`` -> any
  (a dynamic value such as ``kubernetes_manifest.manifest``), ``boolean | IResolvable`` -> bool.
* Plugin-framework providers have nested *attributes* besides blocks (helm 3.x made ``set``,
  ``set_sensitive`` and the provider's ``kubernetes`` / ``exec`` attributes: ``set = [{...}]``,
  ``kubernetes = {...}``), which the assembly types as it types blocks.  The bindings' JavaScript tells them
  apart: each ``*ToHclTerraform`` entry says ``type: "struct"`` for a single nested attribute, and a list
  block maps its items with ``cdktf.listMapperHcl(fn, true)`` where a list nested attribute has ``false``.
  For the providers with ``nested_attributes`` (kubernetes, helm) those become kinds ``object`` (a JSON
  object, never a list) and ``object_list`` (a JSON list of objects); neither can be written as a
  ``dynamic`` block.

Loading the 98 MB assembly and deriving takes ~5 s, so the compact derived schema is cached as JSON
under ``tempfile.gettempdir()``, keyed by the tarball's name, size and mtime (and this file's hash).
"""

from __future__ import annotations

import difflib
import functools
import glob
import hashlib
import importlib.util
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

KINDS = ("string", "number", "bool", "any", "map", "list_of_primitive", "block", "block_list", "object", "object_list")
BLOCK_KINDS = frozenset({"block", "block_list", "object", "object_list"})  # the kinds with a nested Block
DYNAMIC_KINDS = frozenset({"block", "block_list"})  # real blocks: the only kinds a ``dynamic`` block can write

# Keys Terraform (or cdktf) accepts on every resource / data source, whatever the schema says.
RESOURCE_META = frozenset({"lifecycle", "depends_on", "provider", "count", "for_each", "connection", "provisioner", "//"})
DATA_META = frozenset({"lifecycle", "depends_on", "provider", "count", "for_each", "//"})
PROVIDER_META = frozenset({"alias", "version", "//"})

_CACHE_FORMAT = 2


class Provider(NamedTuple):
    package: str  # the Python bindings
    prefix: str  # jsii fqn prefix of the bindings' types
    source: str  # registry namespace/name, as the docs links spell it
    type_prefix: str  # the resource / data source types of this provider
    blocks: tuple[str, ...]  # the ``provider`` block names checked
    nested_attributes: bool  # tell nested attributes from blocks through the bindings' JavaScript (see above)


PROVIDERS = {
    "google": Provider("cdktf_cdktf_provider_google", "@cdktf/provider-google.", "hashicorp/google", "google_",
                       ("google", "google-beta"), False),
    "kubernetes": Provider("cdktf_cdktf_provider_kubernetes", "@cdktf/provider-kubernetes.", "hashicorp/kubernetes",
                           "kubernetes_", ("kubernetes",), True),
    "helm": Provider("cdktf_cdktf_provider_helm", "@cdktf/provider-helm.", "hashicorp/helm", "helm_", ("helm",), True),
}


class Arg(NamedTuple):
    name: str
    required: bool
    kind: str  # one of KINDS
    block: "Block | None" = None  # the nested block, for kind "block" / "block_list"


class Block:
    """The arguments one Terraform block (resource body, nested block, provider) accepts."""

    __slots__ = ("args", "required")

    def __init__(self, args: dict[str, Arg] | None = None):
        self.args: dict[str, Arg] = args if args is not None else {}
        self.required: tuple[str, ...] = ()

    def _seal(self) -> None:
        self.required = tuple(a.name for a in self.args.values() if a.required)

    def __getitem__(self, name: str) -> Arg:
        return self.args[name]

    def __contains__(self, name: object) -> bool:
        return name in self.args

    def __iter__(self) -> Iterator[str]:
        return iter(self.args)

    def __len__(self) -> int:
        return len(self.args)

    def __repr__(self) -> str:
        return f"Block({', '.join(self.args)})"

    def describe(self, indent: int = 0) -> list[str]:
        """One line per argument (``name  required|optional  kind``), nested blocks indented."""
        lines = []
        for a in sorted(self.args.values(), key=lambda a: (not a.required, a.kind in BLOCK_KINDS, a.name)):
            lines.append(f"{'  ' * indent}{a.name}  {'REQUIRED' if a.required else 'optional'}  {a.kind}")
            if a.block is not None:
                lines.extend(a.block.describe(indent + 1))
        return lines


class Schema(Mapping[str, Block]):
    """Resource type -> Block (the Mapping part); ``.data`` for data sources; ``.provider``."""

    def __init__(self, resources: dict[str, Block], data: dict[str, Block], provider: Block, version: str, source: str):
        self.resources = resources
        self.data = data
        self.provider = provider
        self.version = version  # provider version the bindings were generated from
        self.source = source  # "assembly" or the cache file path

    def __getitem__(self, key: str) -> Block:
        return self.resources[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)


# ------------------------------------------------------------------------------------------------
# loading / deriving


def assembly_path(provider: str = "google") -> str:
    """Path of the ``*.jsii.tgz`` inside the installed bindings, found without importing them."""
    pkg = PROVIDERS[provider].package
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{pkg} is not installed")
    found = sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_jsii", "*.jsii.tgz")))
    if not found:
        raise RuntimeError(f"no jsii assembly in {pkg}/_jsii")
    return found[-1]


_LINK = re.compile(r"\{@link https://registry\.terraform\.io/\S+?/docs(?:/(resources|data-sources)/\S+)? (\S+?)\}")
_ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/\S+#(\w+) \S+\}")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


# One attribute of a ``*ToHclTerraform`` function / ``synthesizeHclAttributes`` method in the bindings' JavaScript.
_JS_SCOPE = re.compile(r"^function (\w+)ToHclTerraform\(|^class (\w+) extends cdktf\.Terraform(?:Resource|DataSource|Provider) ", re.M)
_JS_ATTR = re.compile(r"^ +(\w+): \{\n +value: (.*)\n +isBlock: (true|false),\n +type: \"(\w+)\",", re.M)


def _nested_attributes(tgz: str) -> dict[str, dict[str, str]]:
    """{struct or config type name: {terraform argument: "object" | "object_list"}} from the bindings' JavaScript."""
    found: dict[str, dict[str, str]] = {}
    with tarfile.open(tgz) as tar:
        for member in tar:
            if not (member.isfile() and member.name.startswith("package/lib/") and member.name.endswith(".js")):
                continue
            text = tar.extractfile(member).read().decode("utf-8")
            scopes = [(m.start(), (m.group(1)[:1].upper() + m.group(1)[1:]) if m.group(1) else m.group(2) + "Config")
                      for m in _JS_SCOPE.finditer(text)]
            for m in _JS_ATTR.finditer(text):
                name, value, is_block, kind = m.groups()
                if is_block != "true":
                    continue
                owner = next((n for pos, n in reversed(scopes) if pos < m.start()), None)
                if owner is None:
                    continue
                if kind == "struct":
                    found.setdefault(owner, {})[name] = "object"
                elif kind in ("list", "set") and re.search(r"listMapperHcl\(.*, false\)\(", value):
                    found.setdefault(owner, {})[name] = "object_list"
    return found


def _derive(assembly: dict[str, Any], prefix: str = PROVIDERS["google"].prefix,
            nested: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """Compact schema: {"blocks": [{arg: [required, kind, block_index|None]}], "resources": {type: i}, ...}.

    ``nested`` (``_nested_attributes``) turns the blocks that are really nested attributes into ``object`` /
    ``object_list``.
    """
    types = assembly["types"]
    blocks: list[dict[str, list]] = []
    index: dict[str, int] = {}
    nested = nested or {}

    def arg_of(prop: dict, owner: str) -> tuple[str, list]:
        docs = prop.get("docs") or {}
        text = json.dumps(docs)  # the link sits in summary, remarks or a custom tag, depending on escaping
        m = None
        for m in _ANCHOR.finditer(text):
            pass
        name = m.group(1) if m else _snake(prop["name"])
        kind, sub = classify(prop["type"])
        if kind in ("block", "block_list") and name in nested.get(owner, {}):
            kind = nested[owner][name]
        return name, [0 if prop.get("optional") else 1, kind, sub]

    def classify(t: dict) -> tuple[str, int | None]:
        if "union" in t:
            members = [x for x in t["union"]["types"] if x.get("fqn") != "cdktf.IResolvable"]
            if len(members) != 1:
                return "any", None
            kind, sub = classify(members[0])
            return kind, sub
        if "primitive" in t:
            return {"string": "string", "number": "number", "boolean": "bool"}.get(t["primitive"], "any"), None
        if "collection" in t:
            coll = t["collection"]
            elem = coll["elementtype"]
            if coll["kind"] == "map":
                return ("any" if elem.get("primitive") == "any" else "map"), None
            if "fqn" in elem and elem["fqn"].startswith(prefix):
                return "block_list", block_of(elem["fqn"])
            return "list_of_primitive", None
        fqn = t.get("fqn", "")
        if fqn.startswith(prefix) and types[fqn].get("kind") == "interface":
            return "block", block_of(fqn)
        return "any", None

    def block_of(fqn: str) -> int:
        if fqn in index:
            return index[fqn]
        i = index[fqn] = len(blocks)
        blocks.append({})
        args: dict[str, list] = {}
        for prop in types[fqn].get("properties", []):
            name, spec = arg_of(prop, fqn.rsplit(".", 1)[-1])
            args[name] = spec
        blocks[i] = args
        return i

    resources: dict[str, int] = {}
    data: dict[str, int] = {}
    provider: int | None = None
    for t in types.values():
        base = t.get("base")
        if t.get("kind") != "class" or base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource", "cdktf.TerraformProvider"):
            continue
        m = _LINK.search((t.get("docs") or {}).get("summary", ""))
        if not m:
            raise RuntimeError(f"cannot find the Terraform type name of {t['fqn']}")
        tf_type = m.group(2)
        config = [p for p in t["initializer"]["parameters"] if p["type"].get("fqn", "").endswith("Config")]
        i = block_of(config[0]["type"]["fqn"]) if config else block_of_empty(blocks)
        if base == "cdktf.TerraformResource":
            resources[tf_type] = i
        elif base == "cdktf.TerraformDataSource":
            data[tf_type] = i
        else:
            provider = i
    if provider is None:
        raise RuntimeError("no provider class in the assembly")
    return {"format": _CACHE_FORMAT, "version": assembly.get("version", "?"), "blocks": blocks,
            "resources": resources, "data": data, "provider": provider}


def block_of_empty(blocks: list) -> int:
    blocks.append({})
    return len(blocks) - 1


def _provider_version(assembly: dict[str, Any], provider: str = "google") -> str:
    p = PROVIDERS[provider]
    docs = [t.get("docs", {}) for t in assembly["types"].values() if t.get("base") == "cdktf.TerraformProvider"]
    m = re.search(re.escape(p.source) + r"/([\d.]+)/docs", json.dumps(docs))
    return m.group(1) if m else "?"


def _build(compact: dict[str, Any], source: str) -> Schema:
    raw = compact["blocks"]
    objs = [Block() for _ in raw]
    for obj, args in zip(objs, raw):
        obj.args = {name: Arg(name, bool(req), kind, objs[sub] if sub is not None else None) for name, (req, kind, sub) in args.items()}
        obj._seal()
    return Schema({k: objs[i] for k, i in compact["resources"].items()}, {k: objs[i] for k, i in compact["data"].items()},
                  objs[compact["provider"]], compact["version"], source)


def _cache_file(tgz: str, provider: str = "google") -> str:
    st = os.stat(tgz)
    with open(__file__, "rb") as fh:  # a change to the derivation code invalidates the cache too
        code = hashlib.sha1(fh.read()).hexdigest()[:10]
    key = re.sub(r"[^\w.@-]", "_", f"{os.path.basename(tgz)}-{st.st_size}-{int(st.st_mtime)}-v{_CACHE_FORMAT}-{code}")
    name = "gcp" if provider == "google" else provider
    return os.path.join(tempfile.gettempdir(), f"aiinfra-{name}-schema-{key}.json")


def _load_compact(tgz: str, provider: str = "google") -> dict[str, Any]:
    p = PROVIDERS[provider]
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/.jsii")
        if member is None:
            raise RuntimeError(f"{tgz} has no package/.jsii")
        assembly = json.load(member)
    compact = _derive(assembly, p.prefix, _nested_attributes(tgz) if p.nested_attributes else None)
    compact["version"] = _provider_version(assembly, provider)
    return compact


@functools.lru_cache(maxsize=None)
def load_schema(use_cache: bool = True, provider: str = "google") -> Schema:
    """The schema of ``provider`` (a key of ``PROVIDERS``), cached per process, and on disk across processes."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: one of {sorted(PROVIDERS)}")
    tgz = assembly_path(provider)
    cache = _cache_file(tgz, provider)
    if use_cache:
        try:
            with open(cache, encoding="utf-8") as fh:
                compact = json.load(fh)
            if compact.get("format") == _CACHE_FORMAT:
                return _build(compact, cache)
        except (OSError, ValueError, KeyError):
            pass
    compact = _load_compact(tgz, provider)
    if use_cache:
        write_cache(cache, compact)
    return _build(compact, "assembly")


def write_cache(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (other processes may read it meanwhile); a failure is ignored."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def all_blocks(schema: Schema) -> Iterator[Block]:
    """Every Block of the schema once: resources, data sources, the provider and all nested blocks."""
    seen: set[int] = set()
    todo = [*schema.resources.values(), *schema.data.values(), schema.provider]
    while todo:
        blk = todo.pop()
        if id(blk) in seen:
            continue
        seen.add(id(blk))
        yield blk
        todo.extend(a.block for a in blk.args.values() if a.block is not None)


# ------------------------------------------------------------------------------------------------
# checking


def _is_ref(v: object) -> bool:
    return isinstance(v, str) and v.startswith("${") and v.endswith("}")


def _scalar(v: object) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."


def _tname(v: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a bool", int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _check_value(arg: Arg, value: Any, path: str, out: list[str]) -> None:
    kind = arg.kind
    if value is None:
        return
    if kind == "object":
        if isinstance(value, dict):
            _check_block(arg.block, value, path, out, ())
        else:
            out.append(f"{path}: {arg.name} is an object attribute (not a block) and needs one object, got {_tname(value)} {_short(value)}")
        return
    if kind == "object_list":
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _check_block(arg.block, item, f"{path}[{i}]", out, ())
                else:
                    out.append(f"{path}[{i}]: {arg.name} items are objects, got {_tname(item)} {item!r}")
        elif not _is_ref(value):
            out.append(f"{path}: {arg.name} is a list attribute of objects (not a block) and needs a list, got {_tname(value)} {_short(value)}")
        return
    if kind in BLOCK_KINDS:
        if isinstance(value, dict):
            _check_block(arg.block, value, path, out, ())
        elif isinstance(value, list):
            if kind == "block" and len(value) > 1:
                out.append(f"{path}: at most one {arg.name} block is allowed, got {len(value)}")
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _check_block(arg.block, item, f"{path}[{i}]", out, ())
                else:
                    out.append(f"{path}[{i}]: {arg.name} is a nested block and needs an object, got {_tname(item)} {item!r}")
        else:
            out.append(f"{path}: {arg.name} is a nested block and needs an object (or a list of objects), got {_tname(value)} {value!r}")
        return
    if _is_ref(value) or kind == "any":
        return
    if kind == "string":
        if not _scalar(value):
            out.append(f"{path}: {arg.name} is a string, got {_tname(value)}")
    elif kind == "number":
        if isinstance(value, bool) or not _scalar(value):
            out.append(f"{path}: {arg.name} is a number, got {_tname(value)} {value!r}")
        elif isinstance(value, str):
            try:
                float(value)
            except ValueError:
                out.append(f"{path}: {arg.name} is a number, got the string {value!r}")
    elif kind == "bool":
        if isinstance(value, str):
            if value not in ("true", "false"):
                out.append(f"{path}: {arg.name} is a bool, got the string {value!r}")
        elif not isinstance(value, bool):
            out.append(f"{path}: {arg.name} is a bool, got {_tname(value)} {value!r}")
    elif kind == "list_of_primitive":
        if not isinstance(value, list):
            out.append(f"{path}: {arg.name} is a list, got {_tname(value)} {value!r}")
        else:
            for i, item in enumerate(value):
                if not _scalar(item):
                    out.append(f"{path}[{i}]: {arg.name} elements are primitives, got {_tname(item)}")
    elif kind == "map":
        if not isinstance(value, dict):
            out.append(f"{path}: {arg.name} is a map, got {_tname(value)} {value!r}")
        else:
            for k, item in value.items():
                if not _scalar(item):
                    out.append(f"{path}.{k}: {arg.name} values are primitives, got {_tname(item)}")


def _check_block(block: Block, body: dict, path: str, out: list[str], meta: frozenset | tuple) -> None:
    args = block.args
    present = set()
    for key, value in body.items():
        if key in meta or key == "//":
            continue
        if key == "dynamic" and "dynamic" not in args:
            present.update(_check_dynamic(block, value, f"{path}.dynamic", out))
            continue
        arg = args.get(key)
        if arg is None:
            out.append(f"{path}.{key}: unknown argument{_suggest(key, args)}")
            continue
        if value is not None:
            present.add(key)
        _check_value(arg, value, f"{path}.{key}", out)
    for name in block.required:
        if name not in present:
            out.append(f"{path}: missing required argument {name!r} ({args[name].kind})")


def _check_dynamic(block: Block, value: Any, path: str, out: list[str]) -> set[str]:
    if not isinstance(value, dict):
        out.append(f"{path}: dynamic needs an object keyed by block type, got {_tname(value)}")
        return set()
    present = set()
    for name, spec in value.items():
        arg = block.args.get(name)
        if arg is None or arg.kind not in DYNAMIC_KINDS:
            what = ("a nested attribute, not a block: write it as a value (e.g. a for expression)" if arg is not None and arg.kind in BLOCK_KINDS
                    else "not a nested block" if arg is not None else "unknown block type")
            out.append(f"{path}.{name}: {what}{_suggest(name, [a.name for a in block.args.values() if a.kind in DYNAMIC_KINDS])}")
            continue
        present.add(name)
        for i, item in enumerate(spec if isinstance(spec, list) else [spec]):
            p = f"{path}.{name}" if not isinstance(spec, list) else f"{path}.{name}[{i}]"
            if not isinstance(item, dict):
                out.append(f"{p}: dynamic block needs an object, got {_tname(item)}")
                continue
            for k in item:
                if k not in ("for_each", "iterator", "labels", "content"):
                    out.append(f"{p}.{k}: unknown argument in a dynamic block")
            if "for_each" not in item:
                out.append(f"{p}: dynamic block needs for_each")
            content = item.get("content")
            if isinstance(content, dict):
                _check_block(arg.block, content, f"{p}.content", out, ())
            else:
                out.append(f"{p}: dynamic block needs a content object")
    return present


def _entries(value: Any) -> list[tuple[str, dict]]:
    """cdktf writes ``{"type": {"name": {...}}}``; hand-written JSON may use lists of those."""
    if isinstance(value, dict):
        return [("", value)]
    if isinstance(value, list):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    return [("", value)]


def check_stack(tf_json: dict, schema: Schema | None = None, provider: str = "google") -> list[str]:
    """Problems with the resources / data sources / provider blocks of ``provider`` in one synthesized stack.

    Only that provider's types (``google_*``, ``kubernetes_*``, ``helm_*``) and provider blocks
    (``provider.google``/``provider.google-beta``, ``provider.kubernetes``, ``provider.helm``) are checked;
    other providers (random, null, time, ...) are ignored.
    """
    p = PROVIDERS[provider]
    schema = schema or load_schema(provider=provider)
    out: list[str] = []
    for section, table, meta, prefix in (("resource", schema.resources, RESOURCE_META, ""), ("data", schema.data, DATA_META, "data.")):
        for _, by_type in _entries(tf_json.get(section) or {}):
            if not isinstance(by_type, dict):
                out.append(f"{section}: expected an object keyed by type, got {_tname(by_type)}")
                continue
            for tf_type, by_name in by_type.items():
                if not tf_type.startswith(p.type_prefix):
                    continue
                block = table.get(tf_type)
                if block is None:
                    kind = "data source" if section == "data" else "resource type"
                    beta = any(isinstance(b, dict) and str(b.get("provider", "")).startswith("google-beta")
                               for b in (by_name.values() if isinstance(by_name, dict) else []))
                    note = " (it uses google-beta; this oracle only knows the GA google provider)" if beta else ""
                    out.append(f"{prefix}{tf_type}: unknown {kind} in {provider} provider {schema.version}{_suggest(tf_type, table)}{note}")
                    continue
                if not isinstance(by_name, dict):
                    out.append(f"{prefix}{tf_type}: expected an object keyed by name, got {_tname(by_name)}")
                    continue
                for name, bodies in by_name.items():
                    for suffix, body in _entries(bodies):
                        path = f"{prefix}{tf_type}.{name}{suffix}"
                        if isinstance(body, dict):
                            _check_block(block, body, path, out, meta)
                        else:
                            out.append(f"{path}: expected an object, got {_tname(body)}")
    providers = tf_json.get("provider") or {}
    if isinstance(providers, dict):
        for pname in p.blocks:
            if pname not in providers:
                continue
            configs = providers[pname]
            for i, body in enumerate(configs if isinstance(configs, list) else [configs]):
                path = f"provider.{pname}[{i}]"
                if isinstance(body, dict):
                    _check_block(schema.provider, body, path, out, PROVIDER_META)
                else:
                    out.append(f"{path}: expected an object, got {_tname(body)}")
    return out


if __name__ == "__main__":  # python tests/gcp_schema.py [--provider helm] google_compute_instance_template [...]
    import sys
    import time

    args = sys.argv[1:]
    name = "google"
    if args[:1] == ["--provider"]:
        name, args = args[1], args[2:]
    t0 = time.perf_counter()
    s = load_schema(provider=name)
    print(f"# {name} provider {s.version}: {len(s.resources)} resources, {len(s.data)} data sources "
          f"({time.perf_counter() - t0:.2f}s from {s.source})")
    for t in args:
        if t == "provider":
            blk = s.provider
        elif t.startswith("data."):
            blk = s.data[t[5:]]
        else:
            blk = s.resources[t]
        print(t)
        print("\n".join(blk.describe(1)))
