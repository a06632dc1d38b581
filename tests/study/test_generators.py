"""The large-batch grid: iterations per epoch by hand, and each warmup as plain raynn config keys."""

from __future__ import annotations

import pytest

from raynn.config import parse_config
from raynn.scaling import build_lr_schedule
from raynn.study.generators import iters_per_epoch, train_size
from raynn.study.spec import load_study


@pytest.mark.parametrize(
    ("n", "batch", "workers", "want"),
    [(1438, 16, 1, 90), (1438, 8, 2, 90), (1438, 256, 2, 3), (8000, 1024, 2, 4), (8000, 64, 1, 125), (7, 2, 2, 2)],
)
def test_iters_per_epoch_by_hand(n: int, batch: int, workers: int, want: int) -> None:
    # 1438 / 2 ranks = 719 each; ceil(719 / 8) = 90; ceil(719 / 256) = 3; 8000 / 2 = 4000, ceil(4000/1024) = 4;
    # 7 examples on 2 ranks: the sampler pads to 4 each, 2 batches of 2.
    assert iters_per_epoch(n, batch, workers) == want


def test_train_size_matches_the_split() -> None:
    assert train_size(1797, 0.2) == 1438
    assert train_size(10000, 0.2) == 8000


def _lr(cfg: dict, ipe: int, k: int) -> float:
    return build_lr_schedule(parse_config(cfg), ipe)[0](k)


def test_warmups_as_learning_rates() -> None:
    study = load_study("large-batch", patch={"runs": {"generate": {"k": [1, 32]}}})
    runs = {(r.params["k"], r.params["rule"], r.params["warmup"]): r for r in study.runs}
    ipe = runs[(32, "linear", "none")].params["iters_per_epoch"]
    assert ipe == 3  # 1438 examples on 2 ranks of 256
    base, k = 0.05, 32
    # none: the scaled rate at once; decay x0.1 at 60% and x0.01 at 90% of 30 iterations.
    cfg = runs[(32, "linear", "none")].config
    assert [_lr(cfg, ipe, i) for i in (0, 17, 18, 26, 27)] == pytest.approx([base * k] * 2 + [base * k * 0.1] * 2 + [base * k * 0.01])
    # gradual: (i + 1) / W of the scaled rate over W = 3 iterations, the same decay after it.
    cfg = runs[(32, "linear", "gradual")].config
    assert [_lr(cfg, ipe, i) for i in (0, 1, 2, 3, 18, 27)] == pytest.approx(
        [base * k / 3, base * k * 2 / 3, base * k, base * k, base * k * 0.1, base * k * 0.01])
    # constant: phase 1 is one epoch at the reference rate; phase 2 continues at iteration 3 at the scaled rate.
    first, second = runs[(32, "linear", "constant")].phases
    assert first["train"]["epochs"] == 1 and second["train"]["epochs"] == 10
    assert [_lr(first, ipe, i) for i in (0, 2)] == pytest.approx([base, base])
    assert [_lr(second, ipe, i) for i in (3, 18, 27)] == pytest.approx([base * k, base * k * 0.1, base * k * 0.01])
    # auto: raynn's default, 5 epochs capped at a tenth of 10 = 1 epoch = 3 iterations.
    assert runs[(32, "linear", "auto")].params["warmup_iters"] == 3
    # sqrt is not in the quick grid; the reference run has k = 1 and its own rate.
    assert _lr(runs[(1, "reference", "none")].config, 90, 0) == pytest.approx(base)
