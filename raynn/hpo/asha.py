"""Asynchronous successive halving with promotion (ASHA)."""

from __future__ import annotations

from typing import Any

from raynn.hpo._common import (
    QUEUED,
    REMOVED,
    RUNNING,
    STOPPED,
    TERMINAL,
    WAITING,
    Trial,
    check_config,
    check_optional_int,
    check_result,
    check_trial_id,
    rank_key,
)
from raynn.hpo.base import Decision, HalvingScheduler, Mode
from raynn.hpo.budget import rung_resources

__all__ = ["AsyncHalving"]


class AsyncHalving(HalvingScheduler):
    """ASHA: successive halving that never waits for a rung to fill.

    Li, Jamieson, Rostamizadeh, Gonina, Ben-Tzur, Hardt, Recht, Talwalkar, "A System for Massively Parallel
    Hyperparameter Tuning", MLSys 2020, Algorithm 2 (promotion variant). Rung ``k`` trains to
    ``r_k = r_min * eta**k`` (the last rung is ``max_resource``). A trial pauses at every rung it reaches and
    stops at the last one. Whenever a slot is free, :meth:`choose_paused` scans the rungs from the top and
    promotes a paused trial that is among the best ``floor(n_k / eta)`` of the ``n_k`` results recorded at its
    rung ``k`` and was not promoted yet (``get_job`` of the paper); otherwise the adapter starts a new trial.
    A trial whose own result makes it that choice is promoted at once (:attr:`Decision.CONTINUE`).

    Results stay in their rung when their trial is removed, so ``n_k`` and the ranking do not change after the
    fact; a removed trial is simply never promoted. Once the search is exhausted (:meth:`on_search_exhausted`
    or ``max_trials`` added) and nothing is running or promotable, each rung promotes its paused trials among
    its best ``max(1, floor(n_k / eta))`` and stops the other paused trials, so no trial stays paused forever.

    Args:
        max_resource: ``R``, resource of the last rung.
        eta: reduction factor, an integer >= 2.
        min_resource: ``r_min``, resource of rung 0.
        mode: ``"min"`` or ``"max"``.
        max_trials: :meth:`has_room` is False once this many trials were added (None: until exhausted).
    """

    def __init__(
        self,
        max_resource: int,
        eta: int = 3,
        min_resource: int = 1,
        mode: Mode | str = Mode.MIN,
        max_trials: int | None = None,
    ) -> None:
        self.rungs = rung_resources(min_resource, max_resource, eta)
        self.max_resource, self.eta, self.min_resource = max_resource, eta, min_resource
        self.mode = Mode.parse(mode)
        self.max_trials = check_optional_int("max_trials", max_trials, 1)
        self._reset()

    def _config(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "mode": self.mode.value,
            "rungs": self.rungs,
            "eta": self.eta,
            "max_trials": self.max_trials,
        }

    def _reset(self) -> None:
        self._trials: dict[str, Trial] = {}
        # _members[k]: ids of the trials that reached rung k, in that order; results never leave a rung.
        self._members: list[list[str]] = [[] for _ in self.rungs]
        self._queue: list[str] = []  # promoted by the end-of-search flush, to resume
        self._stops: list[str] = []
        self._exhausted = False

    # -- queries --------------------------------------------------------------------------------------------

    def plan(self) -> list[dict[str, Any]]:
        """Rung rows; ``n`` is the nominal ``floor(max_trials / eta**k)`` (None without ``max_trials``)."""
        return [
            {
                "bracket": 0,
                "round": k,
                "n": None if self.max_trials is None else self.max_trials // self.eta**k,
                "r": r,
            }
            for k, r in enumerate(self.rungs)
        ]

    def _search_over(self) -> bool:
        return self._exhausted or (self.max_trials is not None and len(self._trials) >= self.max_trials)

    def has_room(self) -> bool:
        return not self._search_over()

    def _get(self, trial_id: str) -> Trial:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise ValueError(f"unknown trial {trial_id!r}; on_trial_add it first") from None

    def target(self, trial_id: str) -> int:
        return self.rungs[self._get(trial_id).rung]

    def rung_of(self, trial_id: str) -> int:
        return self._get(trial_id).rung

    def bracket_of(self, trial_id: str) -> int:
        self._get(trial_id)
        return 0

    @property
    def budget_spent(self) -> int:
        return sum(t.resource for t in self._trials.values())

    def is_finished(self) -> bool:
        return self._search_over() and all(t.status in TERMINAL for t in self._trials.values())

    def best(self) -> str | None:
        scored = [t for t in self._trials.values() if t.values]
        if not scored:
            return None
        return min(scored, key=lambda t: (-len(t.values), *rank_key(t, len(t.values) - 1, self.mode))).id

    def _ranked(self, k: int) -> list[Trial]:
        return sorted((self._trials[m] for m in self._members[k]), key=lambda t: rank_key(t, k, self.mode))

    def _promotable(self) -> Trial | None:
        """``get_job`` of the paper: the best unpromoted paused trial in the top 1/eta of the highest rung."""
        for k in reversed(range(len(self.rungs) - 1)):
            ranked = self._ranked(k)
            for trial in ranked[: len(ranked) // self.eta]:
                if trial.status == WAITING and trial.rung == k:
                    return trial
        return None

    # -- events ---------------------------------------------------------------------------------------------

    def on_trial_add(self, trial_id: str) -> None:
        check_trial_id(trial_id)
        if trial_id in self._trials:
            raise ValueError(f"trial {trial_id!r} was already added")
        if not self.has_room():
            raise ValueError(
                f"no room for trial {trial_id!r}: has_room() is False (max_trials or search exhausted)"
            )
        self._trials[trial_id] = Trial(trial_id, arrival=len(self._trials), bracket=0)

    def on_result(self, trial_id: str, resource: int, value: float) -> Decision:
        trial = self._get(trial_id)
        resource, value = check_result(resource, value)
        if trial.status != RUNNING:
            raise ValueError(f"trial {trial_id!r} is {trial.status}; only running trials report results")
        trial.resource = max(trial.resource, resource)
        k = trial.rung
        if resource < self.rungs[k]:
            return Decision.CONTINUE
        trial.values.append(value)
        self._members[k].append(trial_id)
        if k == len(self.rungs) - 1:
            trial.status = STOPPED
            decision = Decision.STOP
        else:
            trial.status = WAITING
            decision = Decision.PAUSE
            if not self._queue and self._promotable() is trial:
                trial.rung += 1
                trial.status = RUNNING
                decision = Decision.CONTINUE
        return self._maybe_flush(trigger=trial_id) or decision

    def choose_paused(self) -> str | None:
        if self._queue:
            trial = self._trials[self._queue.pop(0)]
        else:
            trial = self._promotable()
            if trial is None:
                return None
            trial.rung += 1
        trial.status = RUNNING
        return trial.id

    def pop_stops(self) -> list[str]:
        stops, self._stops = self._stops, []
        return stops

    def on_trial_remove(self, trial_id: str) -> None:
        trial = self._get(trial_id)
        if trial_id in self._stops:
            self._stops.remove(trial_id)
        if trial.status in TERMINAL:
            return
        if trial.status == QUEUED:
            self._queue.remove(trial_id)
        trial.status = REMOVED
        self._maybe_flush()

    def on_search_exhausted(self) -> None:
        self._exhausted = True
        self._maybe_flush()

    def _maybe_flush(self, trigger: str | None = None) -> Decision | None:
        """At the end of the search, decide every paused trial once nothing runs and nothing is promotable."""
        if not self._search_over() or self._promotable() is not None:
            return None
        if any(t.status in (RUNNING, QUEUED) for t in self._trials.values()):
            return None
        decision = None
        for k in reversed(range(len(self.rungs) - 1)):
            ranked = self._ranked(k)
            top = {t.id for t in ranked[: max(1, len(ranked) // self.eta)]}
            for trial in ranked:
                if trial.status != WAITING or trial.rung != k:
                    continue
                if trial.id in top:
                    trial.rung += 1
                    if trial.id == trigger:
                        trial.status, decision = RUNNING, Decision.CONTINUE
                    else:
                        trial.status = QUEUED
                        self._queue.append(trial.id)
                else:
                    trial.status = STOPPED
                    if trial.id == trigger:
                        decision = Decision.STOP
                    else:
                        self._stops.append(trial.id)
        return decision

    # -- persistence ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self._config(),
            "trials": [t.to_json() for t in self._trials.values()],
            "members": [list(m) for m in self._members],
            "queue": list(self._queue),
            "stops": list(self._stops),
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_config(self._config(), state)
        self._reset()
        for row in state["trials"]:
            trial = Trial.from_json(row)
            self._trials[trial.id] = trial
        self._members = [list(m) for m in state["members"]]
        self._queue = list(state["queue"])
        self._stops = list(state["stops"])
        self._exhausted = bool(state["exhausted"])
