# shellcheck shell=bash
# Shared by the scripts in scripts/cluster/ (sourced, not run): the ray CLI, the job API address and the
# authentication token.

# The repository root, whatever the current directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 2
}

# The ray CLI: $RAY if set, else `ray` on PATH, else the repository's .venv. It must be the cluster's Ray
# version (2.60).
find_ray() {
    if [[ -n "${RAY:-}" ]]; then
        echo "$RAY"
    elif command -v ray >/dev/null 2>&1; then
        echo ray
    elif [[ -x "$REPO_ROOT/.venv/bin/ray" ]]; then
        echo "$REPO_ROOT/.venv/bin/ray"
    else
        die "no ray CLI: install raynn (pip install -e .), activate its virtual environment, or set RAY=/path/to/ray"
    fi
}

# raynn clusters run with Ray token authentication. `ray job` and `ray status` send the token only in
# token mode, so the scripts always turn it on for the CLI they call (harmless against a cluster without
# authentication).
export RAY_AUTH_MODE=token

# The token the CLI sends: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token (the
# file cluster.yaml copies to the nodes).
require_token() {
    if [[ -n "${RAY_AUTH_TOKEN:-}" ]]; then
        return 0
    fi
    local path="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
    [[ -s "$path" ]] || die "no Ray authentication token in $path: run \`ray get-auth-token --generate\` (the \
cluster must have the same token: cluster.yaml copies ~/.ray/auth_token to the nodes at \`ray up\`)"
}

# The job API: the dashboard's HTTP address. For a cluster started with `ray up`, keep
# `ray dashboard cluster.yaml` running: it forwards http://127.0.0.1:8265 to the head over SSH.
job_api_address() {
    local address="${RAY_ADDRESS:-http://127.0.0.1:8265}"
    case "$address" in
        http://* | https://*) echo "$address" ;;
        *) die "RAY_ADDRESS must be the dashboard's HTTP address (http://HOST:PORT), but got '$address'" ;;
    esac
}
