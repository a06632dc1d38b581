"""The concurrency gate around Tune's search algorithm: which trials hold one of its slots.

The halving adapters free the slot of a trial paused at an undecided rung and take one again for it when its
core promotes it (why: the Ray notes guide); this module is that bookkeeping alone.
"""

from __future__ import annotations

from typing import Any

from raynn._ray_private import concurrency_slots, take_limiter_slot

__all__ = ["ConcurrencyGate"]


class ConcurrencyGate:
    """The slot limit of Tune's search algorithm and the set of trial ids that hold a slot.

    Args:
        limit: the number of slots (``max_concurrent_trials``).
        live: the search algorithm's own set of live trial ids (edited in place).
        limiter: a ``ConcurrencyLimiter`` whose counter must follow the set, or None.
    """

    def __init__(self, limit: int, live: set[str], limiter: Any | None = None) -> None:
        self.limit, self.live, self._limiter = limit, live, limiter

    @classmethod
    def of(cls, search_alg: Any) -> ConcurrencyGate | None:
        """The gate of a search algorithm (``BasicVariantGenerator`` or a ``ConcurrencyLimiter`` inside a
        ``SearchGenerator``); None when there is no limit to manage."""
        slots = None if search_alg is None else concurrency_slots(search_alg)
        return None if slots is None else cls(*slots)

    @property
    def used(self) -> int:
        return len(self.live)

    def holds(self, trial_id: str) -> bool:
        return trial_id in self.live

    def take(self, trial_id: str) -> None:
        """``trial_id`` holds a slot (again): the search algorithm will hear of its completion and free it."""
        if trial_id not in self.live:
            self.live.add(trial_id)
            if self._limiter is not None:
                take_limiter_slot(self._limiter, +1)

    def free(self, trial_id: str) -> None:
        """``trial_id`` gives its slot back (it is paused at a rung): another trial may start."""
        if trial_id in self.live:
            self.live.discard(trial_id)
            if self._limiter is not None:
                take_limiter_slot(self._limiter, -1)
