"""The in-cluster documents as plain YAML files, for teams that deploy them with Argo CD or Flux instead of
Terraform: one file a document, ``NN-<kind>-<name>.yaml`` in apply order, and a ``kustomization.yaml`` listing
them (a kustomization's ``resources`` are applied as listed:
https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/resource/), which both tools read as it is
(Argo CD: https://argo-cd.readthedocs.io/en/stable/user-guide/kustomize/; Flux's Kustomization builds the folder:
https://fluxcd.io/flux/components/kustomize/kustomizations/). No CDK here: synth calls it with the documents of each
cluster's objects stack, in its temporary output folder (what synth swaps in whole).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from aiinfra.k8s import Doc

FOLDER = "kubernetes"  # <out>/kubernetes/<cluster stack name>/
# Where the stacks leave the documents for synth: an attribute of the CDK app, {cluster stack name: {"documents",
# "variables", "sources"}} (stacks/kubernetes_objects.py sets it, synth writes it with ``write``).
APP_ATTRIBUTE = "_aiinfra_k8s_exports"
KUSTOMIZATION = "kustomization.yaml"
# A cdktf / cdktn token inside a string: a value Terraform knows only when it runs ("${TfToken[TOKEN.12]}").
TOKEN = re.compile(r"\$\{TfToken\[[^\]]+\]\}")


def file_name(index: int, doc: Doc, width: int = 2) -> str:
    """``NN-<kind>-<name>.yaml``: the document's place (from 01), its kind and name, lower-case."""
    name = re.sub(r"[^a-z0-9.-]", "-", f"{doc['kind']}-{doc['metadata']['name']}".lower())
    return f"{index:0{width}d}-{name}.yaml"


VARIABLES = "variables.env"
_VAR = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")


def _unresolved(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path] if TOKEN.search(value) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _unresolved(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unresolved(v, f"{path}[{i}]")]
    return []


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """``value`` with each value of ``variables`` (a CDK token: a value Terraform knows only when it runs) written as
    the variable ``${NAME}`` its key names, where it stands alone or inside a longer string."""
    if isinstance(value, str):
        for token, name in variables.items():
            value = value.replace(token, f"${{{name}}}")
        return value
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def render(docs: list[Doc], variables: dict[str, str] | None = None, sources: dict[str, str] | None = None) -> dict[str, str]:
    """file name -> YAML text of every document, and the kustomization listing them in order.

    A value known only when Terraform runs (a CDK token: a certificate or WAF ARN another stack creates) cannot be
    written as such: each one ``variables`` names (token -> variable name) is written ``${NAME}``, Flux's post-build
    variable syntax (https://fluxcd.io/flux/components/kustomize/kustomizations/#post-build-variable-substitution;
    Argo CD: an envsubst config management plugin), and ``variables.env`` lists the names, each with where its value
    comes from (``sources``: name -> text). Any other token is refused, naming where it is."""
    variables = dict(variables or {})
    bad_names = sorted(n for n in variables.values() if not _VAR.match(n))
    if bad_names:
        raise ValueError(f"variable names must be letters, digits and _: {', '.join(bad_names)}")
    docs = [substitute(d, variables) for d in docs]
    bad = [f"{d.get('kind')} {d.get('metadata', {}).get('name')}: {p}" for d in docs for p in _unresolved(d)]
    if bad:
        raise ValueError("documents hold values known only at apply, which a YAML file cannot: " + "; ".join(bad))
    width = max(2, len(str(len(docs))))
    files = {file_name(i, d, width): yaml.safe_dump(d, sort_keys=False, default_flow_style=False, allow_unicode=True)
             for i, d in enumerate(docs, 1)}
    files[KUSTOMIZATION] = yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                           "resources": list(files)}, sort_keys=False)
    used = sorted({n for n in variables.values() if any(f"${{{n}}}" in text for text in files.values())})
    if used:
        lines = ["# Values these documents take from Terraform outputs (substitute ${NAME} before applying, e.g. Flux's",
                 "# spec.postBuild.substituteFrom with a ConfigMap made from this file once filled in)."]
        for n in used:
            lines += [f"# {(sources or {}).get(n, '')}".rstrip(), f"{n}="]
        files[VARIABLES] = "\n".join(lines) + "\n"
    return files


def write(out_dir: Path, exports: dict[str, dict[str, Any]]) -> list[Path]:
    """Write each cluster stack's documents under ``<out_dir>/kubernetes/<stack>/`` (``exports``: stack name ->
    ``{"documents": [...], "variables": {token: name}, "sources": {name: text}}``); returns the files written."""
    written = []
    for stack, export in sorted(exports.items()):
        folder = Path(out_dir) / FOLDER / stack
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in render(export["documents"], export.get("variables"), export.get("sources")).items():
            (folder / name).write_text(text)
            written.append(folder / name)
    return written
