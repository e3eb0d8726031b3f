"""The in-cluster stacks of a cluster (issue 29; stacks/kubernetes_objects.py): ``...-cluster-addons`` (the pinned
add-ons as Helm releases, through a helm provider configured from the cluster read by name) and ``...-cluster-objects``
(one kubernetes_manifest per in-cluster document), and the same documents written as YAML under
``<out>/kubernetes/<cluster stack>/`` (aiinfra.k8s.export).

One synth of examples/kubernetes.yaml (module fixture); the stacks are checked against the kubernetes / helm provider
schemas of the prebuilt bindings (tests/gcp_schema.py: there are no kubernetes / helm provider binaries here to run
``terraform validate`` with), the AWS resources of the add-ons stack against the real aws provider (terraform
validate), and the written documents against the Kubernetes and CRD schemas (tests/k8s_schema.py). No apply: there
is no API server here. Run on cdktf and on cdktn (marker ``cdk``, tests/conftest.py CDK_TEST_FILES)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from aiinfra.constructs.k8s.addons import KUEUE_CONFIG, ClusterPools, releases
from aiinfra.constructs.k8s.objects import _literal, computed_fields, object_address
from aiinfra.k8s import export, versions
from aiinfra.k8s.serving import REQUESTS_METRIC
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from aiinfra.stacks.kubernetes_objects import cluster_pools
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.k8s_schema import check_all
from tests.test_stacks_aws import run_synth
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform

EXAMPLE = ROOT / "examples" / "kubernetes.yaml"
PREFIX = "acme-ml-production-"
CLOUDS = ("aws", "gcp")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("k8s-stacks")
    (folder / "spec.yaml").write_text(EXAMPLE.read_text())
    r = run_synth(folder / "spec.yaml", folder / "cdktf.out", cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    return folder / "cdktf.out"


@pytest.fixture(scope="module")
def plan():
    return make_plan(load_spec(EXAMPLE))


def stack(out: Path, name: str) -> dict:
    return json.loads((out / "stacks" / f"{PREFIX}{name}" / "cdk.tf.json").read_text())


def cluster_of(plan, cloud: str):
    (found,) = [c for c in plan.clusters if c.cloud == cloud]
    return found


def releases_of(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in doc["resource"]["helm_release"].values()}


def values(release: dict) -> dict:
    (text,) = release["values"]
    return yaml.safe_load(text.replace("$${", "${").replace("%%{", "%{"))


# ---- stacks and their order ------------------------------------------------------------------------------------

def test_each_cluster_gets_an_addons_stack_after_it_and_an_objects_stack_after_the_addons_and_the_identities(out):
    manifest = json.loads((out / "manifest.json").read_text())["stacks"]
    for cloud in CLOUDS:
        addons, objects = manifest[f"{PREFIX}{cloud}-cluster-addons"], manifest[f"{PREFIX}{cloud}-cluster-objects"]
        assert f"{PREFIX}{cloud}-cluster" in addons["dependencies"]
        assert f"{PREFIX}{cloud}-cluster-addons" in objects["dependencies"]
    # EKS hands Pod Identity credentials to pods created after their association: the workloads' identity stacks first
    for workload in ("aws-recommendation-inference", "aws-feature-extraction", "gcp-llm-finetune"):
        cloud = workload.split("-", 1)[0]
        assert f"{PREFIX}{workload}" in manifest[f"{PREFIX}{cloud}-cluster-objects"]["dependencies"]


def test_the_providers_reach_the_cluster_read_by_name_with_exec_auth_on_eks_and_a_token_on_gke(out, plan):
    aws = cluster_of(plan, "aws")
    exec_ = {"api_version": "client.authentication.k8s.io/v1beta1", "command": "aws",
             "args": ["eks", "get-token", "--cluster-name", aws.name, "--region", aws.region]}
    eks = {"host": "${data.aws_eks_cluster.cluster.endpoint}",
           "cluster_ca_certificate": "${base64decode(data.aws_eks_cluster.cluster.certificate_authority[0].data)}", "exec": exec_}
    gcp = cluster_of(plan, "gcp")
    gke = {"host": "https://${data.google_container_cluster.cluster.endpoint}", "token": "${data.google_client_config.cluster-client.access_token}",
           "cluster_ca_certificate": "${base64decode(data.google_container_cluster.cluster.master_auth[0].cluster_ca_certificate)}"}
    for cloud, want in (("aws", eks), ("gcp", gke)):
        addons, objects = stack(out, f"{cloud}-cluster-addons"), stack(out, f"{cloud}-cluster-objects")
        ((helm,),) = [addons["provider"]["helm"]]
        assert helm == {"kubernetes": want}
        (k8s,) = objects["provider"]["kubernetes"]
        assert k8s == want
        for doc in (addons, objects):
            assert doc["terraform"]["required_providers"]["kubernetes" if doc is objects else "helm"] == (
                {"source": "hashicorp/kubernetes", "version": "~> 2.38"} if doc is objects else {"source": "hashicorp/helm", "version": "~> 3.1"})
    # read by the plan's name, in its location: no other stack's output at plan time
    (eks_read,) = stack(out, "aws-cluster-objects")["data"]["aws_eks_cluster"].values()
    assert eks_read["name"] == aws.name
    (gke_read,) = stack(out, "gcp-cluster-objects")["data"]["google_container_cluster"].values()
    assert (gke_read["name"], gke_read["location"], gke_read["project"]) == (gcp.name, gcp.location, "acme-ml-prod")


def test_the_in_cluster_stacks_conform_to_the_kubernetes_helm_and_google_provider_schemas(out):
    for cloud in CLOUDS:
        for part in ("cluster-addons", "cluster-objects"):
            doc = stack(out, f"{cloud}-{part}")
            for provider in ("kubernetes", "helm") + (("google",) if cloud == "gcp" else ()):
                assert check_stack(doc, provider=provider) == [], (part, provider)
    # the oracle sees a misspelt argument
    bad = stack(out, "aws-cluster-addons")
    next(iter(bad["resource"]["helm_release"].values()))["chart_version"] = "1"
    assert any("chart_version" in p for p in check_stack(bad, provider="helm"))


@SKIP_NO_TERRAFORM
def test_the_aws_resources_of_the_addons_stack_pass_terraform_validate_with_the_aws_provider(out, tmp_path):
    """The kubernetes / helm providers have no binary here: their blocks are checked by the schema oracle above; the
    stack's AWS resources (the add-ons' Pod Identity roles and associations, the cluster read) by the real provider."""
    doc = stack(out, "aws-cluster-addons")
    for kind in ("kubernetes", "helm"):
        doc["provider"].pop(kind, None)
        doc["terraform"]["required_providers"].pop(kind, None)
        doc["resource"].pop(f"{kind}_release" if kind == "helm" else "kubernetes_manifest", None)
    doc["terraform"].pop("backend", None)
    assert {t.split("_", 1)[0] for t in doc["resource"]} <= {"aws", "terraform"}
    assert "aws_eks_pod_identity_association" in doc["resource"]
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc))
    init(tmp_path, backend=False)
    r = run_terraform(["validate", "-json"], tmp_path, check=False)
    assert json.loads(r.stdout)["valid"], r.stdout + r.stderr


# ---- the add-ons ---------------------------------------------------------------------------------------------------

def test_every_helm_release_is_a_chart_of_versions_py_at_its_pinned_version(out, plan):
    charts = {c.name: c for cloud in CLOUDS for c in versions.ADDONS[cloud]}
    for cloud in CLOUDS:
        made = releases_of(stack(out, f"{cloud}-cluster-addons"))
        for name, r in made.items():
            c = charts[name]
            assert (r["repository"], r["chart"], r["version"], r["namespace"]) == (c.repository, c.chart, c.version, c.namespace), name
            assert c in versions.ADDONS[cloud]
        expected = {c.name for c in releases(cloud, cluster_name="x", region="r", pools=cluster_pools(cluster_of(plan, cloud)), vpc_id="v",
                                            adapter={})}
        assert set(made) == expected
    # EKS: the controller, the queues, and (NVIDIA GPU pools, no EFA pool in the example) the device plugin and DCGM exporter;
    # GKE runs its own device plugin, DCGM and Gateway controller
    assert set(releases_of(stack(out, "aws-cluster-addons"))) == {
        "aws-load-balancer-controller", "jobset", "kueue", "nvidia-device-plugin", "dcgm-exporter", "prometheus-adapter", "kube-state-metrics",
        "cluster-autoscaler", "metrics-server"}
    assert set(releases_of(stack(out, "gcp-cluster-addons"))) == {"jobset", "kueue", "prometheus-adapter"}
    # every chart versions.py pins for a cloud is installed there, given the pools that need it
    for cloud in CLOUDS:
        every = releases(cloud, cluster_name="c", region="r", pools=ClusterPools(gpu=("g",), efa=("g",)), vpc_id="v", adapter={})
        assert {r.chart for r in every} == set(versions.ADDONS[cloud])


def test_kueue_runs_jobsets_with_all_or_nothing_admission(out):
    for cloud in CLOUDS:
        kueue = releases_of(stack(out, f"{cloud}-cluster-addons"))["kueue"]
        config = yaml.safe_load(values(kueue)["managerConfig"]["controllerManagerConfigYaml"])
        assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2" and config["kind"] == "Configuration"
        assert "jobset.x-k8s.io/jobset" in config["integrations"]["frameworks"]
        assert config["waitForPodsReady"]["timeout"] == "30m"
        assert "helm_release.jobset" in kueue["depends_on"]
    assert yaml.safe_load(KUEUE_CONFIG)["integrations"]["frameworks"] == ["batch/job", "jobset.x-k8s.io/jobset"]


def test_the_gpu_daemonsets_tolerate_the_gpu_taint_of_the_gpu_node_groups_and_run_on_those_pools_only(out, plan):
    cluster, addons = stack(out, "aws-cluster"), releases_of(stack(out, "aws-cluster-addons"))
    gpu_groups = {g["node_group_name"]: g for g in cluster["resource"]["aws_eks_node_group"].values() if g.get("taint")}
    assert set(gpu_groups) == set(cluster_pools(cluster_of(plan, "aws")).gpu) == {"g4dn-xlarge-on-demand"}
    for name in ("nvidia-device-plugin", "dcgm-exporter"):
        v = values(addons[name])
        (term,) = v["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [{"key": "aiinfra.dev/pool", "operator": "In", "values": sorted(gpu_groups)}]
        for group in gpu_groups.values():
            assert group["labels"]["aiinfra.dev/pool"] in term["matchExpressions"][0]["values"]
            for taint in group["taint"]:
                assert any(t["key"] == taint["key"] and t["operator"] == "Exists" for t in v["tolerations"]), (name, taint)
    assert values(addons["dcgm-exporter"])["serviceMonitor"] == {"enabled": False}


def test_the_cluster_autoscaler_grows_the_eks_node_groups_of_this_cluster_only_at_the_clusters_minor_version(out, plan):
    aws = cluster_of(plan, "aws")
    doc = stack(out, "aws-cluster-addons")
    release = releases_of(doc)["cluster-autoscaler"]
    v = values(release)
    assert (v["autoDiscovery"]["clusterName"], v["awsRegion"], v["cloudProvider"]) == (aws.name, aws.region, "aws")
    assert v["image"]["tag"] == versions.CLUSTER_AUTOSCALER_IMAGE_TAGS[aws.version] == f"v{aws.version}.2"
    associations = {a["service_account"]: (key, a) for key, a in doc["resource"]["aws_eks_pod_identity_association"].items()}
    key, assoc = associations[v["rbac"]["serviceAccount"]["name"]]
    assert assoc["namespace"] == release["namespace"] == "kube-system"
    assert f"aws_eks_pod_identity_association.{key}" in release["depends_on"]
    policy = json.loads(next(p["policy"] for p in doc["resource"]["aws_iam_role_policy"].values() if "SetDesiredCapacity" in p["policy"]))
    (scale,) = [st for st in policy["Statement"] if "autoscaling:SetDesiredCapacity" in st["Action"]]
    assert scale["Condition"] == {"Null": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{aws.name}": "false"}}
    assert any("eks:DescribeNodegroup" in st["Action"] for st in policy["Statement"])  # a group at zero: its labels and taints
    with pytest.raises(ValueError, match="no Cluster Autoscaler release is pinned for Kubernetes 1.20"):
        releases("aws", cluster_name="c", region="r", pools=ClusterPools(), vpc_id="v", kubernetes_version="1.20")
    assert "cluster-autoscaler" not in {r.name for r in releases("gcp", cluster_name="c", region="r", pools=ClusterPools())}


def test_kube_state_metrics_publishes_the_jobsets_failed_condition_the_failed_run_alert_reads(out):
    from aiinfra.observability.promql import JOBSET_CUSTOM_RESOURCE_STATE, JOBSET_FAILED

    ksm = values(releases_of(stack(out, "aws-cluster-addons"))["kube-state-metrics"])
    assert ksm["customResourceState"] == {"enabled": True, "config": JOBSET_CUSTOM_RESOURCE_STATE}
    config = ksm["customResourceState"]["config"]["spec"]["resources"][0]
    assert f"{config['metricNamePrefix']}_{config['metrics'][0]['name']}" == JOBSET_FAILED
    assert ksm["rbac"]["extraRules"] == [{"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": ["list", "watch"]}]
    assert config["groupVersionKind"]["version"] == versions.JOBSET_API.split("/")[1]
    # synth no longer says the alert cannot fire
    assert "from kube-state-metrics, which the add-ons" not in (out / "notes.txt").read_text()


def test_the_efa_device_plugin_follows_the_efa_pools(plan):
    made = releases("aws", cluster_name="c", region="us-east-1", pools=ClusterPools(gpu=("p5",), efa=("p5",)), vpc_id="vpc-1")
    (efa,) = [r for r in made if r.name == versions.EFA_DEVICE_PLUGIN.name]
    assert efa.values["supportedInstanceLabels"] == {"keys": ["aiinfra.dev/pool"], "values": ["p5"]}
    assert {t["key"] for t in efa.values["tolerations"]} == {"nvidia.com/gpu", "aws.amazon.com/neuron"}
    assert versions.EFA_DEVICE_PLUGIN.name not in {r.name for r in releases("aws", cluster_name="c", region="r", pools=ClusterPools(), vpc_id="v")}
    assert {r.name for r in releases("gcp", cluster_name="c", region="r", pools=ClusterPools(gpu=("a3",), efa=("a3",)))} == {"jobset", "kueue"}
    assert versions.KUBE_STATE_METRICS.name in {r.name for r in releases("aws", cluster_name="c", region="r", pools=ClusterPools(),
                                                                          vpc_id="v")}


def test_the_load_balancer_controller_has_the_cluster_and_vpc_and_its_role_through_pod_identity_first(out, plan):
    doc = stack(out, "aws-cluster-addons")
    lbc = releases_of(doc)["aws-load-balancer-controller"]
    v = values(lbc)
    aws = cluster_of(plan, "aws")
    assert (v["clusterName"], v["region"]) == (aws.name, aws.region)
    assert v["vpcId"] == "${data.aws_eks_cluster.cluster.vpc_config[0].vpc_id}"
    assert v["enableServiceMutatorWebhook"] is False
    associations = {a["service_account"]: (key, a) for key, a in doc["resource"]["aws_eks_pod_identity_association"].items()}
    key, assoc = associations[v["serviceAccount"]["name"]]
    assert (assoc["namespace"], assoc["cluster_name"]) == (lbc["namespace"], aws.name)
    assert f"aws_eks_pod_identity_association.{key}" in lbc["depends_on"]
    role = doc["resource"]["aws_iam_role"][re.fullmatch(r"\$\{aws_iam_role\.(.+)\.arn\}", assoc["role_arn"]).group(1)]
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(next(p["policy"] for p in doc["resource"]["aws_iam_role_policy"].values() if "elasticloadbalancing" in p["policy"]))
    creates = next(s for s in policy["Statement"] if "elasticloadbalancing:CreateLoadBalancer" in s["Action"])
    assert creates["Condition"] == {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    assert any("wafv2:AssociateWebACL" in s["Action"] for s in policy["Statement"])  # the Ingress's WAF web ACL


def test_prometheus_adapter_serves_the_pods_metric_the_serving_hpa_asks_for(out):
    for cloud in CLOUDS:
        adapter = values(releases_of(stack(out, f"{cloud}-cluster-addons"))["prometheus-adapter"])
        (rule,) = adapter["rules"]["custom"]
        assert adapter["rules"]["default"] is False and rule["name"]["as"] == REQUESTS_METRIC
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    # the HPA of the example's serving workload asks for that metric
    hpa = yaml.safe_load(next((out / "kubernetes" / f"{PREFIX}aws-cluster").glob("*-horizontalpodautoscaler-recommendation-inference.yaml")).read_text())
    assert {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"} == {REQUESTS_METRIC}
    # EKS: through the SigV4 proxy to the cluster's AMP workspace, with a role allowed to query that workspace only
    doc = stack(out, "aws-cluster-addons")
    eks = values(releases_of(doc)["prometheus-adapter"])
    assert eks["prometheus"]["url"] == "http://127.0.0.1" and eks["prometheus"]["path"].startswith("/workspaces/${local.")
    (proxy,) = eks["extraContainers"]
    assert proxy["image"] == versions.AWS_SIGV4_PROXY_IMAGE and proxy["args"][:2] == ["--name", "aps"]
    assert f":{eks['prometheus']['port']}" in proxy["args"]
    query = next(json.loads(p["policy"]) for p in doc["resource"]["aws_iam_role_policy"].values() if "aps:QueryMetrics" in p["policy"])
    (statement,) = query["Statement"]
    assert statement["Resource"].startswith("${local.") and "*" not in statement["Resource"]
    # GKE: through the Managed Prometheus frontend, deployed in the add-ons stack with a monitoring.viewer account
    gdoc = stack(out, "gcp-cluster-addons")
    gke = values(releases_of(gdoc)["prometheus-adapter"])
    assert (gke["prometheus"]["url"], gke["prometheus"]["port"]) == ("http://frontend.monitoring.svc", 9090)
    manifests = {m["manifest"]["kind"]: m["manifest"] for m in gdoc["resource"]["kubernetes_manifest"].values()}
    assert manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"][1] == "--query.project-id=acme-ml-prod"
    assert manifests["ServiceAccount"]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith("@acme-ml-prod.iam.gserviceaccount.com")
    (viewer,) = gdoc["resource"]["google_project_iam_member"].values()
    assert viewer["role"] == "roles/monitoring.viewer"
    assert check_all(list(manifests.values()), "1.35") == []


# ---- the objects and their YAML ------------------------------------------------------------------------------------

_REF = re.compile(r"(?<!\$)\$\{[^}]*\}")  # a Terraform interpolation (a literal "${" is written "$${")


def _normal_tf(value):
    """A manifest value as the cluster gets it, each Terraform interpolation as <ref>."""
    if isinstance(value, str):
        return _REF.sub("<ref>", value).replace("$${", "${").replace("%%{", "%{")
    if isinstance(value, dict):
        return {_normal_tf(k): _normal_tf(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal_tf(v) for v in value]
    return value


def _normal_yaml(value, names: set[str]):
    if isinstance(value, str):
        for n in names:
            value = value.replace(f"${{{n}}}", "<ref>")
        return value
    if isinstance(value, dict):
        return {k: _normal_yaml(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal_yaml(v, names) for v in value]
    return value


def test_every_kubernetes_manifest_is_the_document_written_as_yaml_and_the_kustomization_lists_them_in_order(out):
    for cloud in CLOUDS:
        folder = out / "kubernetes" / f"{PREFIX}{cloud}-cluster"
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        files = kustomization["resources"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(files + ["kustomization.yaml"] + (["variables.env"] if (folder / "variables.env").exists() else []))
        assert files == sorted(files) and all(re.match(r"^\d{2}-[a-z0-9.-]+\.yaml$", f) for f in files)
        env = (folder / "variables.env").read_text() if (folder / "variables.env").exists() else ""
        names = set(re.findall(r"^([A-Z0-9_]+)=$", env, re.M))
        docs = [yaml.safe_load((folder / f).read_text()) for f in files]
        manifests = stack(out, f"{cloud}-cluster-objects")["resource"]["kubernetes_manifest"]
        assert set(manifests) == {object_address(d) for d in docs}
        for f, d in zip(files, docs):
            assert f == export.file_name(files.index(f) + 1, d)
            assert _normal_tf(manifests[object_address(d)]["manifest"]) == _normal_yaml(d, names), f
        assert docs[0]["kind"] == "Namespace"
    # values another stack creates become variables in the YAML (the ALB's certificate and WAF web ACL)
    ingress = next((out / "kubernetes" / f"{PREFIX}aws-cluster").glob("*-ingress-recommendation-inference.yaml")).read_text()
    assert "certificate-arn: ${RECOMMENDATION_INFERENCE_CERTIFICATE_ARN}" in ingress and "wafv2-acl-arn: ${RECOMMENDATION_INFERENCE_WEB_ACL_ARN}" in ingress


def test_the_written_documents_conform_to_the_kubernetes_and_crd_schemas(out, plan):
    for cloud in CLOUDS:
        folder = out / "kubernetes" / f"{PREFIX}{cloud}-cluster"
        docs = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("[0-9]*.yaml"))]
        assert docs and check_all(docs, cluster_of(plan, cloud).version) == []


def test_the_objects_are_applied_namespace_first_with_the_controllers_fields_computed(out):
    manifests = stack(out, "aws-cluster-objects")["resource"]["kubernetes_manifest"]
    deployment = manifests["deployment-production-recommendation-inference"]
    # the HPA owns the replicas; the rollout is waited for; aiinfra's own field manager, conflicts not forced
    assert deployment["computed_fields"] == ["metadata.labels", "metadata.annotations", "spec.replicas"]
    assert deployment["wait"] == {"rollout": True} and deployment["timeouts"]["create"] == "30m"
    assert deployment["field_manager"] == {"name": "aiinfra", "force_conflicts": False}
    assert "kubernetes_manifest.namespace-production" in deployment["depends_on"]
    assert "kubernetes_manifest.serviceaccount-production-recommendation-inference" in deployment["depends_on"]
    assert "depends_on" not in manifests["namespace-production"]
    for address, m in manifests.items():
        assert "wait" not in m or m["manifest"]["kind"] == "Deployment", address


def test_a_queued_jobset_is_not_waited_for_and_kueue_s_admission_fields_are_computed():
    run = {"apiVersion": versions.JOBSET_API, "kind": "JobSet",
           "metadata": {"name": "train", "namespace": "prod", "labels": {"kueue.x-k8s.io/queue-name": "runs"}},
           "spec": {"suspend": True, "replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": {}}}}},
                                                        {"name": "aux", "template": {"spec": {"template": {"spec": {}}}}}]}}
    fields = computed_fields(run)
    assert "spec.suspend" in fields and "spec.replicatedJobs[1].template.spec.template.spec.tolerations" in fields
    assert fields[:2] == ["metadata.labels", "metadata.annotations"]
    unqueued = {**run, "metadata": {"name": "x", "namespace": "prod"}}
    assert computed_fields(unqueued) == ["metadata.labels", "metadata.annotations"]


def test_every_string_reaches_the_cluster_as_written_and_values_known_at_apply_stay_references():
    doc = {"data": {"run.sh": "echo ${HOME} %{x}", "arn": "arn:${TfToken[TOKEN.12]}:x"}}
    assert _literal(doc) == {"data": {"run.sh": "echo $${HOME} %%{x}", "arn": "arn:${TfToken[TOKEN.12]}:x"}}


def test_the_yaml_export_refuses_a_value_known_only_at_apply_that_no_variable_names():
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
           "data": {"arn": "${TfToken[TOKEN.7]}", "script": "echo ${HOME}"}}
    with pytest.raises(ValueError, match=r"ConfigMap c: data\.arn"):
        export.render([doc])
    files = export.render([doc], {"${TfToken[TOKEN.7]}": "CERT_ARN"}, {"CERT_ARN": "w: certificate_arn"})
    assert yaml.safe_load(files["01-configmap-c.yaml"])["data"] == {"arn": "${CERT_ARN}", "script": "echo ${HOME}"}
    assert "CERT_ARN=" in files["variables.env"] and yaml.safe_load(files["kustomization.yaml"])["resources"] == ["01-configmap-c.yaml"]


def test_a_batch_workload_without_an_image_asks_its_stack_for_one_and_its_run_and_the_yaml_name_it(out):
    """examples/kubernetes.yaml's feature-extraction names no image: its stack's required variable image is what its
    launcher's run holds (a pod cannot start without one), and the YAML export lists it to fill in."""
    var = stack(out, "aws-feature-extraction")["variable"]["image"]
    assert var["type"] == "string" and var["nullable"] is False and "default" not in var
    objects = stack(out, "aws-cluster-objects")
    run = next(m["manifest"] for m in objects["resource"]["kubernetes_manifest"].values()
               if m["manifest"]["kind"] == "ConfigMap" and m["manifest"]["metadata"]["name"] == "feature-extraction-run")
    assert "image: ${" in next(iter(run["data"].values()))  # the variable's value, through the cross-stack read
    storage = next(m["manifest"] for m in objects["resource"]["kubernetes_manifest"].values()
                   if m["manifest"]["kind"] == "ConfigMap" and m["manifest"]["metadata"]["name"] == "aiinfra-storage")
    assert storage["data"]["data-bucket"].startswith("${")  # the foundation's bucket, read across stacks
    env = (out / "kubernetes" / f"{PREFIX}aws-cluster" / "variables.env").read_text()
    assert "\nFEATURE_EXTRACTION_IMAGE=\n" in env
