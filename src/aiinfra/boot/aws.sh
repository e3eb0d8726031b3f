#!/usr/bin/env bash
# aiinfra boot, AWS adapter: instance metadata (IMDSv2), disks, host preparation, EFA, the
# CloudWatch agent, the Auto Scaling groups, the S3 state and the job metrics. Sourced by node.sh,
# which defines log, die, ROOT, STATE_DIR, POLL and the AIINFRA_* settings; gcp.sh has the same
# functions.
#
# Images (aiinfra.boot.IMAGES): GPU nodes run the Deep Learning Base OSS Nvidia Driver GPU AMI
# (Ubuntu 22.04), which ships docker, the NVIDIA Container Toolkit, EFA and aws-ofi-nccl, and
# mounts the instance store on /opt/dlami/nvme (release notes list nvidia_container_toolkit_version,
# efa_version, ofi_nccl_version and nvme_location /opt/dlami/nvme:
# https://docs.aws.amazon.com/dlami/latest/devguide/aws-deep-learning-ami-gpubaseoss-ul2204-2026-02-03.html).
# CPU nodes run Amazon Linux 2023, which has the AWS CLI v2 but no docker until it is installed
# from its repository (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/create-container-image.html).
# The instance needs instance_metadata_tags enabled for the tags/instance/ paths
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/work-with-tags-in-IMDS.html).

IMDS="${AIINFRA_IMDS_ENDPOINT:-http://169.254.169.254}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AIINFRA_REGION}}"
export AWS_PAGER="" # CLI v2 would page long output to less

# ---------------------------------------------------------------- instance metadata

# imds PATH: GET an IMDSv2 path (a fresh session token per call; 404 -> empty output, status 1).
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
imds() {
  local token
  token="$(curl -fsS --retry 3 --max-time 5 -X PUT "${IMDS}/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" || return 2
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: ${token}" "${IMDS}/latest/$1" 2>/dev/null
}

cloud_init() {
  local tries=0
  until imds meta-data/instance-id >/dev/null; do
    ((tries++ < 30)) || die "imds: ${IMDS} does not answer"
    sleep "${POLL}"
  done
}

cloud_instance_id() { imds meta-data/instance-id; }
cloud_private_ip() { imds meta-data/local-ipv4; }

# cloud_metadata KEY: the instance tag KEY (empty when the tag is not there).
cloud_metadata() {
  imds "meta-data/tags/instance/$1" || true
}

cloud_uri_scheme() { echo s3; }

# Spot gives two minutes' notice (spot/instance-action); the container gets 90 s of them.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
cloud_stop_grace_seconds() { echo 90; }

# cloud_interruption_notice: prints "spot" once EC2 has scheduled this spot instance's stop.
# (A rebalance recommendation is not a stop: the groups of multi-node runs do not act on it.)
cloud_interruption_notice() {
  imds meta-data/spot/instance-action >/dev/null && echo spot
}

# ---------------------------------------------------------------- disks

# The Deep Learning AMIs mount the instance store themselves (nvme_location in the release notes).
cloud_existing_scratch() {
  local dlami="${ROOT}/opt/dlami/nvme"
  if mountpoint -q "${dlami}" 2>/dev/null; then
    printf '%s\n' "${dlami}"
  fi
}

cloud_mount_dir() { printf '%s\n' "${ROOT}/$1"; }

# NVMe models as EC2 reports them: instance store "Amazon EC2 NVMe Instance Storage", EBS
# "Amazon Elastic Block Store".
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ssd-instance-store.html
# https://docs.aws.amazon.com/ebs/latest/userguide/nvme-ebs-volumes.html
cloud_scratch_devices() {
  lsblk -dpno NAME,MODEL | awk '/Amazon EC2 NVMe Instance Storage/ {print $1}'
}

# The data volume: an EBS disk without partitions, mounted nowhere or on our data directory
# (the root volume always has partitions).
cloud_data_device() {
  local name mnt
  while read -r name; do
    [[ "$(lsblk -pno NAME "${name}" | wc -l)" -eq 1 ]] || continue
    mnt="$(lsblk -no MOUNTPOINT "${name}" | tr -d '[:space:]')"
    if [[ -z "${mnt}" || "${mnt}" == "$(cloud_mount_dir data)" ]]; then
      printf '%s\n' "${name}"
      return 0
    fi
  done < <(lsblk -dpno NAME,MODEL | awk '/Amazon Elastic Block Store/ {print $1}')
}

# ---------------------------------------------------------------- host

cloud_prepare_host() {
  if ! command -v docker >/dev/null 2>&1; then
    # Amazon Linux 2023 (CPU nodes) has no docker preinstalled.
    log "host: installing docker with dnf"
    dnf install -y -q docker
  fi
  systemctl enable --now docker >/dev/null 2>&1 || log "host: systemctl could not start docker"
}

# The NVIDIA Container Toolkit on the Deep Learning AMI gives containers the GPUs. Neuron nodes
# (the Base Neuron DLAMI has no NVIDIA runtime) pass each Neuron device as the Neuron container
# guide does (docker run --device=/dev/neuron0 ...):
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/containers/tutorials/build-run-neuron-container.html
cloud_gpu_docker_args() {
  local dev
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == neuron ]]; then
    while read -r dev; do
      printf '%s\n' "--device=${dev}"
    done < <(neuron_devices)
    return 0
  fi
  printf '%s\n' --gpus all
}

cloud_open_port() { :; } # security groups, not a host firewall, guard the port on these images

cloud_exec_dir() { mkdir -p "$1"; } # where image.sh keeps cosign
cloud_boot_file() { :; }             # cloud-init wrote every boot file

cloud_registry_login() {
  local host
  host="${1%%/*}"
  # Private ECR: <account>.dkr.ecr.<region>.amazonaws.com[.cn]/repo, the node's role pulls.
  # https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
  if [[ "${host}" =~ ^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$ ]]; then
    log "docker: logging in to ${host} with the instance role"
    aws ecr get-login-password --region "${BASH_REMATCH[1]}" |
      docker login --username AWS --password-stdin "${host}" >/dev/null
  fi
}

# ---------------------------------------------------------------- EFA

efa_ofi_dir() {
  local d
  for d in /opt/amazon/ofi-nccl /opt/amazon/aws-ofi-nccl /opt/aws-ofi-nccl; do
    if [[ -d "${ROOT}${d}/lib" ]]; then
      printf '%s\n' "${d}"
      return 0
    fi
  done
}

# efa_plugin_dir: the directory holding aws-ofi-nccl's NCCL plugin (libnccl-net*.so), which NCCL
# finds through LD_LIBRARY_PATH. The Ubuntu DLAMIs install it under lib/x86_64-linux-gnu, others
# under lib (https://github.com/aws/aws-ofi-nccl: libnccl-net-ofi.so, with libnccl-net.so beside it).
efa_plugin_dir() {
  local ofi found
  ofi="$(efa_ofi_dir)"
  [[ -n "${ofi}" ]] || return 0
  found="$(find "${ROOT}${ofi}" -maxdepth 3 -name 'libnccl-net*.so' -printf '%h\n' 2>/dev/null | sort | head -n 1)"
  printf '%s\n' "${found:+${found#"${ROOT}"}}"
}


cloud_interconnect_setup() {
  local n
  n="$(find "${ROOT}/dev/infiniband" -maxdepth 1 -name 'uverbs*' 2>/dev/null | wc -l || true)"
  ((n >= AIINFRA_EFA_INTERFACES)) ||
    log "efa: ${n} of ${AIINFRA_EFA_INTERFACES} EFA devices present"
  log "efa: ${n} devices; libfabric and aws-ofi-nccl from the host ($(efa_ofi_dir))"
}

# The EFA devices and the host's libfabric and aws-ofi-nccl builds, read-only.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start-nccl.html
cloud_interconnect_docker_args() {
  local dev ofi
  for dev in "${ROOT}"/dev/infiniband/uverbs*; do
    [[ -e "${dev}" ]] && printf '%s\n' --device "${dev#"${ROOT}"}"
  done
  printf '%s\n' --volume /opt/amazon/efa:/opt/amazon/efa:ro
  ofi="$(efa_ofi_dir)"
  [[ -z "${ofi}" ]] || printf '%s\n' --volume "${ofi}:${ofi}:ro"
}

# FI_PROVIDER=efa keeps libfabric on EFA. FI_EFA_USE_DEVICE_RDMA is not set: libfabric >= 1.18 with
# aws-ofi-nccl >= 1.7 turns RDMA on by itself where the device has it, and the plugin's own table
# says not to set it there (https://github.com/aws/aws-ofi-nccl/blob/master/doc/efa-env-var.md).
# The plugin's directory goes first on LD_LIBRARY_PATH so NCCL loads it (libnccl-net.so), then the
# host's libfabric, then the image's own path. The image brings rdma-core's libibverbs with the
# efa provider (NGC images do; else install it as aws-samples/awsome-distributed-training's
# nccl-tests.Dockerfile does with the EFA installer): without it NCCL falls back to sockets, which
# node.sh catches and reports.
cloud_container_env() {
  local base plugin
  [[ "${AIINFRA_INTERCONNECT}" == efa ]] || return 0
  echo FI_PROVIDER=efa
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == neuron ]]; then
    # Neuron's multi-node environment: FI_PROVIDER=efa and FI_EFA_USE_DEVICE_RDMA=1 (FI_EFA_FORK_SAFE=1
    # "only required when running on AL2"; the Base Neuron DLAMI is Ubuntu), the host's EFA libraries
    # (/opt/amazon/efa/lib on Ubuntu) visible in the container. The Neuron collectives bring their own
    # OFI plugin (aws-neuronx-collectives), so no aws-ofi-nccl, and they bootstrap from MASTER_ADDR
    # (torch-neuronx sets NEURON_RT_ROOT_COMM_ID from it when unset).
    # https://awsdocs-neuron.readthedocs-hosted.com/en/latest/frameworks/torch/torch-neuronx/setup-trn1-multi-node-execution.html
    echo FI_EFA_USE_DEVICE_RDMA=1
    base="$(image_env "${IMAGE}" LD_LIBRARY_PATH)"
    echo "LD_LIBRARY_PATH=/opt/amazon/efa/lib${base:+:${base}}"
    return 0
  fi
  base="$(image_env "${IMAGE}" LD_LIBRARY_PATH)"
  plugin="$(efa_plugin_dir)"
  echo "LD_LIBRARY_PATH=${plugin:+${plugin}:}/opt/amazon/efa/lib${base:+:${base}}"
}

# ---------------------------------------------------------------- logs

# The container's output goes straight to CloudWatch Logs with docker's awslogs driver (the node's
# role writes it), one stream per instance and workload; docker keeps a local copy for `docker
# logs` (dual logging). https://docs.docker.com/engine/logging/drivers/awslogs/
cloud_log_docker_args() {
  printf '%s\n' --log-driver awslogs --log-opt "awslogs-region=${AIINFRA_REGION}" \
    --log-opt "awslogs-group=${AIINFRA_LOG_GROUP}" --log-opt "awslogs-stream=$(cloud_instance_id)/${CONTAINER}"
}

# ---------------------------------------------------------------- CloudWatch agent

# On the Deep Learning AMIs already (their release notes list amazon-cloudwatch-agent); else
# Amazon Linux's package or AWS's .deb. Started with the configuration at the documented path:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/download-cloudwatch-agent-commandline.html
CWAGENT="${ROOT}/opt/aws/amazon-cloudwatch-agent"

cloud_agent_start() {
  local cfg="${CWAGENT}/etc/cloudwatch-agent.json" deb="${STATE_DIR}/cwagent.deb"
  if [[ ! -x "${CWAGENT}/bin/amazon-cloudwatch-agent-ctl" ]]; then
    log "agent: installing the CloudWatch agent"
    if command -v dnf >/dev/null 2>&1; then
      dnf install -y -q amazon-cloudwatch-agent || return 1
    else
      curl -fsSL --retry 3 -o "${deb}" "https://s3.${AIINFRA_REGION}.amazonaws.com/amazoncloudwatch-agent-${AIINFRA_REGION}/ubuntu/$(dpkg --print-architecture)/latest/amazon-cloudwatch-agent.deb" || return 1
      dpkg -i -E "${deb}" || return 1
    fi
  fi
  mkdir -p "${cfg%/*}" && cp "${BOOT_DIR}/agent.json" "${cfg}" || return 1
  "${CWAGENT}/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s -c "file:${cfg}"
}

# cloud_app_metrics_env HOST: the agent's StatsD listener (UDP), as the container reaches it.
cloud_app_metrics_env() { echo "AIINFRA_STATSD_ADDR=$1:${AIINFRA_APP_METRICS_PORT}"; }

# ---------------------------------------------------------------- groups, state, metric

cloud_group_members() {
  local -a groups ids
  read -ra groups <<<"${AIINFRA_GROUPS}"
  read -ra ids <<<"$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "${groups[@]}" \
    --query "AutoScalingGroups[].Instances[?LifecycleState=='InService'][].InstanceId" --output text)"
  ((${#ids[@]} > 0)) || return 0
  aws ec2 describe-instances --instance-ids "${ids[@]}" \
    --query "Reservations[].Instances[?State.Name=='running'][].PrivateIpAddress" --output text | tr '\t' '\n'
}

cloud_scale_to_zero() {
  local g
  for g in ${AIINFRA_GROUPS}; do
    aws autoscaling update-auto-scaling-group --auto-scaling-group-name "${g}" --min-size 0 --desired-capacity 0
    log "group: ${g} scaled to zero"
  done
}

# state_key [NAME]: the object of a run record (runs/latest.json) or of another run file.
state_key() { printf '%s\n' "${AIINFRA_OBJECT_PREFIX}/runs/${1:-latest.json}"; }

# cloud_state_get FILE [NAME]: runs/NAME (latest.json) into FILE; status 1 when there is none yet.
cloud_state_get() {
  local err tries=0
  while :; do
    if err="$(aws s3api get-object --bucket "${BUCKET}" --key "$(state_key "${2:-}")" "$1" 2>&1 >/dev/null)"; then
      return 0
    fi
    if [[ "${err}" == *NoSuchKey* || "${err}" == *"Not Found"* || "${err}" == *"(404)"* ]]; then
      return 1
    fi
    ((tries++ < 5)) || die "state: cannot read s3://${BUCKET}/$(state_key "${2:-}"): ${err}"
    sleep "${POLL}"
  done
}

# cloud_state_put FILE [NAME]
cloud_state_put() {
  aws s3api put-object --bucket "${BUCKET}" --key "$(state_key "${2:-}")" --body "$1" \
    --content-type application/json >/dev/null
}

# cloud_put_job_metric NAME UNIT TYPE VALUE: one data point in the job metrics' namespace, bounded
# in time so an unreachable API delays a run by seconds, not minutes.
cloud_put_job_metric() {
  aws --cli-connect-timeout 10 --cli-read-timeout 20 cloudwatch put-metric-data --namespace "${AIINFRA_JOB_METRIC_NAMESPACE}" --metric-name "$1" \
    --dimensions "${AIINFRA_JOB_METRIC_DIMENSION}=${AIINFRA_METRIC_ID}" --unit "$2" --value "$4"
}
