"""Every place raynn reaches into Ray Tune's private state, in one small module (Ray 2.60).

Ray offers no public API for these; each function says what it reads or writes and why. When Ray changes,
this module is the one to read again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["concurrency_slots", "forget_decisions", "local_tuner", "take_limiter_slot"]


def concurrency_slots(search_alg: Any) -> tuple[int, set[str], Any | None] | None:
    """``(limit, live trial ids, limiter)`` of the concurrency limit Tune put around its search algorithm.

    ``TuneConfig(max_concurrent_trials=...)`` becomes ``BasicVariantGenerator(max_concurrent=...)`` (its set
    ``_live_trials``, private) or a ``ConcurrencyLimiter`` around a ``Searcher`` (``live_trials``, public, and
    the counter ``num_unfinished_live_trials``, which the limiter checks). Both count a trial as live from its
    creation to its completion, paused or not: the halving adapters edit the set so a trial paused at an
    undecided rung gives its slot back (ray-project/ray#12536). None: no limit this module can use (none set,
    batch mode, which waits for whole batches, or a searcher that limits itself, ``_limit_concurrency`` False).
    """
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if isinstance(search_alg, BasicVariantGenerator):
        if search_alg.max_concurrent > 0:
            return search_alg.max_concurrent, search_alg._live_trials, None
        return None
    searcher = getattr(search_alg, "searcher", None)
    while searcher is not None:
        if isinstance(searcher, ConcurrencyLimiter):
            if searcher.batch or not searcher._limit_concurrency:
                return None
            return searcher.max_concurrent, searcher.live_trials, searcher
        searcher = getattr(searcher, "searcher", None)
    return None


def take_limiter_slot(limiter: Any, delta: int) -> None:
    """Keep a ``ConcurrencyLimiter``'s count of unfinished live trials in step with its ``live_trials`` set."""
    limiter.num_unfinished_live_trials += delta


def local_tuner(tuner: Any) -> Any | None:
    """The ``TunerInternal`` a restored ``Tuner`` runs (``_local_tuner``), so ``raynn tune --resume`` can hand
    it a live scheduler and callbacks instead of the ones pickled at the start; None through Ray Client."""
    return tuner._local_tuner


def forget_decisions(tune_controller: Any, trial_id: str) -> None:
    """Drop the scheduling decisions Tune still holds for a trial it is adding (again).

    Tune keeps the decision for a trial's result while the trial saves a checkpoint (``_cached_trial_decisions``)
    and until the result's futures resolve (``_queued_trial_decisions``), and it writes both dicts into its
    experiment snapshot (``TuneController.__getstate__`` does not leave them out). A snapshot taken between a
    halving scheduler's ``PAUSE`` and the end of the pausing save therefore holds ``{trial_id: "PAUSE"}``;
    ``Tuner.restore`` loads it, and the trial's first result after it is resumed (promoted) is answered
    ``PAUSE`` instead of the scheduler's ``CONTINUE``: Tune pauses a trial the scheduler counts as running and
    the experiment never ends (seen in ``tests/tune/test_restore.py`` under load). A trial being added has no
    future in flight, so any decision held for it is stale. ``tune_controller``: what Tune passes a scheduler
    (its ``TrialRunnerWrapper``) or the controller itself.
    """
    controller = getattr(tune_controller, "_tune_controller", tune_controller)
    for name in ("_cached_trial_decisions", "_queued_trial_decisions"):
        decisions = getattr(controller, name, None)
        if isinstance(decisions, dict):
            decisions.pop(trial_id, None)
