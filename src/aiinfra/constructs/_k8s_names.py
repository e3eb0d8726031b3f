"""The Kubernetes names a workload identity binds to, checked the same way by the identity constructs
of both clouds (EKS ``PodIdentity``, GKE ``WorkloadIdentityBinding``): a namespace is a DNS-1123
label, a service account a DNS-1123 subdomain
(https://kubernetes.io/docs/concepts/overview/working-with-objects/names/)."""

from __future__ import annotations

import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def service_account_problems(namespace: str, service_account: str) -> list[str]:
    """One line per name that Kubernetes would refuse."""
    problems = []
    if not DNS_LABEL.match(namespace or ""):
        problems.append(f"namespace must be a DNS-1123 label (lowercase letters, digits, '-', at most 63), got {namespace!r}")
    if not DNS_SUBDOMAIN.match(service_account or ""):
        problems.append(f"service_account must be a DNS-1123 subdomain (lowercase letters, digits, '-', '.'), got {service_account!r}")
    return problems
