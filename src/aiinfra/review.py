"""``aiinfra review``: one pull-request comment from the stacks' ``terraform show -json`` plans.

What a reviewer must not miss first (every destroy or replacement, with the attributes that force
it, stateful resources first), then per stack what is added / changed / destroyed and each changed
attribute before -> after (sensitive values masked as terraform does), the money (the plan's
monthly cost before and after, per workload and cloud, spot and on-demand shares, and the
node-hours the planned stacks keep running against the plan's: ``aiinfra.fidelity``), the policy
pack's findings and waivers (and checkov's when it is installed), and the architecture diagram.

No jsii, no terraform: the plans' ``configuration`` carries what the stacks say, in the form the
policy pack and the fidelity simulation read (``config_doc``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiinfra.fidelity import Fidelity, judge_docs
from aiinfra.graph import mermaid, stack_names
from aiinfra.naming import stack_name
from aiinfra.planner.model import Plan, WorkloadPlan
from aiinfra.spec.models import Spec

REVIEW_SCHEMA_VERSION = 1
EXIT_STATEFUL = 3
# Resources that hold data or guard it: destroying one loses what is in it.
STATEFUL = {"aws_s3_bucket": "bucket", "aws_kms_key": "KMS key", "aws_ebs_volume": "volume", "aws_efs_file_system": "file system",
            "aws_fsx_lustre_file_system": "file system", "aws_dynamodb_table": "table", "aws_db_instance": "database",
            "google_storage_bucket": "bucket", "google_kms_crypto_key": "KMS key", "google_kms_key_ring": "key ring",
            "google_compute_disk": "disk", "google_filestore_instance": "file system"}
GPU_GROUPS = {"aws_autoscaling_group", "google_compute_region_instance_group_manager", "google_compute_instance_group_manager"}
LIFECYCLE = {"aws_s3_bucket_lifecycle_configuration": "rule", "google_storage_bucket": "lifecycle_rule"}
SENSITIVE = "(sensitive value)"
_EMPTY = (None, "", [], {})
UNKNOWN = "(known after apply)"


class ReviewError(ValueError):
    """Bad input: one line for the user."""


@dataclass
class AttributeChange:
    path: str
    before: Any
    after: Any


@dataclass
class ResourceChange:
    stack: str
    address: str
    type: str
    actions: list[str]
    replace_paths: list[str] = field(default_factory=list)
    attributes: list[AttributeChange] = field(default_factory=list)
    stateful: str | None = None
    warning: str | None = None
    action: str = ""  # create | update | replace | destroy, from ``actions``

    def __post_init__(self) -> None:
        a = self.actions
        if "delete" in a and "create" in a:
            self.action = "replace"
        else:
            self.action = {"create": "create", "update": "update", "delete": "destroy"}.get(a[0] if a else "", "no-op")


@dataclass
class StackReview:
    name: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    changes: list[ResourceChange] = field(default_factory=list)


@dataclass
class WorkloadMoney:
    workload: str
    cloud: str
    before_usd: float | None
    after_usd: float | None
    delta_usd: float
    capacity: str


@dataclass
class RetiredStack:
    """A stack of the base spec that this spec no longer has. ``cdktf deploy`` (and ``aiinfra``'s
    own app) only deploys the stacks an app has: nothing destroys this one, its resources keep
    running and billing until someone destroys it."""

    name: str
    workloads: list[str]
    monthly_usd: float  # what its workloads and their security controls cost a month in the base plan
    destroy_planned: bool  # a ``terraform plan -destroy`` of it is among the plans (its changes are in ``stacks``)


@dataclass
class Review:
    project: str
    environment: str
    must_not_miss: list[ResourceChange]
    stacks: list[StackReview]
    money: dict[str, Any]
    fidelity: list[Fidelity]
    findings: dict[str, list[str]]
    diagram: str
    exit_code: int
    retired: list[RetiredStack] = field(default_factory=list)
    schema_version: int = REVIEW_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        order = ["schema_version", "project", "environment", "exit_code", "must_not_miss", "retired", "stacks", "money", "fidelity",
                 "findings", "diagram"]
        return {k: d[k] for k in order}


# ---------------------------------------------------------------- the stacks a spec has

def _identity(doc: dict) -> tuple[str, str, str] | None:
    """(project, environment, part) from the stack's provider default tags / labels."""
    for provider in doc.get("configuration", {}).get("provider_config", {}).values():
        expr = provider.get("expressions", {})
        tags = expr.get("default_tags", [{}])[0].get("tags", {}).get("constant_value") if "default_tags" in expr else \
            expr.get("default_labels", {}).get("constant_value")
        if tags and "aiinfra-part" in tags:
            return tags.get("project", ""), tags.get("environment", ""), tags["aiinfra-part"]
    return None


def retired_stacks(spec: Spec, plan: Plan, base_spec: Spec | None, base: Plan | None) -> list[str]:
    """The base spec's stacks this spec no longer has (a workload, a region's foundation or a
    cloud removed), in the base's synth order."""
    if base_spec is None or base is None:
        return []
    now = set(stack_names(spec, plan))
    return [n for n in stack_names(base_spec, base) if n not in now]


def _part(spec: Spec, name: str) -> str:
    return next(name[len(p):] for p in (stack_name(spec.project, spec.environment, c, "") for c in ("aws", "gcp")) if name.startswith(p))


def _read_plan(path: Path, spec: Spec, name: str) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ReviewError(f"{path}: not terraform show -json output (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or "resource_changes" not in doc and "planned_values" not in doc:
        raise ReviewError(f"{path}: not a plan (terraform show -json of a saved plan has resource_changes)")
    who = _identity(doc)
    if who is None or who != (spec.project, spec.environment, _part(spec, name)):
        shown = f"{who[0]} {who[1]} {who[2]}" if who else "no aiinfra stack"
        raise ReviewError(f"{path}: the plan of another stack ({shown}), not {name}")
    return doc


def load_plans(spec: Spec, plan: Plan, plans_dir: Path, retired: list[str] | None = None,
               base_spec: Spec | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """(every planned stack's ``<stack>.json`` in ``plans_dir``, the destroy plans of the base's
    stacks this spec retires (``retired_stacks``) that are there too); ReviewError on anything amiss."""
    if not plans_dir.is_dir():
        raise ReviewError(f"--plans {plans_dir}: not a folder")
    expected = stack_names(spec, plan)
    retired = retired or []
    found = {p.stem: p for p in plans_dir.glob("*.json")}
    missing = [n for n in expected if n not in found]
    if missing:
        raise ReviewError(f"--plans {plans_dir}: no plan for {', '.join(missing)} (terraform show -json of each stack, named <stack>.json)")
    extra = sorted(set(found) - set(expected) - set(retired))
    if extra:
        raise ReviewError(f"{found[extra[0]]}: a plan of {extra[0]}, which the spec does not have (its stacks: {', '.join(expected)}"
                          + ("" if base_spec is None else "; nor is it a stack the base spec has and this one retires") + ")")
    docs = {name: _read_plan(found[name], spec, name) for name in expected}
    gone = {}
    for name in retired:
        if name not in found:
            continue
        assert base_spec is not None
        doc = _read_plan(found[name], base_spec, name)
        kept = [e["address"] for e in doc.get("resource_changes", []) if e.get("mode") == "managed"
                and "delete" not in e.get("change", {}).get("actions", [])]
        if kept:
            raise ReviewError(f"{found[name]}: {name} leaves the spec, but this plan keeps {kept[0]}: plan it with "
                              "`terraform plan -destroy` (in the base spec's synth output)")
        gone[name] = doc
    return docs, gone


# ---------------------------------------------------------------- what changes

def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _flag(mask: Any, path: str) -> bool:
    """Whether ``path`` (dotted, with [i]) is marked true in a terraform sensitive / unknown mask."""
    node = mask
    for part in path.replace("[", ".[").split("."):
        if node is True:
            return True
        if not part:
            continue
        if part.startswith("["):
            idx = int(part[1:-1])
            node = node[idx] if isinstance(node, list) and idx < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return False
    return node is True


def attribute_changes(change: dict) -> list[AttributeChange]:
    before, after = _leaves(change.get("before") or {}), _leaves(change.get("after") or {})
    out = []
    for path in sorted(set(before) | set(after)):
        b, a = before.get(path), after.get(path)
        unknown = _flag(change.get("after_unknown") or {}, path)
        if (b == a or (b in _EMPTY and a in _EMPTY)) and not unknown:
            continue  # providers read an unset argument back as null, "" or []: not a change
        # Changed on the raw values, shown masked (a changed secret is a change, never its value).
        if _flag(change.get("before_sensitive") or {}, path):
            b = SENSITIVE
        if unknown:
            a = UNKNOWN
        elif _flag(change.get("after_sensitive") or {}, path):
            a = SENSITIVE
        out.append(AttributeChange(path, b, a))
    return out


def _warning(rc: ResourceChange, change: dict) -> str | None:
    if rc.type == "aws_kms_key" and rc.action in ("destroy", "replace"):
        days = (change.get("before") or {}).get("deletion_window_in_days") or 30
        return f"the key is scheduled for deletion in {days} days: data encrypted with it becomes unreadable then"
    if rc.type in GPU_GROUPS and rc.action == "replace":
        return "a GPU group is replaced: its nodes are terminated and launched again (running jobs stop)"
    if rc.type in GPU_GROUPS and rc.action == "destroy":
        return "a GPU group is destroyed: its nodes are terminated (running jobs stop)"
    if rc.type in LIFECYCLE and rc.action == "update":
        days = [c for c in rc.attributes if c.path.endswith(("days", ".age")) and isinstance(c.before, (int, float))
                and isinstance(c.after, (int, float)) and c.after < c.before]
        if days:
            return "a lifecycle rule moves objects sooner (" + ", ".join(f"{c.path} {c.before} -> {c.after}" for c in days) + \
                   "): live datasets may be archived or expired"
    return None


def stack_changes(name: str, doc: dict) -> StackReview:
    review = StackReview(name)
    for entry in doc.get("resource_changes", []):
        if entry.get("mode") != "managed":
            continue
        change = entry.get("change", {})
        actions = list(change.get("actions", []))
        if actions in (["no-op"], ["read"], []):
            continue
        rc = ResourceChange(name, entry["address"], entry["type"], actions,
                            ["/".join(str(p) for p in path) for path in change.get("replace_paths", [])], attribute_changes(change))
        if "create" in actions:
            review.add += 1
        if "update" in actions:
            review.change += 1
        if "delete" in actions:
            review.destroy += 1
        if rc.action in ("destroy", "replace") and rc.type in STATEFUL:
            rc.stateful = STATEFUL[rc.type]
        rc.warning = _warning(rc, change)
        review.changes.append(rc)
    return review


# ---------------------------------------------------------------- the stacks' configuration

def _value(expr: Any) -> Any:
    if isinstance(expr, list):
        # Nested blocks: terraform lists every block; synthesized JSON writes a single block as an
        # object, which is what the policy pack and the fidelity simulation read.
        values = [{k: _value(v) for k, v in block.items()} for block in expr]
        return values[0] if len(values) == 1 else values
    if isinstance(expr, dict):
        if "constant_value" in expr:
            return expr["constant_value"]
        if "references" in expr and expr["references"]:
            return "${" + expr["references"][0] + "}"
        return {k: _value(v) for k, v in expr.items()}
    return expr


def config_doc(doc: dict) -> dict:
    """A plan's configuration in ``cdk.tf.json`` form: ``{"resource": {type: {name: arguments}}}``."""
    resources: dict[str, dict[str, Any]] = {}
    for r in doc.get("configuration", {}).get("root_module", {}).get("resources", []):
        if r.get("mode") == "managed":
            resources.setdefault(r["type"], {})[r["name"]] = {k: _value(v) for k, v in r.get("expressions", {}).items()}
    return {"resource": resources}


# ---------------------------------------------------------------- money

def _shares(plan: Plan) -> dict[str, float]:
    spot = 0.0
    for w in plan.workloads:
        if w.capacity == "spot":
            spot += w.monthly_usd
        elif w.capacity == "mixed" and w.nodes:
            spot += w.monthly_usd * max(w.nodes - w.on_demand_base_nodes, 0) / w.nodes
    compute = sum(w.monthly_usd for w in plan.workloads)
    return {"spot_usd": round(spot, 2), "on_demand_usd": round(compute - spot, 2),
            "spot_share": round(spot / compute, 4) if compute else 0.0}


def money(plan: Plan, base: Plan | None, retired: list[RetiredStack] | None = None) -> dict[str, Any]:
    before = {w.name: w for w in base.workloads} if base else {}
    after = {w.name: w for w in plan.workloads}
    rows = []
    for name in [*after, *(n for n in before if n not in after)]:
        b: WorkloadPlan | None = before.get(name)
        a: WorkloadPlan | None = after.get(name)
        w = a or b
        assert w is not None
        rows.append(asdict(WorkloadMoney(name, w.cloud, round(b.monthly_usd, 2) if b else None, round(a.monthly_usd, 2) if a else None,
                                         round((a.monthly_usd if a else 0) - (b.monthly_usd if b else 0), 2), w.capacity)))
    clouds = sorted(set(plan.totals.by_cloud_monthly_usd) | set(base.totals.by_cloud_monthly_usd if base else {}))
    by_cloud = {c: {"before_usd": base.totals.by_cloud_monthly_usd.get(c, 0.0) if base else None,
                    "after_usd": plan.totals.by_cloud_monthly_usd.get(c, 0.0),
                    "delta_usd": round(plan.totals.by_cloud_monthly_usd.get(c, 0.0) - (base.totals.by_cloud_monthly_usd.get(c, 0.0) if base else 0.0), 2)}
                for c in clouds}
    return {"before_usd": base.totals.monthly_usd if base else None, "after_usd": plan.totals.monthly_usd,
            "delta_usd": round(plan.totals.monthly_usd - (base.totals.monthly_usd if base else 0.0), 2),
            "workloads": rows, "clouds": by_cloud, "capacity": _shares(plan),
            "monitoring_usd": {m.cloud: m.monthly_usd for m in plan.monitoring},
            # The retired stacks' workloads: off the plan, still billed until their stacks are destroyed.
            "until_destroyed_usd": round(sum(r.monthly_usd for r in retired or []), 2)}


# ---------------------------------------------------------------- findings

def _checkov(plans: dict[str, Path]) -> list[str] | None:
    """checkov's failed checks on the plans, and how many passed (None: checkov is not installed).
    checkov reads a ``.checkov.yaml`` in the working folder, as it does when run by hand."""
    exe = os.environ.get("AIINFRA_CHECKOV") or shutil.which("checkov")
    if not exe or not Path(exe).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in plans.items():
            shutil.copy(path, Path(tmp) / f"{name}.json")
        r = subprocess.run([exe, "-d", tmp, "--framework", "terraform_plan", "-o", "json", "--skip-download"],
                           capture_output=True, text=True, timeout=600)
    try:
        reports = json.loads(r.stdout or "[]")
    except json.JSONDecodeError:
        return [f"checkov exited {r.returncode} without a report"]
    failed, passed = [], 0
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        for c in results.get("failed_checks", []):
            failed.append(f"{c['check_id']} {c['resource']} ({Path(c.get('file_path', '')).stem}): {c['check_name']}")
    return sorted(failed) + [f"{passed} checks passed on {len(plans)} plans"]


def _synth_notes(spec: Spec, plan: Plan, synth_out: Path | None) -> list[str] | None:
    """The notes of the synth in ``synth_out`` when it was made from this spec and plan and is
    unchanged since (``aiinfra.synth.reuse``); None otherwise."""
    if synth_out is None:
        return None
    from aiinfra import synth as s

    if not (synth_out / s.CACHE_FILE).exists():
        return None
    # The stacks it wrote, whatever else sits in their folders (variables files, plan files, .terraform/).
    found = s.reuse(synth_out, s.cache_key(spec, plan, s.state_dir_for(plan)), extra_files=True)
    return None if found is None else found[1]


def findings(spec: Spec, plan: Plan, docs: dict[str, dict], plans: dict[str, Path], checkov: bool,
             synth_out: Path | None = None) -> dict[str, list[str]]:
    """The policy pack's results and waivers: from the synth that wrote these stacks when its
    output is at hand (a synth with a violation writes nothing, and it knows the constructs'
    own waivers), else judged on the plans' configuration (without the constructs' waivers,
    which only the synth records). And checkov's on the plans."""
    from aiinfra.planner.security import requirements
    from aiinfra.policy.pack import Suppression, check_stack

    notes = _synth_notes(spec, plan, synth_out)
    if notes is not None:
        out = {"policy": [], "waivers": [n for n in notes if n.startswith("AIINFRA-")]}
    else:
        waivers = [Suppression(e.rule, e.resource, e.reason, "spec") for e in spec.security_exceptions]
        policy, applied = [], []
        for name, doc in docs.items():
            # The spec's asks (a plan's configuration does not carry the stacks' own record of them).
            report = check_stack(name, config_doc(doc), waivers, requires=requirements(spec))
            policy += report.lines()
            applied += report.notes()
        if policy:
            policy.insert(0, f"judged on the plans' configuration: pass --synth-out (the synth's output folder) for the constructs' own waivers")
        out = {"policy": policy, "waivers": applied}
    if checkov:
        found = _checkov(plans)
        out["checkov"] = found if found is not None else ["not run: checkov is not installed (make setup puts it in .venv-checkov)"]
    return out


# ---------------------------------------------------------------- the review

def _retired(names: list[str], gone: dict[str, dict], base_spec: Spec | None, base: Plan | None) -> list[RetiredStack]:
    out = []
    for name in names:
        assert base_spec is not None and base is not None
        workloads = [w for w in base.workloads if stack_name(base_spec.project, base_spec.environment, w.cloud, w.name) == name]
        # its nodes, and the controls the plan put on them (a web ACL / Cloud Armor on its endpoint)
        guarded = [c for c in base.security for w in workloads if (c.cloud, c.target) == (w.cloud, w.name)]
        usd = sum(w.monthly_usd for w in workloads) + sum(c.monthly_usd for c in guarded)
        out.append(RetiredStack(name, [w.name for w in workloads], round(usd, 2), name in gone))
    return out


def review(spec: Spec, plan: Plan, plans_dir: Path, base: Plan | None = None, checkov: bool = True, synth_out: Path | None = None,
           base_spec: Spec | None = None) -> Review:
    names = retired_stacks(spec, plan, base_spec, base)
    docs, gone = load_plans(spec, plan, plans_dir, names, base_spec)
    retired = _retired(names, gone, base_spec, base)
    stacks = [stack_changes(name, doc) for name, doc in [*docs.items(), *gone.items()]]
    order = {"destroy": 0, "replace": 0}
    urgent = [c for s in stacks for c in s.changes if c.action in order or c.warning]
    urgent.sort(key=lambda c: (c.stateful is None, c.type not in GPU_GROUPS, c.stack, c.address))
    fid = judge_docs(plan, {name: config_doc(doc) for name, doc in docs.items()})
    diagram = mermaid(spec, plan)
    exit_code = EXIT_STATEFUL if any(c.stateful for c in urgent) else 0
    plans = {n: plans_dir / f"{n}.json" for n in [*docs, *gone]}
    return Review(spec.project, spec.environment, urgent, stacks, money(plan, base, retired), fid,
                  findings(spec, plan, docs, plans, checkov, synth_out), diagram, exit_code, retired)


def _usd(v: float | None) -> str:
    return "-" if v is None else f"${v:,.0f}"


def _delta(v: float) -> str:
    return f"{'+' if v > 0 else '-' if v < 0 else ''}${abs(v):,.0f}"


def _show(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else v
    text = text if len(text) <= 80 else text[:77] + "..."
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def markdown(r: Review) -> str:
    out = [f"### aiinfra review: {r.project} ({r.environment})", ""]
    out += ["#### Must not miss", ""]
    for g in r.retired:
        cost = f", {', '.join(g.workloads)} ({_usd(g.monthly_usd)} a month in the base plan)" if g.workloads else ""
        out.append(f"- **leaves the spec** `{g.name}`{cost}: `cdktf deploy` deploys only the stacks the app has and never destroys this "
                   "one; its resources keep running and billing until it is destroyed after the merge (`terraform destroy` in "
                   f"`stacks/{g.name}` of the base spec's `aiinfra synth`, or `cdktf destroy {g.name}` in a checkout of the base)"
                   + (": its destroy plan is reviewed here." if g.destroy_planned else
                      f": no destroy plan of it is in the plans, so what it destroys is not reviewed (`terraform plan -destroy` there, "
                      f"shown as `{g.name}.json`)."))
    if r.retired:
        out.append("")
    if not r.must_not_miss:
        out += ["Nothing is destroyed or replaced.", ""]
    for c in r.must_not_miss:
        what = f" ({c.stateful}: its data goes with it)" if c.stateful else ""
        forced = f"; forced by {', '.join(f'`{p}`' for p in c.replace_paths)}" if c.replace_paths else ""
        out.append(f"- **{c.action}** `{c.address}` in `{c.stack}`{what}{forced}" + (f": {c.warning}" if c.warning else ""))
    if r.must_not_miss:
        out.append("")
    if r.exit_code == EXIT_STATEFUL:
        out += ["**A stateful resource is destroyed or replaced: this needs an explicit approval.**", ""]
    out += ["#### Stacks", "", "| Stack | Add | Change | Destroy |", "|---|---:|---:|---:|"]
    out += [f"| `{s.name}` | {s.add} | {s.change} | {s.destroy} |" for s in r.stacks]
    out.append("")
    for s in r.stacks:
        updates = [c for c in s.changes if c.action in ("update", "replace")]
        if not updates:
            continue
        out += [f"<details><summary><code>{s.name}</code>: {len(updates)} changed</summary>", "",
                "| Resource | Attribute | Before | After |", "|---|---|---|---|"]
        for c in updates:
            out += [f"| `{c.address}` | `{a.path}` | {_show(a.before)} | {_show(a.after)} |" for a in c.attributes]
        out += ["", "</details>", ""]
    m = r.money
    out += ["#### Money (a month, at the plan's prices)", ""]
    out += [f"Total: {_usd(m['before_usd'])} -> {_usd(m['after_usd'])} ({_delta(m['delta_usd'])}); compute on spot {_usd(m['capacity']['spot_usd'])}, "
            f"on-demand {_usd(m['capacity']['on_demand_usd'])} ({m['capacity']['spot_share']:.0%} spot)"]
    if m["monitoring_usd"]:
        out.append("Monitoring, not in the total: " + ", ".join(f"{c} {_usd(v)}" for c, v in m["monitoring_usd"].items()))
    if r.retired:
        out.append(f"Off the plan but billed until their stacks are destroyed: {_usd(m['until_destroyed_usd'])} "
                   f"({', '.join(g.name for g in r.retired)})")
    out.append("")
    out += ["| Workload | Cloud | Capacity | Before | After | Delta |", "|---|---|---|---:|---:|---:|"]
    out += [f"| {w['workload']} | {w['cloud']} | {w['capacity']} | {_usd(w['before_usd'])} | {_usd(w['after_usd'])} | {_delta(w['delta_usd'])} |"
            for w in m["workloads"]]
    out += ["", "| Cloud | Before | After | Delta |", "|---|---:|---:|---:|"]
    out += [f"| {c} | {_usd(v['before_usd'])} | {_usd(v['after_usd'])} | {_delta(v['delta_usd'])} |" for c, v in m["clouds"].items()]
    out += ["", "| Workload | Node-hours planned | Kept running by the stacks | Problem |", "|---|---:|---:|---|"]
    out += [f"| {f.workload} | {f.planned:,.1f} | {f.kept:,.1f} | {f.problem or 'none'} |" for f in r.fidelity]
    out += ["", "#### Findings", ""]
    for key, title in (("policy", "Policy pack"), ("waivers", "Waivers"), ("checkov", "checkov")):
        if key not in r.findings:
            continue
        lines = r.findings[key]
        out.append(f"- {title}: " + ("none" if not lines else ""))
        out += [f"  - {line}" for line in lines]
    if r.diagram:
        out += ["", "#### Architecture", "", "```mermaid", r.diagram.rstrip(), "```"]
    return "\n".join(out) + "\n"
