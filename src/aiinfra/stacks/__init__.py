"""Assemble cdktf / cdktn stacks from a plan. Imports the CDK (jsii, through ``aiinfra.cdk``): only ``synth`` comes here."""

from __future__ import annotations

import os
from pathlib import Path

from aiinfra.cdk import TARGET_VERSIONS, App, TerraformStack

from aiinfra.planner.model import Plan
from aiinfra.planner.security import requirements
from aiinfra.policy.aspect import PolicyAspect, require
from aiinfra.policy.pack import Suppression
from aiinfra.spec.models import Spec
from aiinfra.stacks.state import STATE_DIR_CONTEXT


def build_app(spec: Spec, plan: Plan, outdir: str | None = None, state_dir: str | None = None,
              clouds: tuple[str, ...] = ("aws", "gcp")) -> tuple[App, list[str], list[str], "PolicyAspect"]:
    """The cdktf (or cdktn) app for a plan: (app, stack names, notes for the user, the policy pack that
    judges every stack; ``policy.check_output(outdir)`` after ``app.synth()``).

    ``state_dir``: the folder local Terraform state goes to, absolute (default: the working directory).
    ``clouds``: build only these clouds' stacks (each cloud's stacks reference only each other,
    so clouds can be synthesized in separate processes).
    """
    from aiinfra.stacks.aws import add_aws_stacks
    from aiinfra.stacks.gcp import add_gcp_stacks

    context = {STATE_DIR_CONTEXT: str(Path(state_dir or os.getcwd()).resolve()), "targetVersions": TARGET_VERSIONS}
    app = App(outdir=outdir, context=context) if outdir else App(context=context)
    aws_names, aws_notes = add_aws_stacks(app, spec, plan) if "aws" in clouds else ([], [])
    gcp_names, gcp_notes = add_gcp_stacks(app, spec, plan) if "gcp" in clouds else ([], [])
    names, notes = aws_names + gcp_names, aws_notes + gcp_notes
    policy = PolicyAspect([Suppression(e.rule, e.resource, e.reason, "spec") for e in spec.security_exceptions], fail=False)
    asks = sorted(requirements(spec))  # what the spec asks of every stack (API authentication, HSM keys, segmentation)
    for stack in app.node.children:
        if TerraformStack.is_stack(stack):
            policy.watch(stack)  # fail=False: the aspect would only note the stack (see PolicyAspect.watch)
            if asks:
                require(stack, *asks)
    return app, names, notes, policy
