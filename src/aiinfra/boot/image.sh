#!/usr/bin/env bash
# aiinfra boot, the image's signature check (BootConfig.signing_key): a boot file only when a key is
# set, sourced by node.sh (log, die, STATE_DIR, IMAGE, IMAGE_ERROR, AIINFRA_*) after the adapter.
set -euo pipefail

# image_error MESSAGE: why the image cannot be used (node.sh ends the run or does not serve).
image_error() {
  IMAGE_ERROR="$*"
  log "image: ${IMAGE_ERROR}"
}

# cosign, pinned: the release binaries' sha256 as published in the release's cosign_checksums.txt
# (https://github.com/sigstore/cosign/releases/download/v3.0.6/cosign_checksums.txt), copied from
# sigstore/cosign-installer's action.yml, which pins the same release
# (https://github.com/sigstore/cosign-installer/blob/3094a48ba06382e0e6cfa5a4af4fcc55fc6942b9/action.yml).
COSIGN_VERSION="v3.0.6"
COSIGN_SHA256_AMD64="c956e5dfcac53d52bcf058360d579472f0c1d2d9b69f55209e256fe7783f4c74"
COSIGN_SHA256_ARM64="bedac92e8c3729864e13d4a17048007cfafa79d5deca993a43a90ffe018ef2b8"

# install_cosign: the pinned cosign release for this CPU, kept only when its sha256 is the published
# one (a download that does not match is deleted and the image is not used). Sets COSIGN.
install_cosign() {
  local arch sum bin dir got
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 sum="${COSIGN_SHA256_AMD64}" ;;
    aarch64 | arm64) arch=arm64 sum="${COSIGN_SHA256_ARM64}" ;;
    *)
      image_error "cosign: no pinned build for $(uname -m)"
      return 1
      ;;
  esac
  sum="${AIINFRA_COSIGN_SHA256:-${sum}}"
  dir="${STATE_DIR}/bin"
  cloud_exec_dir "${dir}"
  bin="${dir}/cosign-${COSIGN_VERSION}"
  if [[ ! -x "${bin}" || "$(sha256sum "${bin}" | cut -d ' ' -f 1)" != "${sum}" ]]; then
    log "cosign: downloading ${COSIGN_VERSION} (linux-${arch})"
    if ! curl -fsSL --retry 3 --max-time 300 -o "${bin}.new" \
      "${AIINFRA_COSIGN_URL:-https://github.com/sigstore/cosign/releases/download/${COSIGN_VERSION}/cosign-linux-${arch}}"; then
      rm -f "${bin}.new"
      image_error "cosign: cannot download ${COSIGN_VERSION}"
      return 1
    fi
    got="$(sha256sum "${bin}.new" | cut -d ' ' -f 1)"
    if [[ "${got}" != "${sum}" ]]; then
      rm -f "${bin}.new"
      image_error "cosign: the download's sha256 is ${got}, the published one is ${sum}; not used"
      return 1
    fi
    chmod 0755 "${bin}.new"
    mv -f "${bin}.new" "${bin}"
  fi
  COSIGN="${bin}"
}

# image_repo REF: REF without its tag and digest (a registry port is not a tag).
image_repo() {
  local repo="${1%@*}"
  if [[ "${repo##*/}" == *:* ]]; then
    repo="${repo%:*}"
  fi
  printf '%s\n' "${repo}"
}

# verify_image: cosign checks the signature of IMAGE with the workload's key (a PEM key from a file;
# awskms:// and gcpkms:// keys are read by cosign with the node's role / service account) and the
# registry credentials docker was given (cosign reads the same docker config:
# https://github.com/sigstore/cosign/blob/v3.0.6/cmd/cosign/cli/options/registry.go). IMAGE becomes
# <repo>@<the digest cosign verified>, so the container that runs is the image that was verified.
# cosign prints the verified payloads as JSON, critical.image.docker-manifest-digest each
# (https://github.com/sigstore/cosign/blob/v3.0.6/cmd/cosign/cli/verify/common.go).
verify_image() {
  local key="${AIINFRA_SIGNING_KEY}" out err="${STATE_DIR}/cosign.err" digest=""
  install_cosign || return 1
  if [[ "${key}" == "-----BEGIN"* ]]; then
    printf '%s\n' "${key%$'\n'}" >"${STATE_DIR}/signing-key.pub"
    key="${STATE_DIR}/signing-key.pub"
  fi
  log "cosign: verifying the signature of ${IMAGE}"
  if ! out="$("${COSIGN}" verify --key "${key}" --output json "${IMAGE}" 2>"${err}")"; then
    image_error "cosign: ${IMAGE} is not signed by the workload's key: $(tail -n 3 "${err}" | tr '\n' ' ')"
    return 1
  fi
  digest="$(grep -o '"docker-manifest-digest":[[:space:]]*"sha256:[0-9a-f]\{64\}"' <<<"${out}" |
    grep -o 'sha256:[0-9a-f]\{64\}' | sort -u || true)"
  if [[ ! "${digest}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    image_error "cosign: no single verified digest for ${IMAGE} (got: ${digest:-none})"
    return 1
  fi
  if [[ "${IMAGE}" == *@sha256:* && "${IMAGE##*@}" != "${digest}" ]]; then
    image_error "cosign: verified ${digest}, not the pinned ${IMAGE##*@}"
    return 1
  fi
  IMAGE="$(image_repo "${IMAGE}")@${digest}"
  log "cosign: signature verified, running ${IMAGE}"
}
