"""Checks several tests make of raynn's runs and experiments (importable as ``raynn_testing.checks``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ONE_BAND_SPENT = 1 + 1 + 3 + 3 + 3
"""Epochs of one HyperBand band with R = 3, eta = 3: bracket s=1 (3 configurations at 1 epoch, the best to 3)
and bracket s=0 (2 configurations at 3)."""


def check_resumed_band(summary: dict[str, Any], replays: int = 1) -> dict[str, list[int]]:
    """``summary.json`` of a HyperBand R = 3, eta = 3 band that was stopped and resumed: every trial ended at
    the rung its bracket gives it, resumed from checkpoints, never from scratch (every epoch is there, and at
    most ``replays`` epochs per trial were trained twice: the ones in flight when the run stopped), and the
    budget was spent as planned. Returns each trial's epochs in the order they were logged."""
    curves = {trial: [epoch for epoch, _ in curve] for trial, curve in summary["curves"].items()}
    assert sorted(max(epochs) for epochs in curves.values()) == [1, 1, 3, 3, 3], curves
    for trial, epochs in curves.items():
        assert set(epochs) == set(range(1, max(epochs) + 1)), (trial, epochs)
        assert len(epochs) - max(epochs) <= replays, (trial, epochs)
    assert summary["ledger"]["budget_spent"] == ONE_BAND_SPENT
    return curves


def registered_checkpoints(run_dir: Path) -> int:
    """Checkpoints Ray Train's controller has registered for the run in ``run_dir`` (it registers a reported
    checkpoint at its next poll of the workers); 0 before its snapshot exists or while it is rewritten."""
    try:
        snapshot = json.loads((run_dir / "checkpoint_manager_snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return len(snapshot.get("checkpoint_results", []))
