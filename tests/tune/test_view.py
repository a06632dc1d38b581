"""raynn/tune/view.py: the terminal view reads the scheduler's ledger and names the one best (no Ray session)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from raynn.tune.view import ProgressView


class _Scheduler:
    def ledger(self) -> dict[str, Any]:
        return {"budget": 27, "budget_spent": 5}


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
    view.on_trial_result(0, [a], a, {"epoch": 4, "diverged": True})
    assert "budget spent 3/10 epochs" in view.render([a]) and "(diverged 1)" in view.render([a])


def test_final_line_names_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    view = ProgressView(object(), metric="val_loss", mode="min", enabled=False)
    view.final(SimpleNamespace(best_value=0.25, best_trial="a", best_epoch=3, best_params={"lr": 0.1},
                               best_checkpoint="/ckpt", path="/exp"))
    assert capsys.readouterr().out.startswith("raynn tune: best val_loss 0.25 (trial a, epoch 3); params {'lr': 0.1}")
