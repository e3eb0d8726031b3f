#!/usr/bin/env bash
# aiinfra node boot, common to both clouds: disks, drivers, interconnect, then the workload
# container (a supervised server for inference; the job wrapper for training / data_processing),
# with the node's monitoring agent and the job wrapper's metrics.
#
# Runs at every boot (AWS: the aiinfra-boot systemd unit; GCP: the startup script starts it as a
# transient unit) and is safe to run again: mounts are checked before they are made, a disk is
# formatted only when blkid finds no filesystem on it, and the job state lives in the bucket, so a
# reboot or a replaced spot node resumes the run. Beside this file: workload.env (rendered from
# the typed BootConfig) and the cloud adapter (aws.sh or gcp.sh, the same function names in both).
#
# Test hooks (never set in production): AIINFRA_ROOT prefixes every host path the script writes or
# mounts; AIINFRA_POLL_SECONDS, AIINFRA_MEMBERS_TIMEOUT_SECONDS,
# AIINFRA_GPU_TIMEOUT_SECONDS, AIINFRA_HEALTH_TIMEOUT_SECONDS, AIINFRA_MEMBER_CHECK_SECONDS,
# AIINFRA_STOP_GRACE_SECONDS, AIINFRA_RECORD_MARGIN_SECONDS and AIINFRA_LOG_FLUSH_SECONDS shorten the waits; AIINFRA_COSIGN_URL
# and AIINFRA_COSIGN_SHA256 replace the pinned cosign download and its checksum (image.sh).
set -euo pipefail

BOOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null  # rendered at synth time: shell-quoted KEY=value lines only
source "${BOOT_DIR}/workload.env"

ROOT="${AIINFRA_ROOT:-}"
POLL="${AIINFRA_POLL_SECONDS:-15}"
MEMBERS_TIMEOUT="${AIINFRA_MEMBERS_TIMEOUT_SECONDS:-1800}"
GPU_TIMEOUT="${AIINFRA_GPU_TIMEOUT_SECONDS:-300}"
HEALTH_TIMEOUT="${AIINFRA_HEALTH_TIMEOUT_SECONDS:-900}"
# How often rank 0 checks that an attempt's members are still in service (a cloud API call).
MEMBER_CHECK="${AIINFRA_MEMBER_CHECK_SECONDS:-60}"
# Time the node keeps after the container's checkpoint grace to record a run it stops itself
# (run record, RunFailed, duration, the groups' resize) before the cloud's hard stop.
RECORD_MARGIN="${AIINFRA_RECORD_MARGIN_SECONDS:-120}"
# Before the groups are scaled down, the agent gets this long to send the boot log's last lines
# (the CloudWatch agent flushes logs every 5 s by default: force_flush_interval,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
LOG_FLUSH="${AIINFRA_LOG_FLUSH_SECONDS:-15}"
STATE_DIR="${ROOT}/var/lib/aiinfra"
# Every log line also goes to this file, which the node's agent ships to the cloud's logs
# (observability.agents), so a failed boot is readable after the node is gone.
LOG_FILE="${ROOT}/var/log/aiinfra/boot.log"
CONTAINER="aiinfra-${AIINFRA_WORKLOAD}"
SCRATCH_HOST=""
DATA_HOST=""
IMAGE=""
BUCKET=""
RUN_ID=""
RUN_STARTED=0
RUN_ATTEMPTS=0
RUN_STATUS=""
RUN_INTERRUPTIONS=0
RUN_COORDINATOR=""
RUN_MEMBERS=""
RUN_REASON=""
MEMBERS=""
PRIVATE_IP=""
METRICS_READY=0
NCCL_CHECK=""
AGENT_UP=0
IMAGE_READY=0
IMAGE_ERROR=""

log() {
  printf 'aiinfra-boot[%s]: %s\n' "${AIINFRA_WORKLOAD}" "$*"
  printf '%s aiinfra-boot[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${AIINFRA_WORKLOAD}" "$*" >>"${LOG_FILE}" 2>/dev/null || true
}

# die MESSAGE: the boot fails (systemd starts it again after 30 s). Once the cloud answers, every
# failure also sends the BootFailed metric (its alarm), so a node that cannot pull its image, see
# its GPUs, verify a signature or meet its peers is never silent.
die() {
  log "ERROR: $*"
  if ((METRICS_READY)); then
    job_metric BOOT_FAILED
  fi
  exit 1
}

# shellcheck source=aws.sh  # gcp.sh defines the same functions
source "${BOOT_DIR}/${AIINFRA_CLOUD}.sh"

# ---------------------------------------------------------------- small helpers

# json_field FILE KEY: the value of a top-level string or number field of a flat JSON object.
json_field() {
  tr -d '\n' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
}

# sort_ips: IPv4 addresses on stdin, one a line, in numeric order.
sort_ips() {
  sort -t . -k1,1n -k2,2n -k3,3n -k4,4n -u
}

# image_env IMAGE NAME: the value NAME has in the image's own environment (empty if unset).
image_env() {
  docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$1" 2>/dev/null |
    sed -n "s/^$2=//p" | head -n 1
}

# ---------------------------------------------------------------- disks

# mount_fs DEVICE DIR LABEL: format DEVICE only when it carries no filesystem, then mount it.
mount_fs() {
  local dev="$1" dir="$2" label="$3" fstype
  mkdir -p "${dir}"
  if mountpoint -q "${dir}"; then
    log "disk: ${dir} already mounted"
    return 0
  fi
  fstype="$(blkid -o value -s TYPE "${dev}" 2>/dev/null || true)"
  if [[ -z "${fstype}" ]]; then
    log "disk: ${dev} has no filesystem, formatting ext4 (label ${label})"
    mkfs.ext4 -q -F -L "${label}" -m 0 -E lazy_itable_init=1,discard "${dev}"
  else
    log "disk: ${dev} already has ${fstype}, keeping its data"
  fi
  mount -o defaults,noatime,discard "${dev}" "${dir}"
  log "disk: mounted ${dev} on ${dir}"
}

# scratch_device DEV...: one device as it is, several as one RAID 0 array (assembled if it exists).
scratch_device() {
  local md="${ROOT}/dev/md/aiinfra-scratch"
  if (($# == 1)); then
    printf '%s\n' "$1"
    return 0
  fi
  if [[ ! -e "${md}" ]]; then
    if [[ "$(blkid -o value -s TYPE "$1" 2>/dev/null || true)" == linux_raid_member ]]; then
      log "disk: assembling the existing RAID 0 of $# local NVMe devices" >&2
      mdadm --assemble "${md}" "$@" >&2
    else
      log "disk: creating RAID 0 over $# local NVMe devices: $*" >&2
      mdadm --create "${md}" --level=0 --raid-devices="$#" --force --run "$@" >&2
    fi
  fi
  printf '%s\n' "${md}"
}

prepare_disks() {
  local existing dev data
  local -a nvme=()
  existing="$(cloud_existing_scratch)"
  if [[ -n "${existing}" ]]; then
    SCRATCH_HOST="${existing}"
    log "disk: local NVMe already mounted on ${existing} by the image, using it as /scratch"
  else
    mapfile -t nvme < <(cloud_scratch_devices)
    SCRATCH_HOST="$(cloud_mount_dir scratch)"
    if ((${#nvme[@]} > 0)); then
      dev="$(scratch_device "${nvme[@]}")"
      mount_fs "${dev}" "${SCRATCH_HOST}" aiinfra-scratch
    else
      mkdir -p "${SCRATCH_HOST}"
      log "disk: no local NVMe on this shape, /scratch is a directory on the boot disk (${SCRATCH_HOST})"
    fi
  fi
  data="$(cloud_data_device)"
  if [[ -n "${data}" ]]; then
    DATA_HOST="$(cloud_mount_dir data)"
    mount_fs "${data}" "${DATA_HOST}" aiinfra-data
  else
    log "disk: no data volume attached"
  fi
}

# ---------------------------------------------------------------- GPUs

# accelerators_visible: how many of the node's accelerators the driver shows. NVIDIA: the GPUs
# nvidia-smi lists. Neuron: the Neuron devices /dev/neuron<N>, one a chip (the devices the Neuron
# container guide passes with --device=/dev/neuron0 ...:
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/containers/tutorials/build-run-neuron-container.html).
accelerators_visible() {
  case "${AIINFRA_ACCELERATOR_RUNTIME}" in
    neuron) neuron_devices | wc -l ;;
    *) nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true ;;
  esac
}

# neuron_devices: the Neuron device nodes, one a line, in device order.
neuron_devices() {
  local dev
  for dev in "${ROOT}"/dev/neuron[0-9]*; do
    [[ -e "${dev}" ]] && printf '%s\n' "${dev#"${ROOT}"}"
  done | sort -V
}

wait_for_gpus() {
  local deadline found what=GPUs
  ((AIINFRA_GPUS_PER_NODE > 0)) || return 0
  [[ "${AIINFRA_ACCELERATOR_RUNTIME}" != neuron ]] || what="Neuron devices"
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == tpu ]]; then
    # The TPU software version brings the TPU driver; the container reaches the chips privileged
    # (Google's "Run TPU workloads in a Docker container"), and no host tool to count them is documented.
    log "tpu: ${AIINFRA_GPUS_PER_NODE} TPU chips on this TPU VM (the container reaches them privileged)"
    return 0
  fi
  deadline=$(($(date +%s) + GPU_TIMEOUT))
  while :; do
    found="$(accelerators_visible)"
    if ((found >= AIINFRA_GPUS_PER_NODE)); then
      if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == neuron ]]; then
        log "neuron: ${found} Neuron devices visible"
      else
        log "gpu: ${found} GPUs visible"
      fi
      return 0
    fi
    (($(date +%s) < deadline)) || die "gpu: ${found:-0} of ${AIINFRA_GPUS_PER_NODE} ${what} visible after ${GPU_TIMEOUT}s"
    log "gpu: waiting for the driver (${found:-0} of ${AIINFRA_GPUS_PER_NODE} ${what} visible)"
    sleep "${POLL}"
  done
}

# ---------------------------------------------------------------- monitoring

# start_agent: the agent with its rendered configuration (BootConfig.collect). Best effort.
start_agent() {
  # The agent runs when the boot carries its configuration (metrics collected, or AWS's boot log).
  [[ -e "${BOOT_DIR}/agent.json" || -e "${BOOT_DIR}/agent.yaml" ]] || return 0
  if (cloud_agent_start); then
    AGENT_UP=1
    log "agent: collecting ${AIINFRA_COLLECT:-no metrics}${AIINFRA_LOG_GROUP:+, shipping ${LOG_FILE#"${ROOT}"} to ${AIINFRA_LOG_GROUP}}"
  else
    log "agent: ERROR: the monitoring agent did not start; no metrics from this node (the workload goes on)"
  fi
}

# job_metric KEY [VALUE]: a job metric (workload.env: "<name> <unit> <type>", from
# aiinfra.observability.agents.JOB_METRICS). Rank 0; a failed put is logged, never fatal.
job_metric() {
  local spec="AIINFRA_JOB_METRIC_$1" name unit type
  [[ -n "${!spec:-}" ]] || return 0 # a metric this node's configuration does not name
  read -r name unit type <<<"${!spec}"
  if (cloud_put_job_metric "${name}" "${unit}" "${type}" "${2:-1}" >/dev/null); then
    log "metric: ${name}=${2:-1} for ${AIINFRA_METRIC_ID}"
  else
    log "metric: WARNING: could not publish ${name}"
  fi
}

# end_metrics KEY: a run's outcome and its duration.
end_metrics() {
  job_metric "$1"
  job_metric RUN_DURATION "$(($(date +%s) - RUN_STARTED))"
}

# stop_grace: the seconds a container gets to checkpoint when it is stopped (the cloud's notice).
stop_grace() { printf '%s\n' "${AIINFRA_STOP_GRACE_SECONDS:-$(cloud_stop_grace_seconds)}"; }

# primary_ifname: the interface holding the node's private IP (the one its peers reach it on).
primary_ifname() {
  ip -o -4 addr show 2>/dev/null | awk -v ip="${PRIVATE_IP}" '{split($4, a, "/"); if (a[1] == ip) {print $2; exit}}'
}

# ---------------------------------------------------------------- the container

# The user's env, the interconnect's env and the contract are passed as `-e NAME` with the value
# exported to docker's own environment, so no value is ever written to a file or a command line.
declare -a ENV_NAMES=()

set_env() {
  export "$1=$2"
  in_list "$1" "${ENV_NAMES[*]}" || ENV_NAMES+=("$1")
}

# rendezvous_env RANK MASTER: the names torchrun reads (PET_<flag>: every torchrun flag can come
# from the environment; torch/distributed/argparse_util.py, env action; run.py names the flags) and
# the generic ones other launchers read, so `torchrun train.py` on N nodes forms one world of
# N x GPUs-a-node ranks without a shell or flags. The sockets of NCCL's and gloo's bootstrap use
# the interface holding the node's private IP (NCCL_SOCKET_IFNAME:
# https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html#nccl-socket-ifname;
# GLOO_SOCKET_IFNAME: https://pytorch.org/docs/stable/distributed.html#common-environment-variables);
# the user's env wins where it names them.
rendezvous_env() {
  local nproc="${AIINFRA_PROCS_PER_NODE}" ifname
  set_env PET_NNODES "${AIINFRA_NODES}"
  set_env PET_NPROC_PER_NODE "${nproc}"
  set_env PET_NODE_RANK "$1"
  set_env PET_MASTER_ADDR "$2"
  set_env PET_MASTER_PORT "${AIINFRA_MASTER_PORT}"
  set_env MASTER_ADDR "$2"
  set_env MASTER_PORT "${AIINFRA_MASTER_PORT}"
  set_env NODE_RANK "$1"
  set_env NNODES "${AIINFRA_NODES}"
  set_env GPUS_PER_NODE "${AIINFRA_GPUS_PER_NODE}"
  set_env WORLD_SIZE "$((AIINFRA_NODES * nproc))"
  ifname="$(primary_ifname)"
  if [[ -n "${ifname}" ]]; then
    # Set by the user or the interconnect's own settings (TCPX, TCPXO): kept as they are.
    in_list NCCL_SOCKET_IFNAME "${ENV_NAMES[*]}" || set_env NCCL_SOCKET_IFNAME "${ifname}"
    in_list GLOO_SOCKET_IFNAME "${ENV_NAMES[*]}" || set_env GLOO_SOCKET_IFNAME "${ifname}"
  fi
  if [[ -n "${NCCL_CHECK}" ]] && ! in_list NCCL_DEBUG "${ENV_NAMES[*]}"; then
    # NCCL names the transport it chose at INFO level (INIT / NET); the boot reads that line.
    set_env NCCL_DEBUG INFO
    set_env NCCL_DEBUG_SUBSYS INIT,NET
  fi
}

# cache_env: the serving cache of data_pipeline.serving (ElastiCache / Memorystore for Redis Cluster), when the
# stacks tag the nodes with one: its TLS endpoint, and the TTL the client sets on each key it writes (Redis and
# Valkey keep no default TTL on the server: the eviction policy is volatile-ttl; docs/boot.md).
cache_env() {
  local endpoint ttl user name
  endpoint="$(cloud_metadata aiinfra-cache-endpoint)"
  [[ -n "${endpoint}" ]] || return 0
  set_env AIINFRA_CACHE_ENDPOINT "${endpoint}"
  ttl="$(cloud_metadata aiinfra-cache-ttl-seconds)"
  [[ -z "${ttl}" ]] || set_env AIINFRA_CACHE_TTL_SECONDS "${ttl}"
  # ElastiCache's IAM authentication signs a token for a user and a replication group (AWS only; Memorystore takes the
  # service account's access token as the password).
  user="$(cloud_metadata aiinfra-cache-user)"
  [[ -z "${user}" ]] || set_env AIINFRA_CACHE_USER "${user}"
  name="$(cloud_metadata aiinfra-cache-name)"
  [[ -z "${name}" ]] || set_env AIINFRA_CACHE_NAME "${name}"
}

contract_env() {
  local scheme name var line
  scheme="$(cloud_uri_scheme)"
  set_env AIINFRA_WORKLOAD "${AIINFRA_WORKLOAD}"
  set_env AIINFRA_SCRATCH /scratch
  set_env AIINFRA_CHECKPOINT_URI "${scheme}://${BUCKET}/${AIINFRA_OBJECT_PREFIX}/checkpoints/"
  set_env AIINFRA_DATA_URI "${scheme}://${BUCKET}/${AIINFRA_OBJECT_PREFIX}/data/"
  [[ -z "${DATA_HOST}" ]] || set_env AIINFRA_DATA_DIR /data
  for name in ${AIINFRA_USER_ENV}; do
    var="AIINFRA_ENV_${name}"
    set_env "${name}" "${!var}"
  done
  while IFS= read -r line; do
    [[ -n "${line}" ]] || continue
    set_env "${line%%=*}" "${line#*=}"
  done < <(cloud_container_env)
}

# app_metrics_env HOST: the agent's endpoint for the container's own metrics, if collected.
app_metrics_env() {
  local line
  ((AGENT_UP)) && [[ " ${AIINFRA_COLLECT} " == *" app "* ]] || return 1
  line="$(cloud_app_metrics_env "$1")"
  set_env "${line%%=*}" "${line#*=}"
}

# container_args: docker run options every workload container gets (one a line).
container_args() {
  printf '%s\n' --ulimit memlock=-1 --ulimit stack=67108864 --ulimit nofile=1048576:1048576
  printf '%s\n' --volume "${SCRATCH_HOST}:/scratch"
  [[ -z "${DATA_HOST}" ]] || printf '%s\n' --volume "${DATA_HOST}:/data"
  ((AIINFRA_GPUS_PER_NODE == 0)) || cloud_gpu_docker_args
  [[ -z "${AIINFRA_INTERCONNECT}" ]] || cloud_interconnect_docker_args
  [[ -z "${AIINFRA_LOG_GROUP}" ]] || cloud_log_docker_args
}

image_command() {
  local i var
  for ((i = 1; i <= AIINFRA_COMMAND_COUNT; i++)); do
    var="AIINFRA_COMMAND_${i}"
    printf '%s\n' "${!var}"
  done
}

# ---------------------------------------------------------------- the image

# prepare_image: IMAGE pulled (by digest once verified: image.sh); 1 with IMAGE_ERROR when it cannot
# be used. A reference given with @sha256: is pulled and run as it is (docker checks the digest).
prepare_image() {
  local tries=0
  ((IMAGE_READY == 0)) || return 0
  until docker info >/dev/null 2>&1; do
    ((tries++ < 30)) || die "docker: the daemon does not answer"
    log "docker: waiting for the daemon"
    sleep "${POLL}"
  done
  cloud_registry_login "${IMAGE}"
  if [[ -n "${AIINFRA_SIGNING_KEY}" ]]; then
    verify_image || return 1
  fi
  tries=0
  until docker pull --quiet "${IMAGE}"; do
    if ((tries++ >= 5)); then
      IMAGE_ERROR="docker: cannot pull ${IMAGE}"
      return 1
    fi
    log "docker: pull of ${IMAGE} failed, retrying"
    sleep "${POLL}"
  done
  log "docker: pulled ${IMAGE}"
  IMAGE_READY=1
}

# ---------------------------------------------------------------- inference

run_inference() {
  local -a args cmd
  contract_env
  set_env AIINFRA_PORT "${AIINFRA_PORT}"
  cache_env
  mapfile -t args < <(container_args)
  if app_metrics_env host.docker.internal; then
    args+=(--add-host=host.docker.internal:host-gateway) # a bridged container reaches the host's agent so
  fi
  mapfile -t cmd < <(image_command)
  # Recreated once per boot, after the disks are mounted: a container docker restarted on its
  # own before this script ran would see the bare mount point instead of the NVMe.
  docker rm -f "${CONTAINER}" >/dev/null 2>&1 || true
  log "inference: starting ${IMAGE} on port ${AIINFRA_PORT} (restarted by docker when it exits)"
  docker run --detach --name "${CONTAINER}" --restart unless-stopped \
    --publish "${AIINFRA_PORT}:${AIINFRA_PORT}" --ipc host "${args[@]}" \
    "${ENV_NAMES[@]/#/--env=}" "${IMAGE}" "${cmd[@]}" >/dev/null
  cloud_open_port "${AIINFRA_PORT}"
  local deadline=$(($(date +%s) + HEALTH_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:${AIINFRA_PORT}${AIINFRA_HEALTH_CHECK_PATH}" 2>/dev/null; do
    if (($(date +%s) >= deadline)); then
      log "inference: ${AIINFRA_HEALTH_CHECK_PATH} not healthy yet after ${HEALTH_TIMEOUT}s; the load balancer decides"
      return 0
    fi
    sleep "${POLL}"
  done
  log "inference: ${AIINFRA_HEALTH_CHECK_PATH} answers on port ${AIINFRA_PORT}"
}

# ---------------------------------------------------------------- training / data_processing
#
# A run is one record in the bucket, <object_prefix>/runs/latest.json, which only the run's
# coordinator writes: {"run_id", "started_epoch", "status": running|done|failed, "attempts",
# "interruptions", "coordinator": <its IP>, "members": "<IP of rank 0> <IP of rank 1> ...",
# "reason"}. Membership is fixed at the start of each attempt: the coordinator (rank 0) names the
# attempt's nodes in the record before it starts its own container, and a node runs an attempt
# only when the record names it, at the rank the record gives it. There is one coordinator: the
# one the current record names while it is in service, else the in-service node with the lowest IP
# (every node works out the same one). A lost member ends the attempt on every rank (the
# coordinator stops its container; the others see a newer attempt in the record and stop theirs)
# and the run resumes from its checkpoint as one new attempt. Nodes beyond the run's size are
# spares: they log it and wait for a later attempt or the end of the run.

state_file() { printf '%s\n' "${STATE_DIR}/latest.json"; }

# read_state: RUN_* from runs/latest.json in the bucket; returns 1 when there is none.
read_state() {
  local f
  f="$(state_file)"
  rm -f "${f}"
  cloud_state_get "${f}" || return 1
  RUN_ID="$(json_field "${f}" run_id)"
  RUN_STARTED="$(json_field "${f}" started_epoch)"
  RUN_STATUS="$(json_field "${f}" status)"
  RUN_ATTEMPTS="$(json_field "${f}" attempts)"
  RUN_INTERRUPTIONS="$(json_field "${f}" interruptions)"
  RUN_COORDINATOR="$(json_field "${f}" coordinator)"
  RUN_MEMBERS="$(json_field "${f}" members)"
  [[ "${RUN_INTERRUPTIONS}" =~ ^[0-9]+$ ]] || RUN_INTERRUPTIONS=0 # records written before the field
  [[ -n "${RUN_ID}" && "${RUN_STARTED}" =~ ^[0-9]+$ && "${RUN_ATTEMPTS}" =~ ^[0-9]+$ ]] ||
    die "state: ${AIINFRA_OBJECT_PREFIX}/runs/latest.json is not a run record"
}

# current_state: read_state, and the record is of a run still inside its window.
current_state() {
  read_state && (($(date +%s) - RUN_STARTED < $(window_seconds)))
}

write_state() {
  local f
  f="$(state_file)"
  printf '{"run_id": "%s", "started_epoch": %s, "status": "%s", "attempts": %s, "interruptions": %s, "coordinator": "%s", "members": "%s", "reason": "%s"}\n' \
    "${RUN_ID}" "${RUN_STARTED}" "${RUN_STATUS}" "${RUN_ATTEMPTS}" "${RUN_INTERRUPTIONS}" "${RUN_COORDINATOR}" \
    "${RUN_MEMBERS}" "${RUN_REASON}" >"${f}.new"
  cloud_state_put "${f}.new"
  log "state: run ${RUN_ID} ${RUN_STATUS}, attempt ${RUN_ATTEMPTS} (members ${RUN_MEMBERS:-none}${RUN_REASON:+, ${RUN_REASON}})"
}

# The window in which a recorded run is still current: max_runtime, or a day without one.
window_seconds() {
  if ((AIINFRA_MAX_RUNTIME_SECONDS > 0)); then
    printf '%s\n' "${AIINFRA_MAX_RUNTIME_SECONDS}"
  else
    printf '%s\n' 86400
  fi
}

# in_list WORD "LIST": WORD is one of the space-separated LIST.
in_list() { [[ " $2 " == *" $1 "* ]]; }

# next_hard_stop EPOCH: the first time after EPOCH the cloud's hard stop fires (the planner's
# stop_schedule, rendered field by field into workload.env; cron's rule: with both day fields
# restricted, either matches; looked for up to four years ahead, for a 29 February); nothing when
# runs have no schedule. Times are UTC, as the scheduled actions and Cloud Scheduler jobs are written.
next_hard_stop() {
  local after="$1" day dom mon dow dom_ok dow_ok h m t
  [[ -n "${AIINFRA_HARD_STOP_HOURS}" ]] || return 0
  for ((day = after - after % 86400; day <= after + 1470 * 86400; day += 86400)); do
    read -r dom mon dow <<<"$(date -u -d "@${day}" '+%-d %-m %w')"
    in_list "${mon}" "${AIINFRA_HARD_STOP_MONTHS}" || continue
    dom_ok=0 dow_ok=0
    if in_list "${dom}" "${AIINFRA_HARD_STOP_DAYS}"; then dom_ok=1; fi
    if in_list "${dow}" "${AIINFRA_HARD_STOP_WEEKDAYS}"; then dow_ok=1; fi
    if ((AIINFRA_HARD_STOP_ANY_DAY && AIINFRA_HARD_STOP_ANY_WEEKDAY)); then
      :
    elif ((AIINFRA_HARD_STOP_ANY_DAY)); then
      ((dow_ok)) || continue
    elif ((AIINFRA_HARD_STOP_ANY_WEEKDAY)); then
      ((dom_ok)) || continue
    else
      ((dom_ok || dow_ok)) || continue
    fi
    for h in ${AIINFRA_HARD_STOP_HOURS}; do
      for m in ${AIINFRA_HARD_STOP_MINUTES}; do
        t=$((day + h * 3600 + m * 60))
        if ((t > after)); then
          printf '%s\n' "${t}"
          return 0
        fi
      done
    done
  done
}

# run_deadline: when the node itself stops the run (0: never). max_runtime from the run's start,
# and before the cloud's hard stop by the container's checkpoint grace and RECORD_MARGIN, so the
# run is recorded failed (timeout), the RunFailed metric is sent and the groups are scaled down by
# the node, not cut off by the cloud.
run_deadline() {
  local deadline=0 stop
  ((AIINFRA_MAX_RUNTIME_SECONDS == 0)) || deadline=$((RUN_STARTED + AIINFRA_MAX_RUNTIME_SECONDS))
  stop="$(next_hard_stop "${RUN_STARTED}")"
  if [[ -n "${stop}" ]]; then
    stop=$((stop - $(stop_grace) - RECORD_MARGIN))
    if ((deadline == 0 || stop < deadline)); then
      deadline="${stop}"
    fi
  fi
  printf '%s\n' "${deadline}"
}

# members_now: the in-service members of the workload's groups, lowest IP first, on one line.
members_now() {
  local -a ips=()
  if ((AIINFRA_NODES == 1)) && [[ "${AIINFRA_GROUPS}" != *" "* ]]; then
    echo "${PRIVATE_IP}" # one node from one group: nothing to ask the cloud
    return 0
  fi
  mapfile -t ips < <(cloud_group_members | grep -E '^[0-9]+(\.[0-9]+){3}$' | sort_ips || true)
  echo "${ips[*]}"
}

# wait_for_members: until this node and AIINFRA_NODES in all are in service (bounded); sets MEMBERS.
wait_for_members() {
  local deadline count
  deadline=$(($(date +%s) + MEMBERS_TIMEOUT))
  while :; do
    MEMBERS="$(members_now)"
    count="$(wc -w <<<"${MEMBERS}")"
    if in_list "${PRIVATE_IP}" "${MEMBERS}" && ((count >= AIINFRA_NODES)); then
      log "rank: ${count} nodes in service (${MEMBERS})"
      return 0
    fi
    (($(date +%s) < deadline)) || die "rank: ${count} of ${AIINFRA_NODES} nodes in service after ${MEMBERS_TIMEOUT}s (${MEMBERS:-none})"
    log "rank: waiting for ${AIINFRA_NODES} nodes (${count} in service: ${MEMBERS:-none})"
    sleep "${POLL}"
  done
}

# attempt_members: this node (rank 0) and the next in-service nodes in IP order, AIINFRA_NODES in
# all, into RUN_MEMBERS; waits for replacements up to MEMBERS_TIMEOUT, else returns 1.
attempt_members() {
  local deadline ip
  local -a chosen
  deadline=$(($(date +%s) + MEMBERS_TIMEOUT))
  while :; do
    chosen=("${PRIVATE_IP}")
    for ip in $(members_now); do
      ((${#chosen[@]} < AIINFRA_NODES)) || break
      [[ "${ip}" == "${PRIVATE_IP}" ]] || chosen+=("${ip}")
    done
    if ((${#chosen[@]} >= AIINFRA_NODES)); then
      RUN_MEMBERS="${chosen[*]}"
      return 0
    fi
    (($(date +%s) < deadline)) || return 1
    log "rank: ${#chosen[@]} of ${AIINFRA_NODES} nodes in service for the next attempt, waiting for replacements"
    sleep "${POLL}"
  done
}

# rank_in "LIST": this node's index in the space-separated LIST (nothing when it is not there).
rank_in() {
  local -a ips
  local i
  read -ra ips <<<"$1"
  for i in "${!ips[@]}"; do
    if [[ "${ips[$i]}" == "${PRIVATE_IP}" ]]; then
      printf '%s\n' "${i}"
      return 0
    fi
  done
}

# scale_down: the run is over; the groups go to zero once the last log lines are shipped.
scale_down() {
  if ((AGENT_UP)) && [[ -n "${AIINFRA_LOG_GROUP}" ]]; then
    log "logs: giving the agent ${LOG_FLUSH}s to ship the last lines before the nodes go"
    sleep "${LOG_FLUSH}"
  fi
  cloud_scale_to_zero
}

fail_run() {
  RUN_STATUS=failed
  RUN_REASON="$1"
  write_state
  log "job: run ${RUN_ID} failed (${1}): $2"
  end_metrics RUN_FAILED
  scale_down
}

# coordinator: resume the recorded run, stop if it already ended, or start a new one.
decide_run() {
  if current_state; then
    case "${RUN_STATUS}" in
      running)
        log "job: resuming run ${RUN_ID} (started $(($(date +%s) - RUN_STARTED))s ago, ${RUN_ATTEMPTS} attempts so far)"
        RUN_COORDINATOR="${PRIVATE_IP}"
        return 0
        ;;
      done | failed)
        log "job: run ${RUN_ID} already ${RUN_STATUS}; nothing to run, scaling the groups to zero"
        scale_down
        return 1
        ;;
    esac
  fi
  RUN_ID="$(date -u +%Y%m%dT%H%MZ)"
  RUN_STARTED="$(date +%s)"
  RUN_ATTEMPTS=0
  RUN_INTERRUPTIONS=0
  RUN_STATUS=running
  RUN_COORDINATOR="${PRIVATE_IP}"
  RUN_MEMBERS=""
  RUN_REASON=""
  log "job: starting new run ${RUN_ID}" # recorded with its first attempt
}

# container_output ATTEMPT: where run_container keeps an attempt's output for the NCCL check.
container_output() { printf '%s\n' "${STATE_DIR}/attempt-$1.out"; }

# nccl_on_sockets FILE: NCCL chose its internal socket transport although the node has a GPU
# network (EFA); NCCL logs its choice as "NCCL INFO Using network <name>" at INFO level.
nccl_on_sockets() {
  [[ -n "${NCCL_CHECK}" ]] && grep -qs 'NCCL INFO Using network Socket' "$1"
}

# run_container ATTEMPT DEADLINE RANK MASTER: the job container in the foreground, watched for
# the deadline (0 = none), an interruption notice, NCCL falling back to sockets and, on rank 0, a
# lost member / elsewhere a newer attempt in the record. Prints "exit <rc>", "watchdog", "spot",
# "maintenance", "nccl-socket", "member-lost" or "superseded".
run_container() {
  local attempt="$1" deadline="$2" rank="$3" master="$4" pid rc=0 grace out notice ip next_check=0 stopping=""
  local -a args cmd
  ENV_NAMES=()
  contract_env
  set_env AIINFRA_RUN_ID "${RUN_ID}"
  set_env AIINFRA_ATTEMPT "${attempt}"
  rendezvous_env "${rank}" "${master}"
  app_metrics_env 127.0.0.1 || true # host network
  mapfile -t args < <(container_args)
  mapfile -t cmd < <(image_command)
  out="$(container_output "${attempt}")"
  : >"${out}"
  docker rm -f "${CONTAINER}" >/dev/null 2>&1 || true
  log "job: attempt ${attempt} of run ${RUN_ID} on rank ${rank} of ${AIINFRA_NODES} (rank 0 ${master}): ${IMAGE} ${cmd[*]}" >&2
  docker run --name "${CONTAINER}" --rm --network host --ipc host "${args[@]}" \
    "${ENV_NAMES[@]/#/--env=}" "${IMAGE}" "${cmd[@]}" > >(tee -a "${out}" >&2) 2>&1 &
  pid=$!
  grace="$(stop_grace)"
  # Once stopping, `docker stop` is repeated until the client exits: a stop sent before the
  # container exists would otherwise be lost.
  while kill -0 "${pid}" 2>/dev/null; do
    if [[ -z "${stopping}" ]]; then
      if ((deadline > 0 && $(date +%s) >= deadline)); then
        stopping=watchdog
        log "watchdog: run ${RUN_ID} reached its deadline (max_runtime or the hard stop), stopping the container (${grace}s grace)" >&2
      elif notice="$(cloud_interruption_notice)"; then
        stopping="${notice}"
        log "${notice}: notice from the cloud, stopping the container (${grace}s grace) so it can checkpoint" >&2
      elif nccl_on_sockets "${out}"; then
        stopping=nccl-socket
        log "nccl: NCCL chose its socket transport on a node with ${AIINFRA_INTERCONNECT}; stopping the attempt" >&2
      elif ((AIINFRA_NODES > 1 && $(date +%s) >= next_check)); then
        next_check=$(($(date +%s) + MEMBER_CHECK))
        if ((rank == 0)); then
          local now_members
          now_members="$(members_now)"
          for ip in ${RUN_MEMBERS}; do
            if ! in_list "${ip}" "${now_members}"; then
              stopping=member-lost
              log "rank: ${ip} of attempt ${attempt} is no longer in service, stopping the attempt on every rank" >&2
              break
            fi
          done
        elif ! read_state || [[ "${RUN_STATUS}" != running ]] || ((RUN_ATTEMPTS != attempt)); then
          stopping=superseded
          log "rank: the run moved on (run ${RUN_ID} ${RUN_STATUS}, attempt ${RUN_ATTEMPTS}), stopping attempt ${attempt} here" >&2
        fi
      fi
    fi
    [[ -z "${stopping}" ]] || docker stop --time "${grace}" "${CONTAINER}" >/dev/null 2>&1 || true
    sleep "${POLL}"
  done
  wait "${pid}" || rc=$?
  if [[ -z "${stopping}" ]] && nccl_on_sockets "${out}"; then
    stopping=nccl-socket
  fi
  echo "${stopping:-exit ${rc}}"
}

# notice_key ATTEMPT: the object a rank that is not the coordinator leaves when a maintenance
# event ends its part of ATTEMPT, so the coordinator does not count that attempt as a retry.
notice_key() { printf '%s\n' "maintenance-${RUN_ID}-$1.json"; }

run_coordinator() {
  local deadline outcome
  decide_run || return 0
  if ! prepare_image; then
    # An image that cannot be pulled or verified ends the run: no attempt runs anything else.
    log "ERROR: ${IMAGE_ERROR}"
    fail_run image "${IMAGE_ERROR}"
    return 0
  fi
  deadline="$(run_deadline)"
  ((deadline == 0)) || log "job: run ${RUN_ID} ends by $(date -u -d "@${deadline}" '+%Y-%m-%dT%H:%M:%SZ') at the latest"
  while :; do
    if ((deadline > 0 && $(date +%s) >= deadline)); then
      fail_run timeout "its deadline (max_runtime ${AIINFRA_MAX_RUNTIME_SECONDS}s or the hard stop) passed before attempt $((RUN_ATTEMPTS + 1))"
      return 0
    fi
    if ((RUN_ATTEMPTS - RUN_INTERRUPTIONS > AIINFRA_RETRIES)); then
      fail_run retries "${RUN_ATTEMPTS} attempts (${RUN_INTERRUPTIONS} ended by maintenance), retries (${AIINFRA_RETRIES}) spent"
      return 0
    fi
    if ! attempt_members; then
      fail_run members "fewer than ${AIINFRA_NODES} nodes in service for ${MEMBERS_TIMEOUT}s"
      return 0
    fi
    RUN_ATTEMPTS=$((RUN_ATTEMPTS + 1))
    RUN_STATUS=running
    write_state
    if ((RUN_ATTEMPTS == 1)); then
      job_metric RUN_STARTED
    else
      job_metric RUN_RESTARTED # after a failure, a lost node, a maintenance event or a reboot
    fi
    outcome="$(run_container "${RUN_ATTEMPTS}" "${deadline}" 0 "${PRIVATE_IP}")"
    case "${outcome}" in
      "exit 0")
        RUN_STATUS="done"
        write_state
        log "job: run ${RUN_ID} done after ${RUN_ATTEMPTS} attempt(s), scaling the groups to zero"
        end_metrics RUN_SUCCEEDED
        scale_down
        return 0
        ;;
      watchdog)
        fail_run timeout "stopped by the watchdog at its deadline (max_runtime ${AIINFRA_MAX_RUNTIME_SECONDS}s or the hard stop)"
        return 0
        ;;
      nccl-socket)
        fail_run nccl-socket "NCCL used its socket transport instead of ${AIINFRA_INTERCONNECT}: the image lacks the network plugin's libraries (docs/boot.md)"
        return 0
        ;;
      spot)
        log "job: this node is being reclaimed; the other nodes resume run ${RUN_ID} with its replacement"
        return 0
        ;;
      maintenance)
        RUN_INTERRUPTIONS=$((RUN_INTERRUPTIONS + 1))
        write_state
        log "job: host maintenance; run ${RUN_ID} resumes from its checkpoint when the node is back (no retry spent)"
        return 0
        ;;
      *)
        log "job: attempt ${RUN_ATTEMPTS} of run ${RUN_ID} ended with ${outcome}"
        if ((AIINFRA_NODES > 1)) && cloud_state_get "${STATE_DIR}/notice.json" "$(notice_key "${RUN_ATTEMPTS}")"; then
          RUN_INTERRUPTIONS=$((RUN_INTERRUPTIONS + 1))
          log "job: a member's host maintenance ended attempt ${RUN_ATTEMPTS} (no retry spent)"
        fi
        ;;
    esac
  done
}

# The other ranks and spares: follow the record, one container per attempt that names this node.
run_follower() {
  local seen=0 rank outcome next_check=0 coordinator="$1"
  while :; do
    if current_state; then
      case "${RUN_STATUS}" in
        done | failed)
          log "job: run ${RUN_ID} ${RUN_STATUS}; this node idles until the group is scaled down"
          return 0
          ;;
        running)
          coordinator="${RUN_COORDINATOR:-${coordinator}}"
          if ((RUN_ATTEMPTS > seen)); then
            seen="${RUN_ATTEMPTS}"
            rank="$(rank_in "${RUN_MEMBERS}")"
            if [[ -z "${rank}" ]]; then
              log "rank: spare: ${PRIVATE_IP} is not among the ${AIINFRA_NODES} nodes of attempt ${seen}; it waits for a later attempt or the end of the run"
            else
              outcome="$(run_container "${seen}" "$(run_deadline)" "${rank}" "${RUN_MEMBERS%% *}")"
              log "job: rank ${rank} attempt ${seen} of run ${RUN_ID} ended with ${outcome}"
              case "${outcome}" in
                spot) return 0 ;;
                maintenance)
                  printf '{"attempt": %s}\n' "${seen}" >"${STATE_DIR}/notice.json"
                  cloud_state_put "${STATE_DIR}/notice.json" "$(notice_key "${seen}")" ||
                    log "job: WARNING: could not record the maintenance notice"
                  return 0
                  ;;
              esac
              continue
            fi
          fi
          ;;
      esac
    fi
    # The coordinator must stay in service; if it is gone, the lowest in-service node takes over.
    if (($(date +%s) >= next_check)); then
      next_check=$(($(date +%s) + MEMBER_CHECK))
      MEMBERS="$(members_now)"
      if ! in_list "${coordinator}" "${MEMBERS}"; then
        log "rank: coordinator ${coordinator} is no longer in service; ${MEMBERS%% *} takes the run over"
        coordinator="${MEMBERS%% *}"
        if [[ "${coordinator}" == "${PRIVATE_IP}" ]]; then
          run_coordinator
          return 0
        fi
      fi
    fi
    sleep "${POLL}"
  done
}

run_job() {
  local coordinator
  wait_for_members
  coordinator="${MEMBERS%% *}"
  if [[ "${MEMBERS}" == *" "* ]] && current_state && [[ "${RUN_STATUS}" == running ]] && in_list "${RUN_COORDINATOR}" "${MEMBERS}"; then
    coordinator="${RUN_COORDINATOR}" # a live coordinator keeps its run, whatever joined since
  fi
  if [[ "${coordinator}" == "${PRIVATE_IP}" ]]; then
    log "rank: ${PRIVATE_IP} coordinates the run (rank 0)"
    run_coordinator
  else
    log "rank: ${coordinator} coordinates the run; ${PRIVATE_IP} follows it"
    # The coordinator pulls and verifies the same image and ends the run as failed if it cannot.
    prepare_image || die "${IMAGE_ERROR}"
    run_follower "${coordinator}"
  fi
}

on_term() {
  log "stopping: the node is shutting down, giving the container time to checkpoint"
  docker stop --time "$(stop_grace)" "${CONTAINER}" >/dev/null 2>&1 || true
  exit 143
}

# ---------------------------------------------------------------- main

main() {
  mkdir -p "${STATE_DIR}" "${LOG_FILE%/*}"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${STATE_DIR}/boot.lock"
    flock -n 9 || die "another aiinfra boot is running on this node"
  fi
  log "boot: ${AIINFRA_KIND} workload on ${AIINFRA_CLOUD} (${AIINFRA_REGION}), groups ${AIINFRA_GROUPS}"
  cloud_init
  METRICS_READY=1
  if [[ -n "${AIINFRA_SIGNING_KEY}" ]]; then
    cloud_boot_file image.sh # the signature check, a boot file only with a signing key
    # shellcheck source=image.sh
    source "${BOOT_DIR}/image.sh"
  fi
  PRIVATE_IP="$(cloud_private_ip)"
  log "boot: instance $(cloud_instance_id), private IP ${PRIVATE_IP}"
  prepare_disks
  cloud_prepare_host
  wait_for_gpus
  [[ -z "${AIINFRA_INTERCONNECT}" ]] || cloud_interconnect_setup
  # With a GPU network, NCCL must use its plugin, never fall back to sockets (run_container checks).
  # Neuron runs its own collectives (aws-neuronx-collectives with its own OFI plugin), not NCCL: no check.
  [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == neuron ]] || NCCL_CHECK="${AIINFRA_INTERCONNECT}"
  start_agent

  IMAGE="${AIINFRA_IMAGE}"
  if [[ -z "${IMAGE}" ]]; then
    IMAGE="$(cloud_metadata aiinfra-image)"
  fi
  if [[ -z "${IMAGE}" ]]; then
    log "boot: no image given (metadata aiinfra-image is empty): the node is prepared and waits for your own deployment"
    return 0
  fi
  BUCKET="$(cloud_metadata aiinfra-data-bucket)"
  [[ -n "${BUCKET}" ]] || die "boot: metadata aiinfra-data-bucket is empty; the data bucket is needed"
  trap on_term TERM
  case "${AIINFRA_KIND}" in
    inference)
      # Not serving: exit non-zero, no container; systemd tries the boot again.
      prepare_image || die "inference: not serving: ${IMAGE_ERROR}"
      run_inference
      ;;
    training | data_processing) run_job ;;
    *) die "unknown kind ${AIINFRA_KIND}" ;;
  esac
  log "boot: finished"
}

main "$@"
