"""The Ray side of the fit check: what the connected cluster can ever give, as :class:`raynn.resources.Cluster`.

Two sources, both read from the GCS before anything is launched:

- the nodes now up (``ray.nodes()``, each node's total CPUs and GPUs, not what is free now: a busy node frees
  up, a missing one never appears);
- the node groups the autoscaler may add, where the cluster publishes them: Ray 2.60 keeps them in the GCS as
  ``autoscaler_pb2.ClusterConfig`` (read by :func:`raynn._ray_private.cluster_config`; KubeRay and the
  autoscaler v2 report it; Ray Train's own worker-group check reads the same), with each group's
  ``max_count`` (-1: no limit) and the cluster-wide ``max_resources``.

A cluster whose autoscaler does not publish its node groups (the v1 autoscaler of ``ray up``) may grow in ways
that cannot be known here; then no request is called impossible and only the pending timeout applies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from raynn._ray_private import autoscaling_status, cluster_config
from raynn.errors import ConfigError
from raynn.resources import Cluster, Demand, NodeKind, never_fits

__all__ = ["cluster_capacity", "check_fits"]

# The read-only provider of a cluster without an autoscaler names each node's type after its id.
_READONLY_TYPE = re.compile(r"^node_[0-9a-f]+$")


def cluster_capacity() -> Cluster | None:
    """Every node the connected cluster can ever have; None when an autoscaler may add nodes of unknown shape."""
    import ray

    nodes = [NodeKind(f"node {n.get('NodeManagerAddress', '?')}", n["Resources"].get("CPU", 0.0),
                      n["Resources"].get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    config = cluster_config()
    max_cpus = max_gpus = None
    if config is not None and config.node_group_configs:
        for group in config.node_group_configs:
            resources = dict(group.resources)
            # Counted on top of the nodes up, which may already be of this group: too generous, never too strict.
            nodes.append(NodeKind(f"node type {group.name}", resources.get("CPU", 0) / 1.0,
                                  resources.get("GPU", 0) / 1.0, None if group.max_count == -1 else group.max_count))
        caps = dict(config.max_resources)
        max_cpus, max_gpus = caps.get("CPU"), caps.get("GPU")
    elif _v1_autoscaler_may_add_nodes():
        return None
    return Cluster(tuple(nodes), max_cpus=max_cpus, max_gpus=max_gpus)


def check_fits(demand: Demand) -> None:
    """Raise :class:`ConfigError` (key ``demand.workers_flag``) when no state of the cluster can hold one
    trial (or run) of ``demand``: the one-line arithmetic and what to change. Needs a connected Ray."""
    cluster = cluster_capacity()
    if cluster is None:
        return
    reason = never_fits(demand, cluster)
    if reason is not None:
        raise ConfigError(demand.workers_flag, reason, demand.workers)


def _v1_autoscaler_may_add_nodes() -> bool:
    """Whether the v1 monitor runs a real node provider (``ray up``): its status then maps nodes to named node
    types; a cluster without an autoscaler gets the read-only provider, whose types are ``node_<id>``."""
    raw = autoscaling_status()
    if not raw:  # no status readable: assume no autoscaler
        return False
    report = json.loads(raw).get("autoscaler_report") or {}
    types = (report.get("node_type_mapping") or {}).values()
    return any(not _READONLY_TYPE.match(str(t)) for t in types) or bool(report.get("pending_launches"))
