#!/usr/bin/env bash
# A multi-node Ray cluster on ONE Linux machine, to try raynn's multi-node paths (jobs, Ray Train workers
# placed on several nodes, Tune trials spread out, a node lost mid-run) without cloud machines.
#
#   scripts/cluster/local_cluster.sh up [NODES] [CPUS]   a head (2 CPUs, resource "head") and NODES extra nodes
#                                                        (default 2) of CPUS CPUs each (default 1), the i-th
#                                                        with the custom resource "node_i"
#   scripts/cluster/local_cluster.sh status              nodes, resources and demand (`ray status`)
#   scripts/cluster/local_cluster.sh down                stops this cluster's processes, and only them
#
# Then, with the defaults:
#   scripts/cluster/submit.sh raynn train examples/digits.yaml --workers 2 --address auto
#   dashboard: http://127.0.0.1:8265 (it asks for the token: `ray get-auth-token`)
#   one node's processes can be killed to test recovery; `ray status` shows which node is which resource
#
# Every node runs with Ray token authentication (a token is generated in ~/.ray/auth_token if there is none).
# The dashboard and job API listen on 127.0.0.1 only. The other servers do not: Ray 2.60 replaces
# --node-ip-address 127.0.0.1 by the machine's own address, and the GCS, raylets and agents listen on all
# interfaces (the token guards them); keep the GCS port and the port blocks closed to other machines.
# What must differ between nodes on one machine is their ports and their temp dirs. Node i (the head is 0)
# takes the port block PORT_BASE + 1000 i: node manager +0, object manager +1, dashboard agent HTTP +2 and
# gRPC +3, runtime env agent +4, metrics +5, Ray client server +6 (head only), and its workers +100 to +999.
# The head keeps its sessions in TEMP_DIR/head, node i in TEMP_DIR/node_i: nodes that share a session
# directory share its runtime_resources/, and a node that unpacks a job's working_dir there deletes the copy
# the job's driver is running in. GPUs are not declared (--num-gpus 0): every node would otherwise claim all
# of the machine's GPUs.
#
# `up` marks every process of the cluster with the environment variable RAYNN_LOCAL_CLUSTER=127.0.0.1:PORT
# (nodes pass their environment on to their workers and to jobs' drivers); `down` stops the processes that
# carry this cluster's mark (raylets first, the GCS last, SIGKILL after a grace period), so other Ray
# instances on the machine live on. `ray stop` would stop every Ray process of the user. `down` needs Linux
# (/proc); jobs that are still running are killed with their node. Logs stay in TEMP_DIR.
#
# The cluster's address file is TEMP_DIR/head/ray_current_cluster, not /tmp/ray's, so `ray.init()` and the
# ray CLI on this machine do not find it by themselves: connect with ray.init(address="127.0.0.1:PORT"),
# `ray status --address 127.0.0.1:PORT`, or through the job API.
#
# Environment (the same for up, status and down):
#   RAYNN_LOCAL_PORT             the head's GCS port (default 6379); it names the cluster
#   RAYNN_LOCAL_DASHBOARD_PORT   the dashboard and job API (default 8265, what submit.sh uses)
#   RAYNN_LOCAL_HEAD_CPUS        the head's CPUs (default 2)
#   RAYNN_LOCAL_PORT_BASE        the first port of node 0's block (default 20000; the blocks stay below the
#                                kernel's ephemeral ports, 32768 and up)
#   RAYNN_LOCAL_OBJECT_STORE_MB  each node's object store (default 256; Ray's own default, 30% of the
#                                machine's memory per node, would overcommit /dev/shm with several nodes)
#   RAYNN_LOCAL_TEMP_DIR         the nodes' temp dirs' parent: sessions, logs, sockets (default
#                                /tmp/raynn-local-PORT; at most 35 characters, as Ray's socket paths under it
#                                must fit in 107 bytes)
#   RAYNN_LOCAL_STOP_GRACE       seconds `down` waits for each group of processes to exit before SIGKILL
#                                (default 10)
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
temp_dir="$(realpath -m -- "${RAYNN_LOCAL_TEMP_DIR:-/tmp/raynn-local-${port}}")"
stop_grace="${RAYNN_LOCAL_STOP_GRACE:-10}"
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

# The mark `up` gives every process of this cluster, through the environment.
mark="RAYNN_LOCAL_CLUSTER=127.0.0.1:$port"

# cluster_pids [COMM]: the PIDs of this cluster's live processes (whose executable is COMM, if given), one a
# line: those that carry the mark, and their descendants. Descendants matter: Ray's workers and agents
# rename themselves (ray::IDLE, ray::DashboardAgent), which overwrites the environment that /proc shows.
cluster_pids() {
    local -a marked
    # grep -z reads the NUL-separated environments; files of processes that exit meanwhile are skipped. A
    # zombie's environment reads empty, so only live processes are marked.
    mapfile -t marked < <(grep -lzxF -- "$mark" /proc/[0-9]*/environ 2>/dev/null |
        sed 's|^/proc/||; s|/environ$||')
    ((${#marked[@]})) || return 0
    ps -e -o pid=,ppid=,stat=,comm= | awk -v marked="${marked[*]}" -v want="${1:-}" '
        { pid[NR] = $1; ppid[NR] = $2; stat[$1] = $3; comm[$1] = $4 }
        END {
            n = split(marked, roots, " ")
            for (i = 1; i <= n; i++) keep[roots[i]] = 1
            do {
                grew = 0
                for (i = 1; i <= NR; i++)
                    if (!(pid[i] in keep) && (ppid[i] in keep)) { keep[pid[i]] = 1; grew = 1 }
            } while (grew)
            for (p in keep)
                if ((p in stat) && stat[p] !~ /^Z/ && (want == "" || comm[p] == want)) print p
        }'
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
    # The longest socket path: TEMP_DIR/node_10/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store.
    if ((${#temp_dir} > 35)); then
        die "RAYNN_LOCAL_TEMP_DIR must be at most 35 characters long (Ray's Unix socket paths under it must \
fit in 107 bytes), but got '$temp_dir' (${#temp_dir})"
    fi
    if [[ -n "$(cluster_pids)" ]]; then
        die "a cluster with GCS port $port is already running: \`$(basename "$0") down\` first"
    fi
    ensure_token
    local object_store_bytes=$((object_store_mb * 1024 * 1024))
    mkdir -p "$temp_dir"
    # Jobs inherit the nodes' PATH: with a ray CLI from a virtual environment that is not activated (such as
    # .venv/bin/ray), its bin/ must come first for a job's `raynn` and `python` to be that environment's.
    if [[ "$ray_cli" == */* ]]; then
        PATH="$(cd "$(dirname "$ray_cli")" && pwd):$PATH"
        export PATH
    fi
    # RAY_ADDRESS, if set, is the job API's address for submit.sh (http://...): nodes, their workers and
    # jobs must not inherit it.
    unset RAY_ADDRESS
    export "${mark?}"

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
        --temp-dir "$temp_dir/head" \
        "${port_flags[@]}"

    for ((i = 1; i <= nodes; i++)); do
        set_port_flags "$i"
        "$ray_cli" start \
            --address "127.0.0.1:$port" \
            --node-ip-address 127.0.0.1 \
            --num-cpus "$cpus" --num-gpus 0 \
            --resources "{\"node_$i\": 1}" \
            --object-store-memory "$object_store_bytes" \
            --temp-dir "$temp_dir/node_$i" \
            "${port_flags[@]}"
    done
    trap - ERR

    cat >&2 <<MSG

local_cluster: head and $nodes node(s) running on this machine (GCS port $port).
  dashboard and job API: http://127.0.0.1:$dashboard_port (the token: \`ray get-auth-token\`)
  submit:  RAY_ADDRESS=http://127.0.0.1:$dashboard_port scripts/cluster/submit.sh raynn train --workers 2 --address auto
  status:  $(basename "$0") status
  stop:    $(basename "$0") down
MSG
}

status() {
    exec "$ray_cli" status --address "127.0.0.1:$port"
}

# live PIDS...: those of the PIDs whose process still runs (not a zombie), one a line.
live() {
    local pid stat
    for pid in "$@"; do
        { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || continue
        stat="${stat##*) }" # the fields after "(comm) ", the state first
        [[ "${stat%% *}" == Z ]] || echo "$pid"
    done
}

# signal_and_wait SIGNAL PIDS...: send SIGNAL to the PIDs, then wait up to the grace period for their
# processes to exit. Returns 1 if some still run.
signal_and_wait() {
    local signal="$1" deadline
    shift
    [[ $# -gt 0 ]] || return 0
    kill "-$signal" "$@" 2>/dev/null || true
    deadline=$((SECONDS + stop_grace))
    until [[ -z "$(live "$@")" ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

down() {
    [[ -d /proc/self ]] || die "down finds the cluster's processes in /proc (Linux); elsewhere \`ray stop\` stops \
every Ray process of $(id -un)"
    if [[ "${RAYNN_LOCAL_CLUSTER:-}" == "${mark#*=}" ]]; then
        die "this shell carries the mark of the cluster it would stop ($mark): run down from outside the cluster"
    fi
    local -a all raylets gcs others left
    # Taken before anything stops: a worker whose raylet has exited is no longer any marked process's child.
    mapfile -t all < <(cluster_pids)
    if ((${#all[@]} == 0)); then
        echo "local_cluster: no process of the cluster with GCS port $port is running" >&2
        return 0
    fi
    echo "local_cluster: stopping the cluster with GCS port $port (${#all[@]} processes)" >&2
    mapfile -t raylets < <(cluster_pids raylet)
    mapfile -t gcs < <(cluster_pids gcs_server)
    # Ray's own order (`ray stop`): raylets first (their workers and agents exit with them), the GCS last.
    signal_and_wait TERM "${raylets[@]}" || true
    mapfile -t all < <({ printf '%s\n' "${all[@]}"; cluster_pids; } | sort -un)
    mapfile -t others < <(printf '%s\n' "${all[@]}" | grep -vxF -f <(printf '%s\n' "${gcs[@]}" 0))
    signal_and_wait TERM "${others[@]}" || true
    signal_and_wait TERM "${gcs[@]}" || true
    mapfile -t left < <(live "${all[@]}"; cluster_pids)
    if ((${#left[@]})); then
        echo "local_cluster: killing ${#left[@]} process(es) left after ${stop_grace}s: ${left[*]}" >&2
        signal_and_wait KILL "${left[@]}" || die "processes $(live "${left[@]}" | tr '\n' ' ')survived SIGKILL"
    fi
    # `ray start` recorded the cluster's address in each node's temp dir: forget it, as `ray stop` does.
    rm -f "$temp_dir"/*/ray_current_cluster
    echo "local_cluster: stopped; logs in $temp_dir" >&2
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
        require_int RAYNN_LOCAL_PORT "$port" 1024 65535
        require_int RAYNN_LOCAL_STOP_GRACE "$stop_grace" 1 3600
        down
        ;;
    -h | --help) usage ;;
    *) usage ;;
esac
