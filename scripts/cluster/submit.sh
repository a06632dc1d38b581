#!/usr/bin/env bash
# Submit a command (usually raynn) as a Ray job and print its job id.
#
#   scripts/cluster/submit.sh raynn train examples/digits.yaml --workers 2 --gpus-per-worker 1 --address auto
#   scripts/cluster/submit.sh raynn list
#   job=$(scripts/cluster/submit.sh raynn train --workers 2 --address auto) && scripts/cluster/logs.sh "$job"
#   scripts/cluster/submit.sh --working-dir examples/custom raynn tune space.yaml --address auto
#
# The arguments are the command, run on the cluster's head in a copy of a directory that Ray uploads and ships
# to every node (`--working-dir DIR` before the command, else RAYNN_WORKING_DIR, else the repository root;
# files that its .gitignore lists, such as .venv/ and runs/, are not uploaded): your own project with its
# model and data code, or this checkout, so that local edits apply without `ray up`. Every Tune trial and Ray
# Train worker of the job imports from that copy. Packages come from the cluster's environment.
# Relative paths are relative to that copy, which lives under /tmp/ray on the head: give raynn an absolute
# --storage on storage every node shares (see cluster.yaml) to keep runs and checkpoints.
# The job id goes to stdout, everything else to stderr. The command returns once the job is submitted:
# follow it with logs.sh, stop it with stop.sh, or watch it in the dashboard (Jobs tab).
#
# Environment:
#   RAY_ADDRESS         the job API (default http://127.0.0.1:8265: `ray dashboard cluster.yaml`, or
#                       local_cluster.sh up)
#   RAYNN_JOB_ID        the job id to use (default raynn_<UTC time>_<random>; must be new on the cluster)
#   RAYNN_WORKING_DIR   the directory to upload (default: the repository root)
#   RAY                 the ray CLI (default: `ray` on PATH, else .venv/bin/ray)
#   RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH   the token, if not in ~/.ray/auth_token
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
    # The comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
fi

working_dir="${RAYNN_WORKING_DIR:-$REPO_ROOT}"
if [[ "$1" == "--working-dir" ]]; then
    [[ $# -ge 3 ]] || die "--working-dir needs a directory and then the command to run"
    working_dir="$2"
    shift 2
fi
ray_cli="$(find_ray)"
address="$(job_api_address)"
require_token
[[ -d "$working_dir" ]] || die "RAYNN_WORKING_DIR must be a directory, but got '$working_dir'"
job_id="${RAYNN_JOB_ID:-raynn_$(date -u +%Y%m%d_%H%M%S)_$(printf '%04x' "$RANDOM")}"

"$ray_cli" job submit \
    --address "$address" \
    --submission-id "$job_id" \
    --working-dir "$working_dir" \
    --no-wait \
    -- "$@" >&2

echo "$job_id"
