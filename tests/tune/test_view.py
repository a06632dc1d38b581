"""raynn/tune/view.py: the terminal view reads the scheduler's ledger and names the one best (no Ray session); it
prints a block when the state changed, and an unchanged state only as a heartbeat."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from raynn.hpo.ledger import Ledger
from raynn.tune.view import ProgressView


class _Scheduler:
    def ledger(self) -> Ledger:
        return Ledger(27, 5, ())


def _trial(trial_id: str, status: str) -> Any:
    return SimpleNamespace(trial_id=trial_id, status=status)


def test_the_view_shows_states_rungs_the_ledger_and_the_incumbent() -> None:
    view = ProgressView(_Scheduler(), metric="val_loss", mode="min", enabled=False)
    a, b = _trial("a", "RUNNING"), _trial("b", "PAUSED")
    for trial, epoch, loss in [(a, 1, 0.9), (b, 1, 0.5), (a, 2, 0.8), (a, 3.0, 0.7), (b, 1.5, 0.1)]:
        view.on_trial_result(0, [a, b], trial, {"epoch": epoch, "val_loss": loss})
    text = view.render([a, b])
    assert "paused 1  running 1" in text
    assert "furthest epoch: r=1: 1  r=3: 1" in text  # 1.5 is not a whole epoch: not a resource
    assert "budget spent 5/27 epochs" in text  # the scheduler's books, not the view's own sum (4)
    assert "best val_loss 0.7 (trial a, epoch 3)" in text  # the best at the largest epoch reached


def test_without_a_ledger_the_view_charges_each_trial_its_furthest_epoch() -> None:
    view = ProgressView(object(), metric="val_accuracy", mode="max", budget=10, enabled=False)
    a = _trial("a", "RUNNING")
    for epoch in (1, 2, 1, 2, 3):  # a resumed trial reports epochs 1-2 again: not charged twice
        view.on_trial_result(0, [a], a, {"epoch": epoch, "val_accuracy": 0.1 * epoch})
    assert "budget spent 3/10 epochs" in view.render([a]) and "diverged" not in view.render([a])
    view.on_trial_result(0, [a], a, {"epoch": 4, "diverged": True})  # trained, so charged (as events.jsonl)
    assert "budget spent 4/10 epochs" in view.render([a]) and "(diverged 1)" in view.render([a])


def test_final_line_names_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    view = ProgressView(object(), metric="val_loss", mode="min", enabled=False)
    view.final(SimpleNamespace(best_value=0.25, best_trial="a", best_epoch=3, best_params={"lr": 0.1},
                               best_checkpoint="/ckpt", path="/exp"))
    assert capsys.readouterr().out.startswith("raynn tune: best val_loss 0.25 (trial a, epoch 3); params {'lr': 0.1}")


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
