"""raynn/tune/search.py: Tune's Searcher calls translated to a real raynn searcher (no Ray session)."""

from __future__ import annotations

from pathlib import Path

from ray.tune.search import Searcher

from raynn.hpo.searchers import RandomSearcher
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
