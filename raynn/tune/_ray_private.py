"""Every place raynn reaches into Ray Tune's private state, in one small module (Ray 2.60).

Ray offers no public API for these; each function says what it reads or writes and why. When Ray changes,
this module is the one to read again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["concurrency_slots", "local_tuner", "take_limiter_slot"]


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
