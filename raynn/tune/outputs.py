"""What a tuning run leaves in its experiment directory: results table, learning curves, rung diagram."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from raynn.config import check_config
from raynn.hpo.spaces import SearchSpace

__all__ = ["collect", "write_outputs", "RESULTS_FILE", "CURVES_FILE", "RUNGS_FILE"]

RESULTS_FILE, CURVES_FILE, RUNGS_FILE, SUMMARY_FILE = "results.csv", "curves.png", "rungs.png", "summary.json"


def collect(grid: Any, scheduler: Any, space: SearchSpace, overrides: dict[str, Any], metric: str, mode: str,
            exp_dir: Path) -> Any:
    """Turn Tune's ResultGrid into a :class:`~raynn.tune.run.TuneResult`."""
    from raynn.config import apply_overrides
    from raynn.tune.run import TuneResult

    trials, curves = [], {}
    for result in grid:
        df = result.metrics_dataframe
        if df is None or metric not in df or "epoch" not in df:
            continue
        df = df.dropna(subset=[metric, "epoch"])
        trial_id = str(df["trial_id"].iloc[-1]) if "trial_id" in df else Path(result.path).name
        curve = [(int(e), float(v)) for e, v in zip(df["epoch"], df[metric])]
        curves[trial_id] = curve
        trials.append({
            "trial_id": trial_id, "status": "ERROR" if result.error else "TERMINATED",
            "epochs": max(e for e, _ in curve), "final": curve[-1][1],
            "best": (min if mode == "min" else max)(v for _, v in curve),
            "checkpoint": result.checkpoint.path if result.checkpoint is not None else None,
            "params": dict(result.config or {}),
        })
    best = None
    if trials:
        furthest = max(t["epochs"] for t in trials)
        finalists = [t for t in trials if t["epochs"] == furthest and math.isfinite(t["final"])] or trials
        best = (min if mode == "min" else max)(finalists, key=lambda t: t["final"])
    ledger = scheduler.ledger() if hasattr(scheduler, "ledger") else {
        "scheduler": type(scheduler).__name__, "budget": None,
        "budget_spent": sum(t["epochs"] for t in trials)}
    best_config = {}
    if best is not None:
        raw = apply_overrides(space.apply(best["params"]), [f"{k}={v}" for k, v in overrides.items()])
        best_config = check_config(raw)
    return TuneResult(
        best_trial=best["trial_id"] if best else None, best_params=best["params"] if best else {},
        best_config=best_config, best_value=best["final"] if best else None,
        best_checkpoint=best["checkpoint"] if best else None, ledger=ledger, curves=curves, path=str(exp_dir),
        trials=sorted(trials, key=lambda t: t["trial_id"]),
    )


def write_outputs(result: Any, metric: str) -> None:
    exp = Path(result.path)
    exp.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for t in result.trials for k in t["params"]})
    with open(exp / RESULTS_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "status", "epochs", f"final_{metric}", f"best_{metric}", *keys, "checkpoint"])
        for t in result.trials:
            writer.writerow([t["trial_id"], t["status"], t["epochs"], t["final"], t["best"],
                             *(t["params"].get(k) for k in keys), t["checkpoint"]])
    summary = {"best_trial": result.best_trial, "best_value": result.best_value, "best_params": result.best_params,
               "best_checkpoint": result.best_checkpoint, "ledger": result.ledger, "curves": result.curves}
    (exp / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, default=str))
    _plot_curves(result, metric, exp / CURVES_FILE)
    _plot_rungs(result, metric, exp / RUNGS_FILE)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(result: Any, metric: str, path: Path) -> None:
    """Every trial's learning curve, coloured by the resource it reached (its rung)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    reached = sorted({max(e for e, _ in c) for c in result.curves.values()}) or [1]
    cmap = plt.get_cmap("viridis", max(2, len(reached)))
    for trial_id, curve in result.curves.items():
        top = max(e for e, _ in curve)
        ax.plot([e for e, _ in curve], [v for _, v in curve], color=cmap(reached.index(top)),
                lw=2.0 if trial_id == result.best_trial else 0.9, alpha=0.9)
    for i, r in enumerate(reached):
        ax.plot([], [], color=cmap(i), label=f"reached epoch {r}")
    ax.set_xlabel("epoch (resource)")
    ax.set_ylabel(metric)
    ax.set_title("learning curves by rung reached (thick: best)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_rungs(result: Any, metric: str, path: Path) -> None:
    """The rung diagram: each trial's value at each rung it reached; lines are promotions."""
    plt = _pyplot()
    rungs = sorted({int(row["r"]) for b in result.ledger.get("brackets", []) for row in b.get("rounds", [])})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for trial_id, curve in result.curves.items():
        values = dict(curve)
        points = [(r, values[r]) for r in (rungs or sorted(values)) if r in values]
        if not points:
            continue
        best = trial_id == result.best_trial
        ax.plot([r for r, _ in points], [v for _, v in points], marker="o", ms=4,
                color="tab:red" if best else ("tab:blue" if len(points) > 1 else "0.6"), lw=2 if best else 0.8)
    if rungs:
        ax.set_xscale("log")
        ax.set_xticks(rungs, [str(r) for r in rungs])
    ax.set_xlabel("rung (epochs)")
    ax.set_ylabel(metric)
    ax.set_title(f"{len(result.curves)} trials at the rungs they reached (grey: one rung only; red: best)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
