"""What the deployed monitoring costs a month, per cloud, at list prices: the agents' metrics,
the job wrapper's, the alarms and the dashboard (``planner/rules.py`` has the prices and their
sources). Shown in the plan beside the totals, not in them (the budgets are set at the plan's
compute and storage)."""

from __future__ import annotations

import math
from functools import lru_cache

from aiinfra.observability.agents import JOB_METRICS, produced_metrics
from aiinfra.observability.metrics import METRICS
from aiinfra.observability.workload import BOOT_FAILED, boot_monitoring, charted_metrics, unwatched_rules, workload_rules
from aiinfra.planner import rules
from aiinfra.planner.model import MonitoringPlan, WorkloadPlan
from aiinfra.spec.models import Spec

# Metrics of more than one series in an alarm (metric math): billed per metric.
_ALARM_METRICS = {"gpu_memory_utilization": 2, "inference_error_rate": 3, "cost_per_prediction": 2}
# Every workload's capacity alarm: AWS desired vs in-service (two metrics), GCP one log-match condition.
_CAPACITY_METRICS = {"aws": 2, "gcp": 1}
DASHBOARD_WIDGETS = 100
_produced = lru_cache(maxsize=None)(produced_metrics)  # a few distinct collect sets in any plan


# A Spark workload on the managed engine (planner/spark.py): no node group, agent or dashboard row of ours; its failures
# are one EventBridge rule on AWS (no alarm metric: constructs/aws/spark_runs.py) and one Dataproc alert policy of two
# conditions on GCP (job and operation failed_count: constructs/gcp/spark_runs.py).
_ENGINE_CONDITIONS = {"aws": 0, "gcp": 2}


def plan_monitoring(spec: Spec, workloads: list[WorkloadPlan], managed: frozenset[str] = frozenset()) -> list[MonitoringPlan]:
    """``managed``: the workloads whose runs are the managed Spark engine's (Plan.spark_part), counted as their alert only."""
    out = []
    for cloud in sorted({w.cloud for w in workloads}):
        engine = [w for w in workloads if w.cloud == cloud and w.name in managed]
        mine = [w for w in workloads if w.cloud == cloud and w.name not in managed]
        # What the stacks cannot create is named, not counted (a GCP node metric on Container-Optimized OS, ...).
        skipped = {w.name: unwatched_rules(spec, w) for w in mine}
        not_created = [f"{w.name}: {r.name} ({r.metric}): {why}" for w in mine for r, why in skipped[w.name]]
        # AWS bills an alarm per metric it reads; a GCP policy here is one condition, whatever it divides.
        alarms = sum(_ALARM_METRICS.get(r.metric, 1) if cloud == "aws" else 1 for w in mine for r in workload_rules(spec.alerting_rules, w)
                     if r not in {x for x, _ in skipped[w.name]}) + _CAPACITY_METRICS[cloud] * len(mine) \
            + _ENGINE_CONDITIONS[cloud] * len(engine)
        missing = f"; not created: {'; '.join(not_created)}" if not_created else ""
        widgets = sum(1 + len(charted_metrics(spec, w)) + 1 for w in mine)
        dashboards = max(1, math.ceil(widgets / DASHBOARD_WIDGETS)) if mine else 0
        if cloud == "aws":
            metrics = 0
            for w in mine:
                collect = boot_monitoring(spec, w, w.name)["collect"]
                app = sum(1 for n in charted_metrics(spec, w) if METRICS[n].producer == "app")
                # one series per metric a group (rolled up); a StatsD metric is sent twice
                # the job wrapper's (a serving node writes only its failed boots)
                jobs = len(JOB_METRICS) if w.type != "inference" else sum(1 for m in JOB_METRICS if m.key == BOOT_FAILED)
                metrics += (len(_produced("aws", collect)) if collect else 0) + 2 * app + jobs
            usd = (metrics * rules.CLOUDWATCH_METRIC_MONTH_USD + alarms * rules.CLOUDWATCH_ALARM_METRIC_MONTH_USD
                   + dashboards * rules.CLOUDWATCH_DASHBOARD_MONTH_USD)
            reason = (f"{metrics} custom metrics (agent and job wrapper, one series a group), {alarms} alarm metrics, {dashboards} dashboard"
                      f"{'s' if dashboards > 1 else ''} at CloudWatch list prices{missing}")
            out.append(MonitoringPlan(cloud, metrics, alarms, dashboards, 0.0, round(usd, 2), reason, not_created))
        else:
            mib = 0.0
            for w in mine:
                collect = boot_monitoring(spec, w, w.name)["collect"]
                series = 0
                for m in _produced("gcp", collect) if collect else ():
                    per = rules.OPS_AGENT_SERIES.get(m, 1)
                    series += {"gpu": w.gpus_per_node, "gpu2": 2 * w.gpus_per_node}.get(per, per) if isinstance(per, str) else per
                node_hours = w.nodes * w.hours_per_month
                mib += series * node_hours * rules.AGENT_SAMPLES_PER_HOUR * rules.CLOUD_MONITORING_POINT_BYTES / 2**20
            usd = max(0.0, mib - rules.CLOUD_MONITORING_FREE_MIB) * rules.CLOUD_MONITORING_MIB_USD
            reason = (f"{mib:,.0f} MiB a month of agent metrics ({rules.CLOUD_MONITORING_FREE_MIB} MiB free a billing account), "
                      f"{alarms} alert conditions and {dashboards} dashboard{'s' if dashboards > 1 else ''} (no charge) at Cloud Monitoring list prices"
                      f"{missing}")
            out.append(MonitoringPlan(cloud, 0, alarms, dashboards, round(mib, 1), round(usd, 2), reason, not_created))
    return out
