"""``aiinfra graph``: the architecture diagram, read back with parsers (pydot for DOT, a small
parser below for the Mermaid subset the command writes), checked against the plan."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pydot
import pytest

from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import REFERENCE, ROOT

# pydot 4.0.1 builds its parser with pyparsing's camelCase names, which pyparsing 3.3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pydot.*")

EXAMPLES = [REFERENCE, ROOT / "examples" / "aws-only.yaml", ROOT / "examples" / "gcp-only.yaml"]
CAPACITY = {"on_demand": "on-demand", "spot": "spot", "mixed": "mixed"}


def run(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


@lru_cache(maxsize=None)
def output(spec: Path, fmt: str) -> str:
    r = run("graph", spec, "--format", fmt)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return r.stdout


@lru_cache(maxsize=None)
def planned(spec: Path):
    loaded = load_spec(str(spec))
    return loaded.spec, make_plan(loaded)


# ---- what the graph must show, computed from the plan as stacks/aws.py and stacks/gcp.py name stacks

def expected_stacks(spec, plan) -> list[str]:
    """Foundation per cloud and region (``foundation`` in the cloud's own region, ``foundation-<region>``
    elsewhere), one stack per workload, a dashboard per cloud."""
    names = []
    for cloud in ("aws", "gcp"):
        mine = [w for w in plan.workloads if w.cloud == cloud]
        if not mine:
            continue
        primary = getattr(spec.clouds, cloud).region
        for region in sorted({w.region for w in mine}, key=lambda r: (r != primary, r)):
            names.append(f"{spec.project}-{spec.environment}-{cloud}-{'foundation' if region == primary else 'foundation-' + region}")
            # the data pipeline's stack: its ingestion and caches (and on AWS its CDN; GCP's sits in the serving stack)
            if region == primary and any(p.part in ("ingestion", "cache") or (p.part == "cdn" and cloud == "aws") for p in plan.pipeline
                                         if p.cloud == cloud):
                names.append(f"{spec.project}-{spec.environment}-{cloud}-data-pipeline")
            names += [f"{spec.project}-{spec.environment}-{cloud}-{w.name}" for w in mine if w.region == region]
        names.append(f"{spec.project}-{spec.environment}-{cloud}-dashboard")
    return names


def node_id(stack: str, construct: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", stack) + "__" + construct


def foundation_of(spec, w) -> str:
    primary = getattr(spec.clouds, w.cloud).region
    return f"{spec.project}-{spec.environment}-{w.cloud}-{'foundation' if w.region == primary else 'foundation-' + w.region}"


# ---- one shape for both parsers' results

@dataclass
class Parsed:
    clusters: dict[str, dict] = field(default_factory=dict)  # id -> {"lines": [...], "parent": id | None}
    nodes: dict[str, dict] = field(default_factory=dict)  # id -> {"lines": [...], "cluster": id | None}
    edges: list[tuple[str, str]] = field(default_factory=list)

    def ancestors(self, cluster: str | None) -> list[str]:
        out = []
        while cluster is not None:
            out.append(cluster)
            cluster = self.clusters[cluster]["parent"]
        return out

    def cluster_named(self, first_line: str) -> str:
        found = [cid for cid, c in self.clusters.items() if c["lines"][0] == first_line]
        assert len(found) == 1, (first_line, found)
        return found[0]


# ---- DOT, through pydot

def _dot_unquote(value: str | None) -> list[str]:
    assert value is not None and value.startswith('"') and value.endswith('"'), value
    text = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1], flags=re.S)
    return text.split("\n")


def parse_dot(text: str) -> Parsed:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1, "not one DOT graph"
    g = graphs[0]
    assert g.get_type() == "digraph"
    assert [n.get("rankdir") for n in g.get_node("graph")] == ["LR"]
    p = Parsed()

    def walk(sub, cluster: str | None) -> None:
        for n in sub.get_nodes():
            name = n.get_name()
            if name in ("node", "edge", "graph") or n.get("label") is None:  # defaults, and {rank=same; a; b;} mentions
                continue
            assert name not in p.nodes, f"node {name} defined twice"
            p.nodes[name] = {"lines": _dot_unquote(n.get("label")), "cluster": cluster}
        for s in sub.get_subgraphs():
            name = s.get_name()
            if name.startswith("cluster_"):
                assert name not in p.clusters, f"cluster {name} twice"
                p.clusters[name] = {"lines": _dot_unquote(s.get("label")), "parent": cluster}
                walk(s, name)
            else:
                assert s.get("rank") == "same", name
                walk(s, cluster)

    walk(g, None)
    for e in g.get_edges():
        p.edges.append((e.get_source(), e.get_destination()))
    return p


# ---- Mermaid: the subset `aiinfra graph` writes

_SHAPES = {"[": "]", "[[": "]]", "[(": ")]", "([": "])", "{{": "}}", "(": ")", ">": "]"}
_NODE = re.compile(r'^(?P<id>[A-Za-z0-9_]+)(?P<open>\[\[|\[\(|\(\[|\{\{|\[|\(|>)"(?P<label>[^"]*)"(?P<close>\]\]|\)\]|\]\)|\}\}|\]|\))$')
_SUBGRAPH = re.compile(r'^subgraph (?P<id>[A-Za-z0-9_]+)\["(?P<label>[^"]*)"\]$')
_EDGE = re.compile(r'^(?P<src>[A-Za-z0-9_]+) (?P<arrow>-->|-\.->)\|"(?P<label>[^"]*)"\| (?P<dst>[A-Za-z0-9_]+)$')
_ENTITY = re.compile(r"#(?:(\d+)|([a-z]+));")


def _mermaid_unescape(label: str) -> list[str]:
    assert "<" not in label.replace("<br/>", ""), f"raw < in {label!r}"
    assert ">" not in label.replace("<br/>", ""), f"raw > in {label!r}"

    def entity(m: re.Match) -> str:
        return chr(int(m.group(1))) if m.group(1) else html.unescape(f"&{m.group(2)};")

    lines = label.split("<br/>")
    for line in lines:
        assert "#" not in _ENTITY.sub("", line), f"raw # in {line!r}"
        assert not re.search(r"&", line), f"raw & in {line!r}"
    return [_ENTITY.sub(entity, line) for line in lines]


def parse_mermaid(text: str) -> Parsed:
    lines = text.splitlines()
    assert lines[0] == "---" and lines[2] == "---" and lines[1].startswith("title: "), lines[:3]
    assert lines[3] == "flowchart LR"
    p = Parsed()
    stack: list[str] = []
    referenced: list[str] = []
    for raw in lines[4:]:
        line = raw.strip()
        if not line or line.startswith("%%") or line == "direction LR":
            continue
        if m := _SUBGRAPH.match(line):
            assert m["id"] not in p.clusters and m["id"] not in p.nodes, m["id"]
            p.clusters[m["id"]] = {"lines": _mermaid_unescape(m["label"]), "parent": stack[-1] if stack else None}
            stack.append(m["id"])
        elif line == "end":
            assert stack, "end without subgraph"
            stack.pop()
        elif m := _EDGE.match(line):
            _mermaid_unescape(m["label"])
            p.edges.append((m["src"], m["dst"]))
        elif m := _NODE.match(line):
            assert _SHAPES[m["open"]] == m["close"], line
            assert m["id"] not in p.nodes and m["id"] not in p.clusters and m["id"] != "end", m["id"]
            p.nodes[m["id"]] = {"lines": _mermaid_unescape(m["label"]), "cluster": stack[-1] if stack else None}
        elif m := re.match(r"^classDef [a-z]+ [a-z-]+:.+$", line):
            pass
        elif m := re.match(r"^class (?P<ids>[A-Za-z0-9_,]+) [a-z]+$", line):
            referenced += m["ids"].split(",")
        elif m := re.match(r"^style (?P<id>[A-Za-z0-9_]+) [a-z-]+:.+$", line):
            referenced.append(m["id"])
        else:
            pytest.fail(f"unparsed Mermaid line: {raw!r}")
    assert not stack, f"unclosed subgraphs {stack}"
    unknown = [i for i in referenced if i not in p.nodes and i not in p.clusters]
    assert not unknown, unknown
    return p


def parsed(spec: Path, fmt: str) -> Parsed:
    text = output(spec, fmt)
    return parse_dot(text) if fmt == "dot" else parse_mermaid(text)


FORMATS = ["dot", "mermaid"]
CASES = [pytest.param(s, f, id=f"{s.stem}-{f}") for s in EXAMPLES for f in FORMATS]


@pytest.mark.parametrize("spec_path,fmt", CASES)
def test_every_stack_appears_once_as_a_cluster(spec_path, fmt):
    spec, plan = planned(spec_path)
    p = parsed(spec_path, fmt)
    expected = expected_stacks(spec, plan)
    assert len(expected) == len(set(expected))
    stack_prefix = f"{spec.project}-{spec.environment}-"
    firsts = [c["lines"][0] for c in p.clusters.values() if c["lines"][0].startswith(stack_prefix)]
    assert sorted(firsts) == sorted(expected)
    every_line = [line for item in [*p.clusters.values(), *p.nodes.values()] for line in item["lines"]]
    for name in expected:
        assert every_line.count(name) == 1, name
    # Each stack inside its cloud (and, but for the dashboard, its region).
    for name in expected:
        cid = p.cluster_named(name)
        labels = [p.clusters[a]["lines"][0] for a in p.ancestors(cid)]
        cloud = name[len(stack_prefix):].split("-", 1)[0]
        assert any(lbl.startswith({"aws": "AWS", "gcp": "Google Cloud"}[cloud]) for lbl in labels), (name, labels)
        if not name.endswith("-dashboard"):
            assert any(lbl.startswith(f"{cloud} ") for lbl in labels), (name, labels)
    for e in p.edges:
        assert e[0] in p.nodes and e[1] in p.nodes, e


@pytest.mark.parametrize("spec_path,fmt", CASES)
def test_every_group_once_with_its_shape_count_and_capacity(spec_path, fmt):
    spec, plan = planned(spec_path)
    p = parsed(spec_path, fmt)
    groups = [nid for nid in p.nodes if nid.endswith("__nodes")]
    assert len(groups) == len(plan.workloads)
    for w in plan.workloads:
        stack = f"{spec.project}-{spec.environment}-{w.cloud}-{w.name}"
        gid = node_id(stack, "nodes")
        node = p.nodes[gid]
        assert p.clusters[node["cluster"]]["lines"][0] == stack
        assert [n["lines"][0] for n in p.nodes.values()].count(w.name) == 1
        text = "\n".join(node["lines"])
        assert node["lines"][0] == w.name
        assert w.instance_type in text
        assert re.search(rf"\b{w.nodes} nodes?\b", text), text
        if w.min_nodes != w.max_nodes:
            assert f"({w.min_nodes}-{w.max_nodes})" in text
        assert CAPACITY[w.capacity] in node["lines"][3], text
        if w.gpu:
            assert f"{w.gpus_per_node}x {w.gpu}" in text
        if w.efa_interfaces_per_node:
            assert f"EFA x{w.efa_interfaces_per_node}" in text
        if w.multi_node and w.gpu_nics_per_node:
            assert f"x{w.gpu_nics_per_node} NICs" in text
        if w.multi_node and w.placement == "cluster":
            assert ("cluster placement" if w.cloud == "aws" else "compact placement") in text


@pytest.mark.parametrize("spec_path,fmt", CASES)
def test_edges_to_the_key_bucket_and_alerts_of_the_groups_region(spec_path, fmt):
    spec, plan = planned(spec_path)
    p = parsed(spec_path, fmt)
    edges = set(p.edges)
    assert len(edges) == len(p.edges), "an edge twice"
    for w in plan.workloads:
        stack = f"{spec.project}-{spec.environment}-{w.cloud}-{w.name}"
        foundation = foundation_of(spec, w)
        fcluster = p.cluster_named(foundation)
        gid = node_id(stack, "nodes")
        for construct, says in (("key", "KMS key"), ("storage", "data bucket"), ("alerts", "alerts")):
            target = node_id(foundation, construct)
            assert (gid, target) in edges, (w.name, construct)
            assert p.nodes[target]["cluster"] == fcluster
            assert says in p.nodes[target]["lines"][0]
        # ... and to no other foundation's.
        assert {d for s, d in edges if s == gid} == {node_id(foundation, c) for c in ("key", "storage", "alerts")}
        endpoint = node_id(stack, "endpoint")
        if w.type == "inference":
            assert (endpoint, gid) in edges
            assert p.nodes[endpoint]["cluster"] == p.nodes[gid]["cluster"]
            assert p.nodes[endpoint]["lines"][0] == f"HTTPS endpoint ({w.exposure or 'public'})"
            assert f":{w.port}{w.health_check_path}" in p.nodes[endpoint]["lines"][-1]
        else:
            assert endpoint not in p.nodes


@pytest.mark.parametrize("spec_path,fmt", CASES)
def test_foundation_shows_network_tiers_and_alert_route(spec_path, fmt):
    spec, plan = planned(spec_path)
    p = parsed(spec_path, fmt)
    for s in plan.storage:
        foundation = f"{spec.project}-{spec.environment}-{s.cloud}-foundation"
        bucket = "\n".join(p.nodes[node_id(foundation, "storage")]["lines"])
        for t in s.tiers:
            assert f"{t.tier}: {t.storage_class}" in bucket
        network = p.nodes[node_id(foundation, "network")]["lines"]
        assert network[0].startswith("VPC ")
        zones = {z for w in plan.workloads if w.cloud == s.cloud and w.region == s.region for z in w.zones}
        assert set(network[1].removeprefix("zones ").split(", ")) <= zones
        alerts = p.nodes[node_id(foundation, "alerts")]["lines"]
        for email in getattr(spec.clouds, s.cloud).alert_emails:
            assert email in alerts
    if spec.clouds.gcp and spec.clouds.gcp.billing_account:
        budget = p.nodes[node_id(f"{spec.project}-{spec.environment}-gcp-foundation", "budget")]["lines"]
        assert f"account {spec.clouds.gcp.billing_account}" in budget


def test_a_second_region_gets_its_own_foundation_and_labels_survive_escaping(tmp_path):
    """A workload pinned to another region: its own foundation stack, edges to that region's key
    and bucket; an alert e-mail full of characters Mermaid and DOT must escape comes back as written."""
    text = REFERENCE.read_text()
    text = text.replace('    type: "data_processing"\n', '    type: "data_processing"\n    region: us-west-2\n', 1)
    email = 'on"call<&>#1`x@acme.example.com'
    text = text.replace("    region: us-east-1\n", f"    region: us-east-1\n    alert_emails: ['{email}']\n", 1)
    path = tmp_path / "two-regions.yaml"
    path.write_text(text)
    spec, plan = planned(path)
    assert {w.region for w in plan.workloads if w.cloud == "aws"} == {"us-east-1", "us-west-2"}
    for fmt in FORMATS:
        p = parsed(path, fmt)
        names = expected_stacks(spec, plan)
        assert "acme-ml-production-aws-foundation-us-west-2" in names
        assert sorted(c["lines"][0] for c in p.clusters.values() if c["lines"][0].startswith("acme-ml-production-")) == sorted(names)
        etl = node_id("acme-ml-production-aws-feature-etl", "nodes")
        assert (etl, node_id("acme-ml-production-aws-foundation-us-west-2", "key")) in p.edges
        assert (etl, node_id("acme-ml-production-aws-foundation", "key")) not in p.edges
        for foundation in ("acme-ml-production-aws-foundation", "acme-ml-production-aws-foundation-us-west-2"):
            assert email in p.nodes[node_id(foundation, "alerts")]["lines"], fmt
        # One budget for the cloud, in its own region's foundation.
        assert node_id("acme-ml-production-aws-foundation", "budget") in p.nodes
        assert node_id("acme-ml-production-aws-foundation-us-west-2", "budget") not in p.nodes


def test_node_ids_are_stable():
    assert output(REFERENCE, "dot") == run("graph", REFERENCE, "--format", "dot").stdout
    ids = set(parse_dot(output(REFERENCE, "dot")).nodes)
    assert ids == set(parse_mermaid(output(REFERENCE, "mermaid")).nodes)
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    serving = next(w.cloud for w in make_plan(load_spec(REFERENCE)).workloads if w.name == "recommendation-inference")
    assert "acme_ml_production_aws_foundation__key" in ids and f"acme_ml_production_{serving}_recommendation_inference__endpoint" in ids


def test_graph_stack_names_match_the_expected_list():
    from aiinfra.graph import stack_names

    for path in EXAMPLES:
        spec, plan = planned(path)
        assert stack_names(spec, plan) == expected_stacks(spec, plan)


def test_svg_renders_with_graphviz(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make setup installs it)")
    spec, plan = planned(REFERENCE)
    out = tmp_path / "architecture.svg"
    r = run("graph", REFERENCE, "--format", "svg", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr.strip() == f"wrote {out}"
    assert [p.name for p in tmp_path.iterdir()] == ["architecture.svg"]
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for w in plan.workloads:
        assert w.name in texts
    for name in expected_stacks(spec, plan):
        assert name in texts


def test_svg_without_dot_says_how_to_get_it(tmp_path):
    out = tmp_path / "architecture.svg"
    r = run("graph", REFERENCE, "--format", "svg", "--out", out, env={"PATH": str(tmp_path)})
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "make setup" in r.stderr and "dot" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_writes_the_file_and_stdout_by_default(tmp_path):
    out = tmp_path / "sub" / "arch.mmd"
    r = run("graph", REFERENCE, "--out", out)
    assert r.returncode == 0 and r.stdout == "" and r.stderr.strip() == f"wrote {out}"
    assert out.read_text() == output(REFERENCE, "mermaid")
    assert [p.name for p in out.parent.iterdir()] == ["arch.mmd"]


def test_unknown_format_is_a_usage_error():
    r = run("graph", REFERENCE, "--format", "png")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aiinfra graph: Invalid value for '--format'") and "Traceback" not in r.stderr


def test_bad_spec_is_one_line_exit_2_and_nothing_written(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE.read_text().replace('"8x A100"', '"8x A1OO"'))
    out = tmp_path / "graph.svg"
    for fmt in ("mermaid", "dot", "svg"):
        r = run("graph", bad, "--format", fmt, "--out", out)
        assert r.returncode == 2 and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("workload_inventory[0].gpu_requirements: unknown GPU 'A1OO'"), r.stderr
        assert not out.exists()
    r = run("graph", tmp_path / "missing.yaml")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "no such file" in r.stderr


def test_graph_imports_no_jsii_and_only_what_it_uses():
    """As fast as ``plan``: no cdktf / jsii, no rich, and without --format svg / --out no
    subprocess or tempfile."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for fmt in ("mermaid", "dot"):
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "aiinfra.cli", "graph", str(REFERENCE), "--format", fmt],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        imported = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
        assert "aiinfra.graph" in imported and "aiinfra.planner" in imported
        bad = sorted(m for m in imported if m.split(".")[0] in ("jsii", "cdktf", "cdktn", "constructs", "cdktf_cdktf_provider_aws",
                                                                  "cdktf_cdktf_provider_google", "boto3", "rich", "tempfile", "subprocess"))
        assert not bad, (fmt, bad)
