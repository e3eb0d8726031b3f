"""Training and data processing as JobSets (aiinfra.k8s.jobs; issue 29, SPEC.md v3 "Platforms"): a run's deadline,
restart policy and queue, one pod a node with all its devices, the CronJob's service account that can create runs and
nothing else, every document against the schemas of the cluster's Kubernetes version and the pinned CRDs, and a real
two-node torchrun (Debian's python3-torch, gloo) started with exactly the env and arguments the JobSet gives pod 0 and
pod 1 (STYLE.md "Distributed behaviour: test it with real processes")."""

import dataclasses
import json
import os
import re
import socket
import subprocess

import pytest
import yaml

from aiinfra.k8s import LOCAL_QUEUE, POOL_LABEL, QUEUE_LABEL
from aiinfra.k8s import jobs
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import make_spec
from aiinfra.k8s.queues import quota_problems, spec_quota
from tests.k8s_schema import problems

AWS = "  aws: {region: us-east-1, platform: kubernetes}"
GCP = "  gcp: {region: us-central1, project: acme-ml-prod, platform: kubernetes}"
TRAIN = """
- name: train
  type: training
  cloud: aws
  gpu_requirements: "16x H100"
  training_frequency: weekly
  estimated_runtime: "10 hours"
  image: "nvcr.io/nvidia/pytorch:24.08-py3"
  command: ["torchrun", "{script}"]
  env: {{WANDB_MODE: offline}}
  schedule: "0 1 * * 6"
  max_runtime: "16 hours"
  retries: 2
- name: etl
  type: data_processing
  cloud: aws
  framework: spark
  dataset_size: "2TB"
  training_frequency: on_demand
  estimated_runtime: "2 hours"
  image: "apache/spark:3.5.1"
- name: 7neuron
  type: training
  cloud: aws
  gpu_requirements: "16x Trainium"
  estimated_runtime: "5 hours"
  image: "public.ecr.aws/neuron/pytorch-training-neuronx:2.1.2"
- name: tune
  type: training
  cloud: gcp
  gpu_requirements: "8x L4"
  estimated_runtime: "3 hours"
  image: "us-docker.pkg.dev/acme/train:1"
  max_runtime: "6 hours"
"""
QUOTA = """
resource_quotas:
  production:
    requests.cpu: "2000"
    requests.memory: "20000Gi"
    requests.nvidia.com/gpu: "64"
    limits.cpu: "4000"
    limits.memory: "40000Gi"
"""
TORCHRUN = "/usr/bin/torchrun"  # Debian's python3-torch (make setup installs it)

# What a training script does with the contract: one gloo world, an all-reduce, and what each rank saw.
TRAIN_PY = r'''
import json, os
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
seen = {"rank": rank, "world": world, "sum": t.item(), "group_rank": int(os.environ["GROUP_RANK"]),
        "local_world": int(os.environ["LOCAL_WORLD_SIZE"]), "master": os.environ["MASTER_ADDR"],
        "checkpoints": os.environ["AIINFRA_CHECKPOINT_URI"], "run": os.environ["AIINFRA_RUN_ID"]}
with open(os.path.join(os.environ["OUT_DIR"], f"rank-{rank}.json"), "w") as f:
    json.dump(seen, f)
dist.barrier()
dist.destroy_process_group()
'''


@pytest.fixture(scope="module")
def planned(real_catalog, tmp_path_factory):
    work = tmp_path_factory.mktemp("torchrun")
    (work / "train.py").write_text(TRAIN_PY)
    text = make_spec(TRAIN.format(script=work / "train.py"), clouds=AWS + "\n" + GCP, extra=QUOTA)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIINFRA_TODAY", "2026-03-01")  # Kubernetes 1.35 in standard support on both clouds
        loaded = load_spec_text(text, catalog=real_catalog)
        plan = make_plan(loaded, real_catalog)
    return loaded.spec, plan, work


def _w(plan, name):
    return next(w for w in plan.workloads if w.name == name)


def _cluster(plan, w):
    return next(c for c in plan.clusters if c.cloud == w.cloud and c.region == w.region)


def _docs(planned, name):
    spec, plan, _ = planned
    w = _w(plan, name)
    return jobs.batch_documents(spec, plan, w, _cluster(plan, w))


def _kinds(docs):
    return {d["kind"]: d for d in docs}


def _run(docs):
    """The JobSet the CronJob creates: the document its ConfigMap holds, as kubectl reads it."""
    return yaml.safe_load(_kinds(docs)["ConfigMap"]["data"][jobs.RUN_FILE])


def _pod(run):
    [rjob] = run["spec"]["replicatedJobs"]
    return rjob["template"]["spec"]["template"]["spec"]


# ---- the run's limits and queue -------------------------------------------------------------------------------


def test_a_run_is_suspended_in_the_queue_with_its_deadline_and_restart_all(planned):
    w = _w(planned[1], "train")
    run = _run(_docs(planned, "train"))
    assert (run["apiVersion"], run["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    assert run["metadata"]["name"] == "train" and run["metadata"]["namespace"] == "production"
    # Kueue admits it whole: created suspended, in the namespace's LocalQueue.
    assert run["spec"]["suspend"] is True and run["metadata"]["labels"][QUEUE_LABEL] == LOCAL_QUEUE == "runs"
    # max_runtime: each attempt's Job stops at 16 h and fails the set with its reason; Kueue caps the run's total.
    [rjob] = run["spec"]["replicatedJobs"]
    job = rjob["template"]["spec"]
    assert w.max_runtime_hours == 16 and job["activeDeadlineSeconds"] == 16 * 3600
    assert run["metadata"]["labels"]["kueue.x-k8s.io/max-exec-time-seconds"] == str(16 * 3600)
    policy = run["spec"]["failurePolicy"]
    assert policy["rules"][0] == {"name": "HardStop", "action": "FailJobSet", "onJobFailureReasons": ["DeadlineExceeded"]}
    # retries: restart-all, a failed pod fails its Job at once.
    assert policy["maxRestarts"] == w.retries == 2 and policy["restartStrategy"] == "BlockingRecreate"
    assert job["backoffLimit"] == 0 and _pod(run)["restartPolicy"] == "Never"
    # The checkpoint grace of an EC2 spot notice, as the VM boot gives it.
    assert _pod(run)["terminationGracePeriodSeconds"] == 90
    # Weekly, 16 h hard stop: the finished run is kept a day, then gone before the next start.
    assert run["spec"]["ttlSecondsAfterFinished"] == 86400


def test_no_max_runtime_no_deadline_and_the_gcp_grace(planned):
    spec, plan, _ = planned
    w = _w(plan, "etl")
    # The planner derives a max_runtime from estimated_runtime (twice it); without one there is no hard stop at all.
    etl = _run(_docs(planned, "etl"))
    assert w.max_runtime_hours == 4 and etl["spec"]["replicatedJobs"][0]["template"]["spec"]["activeDeadlineSeconds"] == 4 * 3600
    run = jobs.run_document(spec, plan, dataclasses.replace(w, max_runtime_hours=None), _cluster(plan, w))
    assert "activeDeadlineSeconds" not in run["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert "rules" not in run["spec"]["failurePolicy"] and "kueue.x-k8s.io/max-exec-time-seconds" not in run["metadata"]["labels"]
    tune = _run(_docs(planned, "tune"))
    assert _pod(tune)["terminationGracePeriodSeconds"] == 25  # a Spot VM's 30 s notice, as the VM boot gives it
    assert tune["spec"]["replicatedJobs"][0]["template"]["spec"]["activeDeadlineSeconds"] == 6 * 3600
    # Monthly, 6 h hard stop: kept a day. A schedule every 6 hours with a 4 hour hard stop: gone within an hour.
    assert tune["spec"]["ttlSecondsAfterFinished"] == 86400
    often = dataclasses.replace(w, schedule="0 */6 * * *")
    assert jobs.run_ttl_seconds(often) == 3600


def test_one_pod_a_node_with_all_its_gpus_and_efa(planned):
    w = _w(planned[1], "train")
    assert (w.instance_type, w.nodes, w.gpus_per_node, w.interconnect) == ("p5.48xlarge", 2, 8, "efa") and w.efa_interfaces_per_node == 32
    run = _run(_docs(planned, "train"))
    job = run["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert (job["parallelism"], job["completions"], job["completionMode"]) == (2, 2, "Indexed")
    pod = _pod(run)
    [c] = pod["containers"]
    want = {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "32"}
    assert {k: v for k, v in c["resources"]["limits"].items() if "/" in k} == want
    assert {k: v for k, v in c["resources"]["requests"].items() if "/" in k} == want
    assert pod["nodeSelector"] == {POOL_LABEL: w.node_pools[0]}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    [anti] = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti == {"labelSelector": {"matchLabels": {"jobset.sigs.k8s.io/jobset-name": "train"}}, "topologyKey": "kubernetes.io/hostname"}
    assert pod["serviceAccountName"] == "train" and pod["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert (env["FI_PROVIDER"], env["PET_NPROC_PER_NODE"], env["WORLD_SIZE"], env["GPUS_PER_NODE"]) == ("efa", "8", "16", "8")
    assert env["WANDB_MODE"] == "offline" and c["args"] == ["torchrun", str(planned[2] / "train.py")] and "command" not in c
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory"} and volumes[mounts["/scratch"]]["emptyDir"] == {}


def test_neuron_runs_take_whole_devices_and_a_process_a_neuroncore(planned):
    w = _w(planned[1], "7neuron")
    assert w.accelerator_runtime == "neuron"
    run = _run(_docs(planned, "7neuron"))
    # Job and pod names are DNS-1035 labels: a name starting with a digit gets a letter first.
    assert run["metadata"]["name"] == "run-7neuron"
    [c] = _pod(run)["containers"]
    assert c["resources"]["limits"]["aws.amazon.com/neuron"] == str(w.gpus_per_node) and "nvidia.com/gpu" not in c["resources"]["limits"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert int(env["PET_NPROC_PER_NODE"]) == w.gpus_per_node * 2  # Trainium: two NeuronCores a device
    assert env["PET_MASTER_ADDR"] == "run-7neuron-node-0-0.run-7neuron"
    assert _pod(run)["tolerations"] == [{"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}]


# ---- what starts runs ---------------------------------------------------------------------------------------------


def test_the_launcher_can_create_jobsets_and_nothing_else(planned):
    w = _w(planned[1], "train")
    docs = _docs(planned, "train")
    k = _kinds(docs)
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"]
    assert k["Role"]["rules"] == [{"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": ["create"]}]
    assert k["Role"]["metadata"]["namespace"] == "production"  # a Role: its namespace only, never a ClusterRole
    assert k["RoleBinding"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": k["Role"]["metadata"]["name"]}
    sa = k["ServiceAccount"]["metadata"]["name"]
    assert k["RoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "production"}]
    cron = k["CronJob"]["spec"]
    assert (cron["schedule"], cron["timeZone"], cron["concurrencyPolicy"], cron["suspend"]) == (w.schedule, "Etc/UTC", "Forbid", False)
    job = cron["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    # The run's own pods keep the workload's account; only the launcher's pod runs as the launcher.
    assert pod["serviceAccountName"] == sa != "train" and job["backoffLimit"] == 0
    [c] = pod["containers"]
    assert c["image"] == "registry.k8s.io/kubectl:v1.35.0"
    assert c["command"] == ["/bin/kubectl", "create", "-f", "/etc/aiinfra/run/jobset.yaml"]
    assert {"name": "run", "configMap": {"name": k["ConfigMap"]["metadata"]["name"]}} in pod["volumes"]
    assert {"name": "run", "mountPath": "/etc/aiinfra/run", "readOnly": True} in c["volumeMounts"]


def test_the_data_bucket_given_is_written_in(planned):
    spec, plan, _ = planned
    w = _w(plan, "tune")
    run = jobs.run_document(spec, plan, w, _cluster(plan, w), data_bucket="acme-ml-prod-acme-ml-prod-us-central1-data")
    [c] = _pod(run)["containers"]
    env = pod_env(c, 0, "uid", {})  # no ConfigMap needed
    assert env["AIINFRA_CHECKPOINT_URI"] == "gs://acme-ml-prod-acme-ml-prod-us-central1-data/tune/checkpoints/"
    assert env["AIINFRA_DATA_URI"] == "gs://acme-ml-prod-acme-ml-prod-us-central1-data/tune/data/"


def test_without_a_schedule_runs_start_by_hand_and_without_an_image_nothing_is_made(planned):
    spec, plan, _ = planned
    w = _w(plan, "etl")
    assert w.schedule is None
    cron = _kinds(_docs(planned, "etl"))["CronJob"]["spec"]
    assert cron["suspend"] is True  # kubectl create job --from=cronjob/etl-start starts one
    assert _run(_docs(planned, "etl"))["spec"]["ttlSecondsAfterFinished"] == jobs.RUN_KEEP_SECONDS
    bare = dataclasses.replace(w, image=None)
    assert jobs.batch_documents(spec, plan, bare, _cluster(plan, w)) == []
    assert jobs.batch_documents(spec, plan, bare, _cluster(plan, w), image="registry.example/etl@sha256:" + "0" * 64)
    with pytest.raises(ValueError, match="no image"):
        jobs.run_document(spec, plan, bare, _cluster(plan, w))


# ---- schemas ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train", "etl", "7neuron", "tune"])
def test_every_document_passes_the_schemas_of_its_cluster(planned, name):
    spec, plan, _ = planned
    cluster = _cluster(plan, _w(plan, name))
    docs = _docs(planned, name)
    found = [f"{d['kind']}/{d['metadata']['name']}: {p}" for d in docs + [_run(docs), jobs.storage_config(spec, "b")]
             for p in problems(d, cluster.version)]
    assert found == []
    # The namespace's ResourceQuota (the guide's block) admits the launcher's pods and the run's pods.
    assert spec_quota(spec).limits_cpu and quota_problems(spec, docs) == []


def test_the_schema_check_catches_a_bad_jobset(planned):
    run = _run(_docs(planned, "train"))
    run["spec"]["failurePolicy"]["maxRestart"] = 3  # misspelt
    assert problems(run, _cluster(planned[1], _w(planned[1], "train")).version)


# ---- a real two-node torchrun ------------------------------------------------------------------------------------


def pod_env(container: dict, index: int, uid: str, config_maps: dict[str, dict]) -> dict[str, str]:
    """The environment the kubelet gives the container of the pod with completion index ``index``: the downward
    API's fields resolved as the pod would see them, ConfigMap keys read, and ``$(NAME)`` references expanded
    against the names defined before (https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/:
    ``$$`` escapes, an undefined reference stays as written)."""
    fields = {"metadata.annotations['batch.kubernetes.io/job-completion-index']": str(index),
              "metadata.labels['jobset.sigs.k8s.io/jobset-uid']": uid}
    env: dict[str, str] = {}
    for e in container["env"]:
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                    lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), e["value"])
        elif "fieldRef" in e["valueFrom"]:
            env[e["name"]] = fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = e["valueFrom"]["configMapKeyRef"]
            env[e["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
    return env


# Runs inside a mount + network namespace of its own (unshare): the pods' DNS names resolve through the hosts file
# bound over /etc/hosts, and rank 0's port is free whatever else runs on the machine. Starts every node's command
# with its env, and reports their exit codes and output.
DRIVER = r'''
import json, os, signal, subprocess, sys, time
nodes = json.load(open(sys.argv[1]))
deadline = time.monotonic() + float(sys.argv[2])
procs = [subprocess.Popen(n["args"], env=n["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) for n in nodes]
out = []
for p in procs:
    try:
        out.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        for q in procs:
            if q.poll() is None:
                os.killpg(q.pid, signal.SIGKILL)
        out.append(p.communicate()[0] + "\n(killed: timeout)")
json.dump({"codes": [p.returncode for p in procs], "out": out}, sys.stdout)
'''


def test_two_pods_form_one_torchrun_world(planned, tmp_path):
    """Pod 0 and pod 1 of the run, as two process trees on this machine: exactly the JobSet's args and env (the
    downward API resolved per pod, the data bucket from the namespace's ConfigMap), pod 0's DNS name mapped to
    127.0.0.1 by a hosts file bound over /etc/hosts in a mount namespace of their own (HOSTALIASES does not take
    names with a dot). One override, for CPU: PET_NPROC_PER_NODE 2 instead of the node's 8 GPUs (gloo processes on
    2 cores); PET_REDIRECTS / PET_TEE are a test setting for torchrun 1.13 on Python 3.11 (test_boot.py)."""
    assert os.path.exists(TORCHRUN), f"{TORCHRUN} missing: make setup installs Debian's python3-torch"
    spec, plan, work = planned
    w = _w(plan, "train")
    run = _run(_docs(planned, "train"))
    [c] = _pod(run)["containers"]
    storage = jobs.storage_config(spec, "acme-ml-prod-us-east-1-data-0123")
    out = tmp_path / "out"
    out.mkdir()
    nodes = []
    for index in range(w.nodes):
        env = pod_env(c, index, "5d3c0c4e-run-uid", {jobs.STORAGE_CONFIG: storage})
        env.update({"PET_NPROC_PER_NODE": "2", "PET_REDIRECTS": "2", "PET_TEE": "1",
                    "PATH": "/usr/bin:/bin", "OUT_DIR": str(out), "PYTHONDONTWRITEBYTECODE": "1"})
        nodes.append({"args": c["args"], "env": env})
    master = nodes[0]["env"]["PET_MASTER_ADDR"]
    assert master == "train-node-0-0.train" and {n["env"]["PET_NODE_RANK"] for n in nodes} == {"0", "1"}
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {socket.gethostname()}\n127.0.0.1 {master}\n")
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    (tmp_path / "driver.py").write_text(DRIVER)
    shell = (f"ip link set lo up && mount --bind {hosts} /etc/hosts && "
             f"exec /usr/bin/python3 {tmp_path / 'driver.py'} {tmp_path / 'nodes.json'} 90")
    done = subprocess.run(["unshare", "--map-root-user", "--mount", "--net", "sh", "-c", shell],
                          capture_output=True, text=True, timeout=120)  # the driver ends its nodes after 90 s
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["codes"] == [0, 0], "\n=====\n".join(o[-3000:] for o in result["out"])
    seen = [json.loads(p.read_text()) for p in sorted(out.glob("rank-*.json"))]
    world = w.nodes * 2
    assert world == 4 and sorted(s["rank"] for s in seen) == list(range(world))
    assert {s["world"] for s in seen} == {world} and {s["sum"] for s in seen} == {world * (world + 1) / 2}
    assert {s["group_rank"] for s in seen} == {0, 1} and {s["local_world"] for s in seen} == {2}
    assert {s["master"] for s in seen} == {master}
    assert {s["checkpoints"] for s in seen} == {"s3://acme-ml-prod-us-east-1-data-0123/train/checkpoints/"}
    assert {s["run"] for s in seen} == {"5d3c0c4e-run-uid"}
