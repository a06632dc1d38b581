"""The terminal view prints a block when the state changed, and an unchanged state only as a heartbeat."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from raynn.tune.view import ProgressView


def _trial(trial_id: str, status: str) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, status=status)


def test_an_unchanged_state_is_printed_once_then_only_as_a_heartbeat(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clock = [100.0]
    monkeypatch.setattr("raynn.tune.view.time.monotonic", lambda: clock[0])
    view = ProgressView(SimpleNamespace(), "val_loss", "min", budget=9, interval=5.0, heartbeat=60.0)
    trials = [_trial("a", "PENDING"), _trial("b", "PENDING")]
    for t in range(0, 59, 1):  # a minute of controller steps with nothing happening
        clock[0] = 100.0 + t
        view.on_step_end(t, trials)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "pending 2" in lines[0] and "best -" in lines[0]

    clock[0] = 160.0  # the heartbeat
    view.on_step_end(0, trials)
    assert "pending 2" in capsys.readouterr().err

    trials[0].status = "RUNNING"  # a change shows at the next interval, not before
    view.on_trial_result(0, trials, trials[0], {"epoch": 1, "val_loss": 0.5})
    clock[0] = 162.0
    view.on_step_end(0, trials)
    assert capsys.readouterr().err == ""
    clock[0] = 165.0
    view.on_step_end(0, trials)
    err = capsys.readouterr().err
    assert "running 1" in err and "val_loss 0.5 (trial a, epoch 1)" in err


def test_a_disabled_view_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    view = ProgressView(SimpleNamespace(), "val_loss", "min", enabled=False)
    view.on_step_end(0, [_trial("a", "RUNNING")])
    view.on_experiment_end([_trial("a", "TERMINATED")])
    assert capsys.readouterr().err == ""
