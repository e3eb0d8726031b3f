"""A Cloud Monitoring dashboard with one row per workload: the metrics the spec monitors, charted
from the same series the alert policies use (``metrics.py``), with the plan's figures as
threshold lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.alerts import PolicyTarget
from aiinfra.constructs.gcp.metrics import RECIPES, Series

COLUMNS = 48  # mosaic layout grid
TILE_WIDTH = 12
TILE_HEIGHT = 16
# Tiles per dashboard: more workloads continue on "<name> (2)", ... (whole rows each).
MAX_TILES = 100


@dataclass(frozen=True)
class DashboardRow:
    """One workload's row: ``title``, its ``target`` (``PolicyTarget``), the ``metrics`` to chart
    (``metrics.RECIPES`` keys), the plan's node count and hourly cost with every node running (threshold
    lines on the node count and the node cost)."""

    title: str
    target: PolicyTarget
    metrics: tuple[str, ...]
    planned_nodes: int = 0
    planned_hourly_usd: float = 0.0


def _query(series: Series, target: PolicyTarget) -> dict[str, Any]:
    agg = {"alignmentPeriod": "60s", "perSeriesAligner": series.aligner, "crossSeriesReducer": series.reducer}
    if series.group_by:
        agg["groupByFields"] = list(series.group_by)
    return {"filter": target.filter(series), "aggregation": agg}


def _data_sets(name: str, target: PolicyTarget) -> list[dict[str, Any]]:
    recipe = RECIPES[name]
    if recipe.promql is not None:
        return [{"timeSeriesQuery": {"prometheusQuery": target.promql(recipe)}, "plotType": "LINE"}]
    assert recipe.series is not None
    if recipe.denominator is not None:
        query = {"timeSeriesFilterRatio": {"numerator": _query(recipe.series, target), "denominator": _query(recipe.denominator, target)}}
        return [{"timeSeriesQuery": query, "plotType": "LINE"}]
    return [{"timeSeriesQuery": {"timeSeriesFilter": _query(s, target)}, "plotType": "LINE", "legendTemplate": s.type.rsplit("/", 1)[-1]}
            for s in (recipe.series, *recipe.extra)]


class Dashboard(Construct):
    """``google_monitoring_dashboard``: a heading and a row of charts per workload.

    Example::

        Dashboard(stack, "dashboard", project="acme-ml-prod", name="acme-ml-prod",
                  rows=[DashboardRow("reco", PolicyTarget(workload="reco"), ("gpu_utilization",))])
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, rows: Sequence[DashboardRow]):
        super().__init__(scope, id)
        for row in rows:
            unknown = [m for m in row.metrics if m not in RECIPES]
            if unknown:
                raise ValueError(f"cannot chart {', '.join(unknown)}; known: {', '.join(sorted(RECIPES))}")
        pages: list[list[DashboardRow]] = [[]]
        for row in rows:
            if pages[-1] and sum(1 + len(r.metrics) for r in pages[-1]) + 1 + len(row.metrics) > MAX_TILES:
                pages.append([])
            pages[-1].append(row)
        self.bodies: list[str] = []
        self.dashboards = []
        for i, page in enumerate(pages):
            title = name if i == 0 else f"{name} ({i + 1})"
            body = json.dumps({"displayName": title, "mosaicLayout": {"columns": COLUMNS, "tiles": _tiles(page)}}, separators=(",", ":"))
            self.bodies.append(body)
            self.dashboards.append(resource(self, "dashboard" if i == 0 else f"dashboard-{i + 1}", "google_monitoring_dashboard",
                                            project=project, dashboard_json=body))
        self.body = self.bodies[0]


def _tiles(rows: Sequence[DashboardRow]) -> list[dict[str, Any]]:
    tiles: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        tiles.append({"xPos": 0, "yPos": y, "width": COLUMNS, "height": 4, "widget": {"title": row.title, "text": {
            "content": f"## {row.title}", "format": "MARKDOWN"}}})
        y += 4
        x = 0
        for metric in row.metrics:
            chart: dict[str, Any] = {"dataSets": _data_sets(metric, row.target)}
            if metric == "node_count" and row.planned_nodes:
                chart["thresholds"] = [{"label": "planned", "value": row.planned_nodes}]
            if metric == "node_cost" and row.planned_hourly_usd:
                chart["thresholds"] = [{"label": "plan (USD/h)", "value": round(row.planned_hourly_usd, 4)}]
            tiles.append({"xPos": x, "yPos": y, "width": TILE_WIDTH, "height": TILE_HEIGHT,
                          "widget": {"title": metric.replace("_", " "), "xyChart": chart}})
            x += TILE_WIDTH
            if x >= COLUMNS:
                x, y = 0, y + TILE_HEIGHT
        if x:
            y += TILE_HEIGHT
    return tiles
