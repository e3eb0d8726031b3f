from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def check(r: Resource, stack: StackView):
    if r.type == "aws_subnet":
        return bad("subnet gives instances public IPs on launch") if r.body.get("map_public_ip_on_launch") is True else ok()
    if r.type == "aws_instance" and r.body.get("associate_public_ip_address") is True:
        return bad("instance has a public IP")
    for nic in blocks(r.body.get("network_interfaces")):
        if nic.get("associate_public_ip_address") in (True, "true"):
            return bad("a network interface asks for a public IP")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-007",
    description="GPU nodes have no public IP",
    explanation="Nodes reach the internet through NAT and AWS services through endpoints; a public IP puts the node's every "
                "listening port one security-group mistake away from the internet.",
    fix="set associate_public_ip_address = false and map_public_ip_on_launch = false; serve through a load balancer",
    types=("aws_launch_template", "aws_instance", "aws_subnet"),
    check=check,
)
