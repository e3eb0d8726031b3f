"""Assemble cdktf stacks from a plan. Imports cdktf (jsii): only ``synth`` comes here."""

from __future__ import annotations

from cdktf import App

from aiinfra.planner.model import Plan
from aiinfra.spec.models import Spec


def build_app(spec: Spec, plan: Plan, outdir: str | None = None, state_dir: str = "../../..") -> tuple[App, list[str], list[str]]:
    """The cdktf app for a plan: (app, stack names, notes on what was not synthesized).

    ``state_dir``: where local Terraform state goes, relative to each stack's folder.
    """
    from aiinfra.stacks.aws import add_aws_stacks
    from aiinfra.stacks.gcp import add_gcp_stacks

    context = {"aiinfra:state_dir": state_dir}
    app = App(outdir=outdir, context=context) if outdir else App(context=context)
    gcp_names, notes = add_gcp_stacks(app, spec, plan)
    return app, add_aws_stacks(app, spec, plan) + gcp_names, notes
