"""raynn/tune/search.py: the Ray Tune adapter of raynn's searchers (no Ray session needed)."""

from __future__ import annotations

from pathlib import Path

from raynn.hpo.searchers import build_searcher
from raynn.hpo.spaces import SearchSpace
from raynn.tune.search import RaynnSearcher

SPACE = SearchSpace.from_dict({"base": {}, "space": {"optimizer.lr": {"type": "float", "low": 0.001,
                                                                      "high": 0.5, "log": True}}})


def test_a_result_of_a_trial_the_searcher_closed_is_ignored(tmp_path: Path) -> None:
    # Optuna's SQLite is written at every tell, Tune's snapshot every few seconds: a driver killed right after
    # the searcher closed a trial comes back with Tune running that trial again from its older snapshot.
    db = str(tmp_path / "optuna.db")
    first = RaynnSearcher(build_searcher("optuna-tpe", SPACE, seed=0, storage_path=db, mode="min", rungs=[1, 3]),
                          metric="val_loss", mode="min")
    first.suggest("t1")
    first.on_trial_result("t1", {"epoch": 1, "val_loss": 0.5})
    first.on_trial_complete("t1")
    resumed = RaynnSearcher(build_searcher("optuna-tpe", SPACE, seed=0, storage_path=db, mode="min",
                                           rungs=[1, 3]), metric="val_loss", mode="min")
    resumed.core.load_state_dict(first.core.state_dict())
    resumed.on_trial_result("t1", {"epoch": 1, "val_loss": 0.5})  # raised ValueError: "t1 is complete"
    resumed.on_trial_result("t1", {"epoch": 3, "val_loss": 0.4})
    assert resumed.core.is_complete("t1") and resumed.core.observations()[1] == 1
