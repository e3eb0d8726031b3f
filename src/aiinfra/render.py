"""Plan and catalog output: a terminal table, Markdown for pull requests, and JSON."""

from __future__ import annotations

import io
import json

from rich import box
from rich.console import Console
from rich.table import Table

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
    label = CAPACITY_LABEL[w.capacity]
    if w.capacity == "mixed":
        label += f" ({w.on_demand_base_nodes} on-demand base)"
    return label


def _headline(plan: Plan) -> str:
    t = plan.totals
    saving = f", spot saves {_money(t.spot_savings_monthly_usd, 0)}/month" if t.spot_savings_monthly_usd > 0 else ""
    return (f"{plan.project} ({plan.environment}): {len(plan.workloads)} workloads, {t.gpus_steady} GPUs steady / {t.gpus_peak} peak, "
            f"{_money(t.monthly_usd, 0)}/month (compute {_money(t.compute_monthly_usd, 0)} + storage {_money(t.storage_monthly_usd, 0)}){saving}")


ROWS = ("Workload", "Cloud", "Region", "Zones", "Instance", "Nodes", "GPUs a node", "Capacity", "$/hour", "h/month", "$/month", "$/1k pred.")


def _row(w: WorkloadPlan) -> list[str]:
    return [w.name, w.cloud, w.region, str(len(w.zones)), w.instance_type, _nodes(w), _gpus(w), _capacity(w),
            _money(w.hourly_usd), f"{w.hours_per_month:,.0f}", _money(w.monthly_usd, 0),
            _money(w.cost_per_1k_predictions_usd, 4) if w.cost_per_1k_predictions_usd is not None else "-"]


def plan_text(plan: Plan, width: int | None = None, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width or 160, force_terminal=color, no_color=not color, highlight=False)
    buf.write(_headline(plan) + "\n")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for i, name in enumerate(ROWS):
        table.add_column(name, justify="right" if i >= 8 else "left", no_wrap=i < 5)
    for w in plan.workloads:
        table.add_row(*_row(w))
    console.print(table)
    storage = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Storage tiers", title_justify="left")
    for name in ("Cloud", "Region", "Tier", "Class", "Size GiB", "After days", "$/month"):
        storage.add_column(name, justify="right" if name in ("Size GiB", "After days", "$/month") else "left")
    for s in plan.storage:
        for t in s.tiers:
            storage.add_row(s.cloud, s.region, t.tier, t.storage_class, f"{t.size_gib:,}", str(t.transition_after_days or "-"), _money(t.monthly_usd))
    console.print(storage)
    # Reasons are prose: printed as lines, never hard-wrapped, so they paste cleanly into a review.
    lines = ["Why"]
    for w in plan.workloads:
        lines.append(f"  {w.name}")
        lines += [f"    {key}: {why}" for key, why in w.reasons.items()]
        lines += [f"    not chosen: {a.cloud} {a.region} {a.nodes}x {a.instance_type} {_money(a.monthly_usd, 0)}/month" for a in w.alternatives]
    for s in plan.storage:
        lines.append(f"  storage on {s.cloud}")
        lines += [f"    {t.tier}: {t.reason}" for t in s.tiers]
    if plan.findings:
        lines.append("Findings")
        lines += [f"  {f.severity}: {f}" for f in plan.findings]
    if plan.security_exceptions:
        lines.append("Security exceptions (policy rules waived in the spec)")
        lines += [f"  {e.rule} {e.resource}: {e.reason}" for e in plan.security_exceptions]
    table_text = "\n".join(line.rstrip() for line in buf.getvalue().splitlines())
    return table_text + "\n" + "\n".join(lines) + "\n"


def plan_markdown(plan: Plan) -> str:
    out = [f"### aiinfra plan: {plan.project} ({plan.environment})", "", f"**{_headline(plan)}**", ""]
    out.append("| " + " | ".join(ROWS) + " |")
    out.append("|" + "|".join("---:" if i >= 8 else "---" for i in range(len(ROWS))) + "|")
    for w in plan.workloads:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _row(w)) + " |")
    out += ["", "#### Storage tiers", "", "| Cloud | Tier | Class | Size GiB | After days | $/month |", "|---|---|---|---:|---:|---:|"]
    for s in plan.storage:
        for t in s.tiers:
            out.append(f"| {s.cloud} | {t.tier} | {t.storage_class} | {t.size_gib:,} | {t.transition_after_days or '-'} | {_money(t.monthly_usd)} |")
    out += ["", "<details><summary>Why each choice</summary>", ""]
    for w in plan.workloads:
        out.append(f"**{w.name}**")
        out.append("")
        out += [f"- {k}: {v}" for k, v in w.reasons.items()]
        out += [f"- not chosen: {a.cloud} {a.region} {a.nodes}x `{a.instance_type}` {_money(a.monthly_usd, 0)}/month" for a in w.alternatives]
        out.append("")
    out += ["</details>", ""]
    if plan.findings:
        out += ["#### Findings", ""]
        out += [f"- **{f.severity}** `{f.path}`: {f.message}" for f in plan.findings]
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
            f"{o.on_demand_usd_hr:,.4f}" if o.on_demand_usd_hr is not None else "spot only",
            f"{o.spot_usd_hr:,.4f}" if o.spot_usd_hr is not None else "-"]


def catalog_text(offers: list[InstanceOffer], width: int | None = None) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width or 160, no_color=True, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for i, name in enumerate(CATALOG_ROWS):
        table.add_column(name, justify="right" if i >= 4 else "left", no_wrap=True)
    for o in offers:
        table.add_row(*_catalog_row(o))
    console.print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def catalog_json(offers: list[InstanceOffer]) -> str:
    return json.dumps([{**o._asdict(), "zones": list(o.zones)} for o in offers], indent=2) + "\n"
