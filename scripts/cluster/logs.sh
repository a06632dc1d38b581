#!/usr/bin/env bash
# Follow a Ray job's output until it ends (Ctrl-C stops following, not the job).
#
#   scripts/cluster/logs.sh JOB_ID
#
# JOB_ID is what submit.sh printed (`ray job list` shows them all). Environment: RAY_ADDRESS (default
# http://127.0.0.1:8265), RAY, RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH, as for submit.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

[[ $# -eq 1 && "$1" != -* ]] || die "usage: $(basename "$0") JOB_ID"

ray_cli="$(find_ray)"
address="$(job_api_address)"
require_token
exec "$ray_cli" job logs --address "$address" --follow "$1"
