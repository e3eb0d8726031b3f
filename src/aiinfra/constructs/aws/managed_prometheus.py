"""Amazon Managed Service for Prometheus for an EKS cluster (issue 29): a workspace encrypted with the foundation's
key, the AWS managed collector (a scraper in the cluster's subnets) writing into it, the alerting rules as a rule
groups namespace, and the workspace's alert manager sending to the foundation's alerts topic.

- Workspace: ``aws_prometheus_workspace`` with ``kms_key_arn``
  (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/prometheus_workspace; customer managed
  keys: https://docs.aws.amazon.com/prometheus/latest/userguide/encryption-at-rest-Amazon-Service-Prometheus.html).
  It carries the ``AMPAgentlessScraper`` tag the scraper adds to its destination, so the next plan does not remove it
  (prometheus_scraper docs, "Ignoring changes to Prometheus Workspace destination").
- Collector: ``aws_prometheus_scraper`` (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/prometheus_scraper)
  from the EKS cluster (its ARN, private subnets in two zones at least, the cluster security group the nodes join:
  "The security group and subnets should be set to the security group and subnets for the cluster"), with the
  caller's Prometheus ``scrape_configuration`` (``aiinfra.k8s.monitoring.amp_scrape_configuration``). A workspace
  under a customer managed key is written through ``role_configuration`` with source and target roles of the same
  account (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector-how-to.html, "Creating scraper for
  workspaces enabled with customer managed keys"; the two roles' trust policies as its "Cross-account setup" gives
  them: the source role trusts ``scraper.aps.amazonaws.com`` for this account's scrapers, the target role trusts the
  source role with the scraper ARN as external id and has ``AmazonPrometheusRemoteWriteAccess``). The scraper ARN
  exists only once the scraper does, so both conditions name this account's and region's scrapers
  (``scraper/*``) instead of the one.
  In-cluster access: the cluster's authentication mode is API (``KubernetesCluster``), and then "any scrapers you
  create through the Amazon Managed Service for Prometheus API ... will automatically have the correct access entry
  policy created for you" (same page, "Configure Amazon EKS for scraper access with access entries"): no
  ClusterRole, binding or aws-auth entry is needed.
- Logs: the workspace's rules and alerting logs (a rule that fails to evaluate, a notification SNS refuses: the
  CreateLoggingConfiguration API, https://docs.aws.amazon.com/prometheus/latest/APIReference/API_CreateLoggingConfiguration.html)
  go to a log group of its own under the same key, ``/aws/vendedlogs/prometheus/<name>`` (vended logs under the
  ``/aws/vendedlogs/`` prefix share one Logs resource policy), through the workspace's ``logging_configuration`` (the
  group's ARN with ``:*``, as the provider's "CloudWatch Logging" example writes it).
- Rules: ``aws_prometheus_rule_group_namespace``, a Prometheus rules file
  (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-ruler-rulesfile.html) with one group of alerting rules.
- Alert manager: ``aws_prometheus_alert_manager_definition`` whose ``alertmanager_config`` has one SNS receiver, the
  topic ARN with ``sigv4.region`` ("SigV4 settings are required to have a Region property"; no ``api_url`` or
  ``http_config``: https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-config.html).
  The topic's policy must let ``aps.amazonaws.com`` publish, and its key let AMP use it
  (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html):
  ``Alerts`` and ``EncryptionKey`` grant both for this account.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.log_group import LogGroup
from aiinfra.observability.promql import PromRule

REMOTE_WRITE_POLICY = "arn:{partition}:iam::aws:policy/AmazonPrometheusRemoteWriteAccess"
SCRAPER_TAG = "AMPAgentlessScraper"
# The SNS subject: the default one (every label of the alert) can be too long for SNS (AMP-alertmanager-receiver-config.html).
SUBJECT = "[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }}"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,45}$")  # IAM role names below take a 17-character suffix (64 in all)


def rules_file(group: str, rules: Sequence[PromRule]) -> str:
    """The Prometheus rules file of one group holding ``rules`` (YAML)."""
    return yaml.safe_dump({"groups": [{"name": group, "rules": [r.rule() for r in rules]}]}, sort_keys=False, width=1000)


def alertmanager_definition(topic_arn: str, region: str) -> str:
    """AMP's alert manager definition: ``alertmanager_config`` (a string) routing every alert to ``topic_arn``."""
    config = {"route": {"receiver": "sns", "group_by": ["alertname", "severity"]},
              "receivers": [{"name": "sns", "sns_configs": [{"topic_arn": topic_arn, "sigv4": {"region": region}, "subject": SUBJECT,
                                                             "attributes": {"severity": "{{ .CommonLabels.severity }}"}}]}]}
    return yaml.safe_dump({"alertmanager_config": yaml.safe_dump(config, sort_keys=False, width=1000)}, sort_keys=False, width=1000)


class ManagedPrometheus(Construct):
    """An AMP workspace fed by the managed collector of one EKS cluster, with alerting rules to an SNS topic.

    Example::

        ManagedPrometheus(stack, "prometheus", name="acme-prod-use1", kms_key_arn=key.arn, cluster_arn=cluster.arn,
                          subnet_ids=private_subnets, security_group_ids=[cluster.cluster_security_group_id],
                          scrape_configuration=amp_scrape_configuration(spec, plan, planned), topic_arn=alerts.topic_arn,
                          rules=kubernetes_rules(spec.alerting_rules, workloads, namespace)[0])

    Args:
        name: the workspace alias, scraper alias and role name prefix (letters, digits, - and _, 46 at most).
        kms_key_arn: the key of the workspace's data (the foundation's key).
        cluster_arn: the EKS cluster scraped.
        subnet_ids: the cluster's subnets, in two availability zones at least (the collector's network interfaces).
        security_group_ids: the cluster security group (the nodes' pods answer it).
        scrape_configuration: Prometheus scrape configuration YAML (interval 30 s or more, kubernetes_sd_configs only).
        topic_arn: the SNS topic the alert manager publishes to.
        rules: the alerting rules; none: no rule groups namespace (the alert manager is still defined).
        log_retention_days: how long the workspace's error logs are kept (``log_group.RETENTION_DAYS``).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, kms_key_arn: str, cluster_arn: str, subnet_ids: Sequence[str],
                 security_group_ids: Sequence[str], scrape_configuration: str, topic_arn: str, rules: Sequence[PromRule] = (),
                 log_retention_days: int = 365, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not _NAME.match(name or ""):
            problems.append(f"name must be 1-46 letters, digits, '-' or '_' starting with a letter or digit, got {name!r}")
        if isinstance(subnet_ids, (list, tuple)) and len(subnet_ids) < 2:
            problems.append("subnet_ids: the collector needs subnets in two availability zones at least")
        if not scrape_configuration.strip():
            problems.append("scrape_configuration is empty")
        alerts = [r.alert for r in rules]
        if len(set(alerts)) != len(alerts):
            problems.append(f"two rules share an alert name: {sorted(a for a in alerts if alerts.count(a) > 1)}")
        if problems:
            raise ValueError("; ".join(problems))
        ctx = AwsContext(self)
        tags = dict(tags or {})
        self.logs = LogGroup(self, "logs", name=f"/aws/vendedlogs/prometheus/{name}", kms_key_arn=kms_key_arn, retention_days=log_retention_days,
                             tags=tags)
        self.workspace = resource(self, "workspace", "aws_prometheus_workspace", alias=name, kms_key_arn=kms_key_arn,
                                  logging_configuration={"log_group_arn": f"{self.logs.arn}:*"}, tags={**tags, SCRAPER_TAG: ""})
        self.workspace_arn: str = self.workspace.get_string_attribute("arn")
        self.workspace_id: str = self.workspace.get_string_attribute("id")
        self.query_endpoint: str = self.workspace.get_string_attribute("prometheus_endpoint")

        scrapers = ctx.arn("aps", "scraper/*", region=True)
        self.source_role = resource(self, "scraper-source", "aws_iam_role", name=f"{name}-amp-scraper-src", tags=tags,
                                    assume_role_policy=policy_json([{
                                        "Effect": "Allow", "Principal": {"Service": "scraper.aps.amazonaws.com"}, "Action": "sts:AssumeRole",
                                        "Condition": {"ArnLike": {"aws:SourceArn": scrapers},
                                                      "StringEquals": {"aws:SourceAccount": ctx.account_id}}}]))
        source_arn = self.source_role.get_string_attribute("arn")
        self.target_role = resource(self, "scraper-target", "aws_iam_role", name=f"{name}-amp-scraper-dst", tags=tags,
                                    assume_role_policy=policy_json([{
                                        "Effect": "Allow", "Principal": {"AWS": source_arn}, "Action": "sts:AssumeRole",
                                        "Condition": {"StringLike": {"sts:ExternalId": scrapers}}}]))
        write = resource(self, "scraper-target-write", "aws_iam_role_policy_attachment", role=self.target_role.get_string_attribute("name"),
                         policy_arn=REMOTE_WRITE_POLICY.format(partition=ctx.partition))
        self.scraper = resource(
            self, "scraper", "aws_prometheus_scraper", depends_on=[write], alias=name, tags=tags,
            source={"eks": {"cluster_arn": cluster_arn, "subnet_ids": list(subnet_ids), "security_group_ids": list(security_group_ids)}},
            destination={"amp": {"workspace_arn": self.workspace_arn}},
            role_configuration={"source_role_arn": source_arn, "target_role_arn": self.target_role.get_string_attribute("arn")},
            scrape_configuration=scrape_configuration)
        self.scraper_role_arn: str = self.scraper.get_string_attribute("role_arn")

        self.rules: list[PromRule] = list(rules)
        self.rule_groups: Any = None
        if self.rules:
            self.rule_groups = resource(self, "rules", "aws_prometheus_rule_group_namespace", name=f"{name}-alerts", workspace_id=self.workspace_id,
                                        data=rules_file(f"{name}-alerts", self.rules), tags=tags)
        self.alert_manager = resource(self, "alertmanager", "aws_prometheus_alert_manager_definition", workspace_id=self.workspace_id,
                                      definition=alertmanager_definition(topic_arn, ctx.region))
