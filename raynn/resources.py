"""What one trial (or one training run) asks of a Ray cluster, and whether the cluster can ever hold it.

A data-parallel trial is one driver bundle plus ``n`` identical worker bundles (Ray Train's placement group,
``PACK``: bundles may spread over nodes). It fits a cluster when some node holds the driver and the nodes,
with the driver's share taken away, hold ``n`` workers between them. Per node the number of workers is

    k(node) = min over resources r with w_r > 0 of floor(capacity_r / w_r)

so with the driver on node j the cluster holds ``sum_i k(node_i) - k(node_j) + k(node_j - driver)`` workers, and
the most it can ever hold is the best choice of j, capped by any cluster-wide limit of the autoscaler.
"Ever" counts the nodes now up and every node the autoscaler may add (a node type it may add without limit
makes the sum unbounded). Quantities are integers in Ray's fixed-point unit (1e-4) so that ``2 - 0.1`` holds
exactly 1 worker of 1 CPU, never 0.9999 of one.

Pure arithmetic; nothing here imports Ray (the query is :mod:`raynn.cluster`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["Demand", "NodeKind", "Cluster", "most_workers", "never_fits", "trial_resources", "trial_demand",
           "DRIVER_MEMORY"]

UNIT = 10_000
"""Ray keeps resource quantities as fixed-point multiples of 1e-4 (``ray/_private/ray_constants.py``)."""


def _units(quantity: float) -> int:
    return round(quantity * UNIT)


def _num(quantity: float) -> str:
    return f"{quantity:g}"


@dataclass(frozen=True)
class Demand:
    """What one trial (or run) needs: ``workers`` bundles of ``cpus_per_worker`` CPUs and ``gpus_per_worker``
    GPUs, and one driver bundle of ``driver_cpus``/``driver_gpus`` (zero when the driver reserves none).

    Args:
        workers_flag, gpus_flag: How the user spelled the two settings, for the message
            (``--workers-per-trial``/``--gpus-per-worker`` for ``raynn tune``, ``train.workers``/... for a config).
    """

    workers: int
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    driver_cpus: float = 0.0
    driver_gpus: float = 0.0
    workers_flag: str = "--workers-per-trial"
    gpus_flag: str = "--gpus-per-worker"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"`workers >= 1` must hold, but got {self.workers=}")
        for name in ("cpus_per_worker", "gpus_per_worker", "driver_cpus", "driver_gpus"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name} >= 0` must hold, but got {getattr(self, name)}")
        if self.cpus_per_worker == 0 and self.gpus_per_worker == 0:
            raise ValueError("a worker must need some CPU or GPU, but got 0 of both")

    @property
    def worker(self) -> tuple[int, int]:
        return _units(self.cpus_per_worker), _units(self.gpus_per_worker)

    @property
    def driver(self) -> tuple[int, int]:
        return _units(self.driver_cpus), _units(self.driver_gpus)


@dataclass(frozen=True)
class NodeKind:
    """``count`` nodes of ``cpus`` CPUs and ``gpus`` GPUs the cluster can ever have (``count=None``: the
    autoscaler may add them without limit). ``name`` says where they come from, for the message."""

    name: str
    cpus: float
    gpus: float = 0.0
    count: int | None = 1

    @property
    def capacity(self) -> tuple[int, int]:
        return _units(self.cpus), _units(self.gpus)


@dataclass(frozen=True)
class Cluster:
    """Every node the cluster can ever have, and the autoscaler's cluster-wide caps (None: none)."""

    nodes: tuple[NodeKind, ...]
    max_cpus: float | None = None
    max_gpus: float | None = None

    def describe(self) -> str:
        """``2 nodes of 2 CPUs; node type gpu (8 CPUs + 1 GPU) up to 4``: what the message shows."""
        up = Counter((n.cpus, n.gpus) for n in self.nodes if n.name.startswith("node ") and n.count == 1)
        parts = [f"{count} node{'s' * (count > 1)} of {_shape(cpus, gpus)}" for (cpus, gpus), count in up.items()]
        for n in self.nodes:
            if not (n.name.startswith("node ") and n.count == 1) and n.count != 0:
                limit = "without limit" if n.count is None else f"up to {n.count}"
                parts.append(f"{n.name} ({_shape(n.cpus, n.gpus)}) {limit}")
        caps = [f"at most {_num(v)} {r} in all" for r, v in (("CPUs", self.max_cpus), ("GPUs", self.max_gpus))
                if v is not None]
        return "; ".join(parts + caps) or "no nodes"


def _shape(cpus: float, gpus: float) -> str:
    text = f"{_num(cpus)} CPU{'s' * (cpus != 1)}"
    return text + (f" + {_num(gpus)} GPU{'s' * (gpus != 1)}" if gpus else "")


def _per_node(capacity: tuple[int, int], worker: tuple[int, int]) -> int:
    """k(node): how many worker bundles one node of ``capacity`` holds."""
    return min(c // w for c, w in zip(capacity, worker) if w > 0)


def most_workers(demand: Demand, cluster: Cluster) -> int | None:
    """The most workers of ``demand``'s shape the cluster can ever hold next to its driver; None: no limit.

    0 when the driver fits no node, or a single worker fits no node.
    """
    worker, driver = demand.worker, demand.driver
    best: int | None = 0
    for j, host in enumerate(cluster.nodes):
        if host.count == 0 or any(c < d for c, d in zip(host.capacity, driver)):
            continue  # the driver cannot go on this kind of node
        rest = tuple(c - d for c, d in zip(host.capacity, driver))
        total: int | None = _per_node(rest, worker)
        for i, node in enumerate(cluster.nodes):
            k = _per_node(node.capacity, worker)
            count = node.count if i != j else (None if node.count is None else node.count - 1)
            if k == 0 or count == 0:
                continue
            total = None if total is None or count is None else total + k * count
        if total is None:
            best = None
            break
        best = max(best, total)
    # The autoscaler's cluster-wide caps bound the sum whatever the node types (the driver's share first).
    for cap, need, have in ((cluster.max_cpus, worker[0], driver[0]), (cluster.max_gpus, worker[1], driver[1])):
        if cap is not None and need > 0:
            capped = max(0, (_units(cap) - have) // need)
            best = capped if best is None else min(best, capped)
    return best


def never_fits(demand: Demand, cluster: Cluster) -> str | None:
    """Why one trial of ``demand`` can never be placed on ``cluster``, with the arithmetic; None if it can.

    The reason reads as one line: ``--workers-per-trial 3 x 1 CPU = 3 CPUs, but the most this cluster can ever
    hold is 2 such workers (1 node of 2 CPUs); use --workers-per-trial 2 or fewer, or add nodes``.
    """
    most = most_workers(demand, cluster)
    if most is None or most >= demand.workers:
        return None
    n = demand.workers
    per = _shape(demand.cpus_per_worker, demand.gpus_per_worker)
    total = _shape(n * demand.cpus_per_worker, n * demand.gpus_per_worker)
    driver = ""
    if demand.driver_cpus or demand.driver_gpus:
        driver_shape = _shape(demand.driver_cpus, demand.driver_gpus) if demand.driver_gpus else \
            _num(demand.driver_cpus)
        driver = f" + {driver_shape} for the trial driver"
        total = _shape(n * demand.cpus_per_worker + demand.driver_cpus,
                       n * demand.gpus_per_worker + demand.driver_gpus)
    per = f"({per})" if demand.gpus_per_worker else per
    arithmetic = f"{demand.workers_flag} {n} x {per}{driver} = {total}"
    where = f"({cluster.describe()})"
    if most >= 1:
        return (f"{arithmetic}, but the most this cluster can ever hold is {most} such worker{'s' * (most > 1)} "
                f"{where}; use {demand.workers_flag} {most} or fewer, or add nodes")
    gpus = max((n.gpus for n in cluster.nodes if n.count != 0), default=0.0)
    cpus = max((n.cpus for n in cluster.nodes if n.count != 0), default=0.0)
    if demand.gpus_per_worker > gpus:
        fix = (f"set {demand.gpus_flag} 0 or add nodes with GPUs" if gpus == 0 else
               f"lower {demand.gpus_flag} to {_num(gpus)} or add nodes with more GPUs")
        need = _shape(0, demand.gpus_per_worker).removeprefix("0 CPUs + ")
        return f"{arithmetic}, but no node of this cluster has {need} {where}; {fix}"
    return (f"{arithmetic}, but no node of this cluster holds one worker next to the trial driver "
            f"(largest node: {_shape(cpus, gpus)}) {where}; add larger nodes")


DRIVER_MEMORY = 256 * 1024**2
"""Bytes of Ray's ``memory`` resource a data-parallel trial's driver reserves: a non-empty Tune request (Tune
refuses an empty one) that no Ray Train worker asks for, so the driver never blocks its own workers."""


def trial_resources(workers: int, gpus_per_worker: float) -> dict[str, float]:
    """The resources Tune reserves for one trial's own process.

    One worker: the trial trains in its own process, so it reserves that worker (1 CPU, the GPUs). More: the
    trial only drives a ``TorchTrainer`` (whose controller takes 0 CPUs) and Ray Train reserves the workers in its
    own placement group; the driver reserves memory only, so ``n`` workers of 1 CPU fit on ``n`` CPUs.
    """
    if workers == 1:
        return {"CPU": 1.0, **({"GPU": float(gpus_per_worker)} if gpus_per_worker else {})}
    return {"memory": float(DRIVER_MEMORY)}


def trial_demand(workers: int, gpus_per_worker: float, *, workers_flag: str = "--workers-per-trial",
                 gpus_flag: str = "--gpus-per-worker") -> Demand:
    """What one trial (or one ``raynn train`` run) needs, in CPUs and GPUs, with :func:`trial_resources`'s driver
    (it reserves no CPU or GPU beyond the workers', whether the trial trains itself or drives Ray Train)."""
    return Demand(workers, 1.0, float(gpus_per_worker), workers_flag=workers_flag, gpus_flag=gpus_flag)
