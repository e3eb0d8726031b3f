"""A Cloud Billing budget on one project (and one label), alerting at 50, 80 and 100% of the
plan's monthly cost and on a forecast over it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import data, resource


class BillingBudget(Construct):
    """``google_billing_budget`` filtered to ``project`` (and ``label``), in USD, before credits
    (the plan prices are list prices).

    Example::

        BillingBudget(stack, "budget", billing_account="012345-6789AB-CDEF01", project="acme-ml-prod",
                      name="acme-ml-prod gcp monthly", monthly_limit_usd=3223, label=("cost-scope", "acme-ml-prod"),
                      notification_channels=alerts.channel_ids)

    The deployer needs ``roles/billing.costsManager`` on the billing account and the Cloud
    Billing Budget API (``billingbudgets.googleapis.com``) on; budgets e-mail the billing
    account's admins and the channels given.
    https://cloud.google.com/billing/docs/how-to/budgets
    https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/billing_budget

    Args:
        billing_account: the billing account id (``XXXXXX-XXXXXX-XXXXXX``).
        project: the project id (the filter takes the project number, looked up).
        monthly_limit_usd: the plan's monthly cost on GCP.
        label: one (key, value): the budget API takes a single label in its filter.
        notification_channels: Cloud Monitoring channel ids (at most 5).
    """

    def __init__(self, scope: Construct, id: str, *, billing_account: str, project: str, name: str, monthly_limit_usd: float,
                 label: tuple[str, str] | None = None, notification_channels: Sequence[str] = (),
                 thresholds_percent: Sequence[float] = (50, 80, 100)):
        super().__init__(scope, id)
        if monthly_limit_usd <= 0:
            raise ValueError(f"monthly_limit_usd must be greater than zero, got {monthly_limit_usd}")
        if len(notification_channels) > 5:
            raise ValueError(f"a budget notifies at most 5 channels, got {len(notification_channels)}")
        number = data(self, "project", "google_project", project_id=project).get_string_attribute("number")
        labels: Mapping[str, str] | None = {label[0]: label[1]} if label else None
        rules = [{"threshold_percent": t / 100, "spend_basis": "CURRENT_SPEND"} for t in thresholds_percent]
        rules.append({"threshold_percent": 1.0, "spend_basis": "FORECASTED_SPEND"})
        self.budget = resource(
            self, "budget", "google_billing_budget", billing_account=billing_account, display_name=name[:60],
            budget_filter={"projects": [f"projects/{number}"], "labels": labels, "credit_types_treatment": "EXCLUDE_ALL_CREDITS",
                           "calendar_period": "MONTH"},
            amount={"specified_amount": {"currency_code": "USD", "units": str(max(1, round(monthly_limit_usd)))}},
            threshold_rules=rules,
            all_updates_rule={"monitoring_notification_channels": list(notification_channels) or None,
                              "disable_default_iam_recipients": False})
