"""``aiinfra graph``: the architecture a plan synthesizes to, as Mermaid, Graphviz DOT or SVG.

Drawn from the spec and its plan only (no cdktf, no jsii: as fast as ``aiinfra plan``). The
layout follows ``aiinfra.stacks``: per cloud and region a cluster holding the region's
foundation stack (network, KMS key, tiered bucket, alert route, budget) and one stack per
workload (its node group and, when serving, its HTTPS endpoint); a dashboard stack per cloud.
Every stack ``aiinfra synth`` writes is one labelled cluster whose label's first line is the
stack's name. Node ids are ``<stack>__<construct id>`` with every character outside
``[A-Za-z0-9]`` as ``_`` (``acme_ml_production_aws_foundation__key``): stable while the stack
and construct names are.

Names and counts repeat what ``stacks/aws.py`` and ``stacks/gcp.py`` compute (which cannot be
imported here: they import cdktf; the network's zones come from ``aiinfra.layout``, which both
use); ``tests/test_graph.py`` checks them against the synthesized stacks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiinfra.layout import aws_foundation_zones
from aiinfra.naming import ENV_SHORT, resource_prefix, short, stack_name
from aiinfra.planner import rules

if TYPE_CHECKING:
    from aiinfra.planner.model import CloudStoragePlan, Plan, WorkloadPlan
    from aiinfra.spec.models import Spec

FORMATS = ("mermaid", "dot", "svg")
CLOUD_TITLE = {"aws": "AWS", "gcp": "Google Cloud"}
DOT_MISSING = ("--format svg: needs Graphviz's dot on PATH; `make setup` installs it (Debian: apt-get install graphviz), "
               "or write the source with --format dot")

# Colours: the clouds' own (AWS orange, Google blue), pale fills, one per kind of node.
_CLOUD_STYLE = {"aws": ("#FF9900", "#FFF8EE"), "gcp": ("#4285F4", "#F1F6FE")}
_KIND_FILL = {"group": "#FFFFFF", "endpoint": "#E6F4EA", "key": "#FCE8E6", "bucket": "#E8F0FE", "network": "#F3F3F3",
              "alerts": "#FEF7E0", "budget": "#F3E8FD", "dashboard": "#FFFFFF"}
_DOT_SHAPE = {"group": "box3d", "endpoint": "cds", "key": "box", "bucket": "cylinder", "network": "tab", "alerts": "note",
              "budget": "folder", "dashboard": "component"}
_EDGE_COLOUR = {"https": "#188038", "data": "#1A73E8", "key": "#C5221F", "alerts": "#E37400", "notifies": "#8430CE"}
# Mermaid shapes: (opening, closing) around the quoted label.
_MERMAID_SHAPE = {"group": ("[", "]"), "endpoint": ("([", "])"), "key": ("{{", "}}"), "bucket": ("[(", ")]"), "network": ("(", ")"),
                  "alerts": (">", "]"), "budget": ("[[", "]]"), "dashboard": ("[[", "]]")}


@dataclass
class Node:
    id: str
    lines: list[str]
    kind: str
    dashed: bool = False


@dataclass
class Cluster:
    id: str
    lines: list[str]
    kind: str  # "cloud", "region", "stack"
    cloud: str
    children: list[Cluster | Node] = field(default_factory=list)
    column: bool = False  # DOT: its nodes in one rank (a column, left to right)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    kind: str  # "https", "data", "key", "alerts", "notifies"
    dashed: bool = False


@dataclass
class Diagram:
    title: str
    clusters: list[Cluster]
    edges: list[Edge]


def ident(*parts: str) -> str:
    """A node id from stack / construct names: ``__`` between parts, ``_`` for anything else."""
    return "__".join(re.sub(r"[^A-Za-z0-9]", "_", p) for p in parts)


def _cluster_id(*parts: str) -> str:
    return "c_" + ident(*parts)


def _money(x: float) -> str:
    return f"${x:,.0f}/month"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _gpus(w: WorkloadPlan) -> str:
    return f"{w.gpus_per_node}x {w.gpu}" if w.gpu else f"{w.vcpus_per_node} vCPU"


def _nodes(w: WorkloadPlan) -> str:
    text = _count(w.nodes, "node")
    if w.min_nodes != w.max_nodes:
        text += f" ({w.min_nodes}-{w.max_nodes})"
    return text if w.type == "inference" else f"{text} a run"


def _on_demand_nodes(w: WorkloadPlan) -> int:
    """On-demand nodes of a mixed group (stacks/gcp.py ``_on_demand_nodes``; the same split on AWS)."""
    above = max(w.nodes - w.on_demand_base_nodes, 0)
    return min(w.nodes, w.on_demand_base_nodes + math.ceil(above * w.on_demand_percent_above_base / 100))


def _capacity(w: WorkloadPlan) -> str:
    if w.capacity == "on_demand":
        return "on-demand"
    if w.capacity == "mixed":
        text = f"mixed: {_on_demand_nodes(w)} on-demand + spot"
    else:
        text = "spot"
        if w.spot_alternatives:
            text += f" ({1 + len(w.spot_alternatives)} shapes)"
    if w.spot_fallback == "on_demand":
        text += ", on-demand fallback"
    return text


def _interconnect(w: WorkloadPlan) -> str | None:
    if w.interconnect == "efa" and w.efa_interfaces_per_node:
        fabric = f"EFA x{w.efa_interfaces_per_node} a node"
    elif w.interconnect in ("tcpx", "tcpxo") and w.gpu_nics_per_node:
        fabric = f"GPUDirect-{w.interconnect.upper()} x{w.gpu_nics_per_node} NICs"
    elif w.interconnect == "rdma" and w.gpu_nics_per_node:
        fabric = f"GPUDirect RDMA x{w.gpu_nics_per_node} NICs"
    else:
        fabric = ""
    placement = ""
    if w.placement == "cluster" and w.multi_node:
        if w.cloud == "aws":
            placement = "cluster placement"
        elif w.nodes >= 2:
            placement = "compact placement"
    text = ", ".join(t for t in (fabric, placement) if t)
    return text or None


def stack_names(spec: Spec, plan: Plan) -> list[str]:
    """The stacks ``aiinfra synth`` writes for the plan, in its order (``add_aws_stacks`` then ``add_gcp_stacks``)."""
    names: list[str] = []
    for cloud, regions in _layout(spec, plan):
        for region, foundation, workloads in regions:
            names.append(foundation)
            # The data pipeline's stack, after the primary foundation and before the workloads that read it.
            if region == spec.clouds.region(cloud) and plan.pipeline_stack_parts(cloud):
                names.append(stack_name(spec.project, spec.environment, cloud, "data-pipeline"))
            names += workloads.values()
        names.append(stack_name(spec.project, spec.environment, cloud, "dashboard"))
    return names


def _regions(spec: Spec, plan: Plan, cloud: str) -> list[str]:
    primary = spec.clouds.region(cloud)
    return sorted({w.region for w in plan.workloads if w.cloud == cloud}, key=lambda r: (r != primary, r))


def _layout(spec: Spec, plan: Plan):
    """[(cloud, [(region, foundation stack, {workload: stack})])] as stacks/aws.py and stacks/gcp.py name them."""
    out = []
    for cloud in plan.clouds():
        primary = spec.clouds.region(cloud)
        per_region = []
        for region in _regions(spec, plan, cloud):
            foundation = stack_name(spec.project, spec.environment, cloud, "foundation" if region == primary else f"foundation-{region}")
            workloads = {w.name: stack_name(spec.project, spec.environment, cloud, w.name)
                         for w in plan.workloads if w.cloud == cloud and w.region == region}
            per_region.append((region, foundation, workloads))
        out.append((cloud, per_region))
    return out


def _tier_lines(cloud: str, storage: CloudStoragePlan | None) -> list[str]:
    live = "INTELLIGENT_TIERING" if cloud == "aws" else "AUTOCLASS"
    if storage is None:  # a region other than the cloud's primary: the constructs' defaults (tiered by access)
        return [f"warm: {live}", f"cold: {live} after 90 d unread"]
    lines = []
    for t in storage.tiers:
        where = f" after {t.transition_after_days} d" if t.transition_after_days else (" (node disks)" if t.tier == "hot" else "")
        where += " unread" if t.storage_class == live and t.transition_after_days else ""
        lines.append(f"{t.tier}: {t.storage_class}{where}")
    return lines


def _emails(emails: list[str], what: str) -> list[str]:
    if not emails:
        return []
    shown = emails[:2] + ([f"+{len(emails) - 2} more"] if len(emails) > 2 else [])
    return [_count(len(emails), what) + ":", *shown]


def build(spec: Spec, plan: Plan) -> Diagram:
    """The diagram of the plan's stacks and the resources they hold."""
    prefix = resource_prefix(spec.project, spec.environment)
    by_name = {w.name: w for w in plan.workloads}
    clusters: list[Cluster] = []
    edges: list[Edge] = []
    for cloud, regions in _layout(spec, plan):
        title = CLOUD_TITLE[cloud] + (f" project {spec.clouds.gcp.project}" if cloud == "gcp" else "")
        cloud_cluster = Cluster(_cluster_id(cloud), [title], "cloud", cloud)
        clusters.append(cloud_cluster)
        primary = spec.clouds.region(cloud)
        storage = next((s for s in plan.storage if s.cloud == cloud), None)
        for region, foundation_stack, workload_stacks in regions:
            in_region = [by_name[n] for n in workload_stacks]
            region_cluster = Cluster(_cluster_id(cloud, region), [f"{cloud} {region}"], "region", cloud)
            cloud_cluster.children.append(region_cluster)
            f = Cluster(_cluster_id(foundation_stack), [foundation_stack], "stack", cloud, column=True)
            ids = {k: ident(foundation_stack, k) for k in ("network", "key", "storage", "alerts", "budget")}
            region_storage = storage if region == primary else None
            f.children += _foundation_nodes(spec, plan, cloud, region, prefix, in_region, region_storage, region == primary, ids, edges)
            pipeline = _pipeline_cluster(spec, plan, cloud, region, ids, edges)
            if pipeline is not None:
                region_cluster.children.append(pipeline)
            for w in in_region:
                region_cluster.children.append(_workload_cluster(w, workload_stacks[w.name], prefix, ids, edges))
            region_cluster.children.append(f)
        dash = stack_name(spec.project, spec.environment, cloud, "dashboard")
        rows = sum(1 for w in plan.workloads if w.cloud == cloud)
        what = "CloudWatch dashboard" if cloud == "aws" else "Cloud Monitoring dashboard"
        cloud_cluster.children.append(Cluster(_cluster_id(dash), [dash], "stack", cloud, [
            Node(ident(dash, "dashboard"), [what, f"{prefix}: {_count(rows, 'row')}"], "dashboard")]))
    headline = (f"{spec.project} ({spec.environment}): {_count(len(plan.workloads), 'workload')}, {plan.totals.gpus_steady} GPUs steady, "
                f"{_money(plan.totals.monthly_usd)}")
    return Diagram(headline, clusters, edges)


def _foundation_nodes(spec: Spec, plan: Plan, cloud: str, region: str, prefix: str, workloads: list[WorkloadPlan],
                      storage: CloudStoragePlan | None, primary: bool, ids: dict[str, str], edges: list[Edge]) -> list[Node]:
    nodes = []
    if cloud == "aws":
        aws = spec.clouds.aws
        zones = aws_foundation_zones(workloads)
        net = [f"VPC {prefix}-{region}", f"zones {', '.join(zones)}"]
        if any(w.multi_node for w in workloads):
            net.append(f"placement group {prefix}-{region}-cluster")
        key = ["KMS key", f"alias/{prefix}-{region}-data"]
        bucket = ["S3 data bucket", f"{short(f'{prefix}-{region}', 30)}-data-*"]
        alerts = ["alerts: SNS topic", f"{prefix}-{region}-alerts", *(_emails(aws.alert_emails, "e-mail subscription") or ["no e-mail subscriptions"])]
        monthly = sum(w.monthly_usd for w in workloads) + (storage.monthly_usd if storage else 0.0)
        budget = None
        if primary and monthly > 0:
            budget = ["AWS budget", f"{prefix}-aws-monthly", _money(round(plan.totals.by_cloud_monthly_usd.get("aws", monthly), 2))]
    else:
        gcp = spec.clouds.gcp
        name = short(f"{prefix}-{region}", 40)
        zones = sorted({z for w in workloads for z in w.zones})
        net = [f"VPC {name}-vpc", f"zones {', '.join(zones)}"]
        nics = sorted({(w.interconnect, w.gpu_nics_per_node) for w in workloads if w.multi_node and w.gpu_nics_per_node})
        for kind in dict.fromkeys(k for k, _ in nics):
            count = max(n for k, n in nics if k == kind)
            net.append(f"{count} GPU NIC networks ({'RoCE' if kind == 'rdma' else kind.upper()})")
        key_name = short(f"{prefix}-{region}-data", 63)
        key = ["Cloud KMS key", key_name]
        bucket = ["Cloud Storage data bucket", f"{short(f'{gcp.project}-{spec.project}-{ENV_SHORT[spec.environment]}-{region}', 58)}-data"]
        alerts = ["alerts: Cloud Monitoring", *(_emails(gcp.alert_emails, "e-mail channel") or ["no notification channels"])]
        monthly = round(plan.totals.by_cloud_monthly_usd.get("gcp", 0.0), 2)
        budget = None
        if primary and gcp.billing_account and monthly > 0:
            budget = ["billing budget", f"account {gcp.billing_account}", _money(monthly)]
        elif primary and monthly > 0:
            nodes.append(Node(ids["budget"], ["no budget:", "set clouds.gcp.billing_account"], "budget", dashed=True))
    nodes.append(Node(ids["network"], net, "network"))
    nodes.append(Node(ids["key"], key, "key"))
    nodes.append(Node(ids["storage"], bucket + _tier_lines(cloud, storage), "bucket"))
    nodes.append(Node(ids["alerts"], alerts, "alerts"))
    if budget:
        nodes.append(Node(ids["budget"], budget, "budget"))
        edges.append(Edge(ids["budget"], ids["alerts"], "notifies", "notifies", dashed=True))
    nodes.sort(key=lambda n: ["network", "storage", "key", "alerts", "budget"].index(n.id.rsplit("__", 1)[1]))
    return nodes


_PIPELINE_KIND = {"ingestion": "group", "cache": "bucket", "cdn": "endpoint"}


def _pipeline_cluster(spec: Spec, plan: Plan, cloud: str, region: str, foundation: dict[str, str], edges: list[Edge]) -> Cluster | None:
    """The data pipeline's stack (stack_names: ingestion and caches, and on AWS the CDN), in the cloud's primary region."""
    parts = plan.pipeline_stack_parts(cloud)
    if region != spec.clouds.region(cloud) or not parts:
        return None
    stack = stack_name(spec.project, spec.environment, cloud, "data-pipeline")
    cluster = Cluster(_cluster_id(stack), [stack], "stack", cloud)
    for i, p in enumerate(parts):
        node = ident(stack, f"{p.part}-{i}")
        cluster.children.append(Node(node, [f"{p.part}: {p.service}", p.target, _money(p.monthly_usd)], _PIPELINE_KIND[p.part]))
        edges.append(Edge(node, foundation["storage"] if p.part != "cache" else foundation["key"], "data" if p.part != "cache" else "KMS",
                          "data" if p.part != "cache" else "key"))
    return cluster


def _workload_cluster(w: WorkloadPlan, stack: str, prefix: str, foundation: dict[str, str], edges: list[Edge]) -> Cluster:
    cluster = Cluster(_cluster_id(stack), [stack], "stack", w.cloud)
    group = ident(stack, "nodes")
    lines = [w.name, f"{w.instance_type}, {_gpus(w)}", _nodes(w), _capacity(w)]
    fabric = _interconnect(w)
    if fabric:
        lines.append(fabric)
    lines.append(_money(w.monthly_usd))
    cluster.children.append(Node(group, lines, "group"))
    if w.type == "inference":
        exposure = "internal" if w.exposure == "internal" else "public"
        port = w.port or rules.DEFAULT_MODEL_PORT
        path = w.health_check_path or rules.DEFAULT_HEALTH_CHECK_PATH
        if w.cloud == "aws":
            kind = "internal ALB" if exposure == "internal" else "ALB"
            lb = f"{kind} {short(f'{prefix}-{w.name}', 32)}"
        else:
            name = short(f"{prefix}-{w.name}", 44)
            lb = f"internal ALB {name}" if exposure == "internal" else f"global LB {name}-https"
        endpoint = ident(stack, "endpoint")
        cluster.children.insert(0, Node(endpoint, [f"HTTPS endpoint ({exposure})", lb, f":443 to :{port}{path}"], "endpoint"))
        edges.append(Edge(endpoint, group, "HTTPS", "https"))
    edges.append(Edge(group, foundation["storage"], "data", "data"))
    edges.append(Edge(group, foundation["key"], "KMS", "key"))
    edges.append(Edge(group, foundation["alerts"], "alarms" if w.cloud == "aws" else "alert policies", "alerts", dashed=True))
    return cluster


# ---- Mermaid -------------------------------------------------------------------------------

def mermaid_text(text: str) -> str:
    """``text`` safe inside a double-quoted Mermaid label: entity codes for what Mermaid reads as
    syntax or HTML (GitHub renders labels as HTML)."""
    for ch, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;"), ("`", "#96;")):
        text = text.replace(ch, code)
    return text


def _mermaid_label(lines: list[str]) -> str:
    return '"' + "<br/>".join(mermaid_text(line) for line in lines) + '"'


def to_mermaid(d: Diagram) -> str:
    out = ["---", f"title: {_mermaid_title(d.title)}", "---", "flowchart LR"]
    kinds: dict[str, list[str]] = {}
    dashed: list[str] = []

    def walk(item: Cluster | Node, depth: int) -> None:
        pad = "  " * depth
        if isinstance(item, Node):
            left, right = _MERMAID_SHAPE[item.kind]
            out.append(f"{pad}{item.id}{left}{_mermaid_label(item.lines)}{right}")
            kinds.setdefault(item.kind, []).append(item.id)
            if item.dashed:
                dashed.append(item.id)
            return
        out.append(f"{pad}subgraph {item.id}[{_mermaid_label(item.lines)}]")
        out.append(f"{pad}  direction LR")
        for child in item.children:
            walk(child, depth + 1)
        out.append(f"{pad}end")

    for c in d.clusters:
        walk(c, 1)
    for e in d.edges:
        arrow = "-.->" if e.dashed else "-->"
        out.append(f"  {e.src} {arrow}|{_mermaid_label([e.label])}| {e.dst}")
    for kind, fill in _KIND_FILL.items():
        out.append(f"  classDef {kind} fill:{fill},stroke:#555,color:#111")
    for kind, members in kinds.items():
        out.append(f"  class {','.join(members)} {kind}")
    if dashed:
        out.append("  classDef missing stroke-dasharray:4 3,color:#666")
        out.append(f"  class {','.join(dashed)} missing")

    def styles(item: Cluster | Node) -> None:
        if isinstance(item, Cluster):
            line, fill = _CLOUD_STYLE[item.cloud]
            style = {"cloud": f"fill:{fill},stroke:{line},stroke-width:2px", "region": f"fill:#FFFFFF,stroke:{line}",
                     "stack": "fill:#FFFFFF,stroke:#999,stroke-dasharray:4 3"}[item.kind]
            out.append(f"  style {item.id} {style}")
            for child in item.children:
                styles(child)

    for c in d.clusters:
        styles(c)
    return "\n".join(out) + "\n"


def _mermaid_title(text: str) -> str:
    # YAML front matter: a double-quoted scalar.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- Graphviz DOT --------------------------------------------------------------------------

def dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: list[str]) -> str:
    return '"' + "\\n".join(dot_string(line)[1:-1] for line in lines) + '"'


def to_dot(d: Diagram) -> str:
    font = "Helvetica"
    out = [
        "digraph aiinfra {",
        f"  graph [rankdir=LR, newrank=true, compound=true, nodesep=0.18, ranksep=0.55, fontname={dot_string(font)}, fontsize=13, "
        f"labelloc=t, labeljust=l, label={dot_string(d.title)}];",
        f"  node [fontname={dot_string(font)}, fontsize=10, style=filled, color=\"#555555\", margin=\"0.12,0.05\"];",
        f"  edge [fontname={dot_string(font)}, fontsize=8, color=\"#666666\", fontcolor=\"#444444\", arrowsize=0.6];",
    ]

    def walk(item: Cluster | Node, depth: int) -> None:
        pad = "  " * depth
        if isinstance(item, Node):
            attrs = [f"label={_dot_label(item.lines)}", f"shape={_DOT_SHAPE[item.kind]}", f"fillcolor={dot_string(_KIND_FILL[item.kind])}"]
            if item.dashed:
                attrs += ['style="filled,dashed"', 'fontcolor="#666666"']
            out.append(f"{pad}{item.id} [{', '.join(attrs)}];")
            return
        line, fill = _CLOUD_STYLE[item.cloud]
        style = {"cloud": ("filled", fill, line, 12, "bold"), "region": ("filled", "#FFFFFF", line, 11, ""),
                 "stack": ("dashed,filled", "#FFFFFF", "#999999", 9, "")}[item.kind]
        out.append(f"{pad}subgraph cluster_{item.id} {{")
        out.append(f"{pad}  label={_dot_label(item.lines)}; style={dot_string(style[0])}; fillcolor={dot_string(style[1])}; "
                   f"color={dot_string(style[2])}; fontsize={style[3]};" + (" penwidth=2;" if style[4] else ""))
        for child in item.children:
            walk(child, depth + 1)
        if item.column:
            out.append(f"{pad}  {{rank=same; {'; '.join(c.id for c in item.children if isinstance(c, Node))};}}")
        out.append(f"{pad}}}")

    # Under rankdir=LR dot stacks the clouds (parts of the graph no edge joins) last one on top:
    # emitted in reverse, they read top-down in the plan's order (AWS, then Google Cloud).
    for c in reversed(d.clusters):
        walk(c, 1)
    for e in d.edges:
        # Edges into the key, the bucket and the alert route say what they are by their colour and
        # their target; labels there would pile up in front of the foundation.
        attrs = [f"color={dot_string(_EDGE_COLOUR[e.kind])}"]
        if e.kind in ("https", "notifies"):
            attrs.append(f"label={dot_string(e.label)}")
        if e.dashed:
            attrs.append("style=dashed")
        out.append(f"  {e.src} -> {e.dst} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ---- SVG -----------------------------------------------------------------------------------

class DotMissing(Exception):
    """Graphviz's ``dot`` is not on PATH."""


def render(source: str, fmt: str = "svg", dot_binary: str | None = None) -> str | bytes:
    """DOT ``source`` rendered by Graphviz: SVG as text, any other format (png) as bytes."""
    import shutil
    import subprocess

    binary = dot_binary or shutil.which("dot")
    if binary is None:
        raise DotMissing(DOT_MISSING)
    r = subprocess.run([binary, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {r.stderr.decode(errors='replace').strip()[-2000:]}")
    return r.stdout.decode() if fmt == "svg" else r.stdout


def mermaid(spec: Spec, plan: Plan) -> str:
    """The plan's diagram as a Mermaid flowchart (for a Markdown ```mermaid block)."""
    return to_mermaid(build(spec, plan))


def dot(spec: Spec, plan: Plan) -> str:
    """The plan's diagram as Graphviz DOT source."""
    return to_dot(build(spec, plan))


def graph_text(spec: Spec, plan: Plan, fmt: str) -> str:
    """The diagram in ``fmt`` (one of FORMATS); svg needs Graphviz's ``dot`` (else DotMissing)."""
    if fmt == "mermaid":
        return mermaid(spec, plan)
    source = dot(spec, plan)
    return source if fmt == "dot" else render(source, "svg")  # type: ignore[return-value]
