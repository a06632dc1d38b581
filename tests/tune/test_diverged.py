"""A diverging search (seed 4.7 with a learning rate far too large): every trial's loss is NaN from its first
epoch. Each trial stops at that epoch, marked diverged (results, summary, event log, view), is never the
best, and a search in which every trial diverged ends with exit code 1 and one line, not a traceback."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from raynn.hpo.spaces import SearchSpace
from raynn.tune.outputs import collect, write_outputs

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 1.0e3, "high": 1.0e5, "log": True}},
}


def _result(trial_id: str, rows: list[tuple[int, float, bool]], lr: float = 2000.0) -> Any:
    """What Tune's ``ResultGrid`` yields for one trial: its metrics dataframe, config, checkpoint, error."""
    df = pd.DataFrame([{"trial_id": trial_id, "epoch": e, "val_loss": v, "diverged": d} for e, v, d in rows])
    return SimpleNamespace(metrics_dataframe=df, config={"optimizer.lr": lr}, checkpoint=None, error=None,
                           path=f"/x/trial-{trial_id}")


def test_a_diverged_trial_is_marked_and_never_the_best(tmp_path: Path) -> None:
    grid = [_result("a", [(1, 0.9, False), (2, math.inf, True)]), _result("b", [(1, 0.8, False)], lr=1500.0),
            _result("c", [(1, math.nan, False)])]  # only NaN rows (not raynn's loop): skipped, not a crash
    scheduler = SimpleNamespace()
    result = collect(grid, scheduler, SearchSpace.from_dict(SPACE), {}, "val_loss", "min", tmp_path)
    assert result.best_trial == "b"  # a reached further, but diverged there
    status = {t["trial_id"]: (t["status"], t["diverged"]) for t in result.trials}
    assert status == {"a": ("DIVERGED", True), "b": ("TERMINATED", False)}
    write_outputs(result, "val_loss")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] == ["a"] and summary["best_trial"] == "b"
    assert "a,DIVERGED,2,inf" in (tmp_path / "results.csv").read_text()


def test_when_every_trial_diverged_there_is_no_best_and_the_summary_says_so(tmp_path: Path) -> None:
    grid = [_result(t, [(1, math.inf, True)]) for t in ("a", "b")]
    result = collect(grid, SimpleNamespace(), SearchSpace.from_dict(SPACE), {}, "val_loss", "min", tmp_path)
    assert result.best_trial is None and result.best_value is None and len(result.trials) == 2
    write_outputs(result, "val_loss")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] == ["a", "b"] and summary["best_trial"] is None


@pytest.mark.ray
def test_a_search_where_every_trial_diverges_ends_with_exit_1_and_a_summary(
        ray_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's run, smaller: HyperBand (R=3, eta=3) and random search, 3 trials in bracket s=1."""
    from raynn.cli import main
    from raynn.tune.events import read_events

    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    code = main(["tune", str(tmp_path / "space.yaml"), "--scheduler", "hyperband", "--searcher", "random",
                 "--num-samples", "3", "--max-concurrent", "3", "--storage", str(tmp_path / "exp"), "--name", "d"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "raynn: error: every trial diverged (the loss was not finite)" in err
    exp = tmp_path / "exp" / "d"
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["best_trial"] is None and len(summary["diverged"]) == 3
    # Each trial stopped at its first epoch; the one HyperBand promoted was not trained further.
    assert sorted(len(c) for c in summary["curves"].values()) == [1, 1, 1]
    results = [e for e in read_events(exp / "events.jsonl") if e["event"] == "result"]
    assert len(results) == 3 and all(e["diverged"] and e["value"] is None for e in results)
    assert "(diverged 3)" in err and "best -" in err  # the view
    # One TensorBoard writer per trial, raynn's: Tune's own (tensorboardX, which warns once per +inf row) is off.
    assert "NaN or Inf found" not in err and "NaN or Inf found" not in (exp / "ray.log").read_text()
    assert not list((exp).glob("trial-*/events.out.tfevents.*"))
