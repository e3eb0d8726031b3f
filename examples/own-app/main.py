"""A team's own CDK Terrain (cdktn) app built from aiinfra's constructs, without a spec.

    pip install 'cdktf-aiinfra[synth-cdktn]'     # cdktn and the constructs range it supports
    python main.py                               # or: npx cdktn synth (cdktf.json beside this file)

On cdktf the app is the same with ``from cdktf import ...`` (``pip install 'cdktf-aiinfra[synth]'``):
the constructs bind to the CDK the app imported first (``aiinfra.cdk``). tests/test_cdk_seam.py
synthesizes it both ways and runs ``terraform validate`` on each output.
"""

import os

from cdktn import App, TerraformOutput, TerraformStack

from aiinfra.constructs.aws import (AwsProvider, ClusterNetwork, EncryptionKey, GpuInstanceGroup, NodeSecurityGroup, SpotPool,
                                    TieredStorage, WorkloadIdentity)
from aiinfra.policy import apply_policy


class Training(TerraformStack):
    """A weekly A100 training group: its own key, network, data bucket, identity and nodes."""

    def __init__(self, scope: App, id: str, *, region: str, zone_ids: list[str], image_id: str):
        super().__init__(scope, id)
        AwsProvider(self, "aws", region=region, default_tags={"team": "ml-platform", "managed-by": "cdktn"})
        key = EncryptionKey(self, "key", alias="my-team-training")
        network = ClusterNetwork(self, "network", name="my-team", zone_ids=zone_ids, log_kms_key_arn=key.arn, placement_group=True,
                                 node_security_group=False)
        nodes_sg = NodeSecurityGroup(self, "nodes-sg", name="my-team-train-nodes", vpc_id=network.vpc_id, collective=True)
        data = TieredStorage(self, "datasets", name="my-team-datasets", kms_key_arn=key.arn, cold_after_days=180)
        identity = WorkloadIdentity(self, "identity", name="my-team-train", bucket_arns=[data.arn], kms_key_arns=[key.arn])
        group = GpuInstanceGroup(self, "trainers", name="my-team-train", instance_type="p4d.24xlarge", efa_interfaces=4,
                                 image_id=image_id, subnet_ids=network.private_subnet_ids[:1], security_group_ids=[nodes_sg.id],
                                 placement_group_name=network.placement_group_name, instance_profile_arn=identity.instance_profile_arn,
                                 kms_key_arn=key.arn, max_size=2, spot=SpotPool(on_demand_base=1))
        TerraformOutput(self, "group_name", value=group.name)


app = App()
Training(app, "my-team-training", region=os.environ.get("AWS_REGION", "us-east-1"), zone_ids=["use1-az1", "use1-az2"],
         image_id=os.environ.get("IMAGE_ID", "ami-0123456789abcdef0"))
apply_policy(app)  # every stack of the app is judged by the policy pack at synth (one line per finding)
app.synth()
