"""raynn/tune/_ray_private.py: the one place raynn reads Ray Tune's private state (Ray 2.60; no Ray session).

If Ray renames a field these read, this file fails first, and says which."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator, Searcher

from raynn.tune._ray_private import concurrency_slots, forget_decisions, local_tuner, take_limiter_slot


class _Searcher(Searcher):
    def suggest(self, trial_id: str) -> dict[str, Any]:
        return {}


def test_the_generators_live_set_is_its_own_not_a_copy() -> None:
    generator = BasicVariantGenerator(max_concurrent=3)
    limit, live, limiter = concurrency_slots(generator)
    assert (limit, limiter) == (3, None) and live is generator._live_trials


def test_a_limiter_is_found_through_the_wrappers_and_its_counter_moves_with_the_set() -> None:
    limiter = ConcurrencyLimiter(_Searcher(metric="m", mode="min"), max_concurrent=2)
    limit, live, found = concurrency_slots(SearchGenerator(limiter))
    assert (limit, found) == (2, limiter) and live is limiter.live_trials
    take_limiter_slot(limiter, +1)
    assert limiter.num_unfinished_live_trials == 1


def test_the_restored_tuners_internal() -> None:
    internal = object()
    assert local_tuner(SimpleNamespace(_local_tuner=internal)) is internal


def test_decisions_held_for_a_trial_being_added_are_dropped_through_tunes_wrapper() -> None:
    import inspect

    from ray.tune.execution.tune_controller import TrialRunnerWrapper, TuneController, _FakeRayTrialExecutor

    # the fields forget_decisions edits are still the controller's (a rename in Ray fails here first)
    source = inspect.getsource(TuneController.__init__)
    assert "self._cached_trial_decisions = {}" in source and "self._queued_trial_decisions = {}" in source
    controller = SimpleNamespace(
        _cached_trial_decisions={"a": "PAUSE", "b": "CONTINUE"}, _queued_trial_decisions={"a": "PAUSE"}
    )
    wrapper = TrialRunnerWrapper(controller, trial_executor=_FakeRayTrialExecutor(controller))  # type: ignore[arg-type]
    forget_decisions(wrapper, "a")
    assert controller._cached_trial_decisions == {"b": "CONTINUE"} and controller._queued_trial_decisions == {}
    forget_decisions(controller, "b")  # the controller itself works too
    assert controller._cached_trial_decisions == {}
