"""Who may reach a Kubernetes control plane: the checks of an allow-list of CIDRs, shared by the
cluster constructs of both clouds (EKS ``public_access_cidrs``, GKE master authorized networks)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence


def endpoint_cidr_problems(cidrs: Sequence[str], server: str = "control plane") -> list[str]:
    """One line per entry of ``cidrs`` that is not a CIDR or opens ``server`` to the whole internet."""
    problems = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"endpoint_cidrs: {cidr!r} is not a CIDR")
            continue
        if net.prefixlen == 0:
            problems.append(f"endpoint_cidrs: {cidr} opens the {server} to the whole internet; name where Terraform runs")
    return problems
