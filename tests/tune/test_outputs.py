"""raynn/tune/outputs.py: Tune's results turned into the run's table, summary and figures (no Ray session).

The grid is a list of objects with what ``ray.tune.Result`` offers the code (``metrics_dataframe``, ``config``,
``checkpoint``, ``error``, ``path``): real pandas frames, as Tune builds them from ``progress.csv``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from raynn.hpo.ledger import Ledger
from raynn.hpo.spaces import SearchSpace
from raynn.tune.outputs import RESULTS_FILE, SUMMARY_FILE, collect, trial_curve, write_outputs

SPACE = SearchSpace.from_dict({
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [8]}},
             "train": {"epochs": 3}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}},
})


def _result(trial_id: str, rows: list[tuple[float, float]], lr: float, **extra: Any) -> Any:
    frame = pd.DataFrame({"epoch": [e for e, _ in rows], "val_loss": [v for _, v in rows],
                          "trial_id": trial_id, **extra})
    return SimpleNamespace(metrics_dataframe=frame, config={"optimizer.lr": lr}, error=None,
                           checkpoint=SimpleNamespace(path=f"/ckpt/{trial_id}"), path=f"/exp/trial-{trial_id}")


class _Scheduler:
    def ledger(self) -> Ledger:
        return Ledger(9, 7, (), "HyperBand")

    def trial_rungs(self) -> dict[str, list[int]]:
        return {"a": [1, 3], "b": [1, 3], "c": [1, 3]}


def test_trial_curve_reads_whole_epochs_in_reported_order() -> None:
    result = _result("a", [(1.0, 0.9), (2.0, 0.8), (2.5, 0.1), (3.0, 0.7)], 0.05)  # 2.5: not an epoch
    assert trial_curve(result, "val_loss") == ("a", [(1, 0.9), (2, 0.8), (3, 0.7)])
    assert trial_curve(result, "val_accuracy") is None


def test_collect_names_the_incumbent_and_writes_table_and_summary(tmp_path: Path) -> None:
    grid = [
        _result("a", [(1, 0.9), (2, 0.6), (3, 0.5)], 0.02),
        _result("b", [(1, 0.4)], 0.03),  # best value, but stopped at epoch 1: not the best at epoch 3
        _result("c", [(1, 0.8), (2, 0.3), (3, 0.45)], 0.04),
        _result("d", [(1, 0.2), (2, float("inf"))], 0.05, diverged=[False, True]),
    ]
    result = collect(grid, _Scheduler(), SPACE, {"train.epochs": 3}, "val_loss", "min", tmp_path)
    assert (result.best_trial, result.best_value, result.best_epoch) == ("c", 0.45, 3)
    assert result.best_params == {"optimizer.lr": 0.04} and result.best_checkpoint == "/ckpt/c"
    assert result.best_config["optimizer"]["lr"] == 0.04 and result.best_config["train"]["epochs"] == 3
    assert result.ledger.spent == 7  # the scheduler's books
    assert {t["trial_id"]: t["status"] for t in result.trials} == {
        "a": "TERMINATED", "b": "TERMINATED", "c": "TERMINATED", "d": "DIVERGED"}

    write_outputs(result, "val_loss")
    with open(tmp_path / RESULTS_FILE) as f:
        rows = list(csv.DictReader(f))
    assert [(r["trial_id"], r["epochs"], r["final_val_loss"]) for r in rows] == [
        ("a", "3", "0.5"), ("b", "1", "0.4"), ("c", "3", "0.45"), ("d", "2", "inf")]
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert (summary["best_trial"], summary["best_epoch"], summary["diverged"]) == ("c", 3, ["d"])
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "rungs.png").stat().st_size > 0


def test_without_a_ledger_spent_is_each_trials_furthest_epoch(tmp_path: Path) -> None:
    grid = [_result("a", [(1, 0.9), (2, 0.6)], 0.02), _result("b", [(1, 0.4)], 0.03)]
    result = collect(grid, object(), SPACE, {}, "val_loss", "min", tmp_path)
    assert result.ledger.spent == 3 and result.ledger.planned is None
