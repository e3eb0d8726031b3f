#!/bin/bash
# aiinfra boot, GCP startup script (the "startup-script" metadata value; it runs at every boot).
# It fetches the rendered boot files from the instance's metadata (aiinfra-node-sh, aiinfra-gcp-sh,
# aiinfra-workload-env and, when the workload has one, aiinfra-agent-config), writes them under
# /var/lib/aiinfra and runs node.sh as the transient systemd unit aiinfra-boot.service, so the job
# outlives the startup-script service and its output reaches the journal and the serial console. /var is noexec on Container-Optimized OS: the files
# run with `bash file`, never as executables.
# https://cloud.google.com/compute/docs/instances/startup-scripts/linux
set -euo pipefail

MD="${AIINFRA_GCE_METADATA:-http://metadata.google.internal}/computeMetadata/v1"
DIR="${AIINFRA_ROOT:-}/var/lib/aiinfra"

log() {
  printf 'aiinfra-boot[startup]: %s\n' "$*"
}

fetch() {
  local key="$1" dest="$2" tries=0
  until curl -fsS --max-time 10 -H 'Metadata-Flavor: Google' -o "${dest}.new" "${MD}/instance/attributes/${key}"; do
    if ((tries++ >= 30)); then
      log "ERROR: cannot read metadata key ${key}"
      exit 1
    fi
    sleep 5
  done
  mv -f "${dest}.new" "${dest}"
}

# fetch_optional KEY DEST: as fetch, for a key only some workloads have (404: no file).
fetch_optional() {
  local code
  code="$(curl -sS --max-time 10 -H 'Metadata-Flavor: Google' -o "$2.new" -w '%{http_code}' "${MD}/instance/attributes/$1" || true)"
  case "${code}" in
    200) mv -f "$2.new" "$2" ;;
    404) rm -f "$2.new" "$2" ;;
    *) fetch "$1" "$2" ;;
  esac
}

mkdir -p "${DIR}"
fetch aiinfra-node-sh "${DIR}/node.sh"
fetch aiinfra-gcp-sh "${DIR}/gcp.sh"
fetch aiinfra-workload-env "${DIR}/workload.env"
fetch_optional aiinfra-agent-config "${DIR}/agent.yaml"
log "boot files written to ${DIR}"

if systemctl is-active --quiet aiinfra-boot.service; then
  log "aiinfra-boot.service is already running"
  exit 0
fi
systemctl reset-failed aiinfra-boot.service >/dev/null 2>&1 || true
systemd-run --unit aiinfra-boot --description "aiinfra node boot" \
  --property StandardOutput=journal+console --property StandardError=journal+console \
  --property Restart=on-failure --property RestartSec=30 --property TimeoutStopSec=60 \
  /bin/bash "${DIR}/node.sh"
log "started aiinfra-boot.service"
