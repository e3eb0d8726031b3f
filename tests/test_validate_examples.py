"""Every stack of every bundled example, and of variants with and without images, certificates and
domains, is valid Terraform (the in-cluster stacks' kubernetes / helm parts as GCP's are checked, below) (issue 27: an AWS serving stack without an image rendered
``(var.image == undefined)`` and could never be planned).

Few, large runs: the variants are synthesized two at a time, then every stack of every variant is
one child module of a single root module, initialized once from the provider mirror and checked by
one ``terraform validate`` (one provider schema load for all of them):

* AWS stacks as synthesized, with the real aws provider;
* GCP stacks through the google provider schema (``tests/gcp_schema.py``: every resource, data
  source, argument and block), and, as there is no google provider binary here, their expressions
  through Terraform itself: each provider resource and data source becomes a ``terraform_data``
  whose ``input`` holds its arguments, references rewritten to match, so Terraform parses every
  expression and checks every reference, function and meta-argument (``count``, ``for_each``,
  ``depends_on``, pre- and postconditions).

A stack's required variables (certificate ARN, DNS names, OIDC settings) get placeholder values of
their type from the root module; the default ``image = ""`` is kept, so the no-image conditions are
what is checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform

pytestmark = SKIP_NO_TERRAFORM

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BUILTIN = {"terraform_data"}  # resources of Terraform's built-in provider, validated as they are
IN_CLUSTER = ("kubernetes", "helm")  # the in-cluster stacks' providers (no binary here: their schemas in the bindings)


def in_cluster_problems(doc: dict, module: str = "") -> list[str]:
    """What the kubernetes and helm provider schemas (tests/gcp_schema.py, from the prebuilt bindings) say of a stack
    that uses them; nothing for one that does not."""
    from tests.gcp_schema import check_stack

    used = [p for p in IN_CLUSTER if p in doc.get("provider", {})]
    return [f"{module + ': ' if module else ''}{p}" for provider in used for p in check_stack(doc, provider=provider)]


_META = ("count", "for_each", "depends_on")


def _without(text: str, *keys: str) -> str:
    """``text`` without the lines that set any of ``keys`` (a YAML scalar or flow value on one line)."""
    return "\n".join(line for line in text.splitlines() if not any(line.strip().startswith(f"{k}:") for k in keys)) + "\n"


def _under(text: str, parent: str, line: str) -> str:
    """``line`` added under the first ``  <parent>:`` mapping (a cloud under ``clouds:``)."""
    head, sep, tail = text.partition(f"\n  {parent}:\n")
    assert sep, parent
    return f"{head}{sep}    {line}\n{tail}"


def variants(folder: Path) -> list[Path]:
    """Each example as it is, and variants that take the other path of every deploy-time input:
    images given / not; AWS certificate ARN / ``domains`` with a hosted zone / ``domains`` without
    one / neither (a variable); GCP ``domains`` / ``ssl_certificates`` / neither (a variable);
    state local / S3 / GCS."""
    out = []
    for spec in EXAMPLES:
        text = spec.read_text()
        out.append((spec.stem, text))
        plain = _without(text, "image", "certificate_arn", "domains", "ssl_certificates", "hosted_zone_id")
        if "\nstate:" in plain:  # local state instead of the example's remote one
            plain = plain.split("\nstate:")[0] + "\n" + "\n".join(line for line in plain.split("\nstate:", 1)[1].splitlines()
                                                                    if not line.startswith(" "))
        out.append((f"{spec.stem}-bare", plain))  # no image, no certificate, no domain: every input a variable
        named = plain
        if "\n  aws:\n" in named:
            named = _under(named, "aws", "domains: [api.acme-ml.example.com]")
            if spec.stem != "reference":
                named = _under(named, "aws", "hosted_zone_id: Z0123456789ABCDEFGHIJ")
        if "\n  gcp:\n" in named:
            named = _under(named, "gcp", "domains: [api.acme-ml.example.com]" if spec.stem == "reference" else
                           "ssl_certificates: [projects/acme-ml-prod/global/sslCertificates/api]")
        if "\nstate:" not in named:
            remote = "state:\n"
            if "\n  aws:\n" in named:
                remote += "  aws: {bucket: acme-tf-state, region: us-west-2, kms_key_id: arn:aws:kms:us-west-2:111122223333:key/57ff7a43-341d-46b6-aee3-a450c9de6dc8}\n"
            if "\n  gcp:\n" in named:
                remote += "  gcp: {bucket: acme-tf-state, kms_encryption_key: projects/acme-ml-prod/locations/us/keyRings/tf/cryptoKeys/state}\n"
            named += remote
        out.append((f"{spec.stem}-named", named))  # domains / certificates named in the spec, state in S3 / GCS
    paths = []
    for name, text in out:
        path = folder / f"{name}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def _synth(spec: Path) -> Path:
    out = spec.parent / "out" / spec.stem
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q"], capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, (spec.name, r.stderr[-3000:])
    return out / "stacks"


# ---------------------------------------------------------------- GCP expressions through Terraform

def _target(kind: str, rtype: str, name: str) -> str:
    return f"{'data__' if kind == 'data' else ''}{rtype}__{name}"


def _rewrite(value: Any, types: set[str]) -> Any:
    """References to provider resources and data sources rewritten to the ``terraform_data`` that stands for each."""
    if isinstance(value, dict):
        return {k: _rewrite(v, types) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, types) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    kinds = "|".join(sorted(map(re.escape, types), key=len, reverse=True))
    value = re.sub(rf"\bdata\.({kinds})\.([A-Za-z0-9_-]+)((?:\[[^\]]*\])?)",
                   lambda m: f"terraform_data.{_target('data', m[1], m[2])}{m[3]}.output", value)
    return re.sub(rf"(?<![\w.-])({kinds})\.([A-Za-z0-9_-]+)((?:\[[^\]]*\])?)",
                  lambda m: f"terraform_data.{_target('resource', m[1], m[2])}{m[3]}.output", value)


def _dependency(ref: str, types: set[str]) -> str:
    parts = ref.removeprefix("${").removesuffix("}").split(".")
    if parts[0] == "data" and parts[1] in types:
        return f"terraform_data.{_target('data', parts[1], parts[2])}"
    if parts[0] in types:
        return f"terraform_data.{_target('resource', parts[0], parts[1])}"
    return ref


def _strings(value: Any, change) -> Any:
    if isinstance(value, dict):
        return {k: _strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, change) for v in value]
    return change(value) if isinstance(value, str) else value


def _dynamic(body: dict) -> dict:
    """``dynamic`` blocks as plain values: ``for_each`` kept, the iterator's ``.key`` / ``.value`` in
    ``content`` read from the first element (the iterator exists only inside a dynamic block)."""
    body = dict(body)
    for label, block in body.pop("dynamic", {}).items():
        it = re.escape(block.get("iterator", label))
        each = block["for_each"].removeprefix("${").removesuffix("}")

        def first(text: str, each: str = each, it: str = it) -> str:
            text = re.sub(rf"(?<![\w.-]){it}\.value\b", f"[for k, v in {each} : v][0]", text)
            return re.sub(rf"(?<![\w.-]){it}\.key\b", f"[for k, v in {each} : k][0]", text)
        body[f"dynamic__{label}"] = {"for_each": block["for_each"], "content": _strings(block.get("content", {}), first)}
    return body


def as_builtin(doc: dict, providers: tuple[str, ...] | None = None) -> dict:
    """A stack whose provider resources and data sources are ``terraform_data`` resources carrying
    their arguments: Terraform validates its expressions without the provider. ``providers``: only
    those providers' (``("kubernetes", "helm")``: an AWS in-cluster stack keeps its aws resources, its
    provider and requirement, for the real aws provider; the others have no binary here)."""
    def converted(rtype: str) -> bool:
        return providers is None or rtype.split("_", 1)[0] in providers

    types = {t for t in doc.get("resource", {}) if t not in BUILTIN and converted(t)} | {
        t for t in doc.get("data", {}) if t != "terraform_remote_state" and converted(t)}
    out: dict[str, Any] = {k: v for k, v in doc.items() if k in ("variable", "locals", "output")}
    data_sources: dict[str, Any] = {"terraform_remote_state": doc.get("data", {}).get("terraform_remote_state", {})}
    kept: dict[str, Any] = {}
    if providers is not None:
        out["provider"] = {k: v for k, v in doc.get("provider", {}).items() if k not in providers}
        required = doc.get("terraform", {}).get("required_providers", {})
        out["terraform"] = {"required_providers": {k: v for k, v in required.items() if k not in providers}}
        kept = {t: b for t, b in doc.get("resource", {}).items() if t not in types and t not in BUILTIN}
        data_sources.update({t: b for t, b in doc.get("data", {}).items() if t not in types and t != "terraform_remote_state"})
    resources: dict[str, dict] = {}
    for kind, blocks in (("resource", doc.get("resource", {})), ("data", doc.get("data", {}))):
        for rtype, named in blocks.items():
            if rtype in BUILTIN or rtype == "terraform_remote_state" or not converted(rtype):
                if rtype in BUILTIN:
                    resources.update({n: b for n, b in named.items()})
                continue
            for name, body in named.items():
                body = {k: v for k, v in body.items() if k not in ("provider", "provisioner", "connection", "//")}
                meta = {k: body.pop(k) for k in _META if k in body}
                if "depends_on" in meta:
                    meta["depends_on"] = [_dependency(d, types) for d in meta["depends_on"]]
                lifecycle = body.pop("lifecycle", {})
                checks = {k: lifecycle[k] for k in ("precondition", "postcondition") if k in lifecycle}
                if "postcondition" in checks:
                    checks["postcondition"] = json.loads(json.dumps(checks["postcondition"]).replace("self.", "self.output."))
                resources[_target(kind, rtype, name)] = {**meta, "input": _dynamic(body), **({"lifecycle": checks} if checks else {})}
    out["resource"] = {**kept, "terraform_data": resources}
    data_sources = {k: v for k, v in data_sources.items() if v}
    if data_sources:
        out["data"] = data_sources
    return _rewrite(out, types)


# ---------------------------------------------------------------- one root module, one validate

PLACEHOLDER = {"string": "placeholder", "number": 1, "bool": True}


def _placeholder(var: dict) -> Any:
    kind = var.get("type", "string")
    if kind.startswith(("list", "set")):
        return [PLACEHOLDER.get(kind[kind.index("(") + 1:-1], "placeholder")]
    return PLACEHOLDER.get(kind, "placeholder")


def _module(source: Path, root: Path, doc: dict) -> dict:
    args: dict[str, Any] = {"source": "./" + os.path.relpath(source, root)}
    for name, var in doc.get("variable", {}).items():
        if "default" not in var:
            args[name] = _placeholder(var)
    return args


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("variants")
    specs = variants(folder)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((s.stem for s in specs), pool.map(_synth, specs)))


def test_every_stack_of_every_example_and_variant_is_valid_terraform(synthesized, tmp_path):
    from tests.gcp_schema import check_stack

    root = tmp_path / "root"
    root.mkdir()
    modules: dict[str, dict] = {}
    schema_problems = []
    seen = {"aws": set(), "gcp": set()}
    for variant, stacks in synthesized.items():
        for stack in sorted(stacks.iterdir()):
            doc = json.loads((stack / "cdk.tf.json").read_text())
            module = f"{variant}--{stack.name}"
            if "-gcp-" in stack.name:
                seen["gcp"].add(variant)
                schema_problems += [f"{module}: {p}" for p in check_stack(doc)] + in_cluster_problems(doc, module)
                builtin = root / "gcp" / module
                builtin.mkdir(parents=True)
                (builtin / "main.tf.json").write_text(json.dumps(as_builtin(doc), indent=1))
                modules[module] = _module(builtin, root, doc)
            elif set(doc.get("provider", {})) & set(IN_CLUSTER):
                # An AWS in-cluster stack: its kubernetes / helm parts through their providers' schemas and Terraform's
                # expression check (no binary of either here), its aws parts with the real aws provider.
                seen["aws"].add(variant)
                schema_problems += [f"{module}: {p}" for p in in_cluster_problems(doc)]
                partly = root / "aws" / module
                partly.mkdir(parents=True)
                (partly / "main.tf.json").write_text(json.dumps(as_builtin(doc, IN_CLUSTER), indent=1))
                modules[module] = _module(partly, root, doc)
            else:
                seen["aws"].add(variant)
                modules[module] = _module(stack, root, doc)
    assert schema_problems == []
    assert len(seen["aws"]) >= 6 and len(seen["gcp"]) >= 6, seen  # both clouds through each kind of variant
    (root / "main.tf.json").write_text(json.dumps({"module": modules}, indent=1))
    init(root, backend=False)
    r = run_terraform(["validate", "-json"], root, check=False)
    report = json.loads(r.stdout)
    errors = [f"{d.get('range', {}).get('filename', '')}:{d.get('range', {}).get('start', {}).get('line', '')}: {d['summary']}: "
              f"{d.get('detail', '')}" for d in report["diagnostics"] if d["severity"] == "error"]
    assert report["valid"] and not errors, "\n".join(errors)


def test_the_expression_check_finds_what_terraform_refuses(tmp_path):
    """The GCP rewrite keeps Terraform's view of an expression: the issue's ``(var.image ==
    undefined)`` and a misspelt reference fail validate, the same condition written right passes."""
    def doc(condition: str) -> dict:
        return {"variable": {"image": {"type": "string", "default": ""}},
                "resource": {"google_compute_region_autoscaler": {"a": {"name": "a", "autoscaling_policy": {"mode": condition}}},
                             "google_compute_instance_group_manager": {"g": {"name": "g", "target_size": 0,
                                                                              "dynamic": {"auto_healing_policies": {
                                                                                  "for_each": '${var.image != "" ? [1] : []}',
                                                                                  "content": {"initial_delay_sec": "${auto_healing_policies.value}"}}}}}}}
    results = {}
    for name, condition in {"ok": '${var.image != "" ? "ON" : "OFF"}', "undefined": '${(var.image == undefined) ? "OFF" : "ON"}',
                            "typo": '${google_compute_instance_group_mangler.g.id}'}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "main.tf.json").write_text(json.dumps(as_builtin(doc(condition))))
        init(folder, backend=False)
        results[name] = json.loads(run_terraform(["validate", "-json"], folder, check=False).stdout)["valid"]
    assert results == {"ok": True, "undefined": False, "typo": False}
