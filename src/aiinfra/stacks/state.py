"""Where each stack keeps its Terraform state, and how a stack reads the outputs of the stacks it
depends on (the foundation's network, key and buckets; the dashboard's load balancers), so that
it plans before they exist.

**Local state is anchored to the spec's folder**: each stack's local backend path is absolute,
``<folder of the spec>/terraform.<stack>.tfstate``, written at synth (``aiinfra.synth.state_dir_for``).
A relative path is resolved by Terraform from the folder it runs in (the stack's folder), so it
would name another file whenever the output folder sits elsewhere (synth run from another folder,
``cdktf synth`` from the repository root, an output folder copied for review). The absolute path
names one file whatever the working directory, as cdktf's own default does (its LocalBackend
writes ``path.join(process.cwd(), ...)``, absolute, but of the working directory); the remote-state
reads name the same file. State in S3 / GCS (the spec's ``state:``) does not depend on a folder.

**Reading another stack's outputs before it exists**: cdktf joins stacks with
``data "terraform_remote_state"``, which fails the plan when the other stack has no state yet
("Unable to find remote state: No stored state was found", even with ``defaults``, which cover
only outputs missing from a state that exists). So a pull request's plan of a first deployment,
or of a new workload, failed. Here the read is guarded the way Terragrunt's ``mock_outputs`` guard
a dependency that was never applied, but with values Terraform itself marks unknown instead of
made-up ones:

* the reading stack looks whether the other stack's state exists (the local file:
  ``fileexists``; S3: ``data "aws_s3_objects"`` under the state key; GCS: ``data
  "google_storage_bucket_objects"`` under the state object's name), and reads it only then
  (``count`` on the ``terraform_remote_state``);
* while it does not exist, the outputs come from a ``terraform_data`` named
  ``awaiting-<stack>``, whose ``output`` is unknown until it is applied: the plan shows every value
  that depends on the other stack as "(known after apply)", as it shows a new resource's id;
* applying that plan is refused: the ``terraform_data`` carries a postcondition that fails once
  it is created (its id is then known and not empty), naming the stack to apply first, so nothing
  that depends on the other stack's values is created with them unknown. Once the other stack is
  applied, the next plan reads its state and the ``terraform_data`` is not in it.

Every other way was weighed: data sources by name or tag and SSM parameters fail the plan the same
way while the foundation is missing (a singular data source that finds nothing is an error); a
documented two-phase workflow leaves the first review without the workload's plan.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jsii

from aiinfra.cdk import Construct, GcsBackend, LocalBackend, TerraformRemoteState, s3_backend

STATE_DIR_CONTEXT = "aiinfra:state_dir"
WORKSPACE = "${terraform.workspace}"


def state_dir_of(app: Any) -> str:
    """The app's ``STATE_DIR_CONTEXT`` (else the working directory), asked of jsii once an app."""
    found = getattr(app, "_aiinfra_state_dir", None)
    if found is None:
        found = app.node.try_get_context(STATE_DIR_CONTEXT) or os.getcwd()
        try:
            app._aiinfra_state_dir = found
        except AttributeError:
            pass
    return found


def local_state_path(state_dir: str, stack: str) -> str:
    """The stack's local state file in ``state_dir`` (absolute: ``aiinfra.synth.state_dir_for``)."""
    return f"{state_dir.rstrip('/')}/terraform.{stack}.tfstate"


def _literal(text: str) -> str:
    """``text`` as a Terraform string literal inside an expression."""
    return json.dumps(text)


class GuardedRemoteState(TerraformRemoteState):
    """The outputs of ``from_stack`` in the stack ``scope``: its state when ``exists`` (a
    Terraform boolean expression) holds, else values unknown until apply, and an apply that
    stops before anything uses them. See the module's docstring.

    ``extra`` adds Terraform JSON to the reading stack (the data source ``exists`` reads)."""

    def __init__(self, scope: Construct, name: str, from_stack: str, backend: str, config: dict[str, Any], exists: str,
                 extra: dict[str, Any] | None = None):
        super().__init__(scope, name, backend, workspace=WORKSPACE)
        self._from = from_stack
        self._backend = backend
        self._config = config
        self._exists = exists
        self._extra = extra or {}
        # Asked once here: cdktf resolves every cross-stack reference through get_string (a jsii
        # callback per reference, twice per synth), and a jsii property read inside each would
        # be a round trip more per reference (bench/synth_bench.py's 100-workload case).
        self._id = self.friendly_unique_id

    @property
    def awaiting(self) -> str:
        """The ``terraform_data`` that stands in for the stack's outputs while it has no state."""
        return f"awaiting-{self._from}"

    @property
    def outputs(self) -> str:
        """The local holding the stack's outputs (an object when read, an unknown map before)."""
        return self._id

    @jsii.member(jsii_name="getString")
    def get_string(self, output: str) -> str:
        # The expression cdktf's cross-stack reference resolves to (App.crossStackReference returns it
        # to Reference.resolve, which writes it bare inside expressions and in ${...} elsewhere).
        return f"local.{self.outputs}.{output}"

    def _doc(self) -> dict[str, Any]:
        read = self._id
        found = f"{self._exists} ? 1 : 0"
        doc: dict[str, Any] = {
            "data": {"terraform_remote_state": {read: {"count": f"${{{found}}}", "backend": self._backend, "workspace": WORKSPACE,
                                                       "config": self._config}}},
            "resource": {"terraform_data": {self.awaiting: {
                "count": f"${{{self._exists} ? 0 : 1}}",
                "input": "${tomap({})}",
                "lifecycle": {"postcondition": [{
                    # Unknown while planned (the plan goes through), known and not empty once created: the apply stops here.
                    "condition": '${self.id == ""}',
                    "error_message": f"{self._from} has no state yet: apply it first (cdktf deploy {self._from}, or terraform "
                                     "apply in its folder), then plan this stack again; this plan took its outputs as "
                                     "values known after apply"}]}}}},
            # merge() skips the null of the one that is not there.
            "locals": {self.outputs: f"${{merge(one(terraform_data.{self.awaiting}[*].output), "
                                     f"one(data.terraform_remote_state.{read}[*].outputs))}}"},
        }
        for key, value in self._extra.items():
            doc.setdefault(key, {}).update(value)
        return doc

    @jsii.member(jsii_name="toTerraform")
    def to_terraform(self) -> Any:
        return self._doc()

    @jsii.member(jsii_name="toHclTerraform")
    def to_hcl_terraform(self) -> Any:
        return self._doc()


class AnchoredLocalBackend(LocalBackend):
    """A local backend at an absolute path, read by other stacks through ``GuardedRemoteState``."""

    def __init__(self, scope: Construct, *, path: str):
        super().__init__(scope, path=path)
        self._path = path

    def get_remote_state_data_source(self, scope: Construct, name: str, from_stack: str) -> TerraformRemoteState:
        # Terraform's local backend keeps the default workspace's state at `path`.
        return GuardedRemoteState(scope, name, from_stack, "local", {"path": self._path}, f"fileexists({_literal(self._path)})")


def s3_state_key(name: str) -> str:
    return f"aiinfra/{name}/terraform.tfstate"


def _s3_reader(bucket: str, key: str, region: str, config: dict[str, Any]):
    def read(scope: Construct, name: str, from_stack: str) -> TerraformRemoteState:
        from aiinfra.constructs.aws.provider import AwsProvider

        # The state bucket's own region (a bucket listed through another region's endpoint answers 301).
        alias = "aiinfra-state"
        if scope.node.try_find_child(f"aws-{alias}") is None:
            AwsProvider(scope, f"aws-{alias}", region=region, alias=alias)
        # The S3 backend keeps the default workspace's state at `key`, another workspace's at
        # env:/<workspace>/<key> (https://developer.hashicorp.com/terraform/language/backend/s3: workspace_key_prefix).
        where = f'(terraform.workspace == "default" ? {_literal(key)} : "env:/${{terraform.workspace}}/{key}")'
        objects = f"{name}-state"
        extra = {"data": {"aws_s3_objects": {objects: {"provider": f"aws.{alias}", "bucket": bucket, "prefix": f"${{{where}}}"}}}}
        return GuardedRemoteState(scope, name, from_stack, "s3", config, f"contains(data.aws_s3_objects.{objects}.keys, {where})", extra)
    return read


def aws_backend(stack: Construct, state: Any, region: str, name: str, state_dir: str) -> None:
    """The stack's backend: S3 (``state``: the spec's ``state.aws``; encrypted with its KMS key,
    S3-native locking) or local in ``state_dir``."""
    if state is None:
        AnchoredLocalBackend(stack, path=local_state_path(state_dir, name))
        return
    key = s3_state_key(name)
    config = dict(bucket=state.bucket, key=key, region=state.region or region, encrypt=True, kms_key_id=state.kms_key_id)
    s3_backend(stack, **config, use_lockfile=True,  # S3-native state locking (Terraform 1.10+)
               read_state=_s3_reader(state.bucket, key, state.region or region,
                                     {k: v for k, v in {**config, "use_lockfile": True}.items() if v is not None}))


class ReadGuardedGcsBackend(GcsBackend):
    """A GCS backend read by other stacks through ``GuardedRemoteState``."""

    def __init__(self, scope: Construct, *, bucket: str, prefix: str, kms_encryption_key: str | None = None):
        super().__init__(scope, bucket=bucket, prefix=prefix, kms_encryption_key=kms_encryption_key)
        self._config = {k: v for k, v in {"bucket": bucket, "prefix": prefix, "kms_encryption_key": kms_encryption_key}.items() if v is not None}

    def get_remote_state_data_source(self, scope: Construct, name: str, from_stack: str) -> TerraformRemoteState:
        # The GCS backend keeps a workspace's state in <prefix>/<workspace>.tfstate
        # (https://developer.hashicorp.com/terraform/language/backend/gcs: prefix).
        state_object = f'"{self._config["prefix"]}/${{terraform.workspace}}.tfstate"'
        objects = f"{name}-state"
        extra = {"data": {"google_storage_bucket_objects": {objects: {"bucket": self._config["bucket"], "prefix": f"${{{state_object}}}"}}}}
        return GuardedRemoteState(scope, name, from_stack, "gcs", self._config,
                                  f"contains(data.google_storage_bucket_objects.{objects}.bucket_objects[*].name, {state_object})", extra)


def gcp_backend(stack: Construct, state: Any, name: str, state_dir: str) -> None:
    """The stack's backend: GCS (``state``: the spec's ``state.gcp``, written with its Cloud KMS
    key; GCS locks state itself) or local in ``state_dir``."""
    if state is None:
        AnchoredLocalBackend(stack, path=local_state_path(state_dir, name))
        return
    ReadGuardedGcsBackend(stack, bucket=state.bucket, prefix=f"aiinfra/{name}", kms_encryption_key=state.kms_encryption_key)
