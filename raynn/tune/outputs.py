"""What a tuning run leaves in its experiment directory: results table, learning curves, rung diagram.

The figures are drawn by :mod:`raynn.tune.figures`, which ``raynn report`` shares.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynn.config import check_config
from raynn.hpo.spaces import SearchSpace
from raynn.hpo.ledger import Ledger, as_resource
from raynn.tune.best import best_of_curves
from raynn.tune.figures import ledger_rungs, plot_curves, plot_rungs

__all__ = ["collect", "trial_curve", "write_outputs", "RESULTS_FILE", "CURVES_FILE", "RUNGS_FILE", "SUMMARY_FILE"]

@dataclass(frozen=True)
class TuneResult:
    """What a tuning run leaves behind.

    Attributes:
        best_trial, best_value, best_epoch: The incumbent (:mod:`raynn.tune.best`): the best value at the largest
            epoch any trial reached, its trial and that epoch.
        best_config: The best trial's raynn run config (checked), ``best_params`` its searched values.
        best_checkpoint: That trial's latest checkpoint directory.
        ledger: The scheduler's budget ledger (spent against planned, per bracket and rung).
        curves: Every trial's learning curve, ``{trial_id: [(epoch, metric), ...]}``.
        path: The experiment directory (results table, plots, Optuna study, Tune state).
        trial_rungs: Each trial's rungs, the ``r_i`` of its bracket (halving schedulers only).
    """

    best_trial: str | None
    best_params: dict[str, Any]
    best_config: dict[str, Any]
    best_value: float | None
    best_epoch: int | None
    best_checkpoint: str | None
    ledger: Ledger
    curves: dict[str, list[tuple[int, float]]]
    path: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    trial_rungs: dict[str, list[int]] = field(default_factory=dict)


RESULTS_FILE, CURVES_FILE, RUNGS_FILE, SUMMARY_FILE = "results.csv", "curves.png", "rungs.png", "summary.json"


def collect(grid: Any, scheduler: Any, space: SearchSpace, overrides: dict[str, Any], metric: str, mode: str,
            exp_dir: str | Path) -> Any:
    """Turn Tune's ResultGrid into a :class:`TuneResult`; ``exp_dir`` is the experiment directory (a path or
    a storage URI: checkpoints are then URIs too)."""
    from raynn.config import apply_overrides
    from raynn.storage import fs_uri

    trials, curves = [], {}
    for result in grid:
        found = trial_curve(result, metric)
        if found is None:
            continue
        trial_id, curve = found
        df = result.metrics_dataframe
        diverged = "diverged" in df and bool(df["diverged"].fillna(False).astype(bool).any())
        curves[trial_id] = curve
        trials.append({
            "trial_id": trial_id,
            "status": "ERROR" if result.error else "DIVERGED" if diverged else "TERMINATED", "diverged": diverged,
            "epochs": max(e for e, _ in curve), "final": curve[-1][1],
            "best": (min if mode == "min" else max)(v for _, v in curve),
            "checkpoint": fs_uri(str(exp_dir), result.checkpoint.path) if result.checkpoint is not None else None,
            "params": dict(result.config or {}),
        })
    # A diverged trial is never the best, whatever it reported before its loss stopped being finite.
    incumbent = best_of_curves({t["trial_id"]: curves[t["trial_id"]] for t in trials if not t["diverged"]}, mode)
    best = next((t for t in trials if incumbent is not None and t["trial_id"] == incumbent.trial_id), None)
    ledger = scheduler.ledger() if hasattr(scheduler, "ledger") else Ledger(
        None, sum(t["epochs"] for t in trials), (), type(scheduler).__name__)
    best_config = {}
    if best is not None:
        raw = apply_overrides(space.apply(best["params"]), [f"{k}={v}" for k, v in overrides.items()])
        best_config = check_config(raw)
    return TuneResult(
        best_trial=best["trial_id"] if best else None, best_params=best["params"] if best else {},
        best_config=best_config, best_value=incumbent.value if best else None,
        best_epoch=incumbent.epoch if best else None,
        best_checkpoint=best["checkpoint"] if best else None, ledger=ledger, curves=curves, path=str(exp_dir),
        trials=sorted(trials, key=lambda t: t["trial_id"]),
        trial_rungs=scheduler.trial_rungs() if hasattr(scheduler, "trial_rungs") else {},
    )


def trial_curve(result: Any, metric: str) -> tuple[str, list[tuple[int, float]]] | None:
    """``(trial_id, [(epoch, value), ...])`` of one ``ray.tune.Result``, in reported order; None without any."""
    df = result.metrics_dataframe
    if df is None or metric not in df or "epoch" not in df:
        return None
    df = df.dropna(subset=[metric, "epoch"])
    if df.empty:
        return None
    trial_id = str(df["trial_id"].iloc[-1]) if "trial_id" in df else Path(result.path).name
    curve = [(epoch, float(v)) for epoch, v in zip(map(as_resource, df["epoch"]), df[metric]) if epoch is not None]
    return (trial_id, curve) if curve else None


def write_outputs(result: Any, metric: str, directory: str | Path | None = None) -> None:
    """Write the results table, summary and figures into ``directory`` (default ``result.path``; with a storage
    URI the experiment's driver-local working copy, uploaded by the caller)."""
    exp = Path(result.path if directory is None else directory)
    exp.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for t in result.trials for k in t["params"]})
    with open(exp / RESULTS_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "status", "epochs", f"final_{metric}", f"best_{metric}", *keys, "checkpoint"])
        for t in result.trials:
            writer.writerow([t["trial_id"], t["status"], t["epochs"], t["final"], t["best"],
                             *(t["params"].get(k) for k in keys), t["checkpoint"]])
    summary = {"best_trial": result.best_trial, "best_value": result.best_value, "best_epoch": result.best_epoch,
               "best_params": result.best_params,
               "best_checkpoint": result.best_checkpoint, "ledger": result.ledger.to_json(),
               "curves": result.curves,
               "trial_rungs": result.trial_rungs,
               "diverged": sorted(t["trial_id"] for t in result.trials if t.get("diverged"))}
    (exp / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str))
    rungs = ledger_rungs(result.ledger)
    plot_curves(result.curves, metric, exp / CURVES_FILE, best_trial=result.best_trial, rungs=rungs)
    plot_rungs(result.curves, metric, exp / RUNGS_FILE, best_trial=result.best_trial, rungs=rungs,
               trial_rungs=result.trial_rungs)
