"""Plan and catalog output: a terminal table, Markdown for pull requests, and JSON.

The tables are rich's (``box.SIMPLE_HEAD``, no edge padding, no colour). Importing and running
rich costs ~0.1 s, a fifth of the budget of ``aiinfra plan``, so a table that rich would draw
without wrapping or markup (every cell plain printable ASCII, the whole table within the
width) is drawn here, to the same characters (``tests/test_property.py`` checks it against
rich); any other table is drawn by rich.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiinfra.catalog import InstanceOffer
    from aiinfra.planner.model import Plan, WorkloadPlan

CAPACITY_LABEL = {"on_demand": "on-demand", "spot": "spot", "mixed": "mixed"}


def _money(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    return f"${x:,.{digits}f}"


def _gpus(w: WorkloadPlan) -> str:
    return f"{w.gpus_per_node}x {w.gpu}-{w.gpu_memory_gib}GB" if w.gpu else f"{w.vcpus_per_node} vCPU"


def _nodes(w: WorkloadPlan) -> str:
    return str(w.nodes) if w.min_nodes == w.max_nodes else f"{w.nodes} ({w.min_nodes}-{w.max_nodes})"


def _capacity(w: WorkloadPlan) -> str:
    if w.capacity == "mixed":
        # '2 OD + spot': the on-demand base and spot above it, short enough that the reference's table (a mixed Spark
        # cluster, issue 30) stays within 160 columns and is drawn without rich.
        return f"{w.on_demand_base_nodes} OD + spot"
    return CAPACITY_LABEL[w.capacity]


def _headline(plan: Plan) -> str:
    t = plan.totals
    saving = f", spot saves {_money(t.spot_savings_monthly_usd, 0)}/month" if t.spot_savings_monthly_usd > 0 else ""
    return (f"{plan.project} ({plan.environment}): {len(plan.workloads)} workloads, {t.gpus_steady} GPUs steady / {t.gpus_peak} peak, "
            f"{_money(t.monthly_usd, 0)}/month (compute {_money(t.compute_monthly_usd, 0)} + storage {_money(t.storage_monthly_usd, 0)}"
            f"{' + security ' + _money(t.security_monthly_usd, 0) if t.security_monthly_usd else ''}"
            f"{' + network ' + _money(t.network_monthly_usd, 0) if t.network_monthly_usd else ''}"
            f"{' + control plane ' + _money(t.control_plane_monthly_usd, 0) if t.control_plane_monthly_usd else ''}"
            f"{' + system pools ' + _money(t.system_pools_monthly_usd, 0) if t.system_pools_monthly_usd else ''}"
            f"{' + pipeline ' + _money(t.pipeline_monthly_usd, 0) if t.pipeline_monthly_usd else ''}){saving}")


ROWS = ("Workload", "Cloud", "Region", "Zones", "Instance", "Nodes", "GPUs a node", "Capacity", "$/hour", "h/month", "$/month", "$/1k pred.")


def _row(w: WorkloadPlan, pools: bool = False) -> list[str]:
    row = [w.name, w.cloud, w.region, str(len(w.zones)), w.instance_type, _nodes(w), _gpus(w), _capacity(w),
           _money(w.hourly_usd), f"{w.hours_per_month:,.0f}", _money(w.monthly_usd, 0),
           _money(w.cost_per_1k_predictions_usd, 4) if w.cost_per_1k_predictions_usd is not None else "-"]
    return row + [" + ".join(w.node_pools) or "-"] if pools else row


def _has_pools(plan: Plan) -> bool:
    """A cloud on the kubernetes platform: the Markdown workload rows name their node pools (a "Pool" column); a
    plan on VMs alone is printed as it always was."""
    return bool(plan.clusters)


# The Kubernetes platform (planner/platform.py): a line a cluster, a table of its node pools.
POOL_ROWS = ("Pool", "Instance", "Capacity", "GPUs a node", "Min", "Max", "Zones", "Workloads")


def _cluster_line(c) -> str:
    kind = "regional" if c.regional else f"zonal ({c.location})"
    cost = (f"existing cluster, control plane not in the plan" if c.existing else f"control plane {_money(c.monthly_cost)}/month")
    if c.system_pool:
        p = c.system_pool
        cost += f", system pool {p.min_nodes}x {p.instance_type} on-demand {_money(p.monthly_usd)}/month"
    support = ", extended support" if c.extended_support else ""
    channel = f", {c.release_channel.lower()} channel" if c.release_channel else ""
    return f"cluster {c.cloud} {c.region}: {c.name}, Kubernetes {c.version}{support}{channel}, {kind}, {cost}"


def _pool_row(p) -> list[str]:
    gpus = f"{p.gpu_count}x {p.gpu}" if p.gpu else "-"
    return [p.name, p.instance_type, CAPACITY_LABEL[p.capacity_type], gpus, str(p.min_nodes), str(p.max_nodes), str(len(p.zones)),
            "(system pods)" if p.system else ", ".join(p.workloads)]


def _pools(c) -> list:
    """A cluster's pools as its table lists them: the system pool (on a created cluster) first."""
    return [c.system_pool, *c.pools] if c.system_pool else list(c.pools)


# A column: header, right-justified, no_wrap.
Column = tuple[str, bool, bool]
# Characters that rich reads as markup ('[...]'), emoji codes (':name:') or escapes, or
# that it would measure as other than one cell: a table with any of them goes to rich.
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("[]:\\")


def _plain_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str | None = None) -> str | None:
    """The text rich prints for ``Table(box=SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")``
    on a ``width``-wide console without colour, or None when rich could draw it differently
    (a cell not plain printable ASCII, or with leading or trailing spaces; a table wider
    than the console, which rich would wrap or squeeze; a title wider than the table, which
    rich would wrap). Lines end with no trailing spaces (callers strip rich's)."""
    cells = [[c[0] for c in columns], *rows]
    if any(len(row) != len(columns) for row in cells):
        return None
    for text in [title or "", *(cell for row in cells for cell in row)]:
        if text != text.strip() or not _PLAIN.issuperset(text):
            return None
    last = len(columns) - 1
    # Column widths as rich measures them: the widest cell, plus one space of padding on
    # each inner side (pad_edge=False: none at the table's left and right).
    content = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    padded = [w + (i > 0) + (i < last) for i, w in enumerate(content)]
    table_width = sum(padded) + last + 2  # with the box's left and right edges
    if table_width > width or (title is not None and len(title) > table_width):
        return None

    def line(row: Sequence[str]) -> str:
        out = []
        for i, (cell, (_, right, _)) in enumerate(zip(row, columns)):
            text = cell.rjust(content[i]) if right else cell.ljust(content[i])
            out.append((" " if i > 0 else "") + text + (" " if i < last else ""))
        # The box's left edge, cells split by its (blank) vertical rule, no right edge kept.
        return (" " + " ".join(out)).rstrip()

    lines = [title] if title is not None else []
    lines += ["", line(cells[0]), " " + "\u2500" * (sum(padded) + last)]  # top edge (blank), header, rule
    lines += [line(row) for row in rows]
    lines.append("")  # bottom edge (blank)
    return "\n".join(lines) + "\n"


def _rich_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str | None = None,
                color: bool | None = False) -> str:
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
    for name, right, no_wrap in columns:
        table.add_column(name, justify="right" if right else "left", no_wrap=no_wrap)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return buf.getvalue()


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str | None = None,
           color: bool | None = False) -> str:
    """color None: styled when rich's environment says so (FORCE_COLOR, TTY_COMPATIBLE)."""
    styled = color or (color is None and (os.environ.get("FORCE_COLOR") is not None or os.environ.get("TTY_COMPATIBLE")))
    plain = None if styled else _plain_table(columns, rows, width, title)
    return plain if plain is not None else _rich_table(columns, rows, width, title, color)


SECURITY_ROWS = ("Cloud", "Region", "On", "Control", "$/month")
# The data pipeline's managed parts (planner/pipeline.py): one row a part.
PIPELINE_ROWS = ("Cloud", "Region", "Part", "On", "Service", "What", "$/month")


def _pipeline_what(p) -> str:
    """A part's size in a few words: '5 shards x 2 nodes cache.r7g.xlarge', '4,656.6 GiB/month', ..."""
    s = p.settings
    if p.part == "cache":
        return f"{s['shards']} shards x {1 + s['replicas_per_shard']} nodes {s['node_type']}"
    if p.part == "ingestion":
        return f"{s['gib_per_month']:,.1f} GiB/month from bucket {s['source_bucket']}"
    if p.part == "spark":
        return (f"{s.get('engine', '')} {s.get('core_nodes', 0)} core + {s.get('task_min', 0)}-{s.get('task_max', 0)} task "
                f"{'spot' if s.get('task_spot') else 'on-demand'}")
    return f"{s.get('static_path', '')} of {s.get('endpoint', p.target)}"


def _pipeline_row(p) -> list[str]:
    # 'serving #0' for data_pipeline.serving[0]: brackets and colons would send the table to rich (see _plain_table).
    on = p.target.replace("data_pipeline.", "").replace("[", " #").replace("]", "")
    return [p.cloud, p.region, p.part, on, p.service, _pipeline_what(p), _money(p.monthly_usd)]
NETWORK_ROWS = ("Cloud", "Region", "On", "Charge", "$/month")
STORAGE_ROWS = ("Cloud", "Region", "Tier", "Class", "Size GiB", "After days", "$/month")


def _catalog_line(plan: Plan) -> str:
    """'catalog: aws.csv generated 2026-12-07 (prices as of 2026-12-07), ...' for text and Markdown."""
    parts = []
    for name, gen in sorted(plan.catalog_generated.items()):
        if name in ("gpus", "storage"):
            continue
        asof = plan.catalog_prices_as_of.get(name)
        parts.append(f"{name} generated {gen}" + (f" (prices as of {asof})" if asof else ""))
    return "catalog: " + ", ".join(parts)


def plan_text(plan: Plan, width: int | None = None, color: bool = False) -> str:
    width = width or 160
    out = [_headline(plan) + "\n", _catalog_line(plan) + "\n"]
    # The text table keeps its columns on every platform (a pool name is up to 40 characters: with it the table
    # no longer fits 160 columns); each pool's table names its workloads, and each workload's reasons its pool.
    out.append(_table([(name, i >= 8, i < 5) for i, name in enumerate(ROWS)], [_row(w) for w in plan.workloads], width, color=color))
    for c in plan.clusters:
        out.append(_cluster_line(c) + "\n")
        out.append(_table([(name, name in ("Min", "Max", "Zones"), False) for name in POOL_ROWS], [_pool_row(p) for p in _pools(c)], width,
                          title=f"Node pools of {c.name} ({c.cloud} {c.region})", color=color))
    storage = [[s.cloud, s.region, t.tier, t.storage_class, f"{t.size_gib:,}", str(t.transition_after_days or "-"), _money(t.monthly_usd)]
               for s in plan.storage for t in s.tiers]
    out.append(_table([(name, name in ("Size GiB", "After days", "$/month"), False) for name in STORAGE_ROWS], storage, width,
                      title="Storage tiers", color=color))
    if plan.security:
        out.append(_table([(name, name == "$/month", False) for name in SECURITY_ROWS],
                          [[c.cloud, c.region, c.target, c.control.replace("_", " "), _money(c.monthly_usd)] for c in plan.security],
                          width, title="Security controls", color=color))
    if plan.network:
        out.append(_table([(name, name == "$/month", False) for name in NETWORK_ROWS],
                          [[n.cloud, n.region, n.target, n.item.replace("_", " "), _money(n.monthly_usd)] for n in plan.network],
                          width, title="Network", color=color))
    if plan.pipeline:
        out.append(_table([(name, name == "$/month", False) for name in PIPELINE_ROWS], [_pipeline_row(p) for p in plan.pipeline],
                          width, title="Data pipeline", color=color))
    # Reasons are prose: printed as lines, never hard-wrapped, so they paste cleanly into a review.
    lines = ["Why"]
    for w in plan.workloads:
        lines.append(f"  {w.name}")
        lines += [f"    {key}: {why}" for key, why in w.reasons.items()]
        lines += [f"    not chosen: {a.cloud} {a.region} {a.nodes}x {a.instance_type} {_money(a.monthly_usd, 0)}/month" for a in w.alternatives]
    for c in plan.clusters:
        lines.append(f"  cluster {c.name} ({c.cloud} {c.region})")
        lines += [f"    {why}" for why in c.reasons]
    for s in plan.storage:
        lines.append(f"  storage on {s.cloud}")
        lines += [f"    {t.tier}: {t.reason}" for t in s.tiers]
        if s.reason:
            lines.append(f"    lifecycle: {s.reason}")
    for c in plan.security:
        lines.append(f"  security {c.control.replace('_', ' ')} ({c.cloud} {c.region} {c.target}): {c.detail}; {c.reason}")
    for n in plan.network:
        lines.append(f"  network {n.item.replace('_', ' ')} ({n.cloud} {n.region} {n.target}): {n.reason}")
    for p in plan.pipeline:
        lines.append(f"  pipeline {p.part} ({p.cloud} {p.region} {p.target}, {p.service}): {p.reason}")
    for m in plan.monitoring:
        lines.append(f"  monitoring on {m.cloud}: {_money(m.monthly_usd, 0)}/month, not in the total: {m.reason}")
    if plan.findings:
        lines.append("Findings")
        lines += [f"  {f.severity}: {f}" for f in plan.findings]
    if plan.not_applied:
        lines.append("Not applied (keys the spec sets that change neither the plan nor the stacks)")
        lines += [f"  {n.path} \u2014 {n.reason}" for n in plan.not_applied]
    if plan.security_exceptions:
        lines.append("Security exceptions (policy rules waived in the spec)")
        lines += [f"  {e.rule} {e.resource}: {e.reason}" for e in plan.security_exceptions]
    table_text = "\n".join(line.rstrip() for line in "".join(out).splitlines())
    return table_text + "\n" + "\n".join(lines) + "\n"


def plan_markdown(plan: Plan) -> str:
    out = [f"### aiinfra plan: {plan.project} ({plan.environment})", "", f"**{_headline(plan)}**", "", f"_{_catalog_line(plan)}_", ""]
    pools = _has_pools(plan)
    rows = ROWS + ("Pool",) if pools else ROWS
    out.append("| " + " | ".join(rows) + " |")
    out.append("|" + "|".join("---:" if 8 <= i < 12 else "---" for i in range(len(rows))) + "|")
    for w in plan.workloads:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _row(w, pools)) + " |")
    for c in plan.clusters:
        out += ["", f"#### Node pools of {c.name} ({c.cloud} {c.region})", "", f"_{_cluster_line(c)}_", "",
                "| " + " | ".join(POOL_ROWS) + " |", "|---|---|---|---|---:|---:|---:|---|"]
        out += ["| " + " | ".join(_pool_row(p)) + " |" for p in _pools(c)]
    out += ["", "#### Storage tiers", "", "| Cloud | Tier | Class | Size GiB | After days | $/month |", "|---|---|---|---:|---:|---:|"]
    for s in plan.storage:
        for t in s.tiers:
            out.append(f"| {s.cloud} | {t.tier} | {t.storage_class} | {t.size_gib:,} | {t.transition_after_days or '-'} | {_money(t.monthly_usd)} |")
    if plan.security:
        out += ["", "#### Security controls", "", "| Cloud | Region | On | Control | What | $/month | Why |", "|---|---|---|---|---|---:|---|"]
        out += [f"| {c.cloud} | {c.region} | {c.target} | {c.control.replace('_', ' ')} | {c.detail.replace('|', '/')} | "
                f"{_money(c.monthly_usd)} | {c.reason.replace('|', '/')} |" for c in plan.security]
    lifecycle = [f"- {s.cloud}: {s.reason.replace('|', '/')}" for s in plan.storage if s.reason]
    if lifecycle:
        out += ["", "Lifecycle:", "", *lifecycle]
    if plan.network:
        out += ["", "#### Network", "", "| Cloud | Region | On | Charge | $/month | Why |", "|---|---|---|---|---:|---|"]
        out += [f"| {n.cloud} | {n.region} | {n.target} | {n.item.replace('_', ' ')} | {_money(n.monthly_usd)} | "
                f"{n.reason.replace('|', '/')} |" for n in plan.network]
    if plan.pipeline:
        out += ["", "#### Data pipeline", "", "| " + " | ".join(PIPELINE_ROWS) + " | Why |", "|---|---|---|---|---|---|---:|---|"]
        out += ["| " + " | ".join(c.replace("|", "/") for c in _pipeline_row(p)) + f" | {p.reason.replace('|', '/')} |" for p in plan.pipeline]
    out += ["", "<details><summary>Why each choice</summary>", ""]
    for c in plan.clusters:
        out += [f"**cluster {c.name} ({c.cloud} {c.region})**", ""]
        out += [f"- {why.replace('|', '/')}" for why in c.reasons]
        out.append("")
    for w in plan.workloads:
        out.append(f"**{w.name}**")
        out.append("")
        out += [f"- {k}: {v}" for k, v in w.reasons.items()]
        out += [f"- not chosen: {a.cloud} {a.region} {a.nodes}x `{a.instance_type}` {_money(a.monthly_usd, 0)}/month" for a in w.alternatives]
        out.append("")
    out += ["</details>", ""]
    if plan.monitoring:
        out += ["#### Monitoring (not in the total)", ""]
        out += [f"- {m.cloud}: {_money(m.monthly_usd, 0)}/month: {m.reason}" for m in plan.monitoring]
        out.append("")
    if plan.findings:
        out += ["#### Findings", ""]
        out += [f"- **{f.severity}** `{f.path}`: {f.message}" for f in plan.findings]
        out.append("")
    if plan.not_applied:
        out += ["#### Not applied", "", "Keys the spec sets that change neither the plan nor the stacks.", "", "| Key | Why not |", "|---|---|"]
        out += [f"| `{n.path}` | {n.reason.replace('|', '/')} |" for n in plan.not_applied]
        out.append("")
    if plan.security_exceptions:
        out += ["#### Security exceptions", "", "| Rule | Resource | Reason |", "|---|---|---|"]
        out += [f"| {e.rule} | `{e.resource}` | {e.reason.replace('|', '/')} |" for e in plan.security_exceptions]
        out.append("")
    return "\n".join(out)


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2) + "\n"


CATALOG_ROWS = ("Cloud", "Region", "Instance", "GPUs", "vCPU", "Memory GiB", "Network Gbps", "EFA/GPU NICs", "NVMe GiB", "Zones", "On-demand $/h", "Spot $/h")


def _catalog_row(o: InstanceOffer) -> list[str]:
    nics = str(o.efa_interfaces) if o.efa_interfaces else (f"{o.gpu_nics} {o.gpudirect}" if o.gpu_nics else "-")
    return [o.cloud, o.region, o.instance_type, o.gpu_label, str(o.vcpus), f"{o.memory_gib:g}", f"{o.network_gbps:g}", nics,
            f"{o.local_nvme_gib:,}" if o.local_nvme_gib else "-", str(len(o.zones)),
            (f"{o.on_demand_usd_hr:,.4f}" if o.on_demand_usd_hr is not None else "spot only") + ("*" if o.price_flags else ""),
            f"{o.spot_usd_hr:,.4f}" if o.spot_usd_hr is not None else "-"]


def catalog_text(offers: list[InstanceOffer], width: int | None = None) -> str:
    """The table; rows whose listed price failed the catalog's sanity check carry a * and are
    listed under it with what was listed and the price the planner uses."""
    text = _table([(name, i >= 4, True) for i, name in enumerate(CATALOG_ROWS)], [_catalog_row(o) for o in offers], width or 160, color=None)
    lines = [line.rstrip() for line in text.splitlines()]
    flagged = [o for o in offers if o.price_flags]
    if flagged:
        while lines and not lines[-1]:
            lines.pop()
        lines += ["", f"* price check ({len(flagged)} rows; the prices shown are the ones the planner uses):"]
        lines += [f"  {o.cloud} {o.region} {o.instance_type}: {'; '.join(o.price_flags)}" for o in flagged]
    return "\n".join(lines) + "\n"


def catalog_json(offers: list[InstanceOffer]) -> str:
    return json.dumps([{**o._asdict(), "zones": list(o.zones), "price_flags": list(o.price_flags)} for o in offers], indent=2) + "\n"
