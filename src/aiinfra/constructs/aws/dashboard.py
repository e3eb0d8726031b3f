"""A CloudWatch dashboard with one row per workload: the metrics the spec monitors, charted from
the same queries the alarms use (``metrics.py``), with the plan's figures as annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.aws.alerts import AlarmTarget
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.metrics import METRICS

WIDTH = 24  # dashboard grid columns
WIDGET_WIDTH = 6
WIDGET_HEIGHT = 6
BILLING_REGION = "us-east-1"  # AWS/Billing is published there only
# Widgets per dashboard: more workloads continue on "<name>-2", ... (whole rows each).
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
MAX_WIDGETS = 100


@dataclass(frozen=True)
class DashboardRow:
    """One workload's row.

    Args:
        title: the row's heading (the workload's name and shape).
        region: where its metrics are.
        target: its group and load balancer (``AlarmTarget``).
        metrics: the names to chart (``metrics.METRICS`` keys), in order.
        planned_nodes: drawn as a line on the node count.
        planned_hourly_usd: the plan's cost an hour with every planned node running, drawn on the node cost.
        alarm_names: the workload's alarms (in ``region``), shown as a status widget.
    """

    title: str
    region: str
    target: AlarmTarget
    metrics: tuple[str, ...]
    planned_nodes: int = 0
    planned_hourly_usd: float = 0.0
    alarm_names: tuple[str, ...] = ()


def _widget_metrics(name: str, row: DashboardRow) -> list[list[Any]]:
    queries, expression = METRICS[name]
    out: list[list[Any]] = []
    for q in queries:
        dims = [part for kv in sorted(row.target.dimensions(q.kind).items()) for part in kv]
        out.append([q.namespace, q.name, *dims, {"id": q.id, "stat": q.stat, "visible": expression is None, "label": q.id}])
    if expression is not None:
        out.append([{"expression": expression.format(node_hour_usd=f"{row.target.node_hour_usd:.6g}"), "id": "value", "label": name}])
    return out


class Dashboard(Construct):
    """``aws_cloudwatch_dashboard``: a heading and a row of charts per workload, then spend; more
    than ``MAX_WIDGETS`` widgets continue on ``<name>-2``, ``<name>-3``...

    Example::

        Dashboard(stack, "dashboard", name="acme-ml-prod", rows=[DashboardRow("reco", "us-east-1", target, ("gpu_utilization",))],
                  monthly_budget_usd=3223)

    Args:
        name: the dashboard's name.
        rows: one per workload.
        monthly_budget_usd: the budget, drawn on the account's estimated charges (AWS/Billing,
            us-east-1 only, published once "Receive Billing Alerts" is on in the billing preferences).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, rows: Sequence[DashboardRow], monthly_budget_usd: float = 0.0):
        super().__init__(scope, id)
        for row in rows:
            unknown = [m for m in row.metrics if m not in METRICS]
            if unknown:
                raise ValueError(f"cannot chart {', '.join(unknown)}; known: {', '.join(sorted(METRICS))}")
        ctx = AwsContext(self)
        pages = _pages([self._row(row, ctx) for row in rows])
        if monthly_budget_usd > 0:
            spend = {"type": "metric", "width": WIDTH // 2, "height": WIDGET_HEIGHT, "properties": {
                "title": "estimated charges this month (account) vs budget", "region": BILLING_REGION, "view": "timeSeries", "period": 21600,
                "metrics": [["AWS/Billing", "EstimatedCharges", "Currency", "USD", {"stat": "Maximum"}]],
                "annotations": {"horizontal": [{"label": "budget", "value": round(monthly_budget_usd, 2)}]}}}
            pages = _pages([*(row for page in pages for row in page), [spend]])
        self.bodies: list[str] = []
        self.dashboards = []
        for i, page in enumerate(pages):
            body = json.dumps({"widgets": _layout(page)}, separators=(",", ":"))
            self.bodies.append(body)
            self.dashboards.append(resource(self, "dashboard" if i == 0 else f"dashboard-{i + 1}", "aws_cloudwatch_dashboard",
                                            dashboard_name=name if i == 0 else f"{name}-{i + 1}", dashboard_body=body))
        self.body = self.bodies[0]

    @staticmethod
    def _row(row: DashboardRow, ctx: AwsContext) -> list[dict[str, Any]]:
        """A row's widgets, unplaced: its heading, a chart per metric, its alarms' states."""
        widgets: list[dict[str, Any]] = [{"type": "text", "width": WIDTH, "height": 1, "properties": {"markdown": f"## {row.title}"}}]
        for metric in row.metrics:
            props: dict[str, Any] = {"title": metric.replace("_", " "), "region": row.region, "view": "timeSeries", "stacked": False,
                                     "period": 60, "metrics": _widget_metrics(metric, row)}
            if metric == "node_count" and row.planned_nodes:
                props["annotations"] = {"horizontal": [{"label": "planned", "value": row.planned_nodes}]}
            if metric == "node_cost" and row.planned_hourly_usd:
                props["annotations"] = {"horizontal": [{"label": "plan (USD/h)", "value": round(row.planned_hourly_usd, 4)}]}
            widgets.append({"type": "metric", "width": WIDGET_WIDTH, "height": WIDGET_HEIGHT, "properties": props})
        if row.alarm_names:
            arns = [f"arn:{ctx.partition}:cloudwatch:{row.region}:{ctx.account_id}:alarm:{n}" for n in row.alarm_names]
            widgets.append({"type": "alarm", "width": WIDGET_WIDTH, "height": WIDGET_HEIGHT, "properties": {"title": "alarms", "alarms": arns}})
        return widgets


def _pages(rows: list[list[dict[str, Any]]]) -> list[list[list[dict[str, Any]]]]:
    """Whole rows per dashboard, at most MAX_WIDGETS widgets each."""
    pages: list[list[list[dict[str, Any]]]] = [[]]
    for row in rows:
        if pages[-1] and sum(map(len, pages[-1])) + len(row) > MAX_WIDGETS:
            pages.append([])
        pages[-1].append(row)
    return pages


def _layout(page: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """x / y of each widget: a row starts on a new line, its charts flow left to right."""
    out: list[dict[str, Any]] = []
    y = 0
    for row in page:
        x, height = 0, 0
        for w in row:
            if x + w["width"] > WIDTH:
                x, y, height = 0, y + height, 0
            out.append({"type": w["type"], "x": x, "y": y, "width": w["width"], "height": w["height"], "properties": w["properties"]})
            x += w["width"]
            height = max(height, w["height"])
        y += height
    return out
