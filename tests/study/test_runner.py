"""raynn/study/runner.py: how data-parallel runs split into worker groups (pure), and that a run trained in a
group, after another run, is the run its own ``raynn train`` makes (Ray Train, 2 workers)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from raynn.study.runner import RUNS_PER_GROUP, group_sizes
from raynn.study.spec import load_study


@pytest.mark.parametrize(("n", "slots", "most", "want"), [
    (93, 1, 16, [16, 16, 16, 15, 15, 15]),  # the full large-batch study on 2 CPUs: 6 worker-group starts, not 93
    (6, 1, 16, [6]),                        # the quick one: one group
    (16, 1, 16, [16]),
    (17, 1, 16, [9, 8]),
    (93, 8, 16, [12, 12, 12, 12, 12, 11, 11, 11]),  # 16 CPUs: one group per slot, the cluster kept busy
    (3, 8, 16, [1, 1, 1]),                  # fewer runs than slots: one run a group
    (1, 1, 16, [1]),
    (0, 4, 16, []),
])
def test_group_sizes_by_hand(n: int, slots: int, most: int, want: list[int]) -> None:
    sizes = group_sizes(n, slots, most)
    assert sizes == want
    assert sum(sizes) == n and all(1 <= s <= most for s in sizes)


def test_group_sizes_default_and_bad_input() -> None:
    assert RUNS_PER_GROUP == 16 and group_sizes(33, 1) == [11, 11, 11]
    for n, slots, most in ((-1, 1, 16), (3, 0, 16), (3, 1, 0)):
        with pytest.raises(ValueError, match="must hold"):
            group_sizes(n, slots, most)


@pytest.mark.ray
@pytest.mark.slow  # two worker-group starts: ~30 s idle, 75 s on the loaded shared machine
def test_a_run_in_a_group_is_the_run_raynn_train_makes(ray_session: None, tmp_path: Path) -> None:
    """One worker group of 2 Ray Train workers trains a two-phase run (the constant warmup, seed 1) and then the
    reference run (seed 0); the reference's epochs equal those of ``raynn.train`` on its config (its own worker
    group), so nothing of the first run (model, optimizer, RNG, sampler) leaks into the second."""
    import ray

    import raynn
    from raynn.study.runner import _train_group

    patch = {"runs": {"seeds": [0, 1], "base": {"train": {"epochs": 3}, "model": {"params": {"hidden": [16]}}},
                      "generate": {"k": [1, 4], "combos": [["linear", "constant"]], "decay_epochs": [2],
                                   "decay_factors": [0.1]}}}
    runs = load_study("large-batch", patch=patch).runs
    constant = next(r for r in runs if r.params["k"] == 4 and r.seed == 1)
    reference = next(r for r in runs if r.params["k"] == 1 and r.seed == 0)
    assert len(constant.phases) == 2 and constant.workers == reference.workers == 2

    out = ray.get(ray.remote(_train_group).options(num_cpus=0).remote([constant, reference], str(tmp_path)))
    (phased, _, _), (grouped, _, _) = out

    base = constant.config["optimizer"]["lr"]
    assert [m["epoch"] for m in phased] == [1, 2, 3]
    assert phased[0]["lr"] == pytest.approx(base)  # the constant warmup's epoch at the reference rate
    assert phased[1]["lr"] == pytest.approx(4 * base)  # then the scaled rate (resumed from phase 1's checkpoint)
    assert phased[2]["lr"] == pytest.approx(4 * base * 0.1)  # decayed after epoch 2
    assert all(m["global_batch"] == 64 for m in phased)

    alone = raynn.train({**reference.config, "name": "group-vs-alone", "storage": str(tmp_path / "alone")}).history
    assert len(grouped) == len(alone) == 3
    for g, a in zip(grouped, alone):
        for key in ("step", "global_batch", "lr"):
            assert g[key] == a[key], key
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert math.isclose(g[key], a[key], rel_tol=1e-5), (key, g[key], a[key])
