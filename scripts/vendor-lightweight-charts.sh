#!/usr/bin/env bash
# Re-fetch the dashboard's charting library from the npm registry at the pinned version, check
# the package tarball's integrity, and copy its standalone build and licence into the web app's
# static folder (committed, so the gateway serves it with no Node.js and no CDN at run time).
#
#   bash scripts/vendor-lightweight-charts.sh           # write the vendored files
#   bash scripts/vendor-lightweight-charts.sh --check   # compare the committed files with npm's
#
# To upgrade: change VERSION and INTEGRITY (from `npm view lightweight-charts@X dist.integrity`),
# run the script, and update SHA256 in services/krstock/api/web/static/vendor/lightweight-charts/
# vendor.json (the script prints it and writes it there).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="lightweight-charts"
VERSION="5.3.0"
INTEGRITY="sha512-w16fu2/FteUkIJdgc9G2tOCKs1fwFSqnqF8+kMgHGv0uGIfcfpEJhziSaQbML1yrkbeg4nQXV3msjmhBzhLNhw=="
# The standalone build bundles its one dependency (MIT, by TradingView too). Its package ships no
# licence text, so NOTICE records what its package.json declares.
DEP="fancy-canvas"
DEP_VERSION="2.1.0"
DEP_INTEGRITY="sha512-nifxXJ95JNLFR2NgRV4/MxVP45G9909wJTEKz5fg/TZS20JJZA6hfgRVh/bC9bwl2zBtBNcYPjiBE4njQHVBwQ=="
FILE="dist/lightweight-charts.standalone.production.js"
DEST="services/krstock/api/web/static/vendor/lightweight-charts"

command -v npm >/dev/null 2>&1 || { echo "vendor: npm is required" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

(cd "${work}" && npm pack --silent "${PACKAGE}@${VERSION}" >/dev/null)
tarball="${work}/${PACKAGE}-${VERSION}.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "${tarball}" | base64 -w0)"
[ "${actual}" = "${INTEGRITY}" ] || {
  echo "vendor: ${PACKAGE}@${VERSION} integrity ${actual} != pinned ${INTEGRITY}" >&2
  exit 1
}
tar -xzf "${tarball}" -C "${work}"
mkdir -p "${work}/dep"
(cd "${work}/dep" && npm pack --silent "${DEP}@${DEP_VERSION}" >/dev/null)
dep_actual="sha512-$(openssl dgst -sha512 -binary "${work}/dep/${DEP}-${DEP_VERSION}.tgz" | base64 -w0)"
[ "${dep_actual}" = "${DEP_INTEGRITY}" ] || {
  echo "vendor: ${DEP}@${DEP_VERSION} integrity ${dep_actual} != pinned ${DEP_INTEGRITY}" >&2
  exit 1
}
tar -xzf "${work}/dep/${DEP}-${DEP_VERSION}.tgz" -C "${work}/dep"
# notice: the bundled dependency's declared name, version, author and licence.
notice() {
  python3 - "${work}/dep/package/package.json" "${PACKAGE}" "${VERSION}" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} {sys.argv[3]}: Apache-2.0, Copyright (c) TradingView, Inc. (LICENSE)")
print(f"It bundles {meta['name']} {meta['version']} by {meta.get('author', '?')}: "
      f"{meta['license']} (declared in its package.json; the package ships no licence text).")
PY
}
sha=$(sha256sum "${work}/package/${FILE}" | cut -d' ' -f1)

if [ "${1:-}" = "--check" ]; then
  cmp -s "${work}/package/${FILE}" "${DEST}/$(basename "${FILE}")" \
    || { echo "vendor: ${DEST}/$(basename "${FILE}") differs from ${PACKAGE}@${VERSION}" >&2; exit 1; }
  cmp -s "${work}/package/LICENSE" "${DEST}/LICENSE" \
    || { echo "vendor: ${DEST}/LICENSE differs from ${PACKAGE}@${VERSION}" >&2; exit 1; }
  notice > "${work}/NOTICE"
  cmp -s "${work}/NOTICE" "${DEST}/NOTICE" \
    || { echo "vendor: ${DEST}/NOTICE differs from what ${DEP}@${DEP_VERSION} declares" >&2; exit 1; }
  echo "vendor: ${DEST} matches ${PACKAGE}@${VERSION} (sha256 ${sha})"
  exit 0
fi

mkdir -p "${DEST}"
cp "${work}/package/${FILE}" "${DEST}/"
cp "${work}/package/LICENSE" "${DEST}/LICENSE"
notice > "${DEST}/NOTICE"
cat > "${DEST}/vendor.json" <<JSON
{
  "package": "${PACKAGE}",
  "version": "${VERSION}",
  "integrity": "${INTEGRITY}",
  "file": "$(basename "${FILE}")",
  "sha256": "${sha}",
  "license": "Apache-2.0 (LICENSE); bundles ${DEP} ${DEP_VERSION}, MIT (NOTICE)",
  "refresh": "bash scripts/vendor-lightweight-charts.sh"
}
JSON
echo "vendor: ${PACKAGE}@${VERSION} -> ${DEST} (sha256 ${sha})"
