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
# mounts; AIINFRA_POLL_SECONDS, AIINFRA_MEMBERS_TIMEOUT_SECONDS, AIINFRA_STATE_TIMEOUT_SECONDS,
# AIINFRA_GPU_TIMEOUT_SECONDS, AIINFRA_HEALTH_TIMEOUT_SECONDS shorten the waits; AIINFRA_COSIGN_URL
# and AIINFRA_COSIGN_SHA256 replace the pinned cosign download and its checksum (image.sh).
set -euo pipefail

BOOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null  # rendered at synth time: shell-quoted KEY=value lines only
source "${BOOT_DIR}/workload.env"

ROOT="${AIINFRA_ROOT:-}"
POLL="${AIINFRA_POLL_SECONDS:-15}"
MEMBERS_TIMEOUT="${AIINFRA_MEMBERS_TIMEOUT_SECONDS:-1800}"
STATE_TIMEOUT="${AIINFRA_STATE_TIMEOUT_SECONDS:-1800}"
GPU_TIMEOUT="${AIINFRA_GPU_TIMEOUT_SECONDS:-300}"
HEALTH_TIMEOUT="${AIINFRA_HEALTH_TIMEOUT_SECONDS:-900}"
STATE_DIR="${ROOT}/var/lib/aiinfra"
CONTAINER="aiinfra-${AIINFRA_WORKLOAD}"
SCRATCH_HOST=""
DATA_HOST=""
IMAGE=""
BUCKET=""
RUN_ID=""
RUN_STARTED=0
RUN_ATTEMPTS=0
RUN_STATUS=""
NODE_RANK=0
MASTER_ADDR=""
PRIVATE_IP=""
AGENT_UP=0
IMAGE_READY=0
IMAGE_ERROR=""

log() {
  printf 'aiinfra-boot[%s]: %s\n' "${AIINFRA_WORKLOAD}" "$*"
}

die() {
  log "ERROR: $*"
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

wait_for_gpus() {
  local deadline found
  ((AIINFRA_GPUS_PER_NODE > 0)) || return 0
  deadline=$(($(date +%s) + GPU_TIMEOUT))
  while :; do
    found="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"
    if ((found >= AIINFRA_GPUS_PER_NODE)); then
      log "gpu: ${found} GPUs visible"
      return 0
    fi
    (($(date +%s) < deadline)) || die "gpu: ${found:-0} of ${AIINFRA_GPUS_PER_NODE} GPUs visible after ${GPU_TIMEOUT}s"
    log "gpu: waiting for the driver (${found:-0} of ${AIINFRA_GPUS_PER_NODE} GPUs visible)"
    sleep "${POLL}"
  done
}

# ---------------------------------------------------------------- monitoring

# start_agent: the agent with its rendered configuration (BootConfig.collect). Best effort.
start_agent() {
  [[ -n "${AIINFRA_COLLECT}" ]] || return 0
  if (cloud_agent_start); then
    AGENT_UP=1
    log "agent: collecting ${AIINFRA_COLLECT}"
  else
    log "agent: ERROR: the monitoring agent did not start; no metrics from this node (the workload goes on)"
  fi
}

# job_metric KEY [VALUE]: a job metric (workload.env: "<name> <unit> <type>", from
# aiinfra.observability.agents.JOB_METRICS). Rank 0; a failed put is logged, never fatal.
job_metric() {
  local spec="AIINFRA_JOB_METRIC_$1" name unit type
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

# ---------------------------------------------------------------- the container

# The user's env, the interconnect's env and the contract are passed as `-e NAME` with the value
# exported to docker's own environment, so no value is ever written to a file or a command line.
declare -a ENV_NAMES=()

set_env() {
  export "$1=$2"
  ENV_NAMES+=("$1")
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
  [[ -n "${RUN_ID}" && "${RUN_STARTED}" =~ ^[0-9]+$ && "${RUN_ATTEMPTS}" =~ ^[0-9]+$ ]] ||
    die "state: ${AIINFRA_OBJECT_PREFIX}/runs/latest.json is not a run record"
}

write_state() {
  local f
  f="$(state_file)"
  printf '{"run_id": "%s", "started_epoch": %s, "status": "%s", "attempts": %s}\n' \
    "${RUN_ID}" "${RUN_STARTED}" "${RUN_STATUS}" "${RUN_ATTEMPTS}" >"${f}.new"
  cloud_state_put "${f}.new"
  log "state: run ${RUN_ID} ${RUN_STATUS}, attempt ${RUN_ATTEMPTS}"
}

# The window in which a recorded run is still current: max_runtime, or a day without one.
window_seconds() {
  if ((AIINFRA_MAX_RUNTIME_SECONDS > 0)); then
    printf '%s\n' "${AIINFRA_MAX_RUNTIME_SECONDS}"
  else
    printf '%s\n' 86400
  fi
}

# members: wait (bounded) until `nodes` members are up; sets NODE_RANK and MASTER_ADDR.
wait_for_members() {
  local deadline i
  local -a ips=()
  if ((AIINFRA_NODES == 1)) && [[ "${AIINFRA_GROUPS}" != *" "* ]]; then
    # One node from one group: nothing to rendezvous with, and no API call to make.
    NODE_RANK=0
    MASTER_ADDR="${PRIVATE_IP}"
    log "rank: single-node run, ${PRIVATE_IP} is rank 0"
    return 0
  fi
  deadline=$(($(date +%s) + MEMBERS_TIMEOUT))
  while :; do
    mapfile -t ips < <(cloud_group_members | grep -E '^[0-9]+(\.[0-9]+){3}$' | sort_ips || true)
    for i in "${!ips[@]}"; do
      if [[ "${ips[$i]}" == "${PRIVATE_IP}" ]] && ((${#ips[@]} >= AIINFRA_NODES)); then
        NODE_RANK="${i}"
        MASTER_ADDR="${ips[0]}"
        log "rank: ${PRIVATE_IP} is rank ${NODE_RANK} of ${AIINFRA_NODES} (master ${MASTER_ADDR}; members ${ips[*]})"
        return 0
      fi
    done
    (($(date +%s) < deadline)) || die "rank: ${#ips[@]} of ${AIINFRA_NODES} nodes up after ${MEMBERS_TIMEOUT}s"
    log "rank: waiting for ${AIINFRA_NODES} nodes (${#ips[@]} up: ${ips[*]:-none})"
    sleep "${POLL}"
  done
}

fail_run() {
  RUN_STATUS=failed
  write_state
  log "job: run ${RUN_ID} failed: $*"
  end_metrics RUN_FAILED
  cloud_scale_to_zero
}

# rank 0: resume the recorded run, stop if it already ended, or start a new one.
decide_run() {
  local now window
  now="$(date +%s)"
  window="$(window_seconds)"
  if read_state && ((now - RUN_STARTED < window)); then
    case "${RUN_STATUS}" in
      running)
        log "job: resuming run ${RUN_ID} (started $((now - RUN_STARTED))s ago, ${RUN_ATTEMPTS} attempts so far)"
        return 0
        ;;
      done | failed)
        log "job: run ${RUN_ID} already ${RUN_STATUS}; nothing to run, scaling the groups to zero"
        cloud_scale_to_zero
        return 1
        ;;
    esac
  fi
  RUN_ID="$(date -u +%Y%m%dT%H%MZ)"
  RUN_STARTED="${now}"
  RUN_ATTEMPTS=0
  RUN_STATUS=running
  log "job: starting new run ${RUN_ID}" # recorded with its first attempt
}

# run_container ATTEMPT DEADLINE: the job container in the foreground, watched for the
# deadline (0 = none) and for a spot interruption. Prints "exit <rc>", "watchdog" or "interrupted".
run_container() {
  local attempt="$1" deadline="$2" pid rc=0 grace
  local -a args cmd
  ENV_NAMES=()
  contract_env
  set_env AIINFRA_RUN_ID "${RUN_ID}"
  set_env AIINFRA_ATTEMPT "${attempt}"
  set_env MASTER_ADDR "${MASTER_ADDR}"
  set_env MASTER_PORT "${AIINFRA_MASTER_PORT}"
  set_env NODE_RANK "${NODE_RANK}"
  set_env NNODES "${AIINFRA_NODES}"
  set_env GPUS_PER_NODE "${AIINFRA_GPUS_PER_NODE}"
  app_metrics_env 127.0.0.1 || true # host network
  mapfile -t args < <(container_args)
  mapfile -t cmd < <(image_command)
  docker rm -f "${CONTAINER}" >/dev/null 2>&1 || true
  log "job: attempt ${attempt} of run ${RUN_ID} on rank ${NODE_RANK}: ${IMAGE} ${cmd[*]}" >&2
  docker run --name "${CONTAINER}" --rm --network host --ipc host "${args[@]}" \
    "${ENV_NAMES[@]/#/--env=}" "${IMAGE}" "${cmd[@]}" >&2 &
  pid=$!
  grace="$(cloud_stop_grace_seconds)"
  # Once stopping, `docker stop` is repeated until the client exits: a stop sent before the
  # container exists would otherwise be lost.
  local stopping=""
  while kill -0 "${pid}" 2>/dev/null; do
    if [[ -z "${stopping}" ]]; then
      if ((deadline > 0 && $(date +%s) >= deadline)); then
        stopping=watchdog
        log "watchdog: max_runtime of run ${RUN_ID} reached, stopping the container (${grace}s grace)" >&2
      elif cloud_interruption_notice; then
        stopping=interrupted
        log "spot: interruption notice, stopping the container (${grace}s grace) so it can checkpoint" >&2
      fi
    fi
    [[ -z "${stopping}" ]] || docker stop --time "${grace}" "${CONTAINER}" >/dev/null 2>&1 || true
    sleep "${POLL}"
  done
  wait "${pid}" || rc=$?
  if [[ -n "${stopping}" ]]; then
    echo "${stopping}"
  else
    echo "exit ${rc}"
  fi
}

run_rank0() {
  local deadline=0 outcome
  decide_run || return 0
  if ! prepare_image; then
    # An image that cannot be pulled or verified ends the run: no attempt runs anything else.
    log "ERROR: ${IMAGE_ERROR}"
    fail_run "${IMAGE_ERROR}"
    return 0
  fi
  ((AIINFRA_MAX_RUNTIME_SECONDS == 0)) || deadline=$((RUN_STARTED + AIINFRA_MAX_RUNTIME_SECONDS))
  while :; do
    if ((deadline > 0 && $(date +%s) >= deadline)); then
      fail_run "max_runtime (${AIINFRA_MAX_RUNTIME_SECONDS}s) is over before attempt $((RUN_ATTEMPTS + 1))"
      return 0
    fi
    RUN_ATTEMPTS=$((RUN_ATTEMPTS + 1))
    if ((RUN_ATTEMPTS > AIINFRA_RETRIES + 1)); then
      RUN_ATTEMPTS=$((RUN_ATTEMPTS - 1))
      fail_run "${RUN_ATTEMPTS} attempts, retries (${AIINFRA_RETRIES}) spent"
      return 0
    fi
    write_state
    if ((RUN_ATTEMPTS == 1)); then
      job_metric RUN_STARTED
    else
      job_metric RUN_RESTARTED # after a failure, a lost node or a reboot
    fi
    outcome="$(run_container "${RUN_ATTEMPTS}" "${deadline}")"
    case "${outcome}" in
      "exit 0")
        RUN_STATUS="done"
        write_state
        log "job: run ${RUN_ID} done after ${RUN_ATTEMPTS} attempt(s), scaling the groups to zero"
        end_metrics RUN_SUCCEEDED
        cloud_scale_to_zero
        return 0
        ;;
      watchdog)
        fail_run "stopped by the watchdog after max_runtime (${AIINFRA_MAX_RUNTIME_SECONDS}s)"
        return 0
        ;;
      interrupted)
        log "job: this node is being reclaimed; its replacement resumes run ${RUN_ID}"
        return 0
        ;;
      *)
        log "job: attempt ${RUN_ATTEMPTS} of run ${RUN_ID} ended with ${outcome}"
        ((AIINFRA_NODES > 1)) || continue
        # A member may have been replaced: the ranks are worked out again before the next attempt.
        wait_for_members
        if ((NODE_RANK != 0)); then
          log "rank: this node is no longer rank 0, following the new rank 0"
          run_worker "${RUN_ATTEMPTS}"
          return 0
        fi
        ;;
    esac
  done
}

# other ranks: follow rank 0's runs/latest.json, one container per attempt rank 0 records.
run_worker() {
  local seen="${1:-0}" deadline outcome stop
  deadline=$(($(date +%s) + STATE_TIMEOUT))
  while :; do
    if read_state && [[ "${RUN_STATUS}" != running ]]; then
      log "job: run ${RUN_ID} ${RUN_STATUS}; rank ${NODE_RANK} idles until the group is scaled down"
      return 0
    fi
    if [[ "${RUN_STATUS}" == running ]] && ((RUN_ATTEMPTS > seen)); then
      if ((seen > 0)); then
        # A member may have been replaced since the last attempt: work the ranks out again.
        wait_for_members
        if ((NODE_RANK == 0)); then
          log "rank: this node is rank 0 now, taking run ${RUN_ID} over"
          run_rank0
          return 0
        fi
      fi
      seen="${RUN_ATTEMPTS}"
      stop=0
      ((AIINFRA_MAX_RUNTIME_SECONDS == 0)) || stop=$((RUN_STARTED + AIINFRA_MAX_RUNTIME_SECONDS))
      outcome="$(run_container "${seen}" "${stop}")"
      log "job: rank ${NODE_RANK} attempt ${seen} of run ${RUN_ID} ended with ${outcome}"
      [[ "${outcome}" != interrupted ]] || return 0
      deadline=$(($(date +%s) + STATE_TIMEOUT))
      continue
    fi
    # Rank 0 lost for good: exit non-zero, systemd starts the boot again and the ranks are redone.
    (($(date +%s) < deadline)) || die "job: no new attempt from rank 0 after ${STATE_TIMEOUT}s"
    sleep "${POLL}"
  done
}

run_job() {
  wait_for_members
  if ((NODE_RANK >= AIINFRA_NODES)); then
    log "rank: ${AIINFRA_NODES} nodes are enough for a run; this spare node idles"
    return 0
  fi
  if ((NODE_RANK == 0)); then
    run_rank0
  else
    # Rank 0 pulls and verifies the same image and ends the run as failed if it cannot.
    prepare_image || die "${IMAGE_ERROR}"
    run_worker 0
  fi
}

on_term() {
  log "stopping: the node is shutting down, giving the container time to checkpoint"
  docker stop --time "$(cloud_stop_grace_seconds)" "${CONTAINER}" >/dev/null 2>&1 || true
  exit 143
}

# ---------------------------------------------------------------- main

main() {
  mkdir -p "${STATE_DIR}"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${STATE_DIR}/boot.lock"
    flock -n 9 || die "another aiinfra boot is running on this node"
  fi
  log "boot: ${AIINFRA_KIND} workload on ${AIINFRA_CLOUD} (${AIINFRA_REGION}), groups ${AIINFRA_GROUPS}"
  cloud_init
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
