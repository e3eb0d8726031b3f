"""Firewall rules for one workload's GPU nodes (network segmentation), scoped to the workload's
service account: nothing comes in from other nodes but the workload's own, nothing goes out but
its own collective traffic and HTTPS, so a compromised serving node cannot reach the training
nodes of the same VPC."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name

# The implied allow-egress rule has priority 65535 (the lowest); a deny at 65534 overrides it and
# every allow at a higher priority (a lower number) overrides the deny
# (https://cloud.google.com/vpc/docs/firewalls#default_firewall_rules; "DENY rules take precedence over
# ALLOW rules having equal priority": https://cloud.google.com/compute/docs/reference/rest/v1/firewalls).
DENY_EGRESS_PRIORITY = 65534


def _is_token(value: str) -> bool:
    return "${" in value


class NodeFirewall(Construct):
    """The VPC firewall rules of one workload's nodes, chosen by the nodes' service account.

    Example::

        net = ClusterNetwork(stack, "network", project="acme-ml-prod", name="acme-ml-prod", region="us-central1",
                             internal_traffic=False)
        ident = WorkloadIdentity(stack, "train-id", project="acme-ml-prod", account_id="acme-train")
        NodeFirewall(stack, "train-fw", project="acme-ml-prod", network=net.network_id, name="acme-train",
                     service_account_email=ident.email, collective=True, peer_ranges=[net.cidr])

    The rules target ``target_service_accounts``, not network tags: anyone who may edit an instance
    can add a tag, while running as a service account needs ``iam.serviceAccountUser`` on it; and one
    rule cannot mix tags with service accounts (``source_service_accounts`` conflicts with
    ``source_tags`` / ``target_tags``: https://github.com/GoogleCloudPlatform/magic-modules/blob/main/mmv1/products/compute/Firewall.yaml).

    * ingress, with ``collective``: all protocols from VMs running as the same service account
      (``source_service_accounts``), on the primary network and on each ``gpu_nic_networks`` network.
      Nothing else from other nodes: the implied deny-ingress rule drops it. Health checks, load
      balancer proxies and IAP keep their own rules (by network tag, from Google's ranges).
    * egress: TCP 443 and 80 (signed apt mirrors) to ``0.0.0.0/0`` (Google APIs through Private Google Access, registries through
      Cloud NAT); with ``collective``, all protocols to ``peer_ranges``; then a deny of everything
      else at priority 65534. The metadata server (169.254.169.254: metadata, DNS, NTP) is always
      reachable whatever the rules say (https://cloud.google.com/vpc/docs/firewalls#alwaysallowed),
      and replies to admitted connections pass (the rules are stateful).

    Args:
        project: the GCP project id.
        network: the primary network (``ClusterNetwork.network_id``).
        name: prefix of the rules' names (each ``<name>-<what>``, 63 characters at most).
        service_account_email: the nodes' service account (``WorkloadIdentity.email``); the rules
            apply to VMs running as it, in any zone of the network.
        collective: the nodes exchange traffic with each other: any run over several nodes
            (multi-node training: NCCL, GPUDirect, the launcher's rendezvous; a Spark cluster: its
            driver, executors and shuffles). False: the nodes cannot reach each other.
        peer_ranges: where the workload's own nodes are (the subnet, ``ClusterNetwork.cidr``); the
            egress allow for collective traffic goes there. Required with ``collective``. (Egress
            rules can only name destination ranges; the ingress side still admits only this service
            account, so other workloads in the range stay closed.)
        gpu_nic_networks: the TCPX/TCPXO GPU NIC networks of the nodes
            (``[n.get_string_attribute("id") for n in net.gpu_nic_networks]``); each gets an ingress
            rule from the same service account when ``collective``. An RDMA (RoCE) network takes no
            VPC firewall rules at all (see ``ClusterNetwork``), so do not list it.
        allow_priority: priority of the allow rules; default 1000 (must be below 65534).
        log: firewall rules logging with metadata; default on.

    Attributes: ``firewalls`` (every rule), ``service_account_email``.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, network: str, name: str, service_account_email: str,
                 collective: bool, peer_ranges: Sequence[str] = (), gpu_nic_networks: Sequence[str] = (),
                 allow_priority: int = 1000, log: bool = True):
        super().__init__(scope, id)
        problems = []
        longest = f"-gpu-{len(gpu_nic_networks) - 1}-self-in" if collective and gpu_nic_networks else "-https-out"
        try:
            check_name(f"{name}{longest}", f"name (with its longest suffix, {longest})")
        except ValueError as e:
            problems.append(str(e))
        if not service_account_email:
            problems.append("service_account_email must name the nodes' service account")
        if not network:
            problems.append("network must name the nodes' network")
        if collective and not peer_ranges:
            problems.append("peer_ranges must name where the workload's nodes are (the subnet) when collective is true")
        for r in peer_ranges:
            if _is_token(r):
                continue
            try:
                net = ipaddress.ip_network(r)
            except ValueError:
                problems.append(f"peer_ranges must be CIDR ranges, got {r!r}")
                continue
            if not net.is_private:
                problems.append(f"peer_ranges must be private ranges (the nodes' subnet), got {r}")
        if not 0 <= allow_priority < DENY_EGRESS_PRIORITY:
            problems.append(f"allow_priority must be between 0 and {DENY_EGRESS_PRIORITY - 1} (above the egress deny), got {allow_priority}")
        if problems:
            raise ValueError("; ".join(problems))
        self.service_account_email = service_account_email
        log_config = {"metadata": "INCLUDE_ALL_METADATA"} if log else None
        sa = [service_account_email]
        everything = [{"protocol": "all"}]
        self.firewalls = []

        def rule(rid: str, **args):
            self.firewalls.append(resource(self, rid, "google_compute_firewall", project=project, name=f"{name}-{rid}",
                                           target_service_accounts=sa, log_config=log_config, **args))

        if collective:
            rule("self-in", network=network, direction="INGRESS", priority=allow_priority, source_service_accounts=sa, allow=everything,
                 description=f"collective traffic between the nodes of {name} (same service account) only")
            rule("peers-out", network=network, direction="EGRESS", priority=allow_priority, destination_ranges=list(peer_ranges),
                 allow=everything, description=f"collective traffic of {name} to its own subnet")
            for i, nic_network in enumerate(gpu_nic_networks):
                rule(f"gpu-{i}-self-in", network=nic_network, direction="INGRESS", priority=allow_priority, source_service_accounts=sa,
                     allow=everything, description=f"GPU-to-GPU traffic of {name} on GPU NIC network {i} (same service account) only")
        # 80 too: the Ubuntu accelerator images' apt mirrors (<region>.gce.archive.ubuntu.com) are plain HTTP, and the
        # boot installs Docker / the NVIDIA Container Toolkit from them where the image lacks them (apt checks each
        # package's signature, so the transport carries no trust).
        rule("https-out", network=network, direction="EGRESS", priority=allow_priority, destination_ranges=["0.0.0.0/0"],
             allow=[{"protocol": "tcp", "ports": ["443", "80"]}],
             description="HTTPS to Google APIs and registries; HTTP to signed apt mirrors")
        rule("deny-out", network=network, direction="EGRESS", priority=DENY_EGRESS_PRIORITY, destination_ranges=["0.0.0.0/0"],
             deny=everything, description=f"nothing else leaves the nodes of {name}")
