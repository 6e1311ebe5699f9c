#!/usr/bin/env bash
# Checks the deployment files without a container engine or a cluster (none is available here
# or in CI): syntax, schemas and the references between them, not whether they run.
#
#   installers/deploy/check.sh
#
# - Containerfile.relay / .cloud: FROM, a non-root USER, HEALTHCHECK through the binary's
#   `healthcheck` subcommand and ENTRYPOINT in exec form, the right binary copied, EXPOSE,
#   STOPSIGNAL.
# - compose.yaml: interpolated as Compose would, then parsed and validated by compose-spec
#   (Python bindings of the Rust compose_spec crate); references between services, volumes,
#   secrets and files; the relays' TOML against the ports published; Prometheus' targets and
#   rule files (and `promtool check config` when promtool is installed).
# - k8s/*.yaml: every object against the Kubernetes JSON schemas bundled by
#   kubernetes-validate, strict (unknown fields fail, and so does an unknown kind); references
#   (selectors, ports, volumes, ConfigMaps, Secrets named in the README); the pods' security
#   settings and resources; the TOML in the ConfigMaps.
# - Every relay.toml / cloud.toml: only keys the binaries accept (read from relay/src/config.rs
#   and cloud/src/config*.rs; both refuse unknown keys at start).
#
# Environment:
#   DEPLOY_DIR    the directory to check (default: this script's); e.g. a broken copy
#   K8S_VERSIONS  Kubernetes versions to validate against (default "1.30.0 1.37.0": the oldest
#                 we expect to meet and the newest the tool knows; it bundles 1.25 to 1.37)
#   FDT_TOOLS     where tools are installed (default /var/tmp/fdt-tools); this script's venv is
#                 $FDT_TOOLS/deploy-check, made once with pinned versions from PyPI
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
DEPLOY_DIR="${DEPLOY_DIR:-$here}"
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.37.0}"
venv="${FDT_TOOLS:-/var/tmp/fdt-tools}/deploy-check"

# Pinned: a new release must not change what passes. pydantic is compose-spec's dependency.
requirements=(
  "kubernetes-validate==1.37.0"
  "compose-spec==0.2.1"
  "pydantic>=2,<3"
)
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
  echo "==> installing ${requirements[*]} into $venv" >&2
  command -v python3 >/dev/null || { echo "check.sh: python3 is needed (3.11+, for tomllib)" >&2; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" >&2
  printf '%s' "${requirements[*]}" > "$stamp"
fi
"$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "check.sh: $venv has Python < 3.11 (tomllib is needed): remove it and install a newer python3" >&2
  exit 1
}

args=(--deploy-dir "$DEPLOY_DIR" --repo "$repo")
for v in $K8S_VERSIONS; do
  args+=(--k8s-version "$v")
done
exec "$venv/bin/python" "$here/deploy_check.py" "${args[@]}"
