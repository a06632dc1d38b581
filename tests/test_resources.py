"""The fit arithmetic of raynn/resources.py against tables worked out by hand; no Ray."""

from __future__ import annotations

import pytest

from raynn.resources import Cluster, Demand, NodeKind, most_workers, never_fits, trial_demand, trial_resources

TWO_CPUS = Cluster((NodeKind("node 10.0.0.1", 2),))
HEAD_AND_WORKER = Cluster((NodeKind("node 10.0.0.1", 2), NodeKind("node 10.0.0.2", 1)))
GPU_NODES = Cluster((NodeKind("node 10.0.0.1", 8, 2), NodeKind("node 10.0.0.2", 8, 2)))
AUTOSCALING = Cluster((NodeKind("node 10.0.0.1", 2), NodeKind("node type gpu", 4, 1, count=3)))
UNLIMITED = Cluster((NodeKind("node 10.0.0.1", 2), NodeKind("node type cpu", 4, 0, count=None)), max_cpus=10)


@pytest.mark.parametrize(("demand", "cluster", "most"), [
    # 2 CPUs, workers of 1 CPU: k = floor(2/1) = 2; a 0.1-CPU driver leaves floor(1.9/1) = 1.
    (Demand(2), TWO_CPUS, 2),
    (Demand(2, driver_cpus=0.1), TWO_CPUS, 1),
    # Two nodes 2 + 1 CPUs: 2 + 1 = 3; driver on the 1-CPU node: floor(0.9) + 2 = 2, on the 2-CPU one: 1 + 1 = 2.
    (Demand(3), HEAD_AND_WORKER, 3),
    (Demand(3, driver_cpus=0.1), HEAD_AND_WORKER, 2),
    # Workers of 1 CPU + 1 GPU on 2 x (8 CPUs, 2 GPUs): min(8, 2) = 2 per node, 4 in all.
    (Demand(4, gpus_per_worker=1), GPU_NODES, 4),
    # Half a GPU each: min(8, 4) = 4 per node, 8 in all; 0.5 GPU each as 2.5 rounds to min(8, 0) = 0.
    (Demand(8, gpus_per_worker=0.5), GPU_NODES, 8),
    (Demand(1, gpus_per_worker=2.5), GPU_NODES, 0),
    # No GPU anywhere: 0.
    (Demand(1, gpus_per_worker=1), TWO_CPUS, 0),
    # Autoscaler may add 3 nodes of (4 CPUs, 1 GPU): GPU workers 3 x min(4, 1) = 3; CPU workers 2 + 3 x 4 = 14.
    (Demand(1, gpus_per_worker=1), AUTOSCALING, 3),
    (Demand(1), AUTOSCALING, 14),
    # Without a node limit only the cluster-wide cap of 10 CPUs bounds it: floor((10 - 0.1) / 1) = 9.
    (Demand(1, driver_cpus=0.1), UNLIMITED, 9),
    (Demand(1), Cluster((NodeKind("node type cpu", 4, count=None),)), None),
    # A driver no node can hold: nothing fits.
    (Demand(1, driver_cpus=3), TWO_CPUS, 0),
    # A node type with max_count 0 adds nothing.
    (Demand(1, gpus_per_worker=1), Cluster((NodeKind("node type gpu", 4, 1, count=0),)), 0),
])
def test_most_workers_matches_hand_worked_table(demand: Demand, cluster: Cluster, most: int | None) -> None:
    assert most_workers(demand, cluster) == most


def test_fractional_cpus_are_exact() -> None:
    # 0.1 + 0.2 = 0.30000000000000004 in floats; in Ray's 1e-4 units 3 x 0.1 CPU workers fill 0.3 CPUs exactly.
    assert most_workers(Demand(3, cpus_per_worker=0.1), Cluster((NodeKind("node a", 0.3),))) == 3


def test_issue_case_reads_the_arithmetic() -> None:
    reason = never_fits(Demand(2, driver_cpus=0.1), TWO_CPUS)
    assert reason == ("--workers-per-trial 2 x 1 CPU + 0.1 for the trial driver = 2.1 CPUs, but the most this "
                      "cluster can ever hold is 1 such worker (1 node of 2 CPUs); use --workers-per-trial 1 or "
                      "fewer, or add nodes")


def test_fits_when_the_driver_reserves_no_cpu() -> None:
    assert never_fits(Demand(2), TWO_CPUS) is None
    assert never_fits(Demand(4, gpus_per_worker=1), GPU_NODES) is None
    assert never_fits(Demand(10), UNLIMITED) is None


def test_too_many_workers() -> None:
    reason = never_fits(Demand(3), TWO_CPUS)
    assert reason is not None
    assert reason.startswith("--workers-per-trial 3 x 1 CPU = 3 CPUs, but the most this cluster can ever hold is 2 ")
    assert reason.endswith("use --workers-per-trial 2 or fewer, or add nodes")


def test_gpus_on_a_cpu_cluster_names_the_gpu_flag() -> None:
    reason = never_fits(Demand(2, gpus_per_worker=1, workers_flag="train.workers",
                               gpus_flag="train.gpus_per_worker"), TWO_CPUS)
    assert reason == ("train.workers 2 x (1 CPU + 1 GPU) = 2 CPUs + 2 GPUs, but no node of this cluster has 1 GPU "
                      "(1 node of 2 CPUs); set train.gpus_per_worker 0 or add nodes with GPUs")


def test_more_gpus_than_any_node_names_the_largest() -> None:
    reason = never_fits(Demand(1, gpus_per_worker=4), GPU_NODES)
    assert reason is not None and "no node of this cluster has 4 GPUs" in reason
    assert "lower --gpus-per-worker to 2" in reason and "2 nodes of 8 CPUs + 2 GPUs" in reason


def test_the_autoscaler_cap_is_in_the_message() -> None:
    reason = never_fits(Demand(11), UNLIMITED)
    assert reason is not None and "can ever hold is 10 such workers" in reason
    assert "node type cpu (4 CPUs) without limit" in reason and "at most 10 CPUs in all" in reason


@pytest.mark.parametrize("bad", [dict(workers=0), dict(cpus_per_worker=-1), dict(cpus_per_worker=0)])
def test_demand_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError, match="must"):
        Demand(**{"workers": 1, **bad})


def test_a_data_parallel_trial_driver_reserves_nothing_a_worker_needs() -> None:
    assert trial_resources(1, 0) == {"CPU": 1.0}
    assert trial_resources(1, 0.5) == {"CPU": 1.0, "GPU": 0.5}
    driver = trial_resources(2, 1)
    assert driver.keys() == {"memory"} and driver["memory"] > 0
    demand = trial_demand(2, 0)
    assert (demand.driver_cpus, demand.driver_gpus, demand.cpus_per_worker) == (0, 0, 1)
    assert never_fits(demand, TWO_CPUS) is None
