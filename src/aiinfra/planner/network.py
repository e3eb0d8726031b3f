"""What the stacks' network costs a month (issue 27: budgets were set without it): the NAT gateways
the foundation routes node egress through, each serving workload's load balancer, the internet
egress of its responses at the planned qps, and the VPC flow logs the foundation turns on.

List prices and traffic assumptions are in ``rules.py`` (the network section of issue 27, each
cited); every line says its arithmetic. The lines go into ``Totals.network_monthly_usd``, so into
``by_cloud_monthly_usd`` and the budgets the foundations create from it. Pure Python, no jsii.
"""

from __future__ import annotations

import re

from aiinfra.layout import aws_nat_gateways
from aiinfra.planner import rules
from aiinfra.planner.model import NetworkCostPlan, WorkloadPlan
from aiinfra.spec.models import Spec, Workload

GB = 1e9  # AWS prices a GB
GIB = 2**30  # Google prices a GiB
# Registries reached without the NAT: ECR serves image layers from S3 (the stacks' S3 gateway
# endpoint), Artifact Registry / Container Registry through Private Google Access.
PRIVATE_REGISTRY = {"aws": re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/"),
                    "gcp": re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/")}


def plan_network(spec: Spec, workloads: list[WorkloadPlan]) -> list[NetworkCostPlan]:
    """One line a charge and place: per region the NAT and the flow logs (``foundation``), per serving
    workload its load balancer and, when public, its internet egress."""
    by_name = {w.name: w for w in spec.workload_inventory}
    out: list[NetworkCostPlan] = []
    for cloud, region in sorted({(p.cloud, p.region) for p in workloads}):
        mine = [p for p in workloads if (p.cloud, p.region) == (cloud, region)]
        out.append(_nat(spec, cloud, region, mine))
        for p in mine:
            if p.type != "inference":
                continue
            req, resp, why = request_bytes(by_name[p.name])
            out.append(_load_balancer(cloud, region, p, req, resp, why))
            if p.exposure != "internal":
                out.append(_egress(cloud, region, p, resp, why))
        out.append(_flow_logs(cloud, region, mine))
    return out


def request_bytes(w: Workload) -> tuple[float, float, str]:
    """A request's bytes in and out, and where they come from (``rules.py``)."""
    params = w.model_size.estimated_parameters if w.model_size else rules.DEFAULT_SERVING_PARAMETERS
    llm = (w.model_type == "llm" if w.model_type is not None else
           any(f in (w.framework or "").lower() for f in rules.LLM_FRAMEWORKS) or params > rules.LLM_MIN_PARAMETERS)
    if llm:
        tin = w.input_tokens_per_request or rules.DEFAULT_INPUT_TOKENS_PER_REQUEST
        tout = w.output_tokens_per_request or rules.DEFAULT_OUTPUT_TOKENS_PER_REQUEST
        req = tin * rules.BYTES_PER_TOKEN + rules.DEFAULT_REQUEST_BYTES
        resp = w.response_size or tout * rules.STREAMED_BYTES_PER_TOKEN
        why = (f"{req:,.0f} B in ({tin} tokens x {rules.BYTES_PER_TOKEN} B + {rules.DEFAULT_REQUEST_BYTES:,} B), "
               + (f"{resp:,.0f} B out (response_size)" if w.response_size else
                  f"{resp:,.0f} B out ({tout} streamed tokens x {rules.STREAMED_BYTES_PER_TOKEN} B)"))
        return req, resp, why
    resp = w.response_size or rules.DEFAULT_RESPONSE_BYTES
    return (rules.DEFAULT_REQUEST_BYTES, resp,
            f"{rules.DEFAULT_REQUEST_BYTES:,} B in, {resp:,.0f} B out ({'response_size' if w.response_size else 'a JSON prediction'})")


def _node_hours(mine: list[WorkloadPlan]) -> float:
    return sum(p.nodes * p.hours_per_month for p in mine)


def _pulls(cloud: str, mine: list[WorkloadPlan]) -> tuple[float, int]:
    """GB of images pulled through the NAT a month, and the node starts: a batch run starts its
    nodes once, a serving group its replicas up to the peak once a month."""
    starts = 0.0
    for p in mine:
        if p.image and PRIVATE_REGISTRY[cloud].match(p.image):
            continue
        starts += p.runs_per_month * p.nodes if p.type != "inference" else max(p.max_nodes, p.nodes)
    return starts * rules.IMAGE_PULL_GB, round(starts)


def _nat(spec: Spec, cloud: str, region: str, mine: list[WorkloadPlan]) -> NetworkCostPlan:
    gb, starts = _pulls(cloud, mine)
    pulled = (f"{starts:,} node start{'' if starts == 1 else 's'} a month pulling an image of {rules.IMAGE_PULL_GB:g} GB (an assumption) from outside "
              f"{'ECR' if cloud == 'aws' else 'Artifact Registry'}")
    if cloud == "aws":
        n = aws_nat_gateways(mine, spec.environment)
        hours = n * rules.HOURS_PER_MONTH * rules.AWS_NAT_HOUR_USD
        data = gb * rules.AWS_NAT_GB_USD
        reason = (f"{n} NAT gateway{'s' if n > 1 else ''} x {rules.HOURS_PER_MONTH:g} h x ${rules.AWS_NAT_HOUR_USD} = ${hours:,.2f} + "
                  f"{gb:,.0f} GB processed x ${rules.AWS_NAT_GB_USD} = ${data:,.2f} ({pulled}; S3 goes through the gateway endpoint)")
        return NetworkCostPlan(cloud, region, "nat_gateway", "foundation", round(hours + data, 2), reason)
    vm_hours = _node_hours(mine)
    hours = min(vm_hours * rules.GCP_NAT_VM_HOUR_USD, rules.HOURS_PER_MONTH * rules.GCP_NAT_MAX_HOUR_USD)
    ip = rules.HOURS_PER_MONTH * rules.GCP_NAT_IP_HOUR_USD
    data = gb * GB / GIB * rules.GCP_NAT_GIB_USD
    reason = (f"Cloud NAT: {vm_hours:,.0f} VM-hours x ${rules.GCP_NAT_VM_HOUR_USD} (at most ${rules.GCP_NAT_MAX_HOUR_USD} an hour) = "
              f"${hours:,.2f} + one external address x {rules.HOURS_PER_MONTH:g} h x ${rules.GCP_NAT_IP_HOUR_USD} = ${ip:,.2f} + "
              f"{gb * GB / GIB:,.0f} GiB processed x ${rules.GCP_NAT_GIB_USD} = ${data:,.2f} ({pulled}; Google APIs go through "
              "Private Google Access)")
    return NetworkCostPlan(cloud, region, "nat_gateway", "foundation", round(hours + ip + data, 2), reason)


def _load_balancer(cloud: str, region: str, p: WorkloadPlan, req: float, resp: float, why: str) -> NetworkCostPlan:
    qps = p.expected_qps or 0.0
    processed = qps * rules.SECONDS_PER_MONTH * (req + resp)
    if cloud == "aws":
        hours = rules.HOURS_PER_MONTH * rules.ALB_HOUR_USD
        by_conn = qps / rules.ALB_LCU_NEW_CONNECTIONS_PER_S
        by_bytes = qps * 3600 * (req + resp) / GB / rules.ALB_LCU_GB_PER_HOUR
        lcu = max(by_conn, by_bytes)
        lcus = lcu * rules.HOURS_PER_MONTH * rules.ALB_LCU_HOUR_USD
        reason = (f"ALB {rules.HOURS_PER_MONTH:g} h x ${rules.ALB_HOUR_USD} = ${hours:,.2f} + {lcu:,.2f} LCU (the larger of "
                  f"{qps:,.0f} new connections/s / {rules.ALB_LCU_NEW_CONNECTIONS_PER_S} = {by_conn:,.2f} and {by_bytes:,.2f} GB an hour "
                  f"processed, a request a connection) x {rules.HOURS_PER_MONTH:g} h x ${rules.ALB_LCU_HOUR_USD} = ${lcus:,.2f}; "
                  f"at {qps:,.0f} qps, {why}")
        return NetworkCostPlan(cloud, region, "load_balancer", p.name, round(hours + lcus, 2), reason)
    hours = rules.HOURS_PER_MONTH * rules.GCP_LB_RULE_HOUR_USD
    data = processed / GIB * rules.GCP_LB_GIB_USD
    what = "internal Application Load Balancer (one proxy instance)" if p.exposure == "internal" else "forwarding rule"
    reason = (f"{what} {rules.HOURS_PER_MONTH:g} h x ${rules.GCP_LB_RULE_HOUR_USD} = ${hours:,.2f} + {processed / GIB:,.0f} GiB "
              f"processed in and out x ${rules.GCP_LB_GIB_USD} = ${data:,.2f}; at {qps:,.0f} qps, {why}")
    return NetworkCostPlan(cloud, region, "load_balancer", p.name, round(hours + data, 2), reason)


def _egress(cloud: str, region: str, p: WorkloadPlan, resp: float, why: str) -> NetworkCostPlan:
    qps = p.expected_qps or 0.0
    out = qps * rules.SECONDS_PER_MONTH * resp
    if cloud == "aws":
        usd = out / GB * rules.AWS_INTERNET_EGRESS_GB_USD
        reason = f"{out / GB:,.0f} GB of responses to the internet x ${rules.AWS_INTERNET_EGRESS_GB_USD}; at {qps:,.0f} qps, {why}"
    else:
        usd = out / GIB * rules.GCP_INTERNET_EGRESS_GIB_USD
        reason = f"{out / GIB:,.0f} GiB of responses to the internet (Premium Tier) x ${rules.GCP_INTERNET_EGRESS_GIB_USD}; at {qps:,.0f} qps, {why}"
    return NetworkCostPlan(cloud, region, "internet_egress", p.name, round(usd, 2), reason)


def _flow_logs(cloud: str, region: str, mine: list[WorkloadPlan]) -> NetworkCostPlan:
    node_hours = _node_hours(mine)
    if cloud == "aws":
        node_records = node_hours * rules.NODE_FLOWS * 3600 / rules.AWS_FLOW_INTERVAL_S
        # Every request's connection to a public or internal ALB is a flow of the ALB's own interfaces.
        conn_records = sum((p.expected_qps or 0.0) * rules.SECONDS_PER_MONTH for p in mine if p.type == "inference")
        gb = (node_records + conn_records) * rules.AWS_FLOW_RECORD_BYTES / GB
        ingest = gb * rules.CLOUDWATCH_VENDED_LOG_GB_USD
        months = rules.AWS_FLOW_LOG_RETENTION_DAYS * 24 / rules.HOURS_PER_MONTH
        store = gb * months * rules.CLOUDWATCH_LOG_STORAGE_GB_MONTH_USD
        reason = (f"VPC flow logs to CloudWatch Logs: ({node_hours:,.0f} node-hours x {rules.NODE_FLOWS} flows x "
                  f"{3600 / rules.AWS_FLOW_INTERVAL_S:g} intervals an hour + {conn_records:,.0f} load balancer connections) x "
                  f"{rules.AWS_FLOW_RECORD_BYTES} B = {gb:,.1f} GB a month: ingested x ${rules.CLOUDWATCH_VENDED_LOG_GB_USD} = ${ingest:,.2f} + "
                  f"stored {months:.0f} months (the log group's retention) x ${rules.CLOUDWATCH_LOG_STORAGE_GB_MONTH_USD} = ${store:,.2f} "
                  "once a full retention period is kept")
        return NetworkCostPlan(cloud, region, "flow_logs", "foundation", round(ingest + store, 2), reason)
    records = node_hours * rules.NODE_FLOWS * 3600 / rules.GCP_FLOW_INTERVAL_S * rules.GCP_FLOW_SAMPLING
    gib = records * rules.GCP_FLOW_RECORD_BYTES / GIB
    usd = gib * rules.CLOUD_LOGGING_GIB_USD
    reason = (f"VPC Flow Logs to Cloud Logging: {node_hours:,.0f} node-hours x {rules.NODE_FLOWS} flows x "
              f"{3600 / rules.GCP_FLOW_INTERVAL_S:g} intervals an hour x {rules.GCP_FLOW_SAMPLING:g} sampled x "
              f"{rules.GCP_FLOW_RECORD_BYTES:,} B (all metadata) = {gib:,.1f} GiB x ${rules.CLOUD_LOGGING_GIB_USD}")
    return NetworkCostPlan(cloud, region, "flow_logs", "foundation", round(usd, 2), reason)
