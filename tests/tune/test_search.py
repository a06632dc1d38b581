"""raynn/tune/search.py: Tune's Searcher calls translated to a real raynn searcher (no Ray session)."""

from __future__ import annotations

from pathlib import Path

from ray.tune.search import Searcher

from raynn.hpo.searchers import RandomSearcher, build_searcher
from raynn.hpo.spaces import SearchSpace
from raynn.tune.search import RaynnSearcher

SPACE = SearchSpace.from_dict({"base": {"train": {"epochs": 3}},
                               "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}})


def _searcher(seed: int = 0) -> RaynnSearcher:
    return RaynnSearcher(RandomSearcher(SPACE, seed=seed, num_samples=2), metric="val_loss", mode="min")


def test_suggestions_are_the_cores_then_finished() -> None:
    searcher, core = _searcher(), RandomSearcher(SPACE, seed=0, num_samples=2)
    assert searcher.suggest("a") == core.suggest("a") and searcher.suggest("b") == core.suggest("b")
    assert searcher.suggest("c") is Searcher.FINISHED


def test_results_reach_the_core_only_with_a_whole_epoch() -> None:
    searcher = _searcher()
    searcher.suggest("a")
    searcher.on_trial_result("a", {"epoch": 1, "val_loss": 0.5})
    searcher.on_trial_result("a", {"epoch": 1.5, "val_loss": 0.4})  # not a whole epoch: not a resource
    searcher.on_trial_result("a", {"training_iteration": 3, "val_loss": 0.3})  # Tune's counter is not used
    searcher.on_trial_complete("a")
    searcher.on_trial_complete("never-suggested")  # Tune may complete a trial the core never saw
    assert "a" in searcher.core.trial_ids


def test_search_properties_must_agree() -> None:
    searcher = _searcher()
    assert searcher.set_search_properties("val_loss", "min", {})
    assert searcher.set_search_properties(None, None, {})
    assert not searcher.set_search_properties("val_accuracy", "max", {})


def test_save_and_restore_continue_the_same_sequence(tmp_path: Path) -> None:
    first = _searcher(seed=5)
    first.suggest("a")
    first.save(str(tmp_path / "searcher.json"))
    second = _searcher(seed=5)
    second.restore(str(tmp_path / "searcher.json"))
    assert second.suggest("b") == first.suggest("b")
    assert second.suggest("c") is Searcher.FINISHED


def test_a_result_of_a_trial_the_searcher_closed_is_ignored(tmp_path: Path) -> None:
    # Optuna's SQLite is written at every tell, Tune's snapshot every few seconds: a driver killed right after
    # the searcher closed a trial comes back with Tune running that trial again from its older snapshot.
    db = str(tmp_path / "optuna.db")

    def optuna() -> RaynnSearcher:
        core = build_searcher("optuna-tpe", SPACE, seed=0, storage_path=db, mode="min", rungs=[1, 3])
        return RaynnSearcher(core, metric="val_loss", mode="min")

    first = optuna()
    first.suggest("t1")
    first.on_trial_result("t1", {"epoch": 1, "val_loss": 0.5})
    first.on_trial_complete("t1")
    resumed = optuna()
    resumed.core.load_state_dict(first.core.state_dict())
    resumed.on_trial_result("t1", {"epoch": 1, "val_loss": 0.5})  # raised ValueError: "t1 is complete"
    resumed.on_trial_result("t1", {"epoch": 3, "val_loss": 0.4})
    assert resumed.core.is_complete("t1") and resumed.core.observations()[1] == 1


def test_mfgp_as_raynn_tune_builds_it_saves_and_restores_through_tune(tmp_path: Path) -> None:
    # run.py passes storage_path, mode and the scheduler's rungs to every model-based searcher
    def make() -> RaynnSearcher:
        core = build_searcher("optuna-mfgp", SPACE, seed=2, storage_path=str(tmp_path / "optuna.db"),
                              mode="min", rungs=[1, 3])
        return RaynnSearcher(core, metric="val_loss", mode="min")

    first = make()
    for i in range(8):
        params = first.suggest(f"t{i}")
        for epoch in (1, 3):
            first.on_trial_result(f"t{i}", {"epoch": epoch, "val_loss": abs(params["optimizer.lr"] - 0.05) + 1 / epoch})
        first.on_trial_complete(f"t{i}")
    first.save(str(tmp_path / "searcher.json"))
    second = make()
    second.restore(str(tmp_path / "searcher.json"))
    assert [second.suggest(t) for t in ("a", "b")] == [first.suggest(t) for t in ("a", "b")]
