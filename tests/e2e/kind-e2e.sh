#!/usr/bin/env bash
# End-to-end on a real cluster: create a kind cluster, build and load the images, install the
# chart, then run tests/e2e (an example ScanJob must converge and, with the platform installed,
# report its run). Needs Docker and kind; helm comes from scripts/install-helm.sh.
#
#   bash tests/e2e/kind-e2e.sh            # create, test, delete
#   KEEP_CLUSTER=1 bash tests/e2e/kind-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${KRSTOCK_KIND_CLUSTER:-krstock-e2e}
TAG=${KRSTOCK_E2E_TAG:-e2e}
BIN="$(bash scripts/install-helm.sh)"
HELM="${BIN}/helm"
KUBECTL=$(command -v kubectl || echo "${BIN}/kubectl")
KUBECONFIG_FILE="$(mktemp)"
command -v kind >/dev/null || { echo "kind is required (https://kind.sigs.k8s.io)" >&2; exit 1; }
command -v docker >/dev/null || { echo "docker is required" >&2; exit 1; }

cleanup() {
  if [ -z "${KEEP_CLUSTER:-}" ]; then kind delete cluster --name "${CLUSTER}" || true; fi
  rm -f "${KUBECONFIG_FILE}"
}
trap cleanup EXIT

kind create cluster --name "${CLUSTER}" --kubeconfig "${KUBECONFIG_FILE}" --wait 120s
export KUBECONFIG="${KUBECONFIG_FILE}"

# Both images: the platform (services, workers, migrations) and the operator.
DOCKER_BUILDKIT=1 docker build -f Dockerfile -t "ghcr.io/krstock/krstock:${TAG}" .
docker build -f operator/Dockerfile -t "ghcr.io/krstock/krstock-operator:${TAG}" .
kind load docker-image --name "${CLUSTER}" "ghcr.io/krstock/krstock:${TAG}"
kind load docker-image --name "${CLUSTER}" "ghcr.io/krstock/krstock-operator:${TAG}"

# The whole platform with the throwaway dev passwords (tilt/dev-values.yaml); --wait-for-jobs
# waits for the migration Job too.
"${HELM}" upgrade --install krstock charts/krstock --namespace krstock --create-namespace \
  -f tilt/dev-values.yaml \
  --set image.tag="${TAG}" --set image.pullPolicy=Never \
  --set operator.image.tag="${TAG}" --set operator.image.pullPolicy=Never \
  --set operator.resyncSeconds=10 --wait --wait-for-jobs --timeout 600s
"${KUBECTL}" -n krstock rollout status deployment/krstock-operator --timeout=120s
"${HELM}" test krstock --namespace krstock --timeout 120s

KRSTOCK_E2E_KUBECONFIG="${KUBECONFIG_FILE}" KRSTOCK_E2E_KUBECTL="${KUBECTL}" \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e -m e2e
