"""HTTPS load balancer in front of an inference group, with target-tracking autoscaling on
requests per target and CPU (the guide's HPA: 70% CPU, requests per second per replica)."""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from aiinfra.constructs._tf import resource

TLS13_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class InferenceEndpoint(Construct):
    """An application load balancer for a ``GpuInstanceGroup`` serving predictions.

    Example::

        InferenceEndpoint(stack, "endpoint", name="acme-prod-reco", vpc_id=net.vpc_id, subnet_ids=net.public_subnet_ids,
                          node_security_group_id=net.node_security_group_id, autoscaling_group_name=group.name,
                          certificate_arn="arn:aws:acm:...", requests_per_target=260)

    Args:
        name: load balancer and target group name (32 characters at most).
        vpc_id, subnet_ids: where the load balancer lives (public subnets if internet-facing).
        node_security_group_id: the nodes' group; the endpoint admits traffic from the load
            balancer to ``port`` on it, nothing else.
        autoscaling_group_name: the group to register and scale.
        certificate_arn: the ACM certificate of the HTTPS listener (required: no plain HTTP).
        requests_per_target: requests a second each replica should carry (the plan's replica
            throughput x its target utilisation); the target-tracking value of ALB requests per
            target a minute is 60 times it.
        cpu_target_percent: CPU target-tracking value; default 70 (the guide's HPA).
        port: the model server's port on the nodes; default 8080.
        health_check_path: default ``/health``.
        internet_facing: default on (a public HTTPS endpoint, as on GCP: give public subnets);
            off makes it internal (private subnets, reachable from the VPC only).
        allowed_cidrs: who may reach port 443. Left out: ``0.0.0.0/0`` when internet-facing,
            the VPC range otherwise.
        vpc_cidr: the VPC's range (used for the internal default of ``allowed_cidrs``).
        access_log_bucket: bucket name for ALB access logs (an SSE-S3 bucket whose policy lets
            the region's load balancers write: ``TieredStorage(load_balancer_logs=True)``'s log
            bucket); left out, none.
        deletion_protection: refuse to delete the load balancer until this is turned off;
            default on (an endpoint under an availability target).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, vpc_id: str, subnet_ids: Sequence[str], node_security_group_id: str,
                 autoscaling_group_name: str, certificate_arn: str, requests_per_target: float, vpc_cidr: str,
                 cpu_target_percent: float = 70.0, port: int = 8080, health_check_path: str = "/health", internet_facing: bool = True,
                 allowed_cidrs: Sequence[str] | None = None, access_log_bucket: str | None = None, deletion_protection: bool = True,
                 tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        if len(name) > 32:
            raise ValueError(f"name must be at most 32 characters (load balancer names), got {len(name)} ({name!r})")
        if len(subnet_ids) < 2:
            raise ValueError("an application load balancer needs subnets in at least two zones")
        if not certificate_arn:
            raise ValueError("certificate_arn is required: the endpoint serves HTTPS only")
        if requests_per_target <= 0 or not 0 < cpu_target_percent <= 100:
            raise ValueError("requests_per_target must be positive and cpu_target_percent between 0 and 100")
        tags = dict(tags or {})
        cidrs = list(allowed_cidrs) if allowed_cidrs is not None else (["0.0.0.0/0"] if internet_facing else [vpc_cidr])
        self.security_group = resource(self, "lb-sg", "aws_security_group", name=f"{name}-lb", vpc_id=vpc_id,
                                       description=f"Load balancer of {name}: HTTPS in, model port out to the nodes", tags=tags)
        lb_sg = self.security_group.get_string_attribute("id")
        for i, cidr in enumerate(cidrs):
            resource(self, f"https-in-{i}", "aws_vpc_security_group_ingress_rule", security_group_id=lb_sg, ip_protocol="tcp",
                     from_port=443, to_port=443, cidr_ipv4=cidr, description="HTTPS from clients")
        resource(self, "to-nodes", "aws_vpc_security_group_egress_rule", security_group_id=lb_sg, ip_protocol="tcp", from_port=port,
                 to_port=port, referenced_security_group_id=node_security_group_id, description="to the model servers")
        resource(self, "nodes-from-lb", "aws_vpc_security_group_ingress_rule", security_group_id=node_security_group_id, ip_protocol="tcp",
                 from_port=port, to_port=port, referenced_security_group_id=lb_sg, description=f"model port from {name} load balancer")
        self.load_balancer = resource(
            self, "lb", "aws_lb", name=name, load_balancer_type="application", internal=not internet_facing,
            security_groups=[lb_sg], subnets=list(subnet_ids), drop_invalid_header_fields=True,
            enable_deletion_protection=deletion_protection,
            access_logs={"bucket": access_log_bucket, "enabled": True, "prefix": f"alb/{name}"} if access_log_bucket else None, tags=tags)
        self.target_group = resource(
            self, "targets", "aws_lb_target_group", name=name, port=port, protocol="HTTP", vpc_id=vpc_id, target_type="instance",
            deregistration_delay="30",
            health_check={"enabled": True, "path": health_check_path, "protocol": "HTTP", "matcher": "200", "interval": 15,
                          "healthy_threshold": 2, "unhealthy_threshold": 3, "timeout": 5}, tags=tags)
        tg_arn = self.target_group.get_string_attribute("arn")
        self.listener = resource(self, "https", "aws_lb_listener", load_balancer_arn=self.load_balancer.get_string_attribute("arn"),
                                 port=443, protocol="HTTPS", ssl_policy=TLS13_POLICY, certificate_arn=certificate_arn,
                                 default_action=[{"type": "forward", "target_group_arn": tg_arn}], tags=tags)
        resource(self, "attachment", "aws_autoscaling_attachment", autoscaling_group_name=autoscaling_group_name, lb_target_group_arn=tg_arn)
        label = f"{self.load_balancer.get_string_attribute('arn_suffix')}/{self.target_group.get_string_attribute('arn_suffix')}"
        self.requests_policy = resource(
            self, "scale-on-requests", "aws_autoscaling_policy", name=f"{name}-requests-per-target", autoscaling_group_name=autoscaling_group_name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={"predefined_metric_specification": {"predefined_metric_type": "ALBRequestCountPerTarget",
                                                                               "resource_label": label},
                                           "target_value": round(requests_per_target * 60, 1)})
        self.cpu_policy = resource(
            self, "scale-on-cpu", "aws_autoscaling_policy", name=f"{name}-cpu", autoscaling_group_name=autoscaling_group_name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={"predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
                                           "target_value": cpu_target_percent})
        self.dns_name: str = self.load_balancer.get_string_attribute("dns_name")
        self.arn_suffix: str = self.load_balancer.get_string_attribute("arn_suffix")
        self.target_group_arn_suffix: str = self.target_group.get_string_attribute("arn_suffix")
