"""Plain Kubernetes documents as Terraform resources: one ``kubernetes_manifest`` a document."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct, TerraformProvider

from aiinfra.constructs._tf import GenericResource, _check, terraform_literal
from aiinfra.k8s.export import TOKEN

# Kinds applied before the others (each tier depends on every object of the tiers before it): the
# namespaces; then what admits, authorizes and places pods (quotas before the pods they bound, service
# accounts before the pods that run as them, Kueue's queues before the jobs they admit); then the rest.
_FIRST = ("Namespace",)
_SECOND = ("ResourceQuota", "LimitRange", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
           "Secret", "PriorityClass", "ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass")
# The provider's default computed fields, kept when more are added (setting computed_fields replaces them:
# https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest#computed-fields).
DEFAULT_COMPUTED = ("metadata.labels", "metadata.annotations")
FIELD_MANAGER = "aiinfra"
# How long apply waits for a Deployment to roll out: a GPU node is added by the cluster autoscaler and a
# serving image of several GB is pulled before the first pod is ready.
ROLLOUT_TIMEOUT = "30m"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def object_address(doc: dict[str, Any]) -> str:
    """The stable resource name of a document: ``<kind>-<namespace>-<name>`` (``<kind>-<name>`` for a
    cluster-scoped object), lower-case, every character Terraform refuses in a name as ``-``."""
    meta = doc.get("metadata") or {}
    parts = [doc.get("kind", ""), meta.get("namespace"), meta.get("name", "")]
    return re.sub(r"[^a-z0-9-]", "-", "-".join(p for p in parts if p).lower())


def _literal(value: Any) -> Any:
    """``value`` with every string escaped for Terraform JSON (``${`` and ``%{`` start Terraform's
    interpolation: a container's shell ``${VAR}`` must reach the cluster as written), tokens kept."""
    if isinstance(value, str):
        out, last = [], 0
        for m in TOKEN.finditer(value):  # a token is written bare: Terraform resolves it
            out += [terraform_literal(value[last:m.start()]), m.group(0)]
            last = m.end()
        return "".join(out) + terraform_literal(value[last:])
    if isinstance(value, dict):
        return {_literal(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def _hpa_targets(documents: Sequence[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every object a HorizontalPodAutoscaler of ``documents`` scales."""
    out = set()
    for d in documents:
        if d.get("kind") == "HorizontalPodAutoscaler":
            ref = (d.get("spec") or {}).get("scaleTargetRef") or {}
            out.add((ref.get("kind", ""), (d.get("metadata") or {}).get("namespace", ""), ref.get("name", "")))
    return out


def computed_fields(doc: dict[str, Any], scaled: bool = False) -> list[str]:
    """The fields of ``doc`` a controller rewrites after apply, which Terraform must take as computed (else
    "Provider produced inconsistent result after apply", or a diff at every plan):

    * a job under a Kueue queue (label ``kueue.x-k8s.io/queue-name``): Kueue admits it by setting
      ``spec.suspend`` to false and injects its ResourceFlavor's node labels and tolerations into the pod
      templates (https://kueue.sigs.k8s.io/docs/concepts/#admission, "Run A JobSet":
      https://kueue.sigs.k8s.io/docs/tasks/run/jobsets/);
    * an object a HorizontalPodAutoscaler scales (``scaled``): the HPA writes ``spec.replicas``
      (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling).
    """
    fields = list(DEFAULT_COMPUTED)
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if QUEUE_LABEL in ((doc.get("metadata") or {}).get("labels") or {}) and kind in ("JobSet", "Job"):
        fields.append("spec.suspend")
        templates = ([f"spec.replicatedJobs[{i}].template.spec.template.spec" for i in range(len(spec.get("replicatedJobs") or []))]
                     if kind == "JobSet" else ["spec.template.spec"])
        fields += [f"{t}.{f}" for t in templates for f in ("nodeSelector", "tolerations")]
    if scaled:
        fields.append("spec.replicas")
    return fields


class KubernetesObjects(Construct):
    """One ``kubernetes_manifest`` a document, through server-side apply
    (https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs/resources/manifest).

    ``kubernetes_manifest`` asks the API server for the type's schema when it plans, so the CRDs of the
    custom resources (Kueue's queues, JobSets, managed Prometheus's PodMonitorings, Gateways) must exist
    before the stack that holds them is planned: the add-ons that install them are a stack of their own
    (``AddOns``), applied first, and the cluster's API server must answer where Terraform runs.

    Each resource is named ``kubernetes_manifest.<kind>-<namespace>-<name>`` (``object_address``), so it
    keeps its address whatever the order of the documents, and ``terraform import`` names it plainly.
    Settings from the provider's docs:

    * ``field_manager``: ``aiinfra`` (``kubectl get --show-managed-fields`` shows which fields aiinfra
      owns); conflicts are not forced: a field another manager took is an apply error, not overwritten;
    * ``computed_fields``: the provider's defaults plus what controllers write (``computed_fields``);
    * ``wait``: a Deployment's rollout (``kubectl rollout status``), up to ``ROLLOUT_TIMEOUT``, so a
      serving image that never becomes ready fails the apply; nothing else is waited on: a job is created
      suspended until Kueue admits it (it may wait in its queue for hours), a CronJob starts later;
    * namespaces first, then quotas, accounts, roles and queues, then the rest (``depends_on``).

    Every string is written literally (``${`` escaped for Terraform), so the object reaches the cluster as the
    document has it.

    Example::

        KubernetesObjects(stack, "objects", documents=[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}],
                          provider=kubernetes_provider)

    Args:
        documents: plain Kubernetes documents (``apiVersion``, ``kind``, ``metadata.name``); two for one
            object are refused.
        provider: the ``KubernetesProvider`` (else the stack's default ``kubernetes`` provider).
        depends_on: what every object waits for (e.g. the add-ons' releases when both are in one stack).

    Attributes:
        manifests: address -> the ``kubernetes_manifest`` resource, in document order.
    """

    def __init__(self, scope: Construct, id: str, *, documents: Sequence[dict[str, Any]], provider: TerraformProvider | None = None,
                 depends_on: Sequence[Any] = ()):
        _check(scope, provider, list(depends_on))
        problems, seen = [], {}
        for i, doc in enumerate(documents):
            missing = [k for k in ("apiVersion", "kind") if not doc.get(k)] + ([] if (doc.get("metadata") or {}).get("name") else ["metadata.name"])
            if missing:
                problems.append(f"documents[{i}]: no {', '.join(missing)}")
                continue
            address = object_address(doc)
            if address in seen:
                problems.append(f"documents[{i}] and documents[{seen[address]}] are both {address}")
            seen.setdefault(address, i)
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__(scope, id)
        scaled = _hpa_targets(documents)
        tiers: list[list[GenericResource]] = [[], [], []]
        made: dict[str, GenericResource] = {}
        tier_of = [0 if d["kind"] in _FIRST else 1 if d["kind"] in _SECOND else 2 for d in documents]
        for i in sorted(range(len(documents)), key=lambda i: tier_of[i]):  # a tier's objects exist before the next tier names them
            doc, tier = documents[i], tier_of[i]
            kind, meta = doc["kind"], doc.get("metadata") or {}
            address = object_address(doc)
            attrs: dict[str, Any] = {
                "manifest": _literal(doc),
                "computed_fields": computed_fields(doc, (kind, meta.get("namespace", ""), meta["name"]) in scaled),
                "field_manager": {"name": FIELD_MANAGER, "force_conflicts": False},
            }
            if kind == "Deployment":
                attrs["wait"] = {"rollout": True}
                attrs["timeouts"] = {"create": ROLLOUT_TIMEOUT, "update": ROLLOUT_TIMEOUT}
            before = [r for t in tiers[:tier] for r in t]
            r = GenericResource(self, address, "kubernetes_manifest", attrs, depends_on=[*depends_on, *before] or None)
            r.override_logical_id(address)
            if provider is not None:
                r.provider = provider
            tiers[tier].append(r)
            made[address] = r
        self.manifests: dict[str, GenericResource] = {object_address(d): made[object_address(d)] for d in documents}
