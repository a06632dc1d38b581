"""raynn.study.results: a study's runs summarized over seeds (curves, finals, smoothing), by hand-worked values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from raynn.study.results import RunResult, StudyResults, mean_sd, smooth
from raynn.study.spec import RunSpec, Study


def _run(label: str, seed: int, losses: list[float], iterations: list[float] = ()) -> RunResult:
    spec = RunSpec(f"{label}-{seed}", label, seed, {}, ({},))
    return RunResult(spec, [{"val_loss": v, "epoch": i + 1} for i, v in enumerate(losses)], list(iterations))


def _results(runs: list[RunResult]) -> StudyResults:
    return StudyResults(Study("s", Path("s.yaml"), "s", "0", "", False, (), (), None, (), {}), runs)


def test_labels_keep_file_order_and_curves_average_the_seeds_up_to_the_shortest() -> None:
    res = _results([_run("b", 0, [4.0, 2.0, 1.0]), _run("a", 0, [1.0]), _run("b", 1, [2.0, 0.0])])
    assert res.labels() == ["b", "a"]
    epochs, mean, sd = res.epoch_curve("b", "val_loss")
    assert epochs.tolist() == [1, 2] and mean.tolist() == [3.0, 1.0] and sd.tolist() == [1.0, 1.0]
    assert res.final("b", "val_loss") == (pytest.approx(0.5), pytest.approx(0.5), [1.0, 0.0])
    assert res.final("b", "val_loss", at="min")[2] == [1.0, 0.0]
    assert res.by_label("a")[0].final("val_loss") == 1.0
    assert math.isnan(RunResult(_run("c", 0, []).spec, []).final("val_loss"))
    with pytest.raises(ValueError, match="no run is labelled 'z'; labels: b, a"):
        res.by_label("z")


def test_iteration_curves_need_logged_iterations() -> None:
    res = _results([_run("a", 0, [1.0], [4.0, 2.0, 0.0]), _run("a", 1, [1.0], [2.0, 2.0])])
    its, mean, _ = res.iteration_curve("a", window=2)
    assert its.tolist() == [1, 2] and mean.tolist() == [3.0, 2.5]  # seed 0 smoothed: 4, 3; seed 1: 2, 2
    with pytest.raises(ValueError, match="did not log iterations"):
        _results([_run("b", 0, [1.0])]).iteration_curve("b")


def test_smooth_is_a_trailing_mean_that_uses_no_later_value() -> None:
    assert smooth([1.0, 3.0, 5.0, 7.0], 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert smooth([1.0, 3.0, 5.0], 1).tolist() == [1.0, 3.0, 5.0]
    assert np.array_equal(smooth([], 3), np.array([]))
    assert mean_sd([1.0, 3.0]) == "2 ± 1" and mean_sd([0.25]) == "0.25"
