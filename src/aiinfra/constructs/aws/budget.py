"""A monthly cost budget that alerts at 50, 80 and 100% of the plan's figure (and on a forecast over it)."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource


class Budget(Construct):
    """An AWS Budgets cost budget.

    Example::

        Budget(stack, "budget", name="acme-ml-prod", monthly_limit_usd=3223, topic_arn=alerts.topic_arn)

    Args:
        name: budget name.
        monthly_limit_usd: the plan's monthly cost for this cloud.
        thresholds_percent: actual-spend notifications; default 50, 80 and 100, plus a forecast
            notification at 100.
        topic_arn: SNS topic notified (its policy must allow budgets.amazonaws.com to publish).
        emails: addresses notified directly.
        thresholds_usd: actual-spend notifications at these amounts (the spec's ``monthly_cost`` rules).
        cost_filter_tags: limit the budget to resources with these tags (``key$value`` form is
            built for you), e.g. ``{"cost-scope": "acme-ml-prod"}``. Values are OR'ed, so one tag
            that names the scope is what keeps other projects' spend out. The tag key must be an
            active cost allocation tag (Billing console, payer account) before Budgets counts it.
            https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-create-filters.html
    """

    def __init__(self, scope: Construct, id: str, *, name: str, monthly_limit_usd: float, thresholds_percent: Sequence[float] = (50, 80, 100),
                 topic_arn: str | None = None, emails: Sequence[str] = (), cost_filter_tags: dict[str, str] | None = None,
                 thresholds_usd: Sequence[float] = ()):
        super().__init__(scope, id)
        if monthly_limit_usd <= 0:
            raise ValueError(f"monthly_limit_usd must be greater than zero, got {monthly_limit_usd}")
        if not topic_arn and not emails:
            raise ValueError("a budget needs a topic_arn or emails to notify")
        notify = {"subscriber_sns_topic_arns": [topic_arn] if topic_arn else None, "subscriber_email_addresses": list(emails) or None}
        notifications = [{"comparison_operator": "GREATER_THAN", "threshold": t, "threshold_type": "PERCENTAGE",
                          "notification_type": "ACTUAL", **notify} for t in thresholds_percent]
        notifications += [{"comparison_operator": "GREATER_THAN", "threshold": t, "threshold_type": "ABSOLUTE_VALUE",
                           "notification_type": "ACTUAL", **notify} for t in thresholds_usd]
        notifications.append({"comparison_operator": "GREATER_THAN", "threshold": 100, "threshold_type": "PERCENTAGE",
                              "notification_type": "FORECASTED", **notify})
        filters = None
        if cost_filter_tags:
            filters = [{"name": "TagKeyValue", "values": [f"user:{k}${v}" for k, v in sorted(cost_filter_tags.items())]}]
        self.budget = resource(self, "budget", "aws_budgets_budget", name=name, budget_type="COST", time_unit="MONTHLY",
                               limit_amount=f"{monthly_limit_usd:.2f}", limit_unit="USD", notification=notifications, cost_filter=filters)
