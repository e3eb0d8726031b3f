"""Baseline for the synth benchmark: the hand-written cdktf program a team would write with
the prebuilt provider bindings (cdktf-cdktf-provider-aws / -google) for the reference setup:
on AWS a KMS key, a bucket, an IAM role and a GPU launch template with an autoscaling group;
on GCP a key ring and key, a bucket and a GPU instance template.

    python bench/baseline_synth.py OUTDIR
"""

import os
import sys

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21")

from cdktf import App, TerraformStack  # noqa: E402
from cdktf_cdktf_provider_aws.autoscaling_group import AutoscalingGroup, AutoscalingGroupLaunchTemplate  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402
from cdktf_cdktf_provider_aws.kms_key import KmsKey  # noqa: E402
from cdktf_cdktf_provider_aws.launch_template import LaunchTemplate, LaunchTemplateMetadataOptions  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket  # noqa: E402
from cdktf_cdktf_provider_google.compute_instance_template import (ComputeInstanceTemplate,  # noqa: E402
                                                                   ComputeInstanceTemplateDisk,
                                                                   ComputeInstanceTemplateGuestAccelerator,
                                                                   ComputeInstanceTemplateNetworkInterface,
                                                                   ComputeInstanceTemplateScheduling)
from cdktf_cdktf_provider_google.kms_crypto_key import KmsCryptoKey  # noqa: E402
from cdktf_cdktf_provider_google.kms_key_ring import KmsKeyRing  # noqa: E402
from cdktf_cdktf_provider_google.provider import GoogleProvider  # noqa: E402
from cdktf_cdktf_provider_google.storage_bucket import StorageBucket  # noqa: E402


def main(outdir: str) -> None:
    app = App(outdir=outdir)
    aws = TerraformStack(app, "baseline-aws")
    AwsProvider(aws, "aws", region="us-east-1")
    key = KmsKey(aws, "key", enable_key_rotation=True, description="data")
    S3Bucket(aws, "bucket", bucket_prefix="baseline-data-")
    role = IamRole(aws, "role", name="baseline-train",
                   assume_role_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
    lt = LaunchTemplate(aws, "lt", name="baseline-train", image_id="ami-0123456789abcdef0", instance_type="p4d.24xlarge",
                        metadata_options=LaunchTemplateMetadataOptions(http_tokens="required"), tags={"role": role.name, "key": key.arn})
    AutoscalingGroup(aws, "asg", name="baseline-train", min_size=0, max_size=2, vpc_zone_identifier=["subnet-123"],
                     launch_template=AutoscalingGroupLaunchTemplate(id=lt.id, version="$Latest"))

    gcp = TerraformStack(app, "baseline-gcp")
    GoogleProvider(gcp, "google", project="acme-ml-prod", region="us-central1")
    ring = KmsKeyRing(gcp, "ring", name="baseline", location="us-central1")
    ck = KmsCryptoKey(gcp, "key", name="data", key_ring=ring.id, rotation_period="7776000s")
    StorageBucket(gcp, "bucket", name="baseline-data-acme", location="US-CENTRAL1", uniform_bucket_level_access=True)
    ComputeInstanceTemplate(gcp, "template", name_prefix="baseline-train-", machine_type="a3-highgpu-8g",
                            disk=[ComputeInstanceTemplateDisk(source_image="debian-cloud/debian-12", disk_encryption_key={"kms_key_self_link": ck.id})],
                            guest_accelerator=[ComputeInstanceTemplateGuestAccelerator(type="nvidia-h100-80gb", count=8)],
                            network_interface=[ComputeInstanceTemplateNetworkInterface(network="default")],
                            scheduling=ComputeInstanceTemplateScheduling(on_host_maintenance="TERMINATE"))
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "baseline.out")
