"""Every alarm, policy and chart of every example watches a metric something in the stacks
produces, under a name the providers publish.

For each example the stacks are synthesized, and each metric an alarm (AWS), an alert policy
(GCP) or a dashboard widget names is traced to its producer:

- the monitoring agent on the workload's own nodes: its configuration is read back from the
  synthesized user data / metadata, the metric names it publishes derived from that configuration
  by the agents' documented naming rules, and those names looked up in the published lists
  (``aiinfra/observability/data/reference-*.json``, each entry with its source page);
- the boot's job wrapper (``agents.JOB_METRICS``), with the same identity in the boot's
  configuration as in the alarm (GCP: a descriptor the foundation creates, referenced so the
  policy is created after it);
- a cloud service metric (load balancer, Auto Scaling, instance group, uptime check) found in
  the published lists with the dimensions / resource type / labels the alarm uses;
- the container, through the agent's local endpoint (only the vocabulary's container metrics,
  and only where that endpoint is configured).
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import json
import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from aiinfra.observability import reference
from aiinfra.observability.agents import JOB_METRICS
from aiinfra.observability.metrics import METRICS as VOCABULARY
from tests.conftest import ROOT
from tests.test_stacks_aws import run_synth

# The VM platform's examples: on kubernetes aiinfra deploys no agents, alarms or dashboards yet (the plan lists
# monitoring_config and the alert rules as not applied there).
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if "platform: kubernetes" not in p.read_text())
APP_METRICS = {m.name for m in VOCABULARY.values() if m.producer == "app"}
TOKEN = re.compile(r"^\$\{(?P<type>[a-z0-9_]+)\.(?P<name>[^.]+)\.(?P<attr>[a-z_]+)\}$")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """example name -> stack name -> cdk.tf.json."""
    base = tmp_path_factory.mktemp("observability")

    def one(spec: Path) -> tuple[str, dict[str, dict]]:
        out = base / spec.stem
        r = run_synth(spec, out, cwd=base)
        assert r.returncode == 0, r.stderr
        return spec.name, {p.name: json.loads((p / "cdk.tf.json").read_text()) for p in (out / "stacks").iterdir()}

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, EXAMPLES))


def stacks_of(synthesized, cloud: str):
    for example, stacks in synthesized.items():
        for name, doc in stacks.items():
            if f"-{cloud}-" in name:
                yield example, name, doc


def resolve(doc: dict, value: str) -> str:
    """A ``${type.name.attr}`` reference to a literal argument of the same stack, else the text."""
    m = TOKEN.match(value)
    if m and m["type"] in doc.get("resource", {}):
        literal = doc["resource"][m["type"]].get(m["name"], {}).get(m["attr"])
        if isinstance(literal, str):
            return literal
    return value


# ---------------------------------------------------------------- AWS

def cloudwatch_agent_config(doc: dict) -> dict | None:
    """The CloudWatch agent configuration in the launch template's (gzip) user data."""
    (template,) = doc["resource"]["aws_launch_template"].values()
    cloud_config = yaml.safe_load(gzip.decompress(base64.b64decode(template["user_data"])).decode())
    files = {f["path"]: f["content"] for f in cloud_config["write_files"]}
    agent = [content for path, content in files.items() if path.endswith("/agent.json")]
    return json.loads(agent[0]) if agent else None


def workload_env(files_text: str) -> dict[str, str]:
    env = {}
    for line in files_text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = " ".join(shlex.split(value)) if value else ""
    return env


def aws_boot_env(doc: dict) -> dict[str, str]:
    (template,) = doc["resource"]["aws_launch_template"].values()
    cloud_config = yaml.safe_load(gzip.decompress(base64.b64decode(template["user_data"])).decode())
    (env,) = [f["content"] for f in cloud_config["write_files"] if f["path"].endswith("/workload.env")]
    return workload_env(env)


def cloudwatch_published(cfg: dict) -> tuple[set[str], bool]:
    """(metric names the agent publishes, whether it listens for StatsD), by the agent's naming
    rule: ``<plugin>_<measurement>``, the nvidia_gpu plugin being ``nvidia_smi``; a measurement
    that already starts with its plugin's name keeps it."""
    names, statsd = set(), False
    for section, body in cfg["metrics"]["metrics_collected"].items():
        if section == "statsd":
            statsd = True
            continue
        prefix = "nvidia_smi" if section == "nvidia_gpu" else section
        for m in body.get("measurement", []):
            name = m if isinstance(m, str) else (m.get("rename") or m["name"])
            names.add(name if name.startswith(f"{section}_") else f"{prefix}_{name}")
    return names, statsd


def check_aws_metric(where: str, namespace: str, name: str, dims: dict[str, str], produced: set[str], statsd: bool, group: str) -> None:
    if namespace == "CWAgent":
        if name in APP_METRICS:
            assert statsd, f"{where}: {name} comes from the container, but the nodes' agent has no StatsD listener"
        else:
            assert name in produced, f"{where}: CWAgent {name} is not in the nodes' agent configuration ({sorted(produced)})"
            assert reference.aws_metric("CWAgent", name), f"{where}: CWAgent {name} is not a published agent metric"
        assert dims == {"AutoScalingGroupName": group}, (where, dims)
    elif namespace == "aiinfra":
        assert name in {m.aws_name for m in JOB_METRICS}, f"{where}: aiinfra {name} is not a job wrapper metric"
        assert dims == {"AutoScalingGroupName": group}, (where, dims)
    else:
        entry = reference.aws_metric(namespace, name)
        assert entry, f"{where}: {namespace} {name} is not in AWS's published list"
        documented = entry.get("dimensions")
        if documented:
            assert sorted(dims) in [sorted(d) for d in documented], f"{where}: {namespace} {name} has no dimension set {sorted(dims)}"


def test_every_aws_alarm_watches_a_metric_the_stacks_produce(synthesized):
    checked = 0
    for example, name, doc in stacks_of(synthesized, "aws"):
        if "aws_launch_template" not in doc.get("resource", {}):
            continue
        cfg = cloudwatch_agent_config(doc)
        assert cfg is not None, f"{example} {name}: no agent configuration in the user data"
        assert cfg["metrics"]["append_dimensions"] == {"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}
        assert ["AutoScalingGroupName"] in cfg["metrics"]["aggregation_dimensions"]
        produced, statsd = cloudwatch_published(cfg)
        (asg,) = doc["resource"]["aws_autoscaling_group"].values()
        group = asg["name"]
        # the job wrapper reports under the same group name the alarms watch
        assert aws_boot_env(doc)["AIINFRA_METRIC_ID"] == group
        alarms = doc["resource"]["aws_cloudwatch_metric_alarm"]
        assert alarms, f"{example} {name}: no alarms"
        for alarm in alarms.values():
            ids = {q["id"] for q in alarm["metric_query"]}
            for q in alarm["metric_query"]:
                if "expression" in q:
                    used = set(re.findall(r"\b([a-z][a-z0-9_]*)\b(?!\s*\()", q["expression"])) - {"value"}
                    assert used <= ids, (alarm["alarm_name"], used - ids)
                    continue
                metric = q["metric"]
                dims = {k: resolve(doc, v) for k, v in metric["dimensions"].items()}
                check_aws_metric(f"{example} {alarm['alarm_name']}", metric["namespace"], metric["metric_name"], dims, produced, statsd, group)
                checked += 1
            assert sum(1 for q in alarm["metric_query"] if q["return_data"]) == 1, alarm["alarm_name"]
    assert checked > 10


def test_every_aws_dashboard_widget_charts_a_metric_the_stacks_produce(synthesized):
    charted = 0
    for example, stacks in synthesized.items():
        aws = {n.rsplit("-aws-", 1)[1]: d for n, d in stacks.items() if "-aws-" in n}
        if not aws:
            continue
        (board,) = aws["dashboard"]["resource"]["aws_cloudwatch_dashboard"].values()
        body = json.loads(board["dashboard_body"])
        # every chart names a workload's group (or its load balancer, from the workload stack's state)
        producers = {}
        for part, doc in aws.items():
            if "aws_launch_template" in doc.get("resource", {}):
                (asg,) = doc["resource"]["aws_autoscaling_group"].values()
                producers[part] = (*cloudwatch_published(cloudwatch_agent_config(doc)), asg["name"])
        for w in body["widgets"]:
            if w["type"] != "metric":
                continue
            for entry in w["properties"]["metrics"]:
                if isinstance(entry[0], dict):
                    continue  # an expression over the entries above
                namespace, name, *rest = entry
                dims = dict(zip(rest[0:-1:2], rest[1:-1:2]))
                if namespace == "AWS/Billing":
                    assert reference.aws_metric(namespace, name) and w["properties"]["region"] == "us-east-1"
                    continue
                if "AutoScalingGroupName" in dims:  # the group's own name, as its stack creates it
                    (part,) = [p for p, (_, _, group) in producers.items() if group == dims["AutoScalingGroupName"]]
                else:  # the load balancer's id, read from the workload stack's state
                    # (a read of that stack's state: terraform_remote_state, or its guarded form, stacks/state.py)
                    (part,) = [p for p in producers if f"-aws-{p}.outputs" in dims["LoadBalancer"]
                               or f"-aws-{p}.cross-stack-output-" in dims["LoadBalancer"]]
                produced, statsd, group = producers[part]
                check_aws_metric(f"{example} dashboard {w['properties']['title']}", namespace, name, dims, produced, statsd, group)
                charted += 1
    assert charted > 20


# ---------------------------------------------------------------- GCP

def gcp_boot(doc: dict) -> tuple[dict | None, dict[str, str]]:
    """(the Ops Agent configuration, the boot's workload.env) from the instance templates' metadata."""
    templates = list(doc["resource"]["google_compute_region_instance_template"].values())
    metadata = templates[0]["metadata"]
    agent = metadata.get("aiinfra-agent-config")
    env_key = next(k for k, v in metadata.items() if isinstance(v, str) and "AIINFRA_WORKLOAD=" in v)
    return (yaml.safe_load(agent) if agent else None), workload_env(metadata[env_key])


def ops_agent_published(cfg: dict | None) -> tuple[set[str], bool]:
    """(agent metric types published, whether the OTLP receiver is on): the published
    agent.googleapis.com types the hostmetrics receiver keeps after the exclude patterns."""
    if cfg is None:
        return set(), False
    metrics = cfg["metrics"]
    pipelines = metrics["service"]["pipelines"]
    published: set[str] = set()
    if "hostmetrics" in pipelines.get("default_pipeline", {}).get("receivers", []):
        patterns = [p for proc in metrics.get("processors", {}).values() if proc.get("type") == "exclude_metrics"
                    for p in proc["metrics_pattern"]]
        agent_types = [t for g in reference.gcp()["groups"] if g["prefix"].startswith("agent.googleapis.com/") for t in g["metrics"]]
        published = {t for t in agent_types if not any(fnmatch.fnmatchcase(t, p) for p in patterns)}
    return published, "otlp" in pipelines


FILTER_TYPE = re.compile(r'metric\.type = "([^"]+)"')
FILTER_RESOURCE = re.compile(r'resource\.type = "([^"]+)"')
FILTER_LABELS = re.compile(r'(metric|resource)\.label\.([a-z_]+) =')
PROMQL_NAME = re.compile(r"([a-z_]+_googleapis_com):([a-z_]+)\{")


def check_gcp_filter(where: str, text: str, produced: set[str], foundation: dict, job: str, otlp: bool) -> None:
    (metric_type,) = FILTER_TYPE.findall(text)
    (resource_type,) = FILTER_RESOURCE.findall(text)
    if "google_monitoring_metric_descriptor" in metric_type:
        # the job wrapper's: a reference to the foundation's descriptor (the policy comes after it)
        descriptor = re.search(r"job-metrics_([a-z_]+)_[0-9A-F]{8}type", metric_type)
        assert descriptor, where
        types = {d["type"] for d in foundation["resource"]["google_monitoring_metric_descriptor"].values()}
        assert f"custom.googleapis.com/aiinfra/{descriptor[1]}" in types and types == {m.gcp_type for m in JOB_METRICS}
        assert resource_type == "global" and f'metric.label.workload = "{job}"' in text, where
        return
    assert not metric_type.startswith("custom.googleapis.com/"), f"{where}: {metric_type} without its descriptor"
    if metric_type.removeprefix("workload.googleapis.com/") in APP_METRICS:
        # the container's, through the Ops Agent's OTLP receiver; charted, never alerted on (the type
        # does not exist until written, and Cloud Monitoring refuses a policy on it)
        assert otlp and "chart" in where, f"{where}: {metric_type} without the OTLP receiver, or in a policy"
        return
    entry = reference.gcp_metric(metric_type)
    assert entry, f"{where}: {metric_type} is not in Google's published list"
    assert resource_type in entry["resource_types"], f"{where}: {metric_type} is not written for {resource_type}"
    if metric_type.startswith("agent.googleapis.com/"):
        assert metric_type in produced, f"{where}: {metric_type} is not kept by the nodes' Ops Agent configuration"
    for kind, label in FILTER_LABELS.findall(text):
        known = entry.get("labels" if kind == "metric" else "resource_labels") or []
        if known:
            assert label in known, f"{where}: {metric_type} has no {kind} label {label}"


def check_gcp_promql(where: str, query: str) -> None:
    for domain, name in PROMQL_NAME.findall(query):
        metric_type = f"{domain.replace('_', '.')}/{name}"
        candidates = [t for g in reference.gcp()["groups"] for t in g["metrics"] if re.sub(r"[./]", "_", t.split("/", 1)[1]) == name
                      and t.startswith(domain.replace("_", "."))]
        assert candidates, f"{where}: {metric_type} (PromQL {domain}:{name}) is not in Google's published list"
    assert PROMQL_NAME.findall(query), f"{where}: no metric in {query!r}"


def check_gcp_capacity_log(where: str, text: str, doc: dict, policy: dict) -> None:
    """The one log-match condition, Capacity Not Met: the project's Admin Activity audit log
    (compute.instances.insert is always written there), failed creations only, of VMs named after
    this stack's own groups (a managed instance group names its VMs <base instance name>-<4 characters>)."""
    (project,) = {p["project"] for p in doc["resource"]["google_monitoring_alert_policy"].values()}
    assert f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Factivity"' in text, where
    assert 'protoPayload.methodName:"compute.instances.insert"' in text and "severity>=ERROR" in text, where
    bases = {m["base_instance_name"] for m in doc["resource"]["google_compute_region_instance_group_manager"].values()}
    (names,) = re.findall(r'/instances/\(([a-z0-9|-]+)\)-\[a-z0-9\]\{4\}\$"', text)
    assert set(names.split("|")) == bases, (where, names, bases)
    # Cloud Monitoring refuses a log-match policy without a notification rate limit.
    assert policy["alert_strategy"]["notification_rate_limit"]["period"].endswith("s"), where


def test_every_gcp_policy_and_chart_watches_a_metric_the_stacks_produce(synthesized):
    checked = 0
    for example, stacks in synthesized.items():
        gcp = {n.rsplit("-gcp-", 1)[1]: d for n, d in stacks.items() if "-gcp-" in n}
        if not gcp:
            continue
        foundation = gcp["foundation"]
        rows: dict[str, list[dict]] = {}  # workload -> its row's charts (a text tile "## <workload>: ..." opens a row)
        tiles = json.loads(next(iter(gcp["dashboard"]["resource"]["google_monitoring_dashboard"].values()))["dashboard_json"])["mosaicLayout"]["tiles"]
        for tile in tiles:
            if "text" in tile["widget"]:
                row = rows.setdefault(tile["widget"]["text"]["content"].removeprefix("## ").split(":")[0], [])
            else:
                row.append(tile["widget"])
        for part, doc in gcp.items():
            if "google_compute_region_instance_template" not in doc.get("resource", {}):
                continue
            cfg, env = gcp_boot(doc)
            produced, otlp = ops_agent_published(cfg)
            job = env["AIINFRA_METRIC_ID"]
            for policy in doc["resource"]["google_monitoring_alert_policy"].values():
                where = f"{example} {policy['display_name']}"
                for cond in policy["conditions"]:
                    if "condition_threshold" in cond:
                        t = cond["condition_threshold"]
                        for text in (t["filter"], t.get("denominator_filter")):
                            if text:
                                check_gcp_filter(where, text, produced, foundation, job, otlp)
                                checked += 1
                    elif "condition_matched_log" in cond:
                        check_gcp_capacity_log(where, cond["condition_matched_log"]["filter"], doc, policy)
                        checked += 1
                    else:
                        q = cond["condition_prometheus_query_language"]
                        check_gcp_promql(where, q["query"])
                        checked += 1
            mine = rows.pop(part)
            assert mine, f"{example}: no chart for {part}"
            for chart in mine:
                for ds in chart["xyChart"]["dataSets"]:
                    q = ds["timeSeriesQuery"]
                    if "prometheusQuery" in q:
                        check_gcp_promql(f"{example} chart {chart['title']}", q["prometheusQuery"])
                    for f in ([q["timeSeriesFilter"]] if "timeSeriesFilter" in q else
                              [q["timeSeriesFilterRatio"]["numerator"], q["timeSeriesFilterRatio"]["denominator"]] if "timeSeriesFilterRatio" in q else []):
                        check_gcp_filter(f"{example} chart {chart['title']}", f["filter"], produced, foundation, job, otlp)
                    checked += 1
    assert checked > 20


# ---------------------------------------------------------------- what every workload gets

def test_serving_gets_outage_alarms_and_training_a_failed_run_alarm_on_both_clouds(synthesized):
    stacks = synthesized["reference.yaml"]
    for name, doc in stacks.items():
        res = doc.get("resource", {})
        if name.endswith("-foundation"):
            continue  # the foundation's own policies (security findings) watch no workload
        if "aws_cloudwatch_metric_alarm" in res:
            titles = {a["alarm_description"].split(" (")[0] for a in res["aws_cloudwatch_metric_alarm"].values()}
        elif "google_monitoring_alert_policy" in res:
            titles = {p["display_name"].split(": ", 1)[1] for p in res["google_monitoring_alert_policy"].values()}
        else:
            continue
        if "aws_lb" in res or "google_compute_global_forwarding_rule" in res or "google_compute_forwarding_rule" in res:
            assert {"Healthy Nodes Below Minimum", "Serving Errors"} <= titles, (name, titles)
        else:
            assert titles & {"Training Job Failure", "Run Failed"}, (name, titles)
