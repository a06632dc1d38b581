#!/usr/bin/env bash
# Stop a Ray job and wait until it has stopped. A raynn training run keeps its last checkpoint: submit the
# same command again with the same --name and --storage to resume it.
#
#   scripts/cluster/stop.sh JOB_ID
#
# Environment: RAY_ADDRESS (default http://127.0.0.1:8265), RAY, RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH, as
# for submit.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

[[ $# -eq 1 && "$1" != -* ]] || die "usage: $(basename "$0") JOB_ID"

ray_cli="$(find_ray)"
address="$(job_api_address)"
require_token
exec "$ray_cli" job stop --address "$address" "$1"
