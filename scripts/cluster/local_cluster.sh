#!/usr/bin/env bash
# A multi-node Ray cluster on ONE machine, to try raynn's multi-node paths (jobs, Ray Train workers placed
# on several nodes, Tune trials spread out, a node lost mid-run) without cloud machines.
#
#   scripts/cluster/local_cluster.sh up [NODES] [CPUS]   a head (2 CPUs, resource "head") and NODES extra nodes
#                                                        (default 2) of CPUS CPUs each (default 1), the i-th
#                                                        with the custom resource "node_i"
#   scripts/cluster/local_cluster.sh status              nodes, resources and demand (`ray status`)
#   scripts/cluster/local_cluster.sh down                `ray stop`: stops EVERY Ray process of the current
#                                                        user on this machine, not only this cluster's
#
# Then, with the defaults:
#   scripts/cluster/submit.sh raynn train examples/digits.yaml --workers 2 --address auto
#   dashboard: http://127.0.0.1:8265 (it asks for the token: `ray get-auth-token`)
#   one node's processes can be killed to test recovery; `ray status` shows which node is which resource
#
# Every node listens on 127.0.0.1 only, with Ray token authentication (a token is generated in
# ~/.ray/auth_token if there is none), the dashboard and job API included. Nodes on one machine share the
# session directory under /tmp/ray; what must differ is each node's ports, so node i (the head is 0) takes the
# block PORT_BASE + 1000 i: node manager +0, object manager +1, dashboard agent HTTP +2 and gRPC +3, runtime
# env agent +4, metrics +5, Ray client server +6 (head only), and its workers +100 to +999. Only the head
# runs a log monitor (one per machine, or logs reach drivers twice). GPUs are not declared (--num-gpus 0):
# every node would otherwise claim all of the machine's GPUs.
#
# Environment:
#   RAYNN_LOCAL_PORT             the head's GCS port (default 6379)
#   RAYNN_LOCAL_DASHBOARD_PORT   the dashboard and job API (default 8265, what submit.sh uses)
#   RAYNN_LOCAL_HEAD_CPUS        the head's CPUs (default 2)
#   RAYNN_LOCAL_PORT_BASE        the first port of node 0's block (default 20000; the blocks stay below the
#                                kernel's ephemeral ports, 32768 and up)
#   RAYNN_LOCAL_OBJECT_STORE_MB  each node's object store (default 256; Ray's own default, 30% of the
#                                machine's memory per node, would overcommit /dev/shm with several nodes)
#   RAY                          the ray CLI (default: `ray` on PATH, else .venv/bin/ray)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

port="${RAYNN_LOCAL_PORT:-6379}"
dashboard_port="${RAYNN_LOCAL_DASHBOARD_PORT:-8265}"
head_cpus="${RAYNN_LOCAL_HEAD_CPUS:-2}"
port_base="${RAYNN_LOCAL_PORT_BASE:-20000}"
object_store_mb="${RAYNN_LOCAL_OBJECT_STORE_MB:-256}"
max_nodes=10

usage() {
    # The comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# require_int NAME VALUE LOW HIGH
require_int() {
    if ! [[ "$2" =~ ^[0-9]{1,9}$ ]] || ((10#$2 < $3 || 10#$2 > $4)); then
        die "$1 must be an integer in [$3, $4], but got '$2'"
    fi
}

# set_port_flags I: port_flags = the `ray start` port flags of node I (0 = head).
set_port_flags() {
    local block=$((port_base + 1000 * $1))
    port_flags=(
        --node-manager-port "$block"
        --object-manager-port $((block + 1))
        --dashboard-agent-listen-port $((block + 2))
        --dashboard-agent-grpc-port $((block + 3))
        --runtime-env-agent-port $((block + 4))
        --metrics-export-port $((block + 5))
        --min-worker-port $((block + 100))
        --max-worker-port $((block + 999))
    )
}

# A token for token authentication: the one Ray would load (RAY_AUTH_TOKEN, else the file
# RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token), else a new ~/.ray/auth_token.
ensure_token() {
    if [[ -n "${RAY_AUTH_TOKEN:-}" ]]; then
        return 0
    fi
    if [[ -n "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
        [[ -s "$RAY_AUTH_TOKEN_PATH" ]] || die "RAY_AUTH_TOKEN_PATH must name a file holding the token, but \
'$RAY_AUTH_TOKEN_PATH' is missing or empty"
        return 0
    fi
    if [[ -s "$HOME/.ray/auth_token" ]]; then
        return 0
    fi
    echo "local_cluster: generating a Ray authentication token in ~/.ray/auth_token" >&2
    "$ray_cli" get-auth-token --generate >/dev/null
    chmod 600 "$HOME/.ray/auth_token"
}

up() {
    local nodes="${1:-2}" cpus="${2:-1}" i
    require_int NODES "$nodes" 1 "$max_nodes"
    require_int CPUS "$cpus" 1 1024
    require_int RAYNN_LOCAL_HEAD_CPUS "$head_cpus" 1 1024
    require_int RAYNN_LOCAL_PORT "$port" 1024 65535
    require_int RAYNN_LOCAL_DASHBOARD_PORT "$dashboard_port" 1024 65535
    require_int RAYNN_LOCAL_PORT_BASE "$port_base" 1024 $((65535 - 1000 * (max_nodes + 1)))
    require_int RAYNN_LOCAL_OBJECT_STORE_MB "$object_store_mb" 80 1048576
    ensure_token
    local object_store_bytes=$((object_store_mb * 1024 * 1024))
    # Jobs inherit the nodes' PATH: with a ray CLI from a virtual environment that is not activated (such as
    # .venv/bin/ray), its bin/ must come first for a job's `raynn` and `python` to be that environment's.
    if [[ "$ray_cli" == */* ]]; then
        PATH="$(cd "$(dirname "$ray_cli")" && pwd):$PATH"
        export PATH
    fi

    trap 'echo "local_cluster: a node failed to start; $(basename "$0") down stops what did start" >&2' ERR

    local -a port_flags
    set_port_flags 0
    "$ray_cli" start --head \
        --node-ip-address 127.0.0.1 \
        --port "$port" \
        --num-cpus "$head_cpus" --num-gpus 0 \
        --resources '{"head": 1}' \
        --object-store-memory "$object_store_bytes" \
        --dashboard-host 127.0.0.1 --dashboard-port "$dashboard_port" \
        --ray-client-server-port $((port_base + 6)) \
        "${port_flags[@]}"

    for ((i = 1; i <= nodes; i++)); do
        set_port_flags "$i"
        "$ray_cli" start \
            --address "127.0.0.1:$port" \
            --node-ip-address 127.0.0.1 \
            --num-cpus "$cpus" --num-gpus 0 \
            --resources "{\"node_$i\": 1}" \
            --object-store-memory "$object_store_bytes" \
            --include-log-monitor False \
            "${port_flags[@]}"
    done
    trap - ERR

    cat >&2 <<MSG

local_cluster: head and $nodes node(s) running on 127.0.0.1 (GCS port $port).
  dashboard and job API: http://127.0.0.1:$dashboard_port (the token: \`ray get-auth-token\`)
  submit:  RAY_ADDRESS=http://127.0.0.1:$dashboard_port scripts/cluster/submit.sh raynn train --workers 2 --address auto
  status:  $(basename "$0") status
  stop:    $(basename "$0") down   (stops EVERY Ray process of $(id -un) on this machine)
MSG
}

status() {
    exec "$ray_cli" status --address "127.0.0.1:$port"
}

down() {
    # `ray stop` has no notion of "this cluster": it stops every Ray process of this user on this machine.
    echo "local_cluster: ray stop: stopping every Ray process of $(id -un) on this machine" >&2
    "$ray_cli" stop || die "ray stop failed; \`$ray_cli stop --force\` kills what is left"
}

[[ $# -ge 1 ]] || usage
action="$1"
shift
ray_cli="$(find_ray)"
case "$action" in
    up)
        [[ $# -le 2 ]] || usage
        up "$@"
        ;;
    status)
        [[ $# -eq 0 ]] || usage
        status
        ;;
    down)
        [[ $# -eq 0 ]] || usage
        down
        ;;
    -h | --help) usage ;;
    *) usage ;;
esac
