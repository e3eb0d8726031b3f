#!/usr/bin/env bash
# aiinfra boot, GCP adapter: the metadata server, disks, host preparation (COS GPU drivers,
# GPUDirect-TCPX / TCPXO daemons, the gIB RDMA plugin), the Ops Agent, the managed instance
# groups, the Cloud Storage state and the job metrics (Cloud Monitoring). Sourced by node.sh,
# which defines log, die, ROOT, STATE_DIR, POLL, IMAGE, BUCKET and the AIINFRA_* settings; aws.sh
# has the same functions. Container-Optimized OS has no gcloud, so every API call is curl with the
# metadata server's access token for the node's service account.
#
# Images (aiinfra.boot.IMAGES): A3 High (TCPX), A3 Mega (TCPXO) and CPU nodes run
# Container-Optimized OS; A3 Ultra (RDMA) the Ubuntu accelerator image; other GPU shapes the Deep
# Learning VM image. COS: / is read-only, /var is writable but noexec, /mnt/disks is writable
# (tmpfs), /etc is stateless: mounts are made again at every boot, nothing relies on /etc/fstab.
# https://cloud.google.com/container-optimized-os/docs/concepts/disks-and-filesystem

MD="${AIINFRA_GCE_METADATA:-http://metadata.google.internal}/computeMetadata/v1"
COMPUTE_API="${AIINFRA_GCP_API_BASE:-https://compute.googleapis.com}/compute/v1"
STORAGE_API="${AIINFRA_GCP_API_BASE:-https://storage.googleapis.com}/storage/v1"
UPLOAD_API="${AIINFRA_GCP_API_BASE:-https://storage.googleapis.com}/upload/storage/v1"
MONITORING_API="${AIINFRA_GCP_API_BASE:-https://monitoring.googleapis.com}/v3"
# Cloud TPU API v2 (TPU VMs): https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes
TPU_API="${AIINFRA_GCP_API_BASE:-https://tpu.googleapis.com}/v2"
# COS's root (and root's home) is read-only: docker keeps its registry logins here instead.
export DOCKER_CONFIG="${STATE_DIR}/docker"

# Receive-datapath-manager and NCCL plugin images, pinned as Google's manifests publish them:
# TCPX https://raw.githubusercontent.com/GoogleCloudPlatform/container-engine-accelerators/master/gpudirect-tcpx/nccl-test.yaml
# TCPXO https://raw.githubusercontent.com/GoogleCloudPlatform/container-engine-accelerators/master/gpudirect-tcpxo/nccl-test.yaml
# gIB (by the digest in the release notes) https://docs.cloud.google.com/ai-hypercomputer/docs/nccl/release-notes-x86
TCPX_RXDM_IMAGE="us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/tcpgpudmarxd-dev:v2.0.9"
TCPX_PLUGIN_IMAGE="us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpx/nccl-plugin-gpudirecttcpx-dev:v3.1.9"
TCPXO_RXDM_IMAGE="us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/tcpgpudmarxd-dev:v1.0.21"
TCPXO_PLUGIN_IMAGE="us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.15"
GIB_PLUGIN_IMAGE="us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.1.2@sha256:b71627dcf88862cd0e64434dfd0224441960db58f2022f94b5f56123659c207e"

# ---------------------------------------------------------------- metadata server and APIs

# md PATH: GET a metadata server path (404 -> empty output, status 1).
# https://cloud.google.com/compute/docs/metadata/querying-metadata
md() {
  curl -fsS --max-time 10 -H 'Metadata-Flavor: Google' "${MD}/$1" 2>/dev/null
}

# The node service account's OAuth token; it lives only in this process and docker's login.
# https://cloud.google.com/compute/docs/access/authenticate-workloads#applications
access_token() {
  md instance/service-accounts/default/token | tr -d '\n' |
    sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

# api METHOD URL [curl args...]: an authenticated Google API call; the body goes to stdout.
api() {
  local method="$1" url="$2" token
  shift 2
  token="$(access_token)"
  [[ -n "${token}" ]] || die "api: no access token from the metadata server"
  curl -fsS --retry 3 --max-time 60 -X "${method}" -H "Authorization: Bearer ${token}" "$@" "${url}"
}

project_id() {
  if [[ -n "${AIINFRA_PROJECT}" ]]; then
    printf '%s\n' "${AIINFRA_PROJECT}"
  else
    md project/project-id
  fi
}

cloud_init() {
  local tries=0
  until md instance/id >/dev/null; do
    ((tries++ < 30)) || die "metadata: ${MD} does not answer"
    sleep "${POLL}"
  done
  mkdir -p "${DOCKER_CONFIG}"
}

cloud_instance_id() { md instance/name; }
cloud_private_ip() { md instance/network-interfaces/0/ip; }

# cloud_metadata KEY: the instance metadata attribute KEY (empty when it is not set).
cloud_metadata() {
  md "instance/attributes/$1" || true
}

cloud_uri_scheme() { echo gs; }

# Spot VMs get 30 s between the preemption notice and the stop; the container gets 25 of them.
# https://cloud.google.com/compute/docs/instances/spot#preemption-process
cloud_stop_grace_seconds() { echo 25; }

# cloud_interruption_notice: prints "spot" once this Spot VM is preempted, or "maintenance" once a
# host maintenance event is scheduled: GPU VMs cannot live-migrate, the metadata value turns
# TERMINATE_ON_HOST_MAINTENANCE an hour before the VM is stopped (and restarted: the run resumes
# from its checkpoint without spending a retry).
# https://cloud.google.com/compute/docs/gpus/gpu-host-maintenance
# https://cloud.google.com/compute/docs/metadata/getting-live-migration-notice
cloud_interruption_notice() {
  local event
  if [[ "$(md instance/preempted || true)" == TRUE ]]; then
    echo spot
    return 0
  fi
  event="$(md instance/maintenance-event || true)"
  [[ -n "${event}" && "${event}" != NONE ]] && echo maintenance
}

is_cos() {
  grep -qs '^ID=cos$' "${ROOT}/etc/os-release"
}

# ---------------------------------------------------------------- disks

cloud_existing_scratch() { :; }

cloud_mount_dir() { printf '%s\n' "${ROOT}/mnt/disks/$1"; }

# Local SSDs appear as google-local-nvme-ssd-N (NVMe) or google-local-ssd-N (SCSI).
# https://cloud.google.com/compute/docs/disks/add-local-ssd
cloud_scratch_devices() {
  local dev
  for dev in "${ROOT}"/dev/disk/by-id/google-local-nvme-ssd-* "${ROOT}"/dev/disk/by-id/google-local-ssd-*; do
    [[ -e "${dev}" ]] && printf '%s\n' "${dev}"
  done
  return 0
}

# The data disk is attached with device_name "data": /dev/disk/by-id/google-data.
# https://cloud.google.com/compute/docs/disks/format-mount-disk-linux
cloud_data_device() {
  local dev="${ROOT}/dev/disk/by-id/google-data"
  [[ ! -e "${dev}" ]] || printf '%s\n' "${dev}"
}

# ---------------------------------------------------------------- host

# exec_mount DIR: COS mounts /var noexec; the driver and plugin directories need exec.
exec_mount() {
  mkdir -p "$1"
  mountpoint -q "$1" || mount --bind "$1" "$1"
  mount -o remount,exec "$1"
}

# cloud_boot_file NAME: a boot file the startup script does not fetch, from metadata aiinfra-<name, . as ->.
cloud_boot_file() {
  md "instance/attributes/aiinfra-${1//./-}" >"${BOOT_DIR}/$1" || die "metadata: aiinfra-${1//./-} is missing"
}

# cloud_exec_dir DIR: where image.sh keeps cosign (/var is noexec on COS).
cloud_exec_dir() {
  if is_cos; then
    exec_mount "$1"
  else
    mkdir -p "$1"
  fi
}

accept_tcp() {
  iptables -w -C INPUT "$@" -j ACCEPT 2>/dev/null || iptables -w -I INPUT "$@" -j ACCEPT
}

# Docker and the NVIDIA Container Toolkit where the image lacks them (the Ubuntu accelerator
# image ships the driver only).
# https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html
install_docker_apt() {
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v docker >/dev/null 2>&1; then
    log "host: installing docker.io"
    apt-get update -q
    apt-get install -y -q --no-install-recommends docker.io
  fi
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == cuda ]] && ! command -v nvidia-ctk >/dev/null 2>&1; then
    log "host: installing the NVIDIA Container Toolkit"
    curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey |
      gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
    curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
      sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
        >/etc/apt/sources.list.d/nvidia-container-toolkit.list
    apt-get update -q
    apt-get install -y -q nvidia-container-toolkit
    nvidia-ctk runtime configure --runtime=docker
    systemctl restart docker
  fi
}

cloud_prepare_host() {
  if is_cos; then
    if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == cuda ]]; then
      # COS installs the signed driver under /var/lib/nvidia; the GPUDirect guides ask for the
      # latest driver. https://cloud.google.com/container-optimized-os/docs/how-to/run-gpus
      log "host: installing the GPU driver (cos-extensions)"
      if [[ -n "${AIINFRA_INTERCONNECT}" ]]; then
        cos-extensions install gpu -- --version=latest
      else
        cos-extensions install gpu
      fi
      exec_mount "${ROOT}/var/lib/nvidia"
      export PATH="${PATH}:${ROOT}/var/lib/nvidia/bin"
    fi
    # COS drops inbound TCP on the host; the VPC firewall rules still decide who may connect.
    if [[ "${AIINFRA_KIND}" != inference ]] && ((AIINFRA_NODES > 1)); then
      accept_tcp -p tcp -m tcp
    fi
  else
    install_docker_apt
  fi
  systemctl start docker >/dev/null 2>&1 || true
}

gpu_devices() {
  local dev
  for dev in "${ROOT}"/dev/nvidia[0-9]* "${ROOT}/dev/nvidia-uvm" "${ROOT}/dev/nvidiactl"; do
    [[ -e "${dev}" ]] && printf '%s\n' --device "${dev#"${ROOT}"}:${dev#"${ROOT}"}"
  done
  return 0
}

# COS has no NVIDIA Container Toolkit: the devices and the driver's libraries go in by hand.
# TPU VMs: the container runs privileged on the host network, as Google's "Run TPU workloads in a
# Docker container" does (docker run --net=host --privileged ...; node.sh runs every job container
# with --network host): https://cloud.google.com/tpu/docs/run-in-container
cloud_gpu_docker_args() {
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == tpu ]]; then
    printf '%s\n' --privileged
    return 0
  fi
  if is_cos; then
    gpu_devices
    printf '%s\n' --volume "${ROOT}/var/lib/nvidia/lib64:/usr/local/nvidia/lib64" \
      --volume "${ROOT}/var/lib/nvidia/bin:/usr/local/nvidia/bin"
  else
    printf '%s\n' --gpus all
  fi
}

cloud_open_port() {
  if is_cos; then
    accept_tcp -p tcp --dport "$1"
  fi
}

cloud_registry_login() {
  local host
  host="${1%%/*}"
  # Artifact Registry and Container Registry take the access token as a password.
  # https://cloud.google.com/artifact-registry/docs/docker/authentication#token
  if [[ "${host}" == *-docker.pkg.dev || "${host}" == gcr.io || "${host}" == *.gcr.io ]]; then
    log "docker: logging in to ${host} with the node's service account"
    access_token | docker login --username oauth2accesstoken --password-stdin "https://${host}" >/dev/null
  fi
}

# ---------------------------------------------------------------- GPUDirect / RDMA

# GPUDirect-TCPX on A3 High with COS: https://cloud.google.com/compute/docs/gpus/gpudirect
setup_tcpx() {
  local -a devs
  mapfile -t devs < <(gpu_devices)
  accept_tcp -p tcp -m tcp
  mkdir -p "${ROOT}/run/tcpx"
  docker rm -f receive-datapath-manager >/dev/null 2>&1 || true
  log "tcpx: starting the receive-datapath-manager (${TCPX_RXDM_IMAGE})"
  docker run --detach --restart unless-stopped --name receive-datapath-manager --privileged \
    --cap-add=NET_ADMIN --network=host "${devs[@]}" \
    --volume "${ROOT}/var/lib/nvidia/lib64:/usr/local/nvidia/lib64" \
    --volume "${ROOT}/run/tcpx:/run/tcpx" --env LD_LIBRARY_PATH=/usr/local/nvidia/lib64 \
    --entrypoint /tcpgpudmarxd/build/app/tcpgpudmarxd "${TCPX_RXDM_IMAGE}" \
    --gpu_nic_preset a3vm --gpu_shmem_type fd --uds_path /run/tcpx --setup_param "--verbose 128 2 0" >/dev/null
  log "tcpx: installing the NCCL plugin (${TCPX_PLUGIN_IMAGE})"
  docker run --rm --volume "${ROOT}/var/lib:/var/lib" "${TCPX_PLUGIN_IMAGE}" install --install-nccl
  exec_mount "${ROOT}/var/lib/tcpx"
}

# aperture_devices: each A3 Mega NIC's PCI aperture (vendor 0x1ae0, device 0x0084) bind-mounted
# under /dev/aperture_devices/<BDF>, its resource files writable, as Google's installer does
# (lspci -nn -D | grep '1ae0:0084', mount --bind of /sys/bus/pci/devices/<BDF>; slurm-gcp's udev
# rule matches the same ATTR{vendor} / ATTR{device}). Reads sysfs directly: COS has no lspci.
# https://github.com/GoogleCloudPlatform/container-engine-accelerators/blob/master/gpudirect-tcpxo/nccl-tcpxo-installer.yaml
aperture_devices() {
  local dev bdf target n=0
  mkdir -p "${ROOT}/dev/aperture_devices"
  for dev in "${ROOT}"/sys/bus/pci/devices/*; do
    [[ "$(cat "${dev}/vendor" 2>/dev/null)" == 0x1ae0 && "$(cat "${dev}/device" 2>/dev/null)" == 0x0084 ]] || continue
    bdf="${dev##*/}"
    target="${ROOT}/dev/aperture_devices/${bdf}"
    mkdir -p "${target}"
    mountpoint -q "${target}" || mount --bind "$(readlink -f "${dev}")" "${target}"
    chmod a+rw "$(readlink -f "${dev}")"/resource* 2>/dev/null || true # the same files as under the mount
    n=$((n + 1))
  done
  log "tcpxo: ${n} aperture devices under /dev/aperture_devices"
  ((n > 0)) || die "tcpxo: no PCI aperture device (1ae0:0084) found; this is not an A3 Mega VM"
}

# GPUDirect-TCPXO on A3 Mega: the dmabuf import helper module, the NICs' aperture devices, the
# receive-datapath-manager (RxDM) and the NCCL plugin, then a bounded wait for the RxDM's "Buffer
# manager initialization complete" line before any job starts, as slurm-gcp's RxDM prolog does
# (modprobe import-helper; 60 x 2 s). RxDM >= v1.0.20 takes --num_hops only (the other flags are
# retired). https://docs.cloud.google.com/cluster-toolkit/docs/machine-learning/a3-mega-enable-gpudirect-tcpxo
# https://github.com/GoogleCloudPlatform/slurm-gcp/blob/master/tools/prologs-epilogs/receive-data-path-manager-mega
setup_tcpxo() {
  local -a devs
  local tries=0
  mapfile -t devs < <(gpu_devices)
  modprobe import-helper || die "tcpxo: modprobe import-helper failed (the dmabuf import helper module)"
  [[ -e "${ROOT}/dev/dmabuf_import_helper" ]] || die "tcpxo: /dev/dmabuf_import_helper is missing after modprobe import-helper"
  aperture_devices
  accept_tcp -p tcp -m tcp
  log "tcpxo: installing the NCCL plugin (${TCPXO_PLUGIN_IMAGE})"
  docker run --rm --network=host --volume "${ROOT}/var/lib:/var/lib" "${TCPXO_PLUGIN_IMAGE}" install --install-nccl
  exec_mount "${ROOT}/var/lib/tcpxo"
  docker rm -f receive-datapath-manager >/dev/null 2>&1 || true
  log "tcpxo: starting the receive-datapath-manager (${TCPXO_RXDM_IMAGE})"
  docker run --detach --restart unless-stopped --name receive-datapath-manager --privileged \
    --cap-add=NET_ADMIN --network=host "${devs[@]}" --device /dev/dmabuf_import_helper:/dev/dmabuf_import_helper \
    --volume "${ROOT}/var/lib/nvidia/lib64:/usr/local/nvidia/lib64" --env LD_LIBRARY_PATH=/usr/local/nvidia/lib64 \
    "${TCPXO_RXDM_IMAGE}" --num_hops=2 >/dev/null
  until docker logs receive-datapath-manager 2>&1 | grep -q 'Buffer manager initialization complete'; do
    ((tries++ < 60)) || die "tcpxo: the receive-datapath-manager is not ready after 120 s"
    sleep 2
  done
  log "tcpxo: the receive-datapath-manager is ready"
}

# gIB on A3 Ultra: the installer container writes the plugin to /var/lib/gib, mounted from the
# host's /usr/local/gib (as Google's installer DaemonSet copies it out).
# https://raw.githubusercontent.com/GoogleCloudPlatform/container-engine-accelerators/master/gpudirect-rdma/nccl-rdma-installer.yaml
# https://docs.cloud.google.com/ai-hypercomputer/docs/nccl/test-vms
setup_rdma() {
  mkdir -p "${ROOT}/usr/local/gib"
  log "rdma: installing the gIB NCCL plugin (${GIB_PLUGIN_IMAGE})"
  docker run --rm --volume "${ROOT}/usr/local/gib:/var/lib/gib" --entrypoint /scripts/container_entry.sh \
    "${GIB_PLUGIN_IMAGE}" install --install-nccl
}

cloud_interconnect_setup() {
  case "${AIINFRA_INTERCONNECT}" in
    tcpx) setup_tcpx ;;
    tcpxo) setup_tcpxo ;;
    rdma) setup_rdma ;;
  esac
}

cloud_interconnect_docker_args() {
  local dev
  printf '%s\n' --cap-add IPC_LOCK
  case "${AIINFRA_INTERCONNECT}" in
    tcpx)
      printf '%s\n' --volume "${ROOT}/var/lib/tcpx/lib64:/usr/local/tcpx/lib64:ro" --volume "${ROOT}/run/tcpx:/run/tcpx"
      ;;
    tcpxo)
      printf '%s\n' --volume "${ROOT}/var/lib/tcpxo/lib64:/var/lib/tcpxo/lib64:ro" \
        --volume "${ROOT}/dev/aperture_devices:/dev/aperture_devices"
      ;;
    rdma)
      for dev in "${ROOT}"/dev/infiniband/*; do
        [[ -e "${dev}" ]] && printf '%s\n' --device "${dev#"${ROOT}"}"
      done
      printf '%s\n' --volume "${ROOT}/usr/local/gib:/usr/local/gib:ro"
      ;;
  esac
}

# profile_env SCRIPT [VAR=value...]: the NCCL_* settings a published env script exports.
profile_env() {
  local script="$1"
  shift
  [[ -f "${script}" ]] || die "interconnect: ${script} is missing (did the plugin install run?)"
  (
    set +eu
    unset "${!NCCL_@}"
    export LD_LIBRARY_PATH=""
    local kv
    for kv in "$@"; do export "${kv?}"; done
    # shellcheck source=/dev/null  # installed by the plugin container at boot
    source "${script}" >/dev/null
    env
  ) | grep '^NCCL_'
}

# The NCCL settings of the TCPX guide (COS names the NICs eth0..eth4).
tcpx_env() {
  cat <<'EOF'
NCCL_SOCKET_IFNAME=eth0
NCCL_CROSS_NIC=0
NCCL_ALGO=Ring
NCCL_PROTO=Simple
NCCL_NSOCKS_PERTHREAD=4
NCCL_SOCKET_NTHREADS=1
NCCL_DYNAMIC_CHUNK_SIZE=524288
NCCL_P2P_NET_CHUNKSIZE=524288
NCCL_P2P_PCI_CHUNKSIZE=524288
NCCL_P2P_NVL_CHUNKSIZE=1048576
NCCL_BUFFSIZE=4194304
NCCL_NET_GDR_LEVEL=PIX
NCCL_P2P_PXN_LEVEL=0
NCCL_GPUDIRECTTCPX_SOCKET_IFNAME=eth1,eth2,eth3,eth4
NCCL_GPUDIRECTTCPX_CTRL_DEV=eth0
NCCL_GPUDIRECTTCPX_TX_BINDINGS=eth1:8-21,112-125;eth2:8-21,112-125;eth3:60-73,164-177;eth4:60-73,164-177
NCCL_GPUDIRECTTCPX_RX_BINDINGS=eth1:22-35,126-139;eth2:22-35,126-139;eth3:74-87,178-191;eth4:74-87,178-191
NCCL_GPUDIRECTTCPX_PROGRAM_FLOW_STEERING_WAIT_MICROS=50000
NCCL_GPUDIRECTTCPX_FORCE_ACK=0
NCCL_GPUDIRECTTCPX_UNIX_CLIENT_PREFIX=/run/tcpx
EOF
}

cloud_container_env() {
  local ld="" base
  case "${AIINFRA_INTERCONNECT}" in
    tcpx)
      tcpx_env
      ld=/usr/local/tcpx/lib64
      ;;
    tcpxo)
      # The plugin's own profile, then the interface names of A3 Mega on COS.
      profile_env "${ROOT}/var/lib/tcpxo/lib64/nccl-env-profile.sh" NCCL_LIB_DIR=/var/lib/tcpxo/lib64
      printf '%s\n' NCCL_SOCKET_IFNAME=eth0 NCCL_FASTRAK_CTRL_DEV=eth0 \
        NCCL_FASTRAK_IFNAME=eth1,eth2,eth3,eth4,eth5,eth6,eth7,eth8 \
        NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY=/dev/aperture_devices
      ld=/var/lib/tcpxo/lib64
      ;;
    rdma)
      profile_env "${ROOT}/usr/local/gib/scripts/set_nccl_env.sh"
      ld=/usr/local/gib/lib64
      ;;
  esac
  if is_cos && [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == cuda ]]; then
    ld="${ld:+${ld}:}/usr/local/nvidia/lib64"
  fi
  if [[ -n "${ld}" ]]; then
    base="$(image_env "${IMAGE}" LD_LIBRARY_PATH)"
    printf 'LD_LIBRARY_PATH=%s\n' "${ld}${base:+:${base}}"
  fi
}

# ---------------------------------------------------------------- logs

# The container's output goes straight to Cloud Logging with docker's gcplogs driver (project,
# zone and instance from the metadata server, the node's service account writes; entries carry the
# command and the run's variables). https://docs.docker.com/engine/logging/drivers/gcplogs/
cloud_log_docker_args() {
  printf '%s\n' --log-driver gcplogs --log-opt gcp-log-cmd=true \
    --log-opt env=AIINFRA_WORKLOAD,AIINFRA_RUN_ID,AIINFRA_ATTEMPT,NODE_RANK
}

# ---------------------------------------------------------------- Ops Agent

# Installed with Google's repository script when absent, configured at its documented path and
# restarted (the sub-agents are PartOf the main unit). Container-Optimized OS is not among its
# supported systems and has no package manager: COS's node-problem-detector reports health
# metrics only, and no GPU or container metrics are collected there.
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/installation
# https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/configuration
# https://cloud.google.com/container-optimized-os/docs/how-to/monitoring
cloud_agent_start() {
  local cfg="${ROOT}/etc/google-cloud-ops-agent/config.yaml" script="${STATE_DIR}/add-google-cloud-ops-agent-repo.sh"
  if is_cos; then
    log "agent: the Ops Agent does not run on Container-Optimized OS; starting node-problem-detector (health metrics only)"
    systemctl start node-problem-detector || log "agent: node-problem-detector did not start"
    return 1
  fi
  if [[ ! -x "${ROOT}/opt/google-cloud-ops-agent/libexec/google_cloud_ops_agent_engine" ]]; then
    log "agent: installing the Ops Agent"
    curl -fsSL --retry 3 -o "${script}" https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh || return 1
    bash "${script}" --also-install || return 1
  fi
  mkdir -p "${cfg%/*}" || return 1
  cp "${BOOT_DIR}/agent.yaml" "${cfg}" || return 1
  systemctl restart google-cloud-ops-agent
}

# cloud_app_metrics_env HOST: the agent's OTLP receiver (gRPC), as the container reaches it.
cloud_app_metrics_env() { echo "AIINFRA_OTLP_ENDPOINT=http://$1:${AIINFRA_APP_METRICS_PORT}"; }

# ---------------------------------------------------------------- groups, state, metric

instance_ip() {
  # instance URL .../projects/P/zones/Z/instances/N -> its nic0 address.
  # https://cloud.google.com/compute/docs/reference/rest/v1/instances/get
  # One address a line: sed prints its last line without a newline when its input has none, and
  # the members of a group are read line by line.
  local path="${1#*/compute/v1/}" ip
  ip="$(api GET "${COMPUTE_API}/${path}?fields=networkInterfaces(networkIP)" | tr -d '\n\r\t ' |
    sed -n 's/[^[]*\[{"networkIP":"\([^"]*\)".*/\1/p')"
  [[ -z "${ip}" ]] || printf '%s\n' "${ip}"
}

# Members: RUNNING instances of every group of the workload.
# https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/listManagedInstances
cloud_group_members() {
  local project g obj url status
  project="$(project_id)"
  for g in ${AIINFRA_GROUPS}; do
    while read -r obj; do
      url="$(sed -n 's/.*"instance":"\([^"]*\)".*/\1/p' <<<"${obj}")"
      status="$(sed -n 's/.*"instanceStatus":"\([^"]*\)".*/\1/p' <<<"${obj}")"
      if [[ -n "${url}" && "${status}" == RUNNING ]]; then
        instance_ip "${url}"
      fi
    done < <(api POST "${COMPUTE_API}/projects/${project}/regions/${AIINFRA_REGION}/instanceGroupManagers/${g}/listManagedInstances?fields=managedInstances(instance,instanceStatus)" \
      -H 'Content-Length: 0' | tr -d '\n\r\t ' | grep -o '{[^{}]*}' || true)
  done
}

# https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/resize
# A TPU VM is no group's member: the run's end deletes the node itself (AIINFRA_GROUPS is its node
# id), in the zone the metadata server names (projects/NUMBER/zones/ZONE), as the run schedule's
# hard stop does. https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/delete
cloud_scale_to_zero() {
  local project g zone
  project="$(project_id)"
  if [[ "${AIINFRA_ACCELERATOR_RUNTIME}" == tpu ]]; then
    zone="$(md instance/zone)"
    zone="${zone##*/}"
    for g in ${AIINFRA_GROUPS}; do
      api DELETE "${TPU_API}/projects/${project}/locations/${zone}/nodes/${g}" >/dev/null
      log "tpu: node ${g} deleted (${zone})"
    done
    return 0
  fi
  for g in ${AIINFRA_GROUPS}; do
    api POST "${COMPUTE_API}/projects/${project}/regions/${AIINFRA_REGION}/instanceGroupManagers/${g}/resize?size=0" \
      -H 'Content-Length: 0' >/dev/null
    log "group: ${g} resized to zero"
  done
}

# state_object [NAME]: the object name of runs/NAME (latest.json), escaped for a URL.
state_object() {
  # The prefix holds only [A-Za-z0-9._-] and "/" (BootConfig checks it): "/" is all to escape.
  local name="${AIINFRA_OBJECT_PREFIX}/runs/${1:-latest.json}"
  printf '%s\n' "${name//\//%2F}"
}

# cloud_state_get FILE [NAME]: runs/NAME (latest.json) into FILE; status 1 when there is none yet.
# https://cloud.google.com/storage/docs/json_api/v1/objects/get
cloud_state_get() {
  local code token tries=0
  while :; do
    token="$(access_token)"
    code="$(curl -sS --max-time 60 -o "$1" -w '%{http_code}' -H "Authorization: Bearer ${token}" \
      "${STORAGE_API}/b/${BUCKET}/o/$(state_object "${2:-}")?alt=media" || true)"
    case "${code}" in
      200) return 0 ;;
      404)
        rm -f "$1"
        return 1
        ;;
    esac
    ((tries++ < 5)) || die "state: cannot read gs://${BUCKET}/${AIINFRA_OBJECT_PREFIX}/runs/${2:-latest.json} (HTTP ${code})"
    sleep "${POLL}"
  done
}

# cloud_state_put FILE [NAME] https://cloud.google.com/storage/docs/json_api/v1/objects/insert
cloud_state_put() {
  api POST "${UPLOAD_API}/b/${BUCKET}/o?uploadType=media&name=$(state_object "${2:-}")" \
    -H 'Content-Type: application/json' --data-binary "@$1" >/dev/null
}

# cloud_put_job_metric TYPE UNIT VALUE_TYPE VALUE: one gauge point of a job metric.
# https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/create
cloud_put_job_metric() {
  local project now value="{\"doubleValue\": $4}"
  project="$(project_id)" || return 1
  now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  [[ "$3" != INT64 ]] || value="{\"int64Value\": \"$4\"}"
  api POST "${MONITORING_API}/projects/${project}/timeSeries" -H 'Content-Type: application/json' \
    --data-binary @- <<EOF
{"timeSeries": [{"metric": {"type": "$1", "labels": {"${AIINFRA_JOB_METRIC_LABEL}": "${AIINFRA_METRIC_ID}"}}, "resource": {"type": "${AIINFRA_JOB_METRIC_RESOURCE}", "labels": {"project_id": "${project}"}}, "points": [{"interval": {"endTime": "${now}"}, "value": ${value}}]}]}
EOF
}
