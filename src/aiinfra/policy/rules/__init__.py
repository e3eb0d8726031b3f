"""The policy rules, one per file. ``RULES`` is every rule, in id order."""

from aiinfra.policy.rules import (aws_001_s3_customer_key, aws_002_ebs_customer_key, aws_003_kms_rotation, aws_004_s3_public_access_block,
                                  aws_005_s3_tls_only, aws_006_imdsv2, aws_007_no_public_ip, aws_008_open_ingress, aws_009_iam_wildcards,
                                  aws_010_listener_tls, gcp_001_gcs_customer_key, gcp_002_disk_customer_key, gcp_003_kms_rotation,
                                  gcp_004_gcs_public_access, gcp_005_no_external_ip, gcp_006_open_ingress, gcp_007_iam_primitive_roles,
                                  gcp_008_node_service_account, gcp_009_shielded_vm, gcp_010_tls, gcp_011_os_login, state_001_encrypted)

RULES = tuple(sorted((m.RULE for m in (
    aws_001_s3_customer_key, aws_002_ebs_customer_key, aws_003_kms_rotation, aws_004_s3_public_access_block, aws_005_s3_tls_only,
    aws_006_imdsv2, aws_007_no_public_ip, aws_008_open_ingress, aws_009_iam_wildcards, aws_010_listener_tls, gcp_001_gcs_customer_key,
    gcp_002_disk_customer_key, gcp_003_kms_rotation, gcp_004_gcs_public_access, gcp_005_no_external_ip, gcp_006_open_ingress,
    gcp_007_iam_primitive_roles, gcp_008_node_service_account, gcp_009_shielded_vm, gcp_010_tls, gcp_011_os_login, state_001_encrypted)),
    key=lambda r: r.id))
RULES_BY_ID = {r.id: r for r in RULES}
