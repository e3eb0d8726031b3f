"""A team's existing cdktf app configures its provider with cdktf's prebuilt binding
(``cdktf_cdktf_provider_aws.provider.AwsProvider``), as cdktf users do, and puts aiinfra's
constructs beside it (README: "or the prebuilt ...AwsProvider"). cdktf pass only: the prebuilt
bindings are cdktf's jsii assembly (the ``[synth]`` extra brings them); a cdktn app uses
``aiinfra.constructs.aws.AwsProvider`` or cdktn's own provider package (tests/test_cdk_seam.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM

OWN_APP = ROOT / "examples" / "own-app" / "main.py"
OURS = '        AwsProvider(self, "aws", region=region, default_tags={"team": "ml-platform", "managed-by": "cdktn"})\n'
PREBUILT = ('        from cdktf_cdktf_provider_aws.provider import AwsProvider as PrebuiltAwsProvider, AwsProviderDefaultTags\n'
            '        PrebuiltAwsProvider(self, "aws", region=region,\n'
            '                            default_tags=[AwsProviderDefaultTags(tags={"team": "ml-platform", "managed-by": "cdktf"})])\n')


@SKIP_NO_TERRAFORM
def test_a_cdktf_app_with_the_prebuilt_aws_provider_uses_the_constructs_and_validates(tmp_path):
    from tests.tf_harness import init, run_terraform

    text = OWN_APP.read_text()
    assert OURS in text, "examples/own-app/main.py's provider line moved"
    app = tmp_path / "main.py"
    app.write_text(text.replace("\nfrom cdktn import", "\nfrom cdktf import").replace(OURS, PREBUILT))
    env = {k: v for k, v in os.environ.items() if k != "AIINFRA_CDK"}
    r = subprocess.run([sys.executable, str(app)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**env, "PYTHONPATH": str(ROOT / "src"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21"})
    assert r.returncode == 0, r.stderr[-3000:]
    stack = tmp_path / "cdktf.out" / "stacks" / "my-team-training"
    doc = json.loads((stack / "cdk.tf.json").read_text())
    assert doc["//"]["metadata"]["version"] == "0.21.0"
    # the prebuilt binding's provider block and requirement (5.100.0, the version it was generated for)
    assert doc["provider"]["aws"] == [{"region": "us-east-1", "default_tags": [{"tags": {"team": "ml-platform", "managed-by": "cdktf"}}]}]
    assert doc["terraform"]["required_providers"]["aws"] == {"source": "aws", "version": "5.100.0"}
    assert {"aws_autoscaling_group", "aws_launch_template", "aws_kms_key", "aws_s3_bucket", "aws_placement_group",
            "aws_security_group"} <= doc["resource"].keys()
    init(stack, backend=False)
    out = run_terraform(["validate", "-json"], stack)
    assert '"valid": true' in out.stdout, out.stdout
