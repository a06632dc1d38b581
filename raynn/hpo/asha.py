"""Asynchronous successive halving with promotion (ASHA)."""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any

from raynn.hpo._common import (
    QUEUED,
    REMOVED,
    RUNNING,
    STOPPED,
    WAITING,
    TableCore,
    Trial,
    rank_key,
)
from raynn.hpo.base import Decision, Mode, TrialStatus
from raynn.hpo.budget import rung_resources
from raynn.hpo.ledger import BracketLedger, Ledger, RoundLedger
from raynn.values import check_int
# A rung's entries, kept sorted: rank_key (unique: it ends with the arrival) followed by the trial id.
_Key = tuple[int, float, int, str]

__all__ = ["AsyncHalving"]


class AsyncHalving(TableCore):
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

    Cost: each rung keeps its results sorted (``bisect``), and separately its trials still waiting there, also
    sorted. The best waiting trial of rung ``k`` is in the top ``floor(n_k / eta)`` exactly when its key is at
    most the key at that position, so finding a promotion is O(1) per rung and a result is one sorted
    insertion (O(log n) comparisons and a memory move), instead of sorting every rung on every call.

    Args:
        max_resource: ``R``, resource of the last rung.
        eta: reduction factor, an integer >= 2.
        min_resource: ``r_min``, resource of rung 0.
        mode: ``"min"`` or ``"max"``.
        max_trials: :meth:`has_room` is False once this many trials were added (None: until exhausted).
    """

    _full = "max_trials or search exhausted"

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
        self.max_trials = check_int("max_trials", max_trials, 1, optional=True)
        self._reset()

    def _arguments(self) -> dict[str, Any]:
        return {"rungs": self.rungs, "eta": self.eta, "max_trials": self.max_trials}

    def _reset(self) -> None:
        super()._reset()  # the table's queue: trials promoted by the end-of-search flush, to resume
        # _members[k]: ids of the trials that reached rung k, in that order; results never leave a rung.
        self._members: list[list[str]] = [[] for _ in self.rungs]
        # Derived from the trials (rebuilt by load_state_dict, never saved):
        # _ranked[k]: the keys of _members[k], best first; _waiting[k]: those of trials WAITING at rung k.
        self._ranked: list[list[_Key]] = [[] for _ in self.rungs]
        self._waiting: list[list[_Key]] = [[] for _ in self.rungs]

    def _key(self, trial: Trial, k: int) -> _Key:
        return (*rank_key(trial, k, self.mode), trial.id)

    def _leave_rung(self, trial: Trial, status: TrialStatus) -> None:
        """A trial WAITING at its rung is promoted (RUNNING / QUEUED, one rung up), stopped or removed."""
        waiting = self._waiting[trial.rung]
        del waiting[bisect_left(waiting, self._key(trial, trial.rung))]
        if status is RUNNING or status is QUEUED:
            trial.rung += 1
        self._set(trial, status)

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
        return self._exhausted or (self.max_trials is not None and len(self._table) >= self.max_trials)

    def has_room(self) -> bool:
        return not self._search_over()

    def target(self, trial_id: str) -> int:
        return self.rungs[self._get(trial_id).rung]

    def bracket_of(self, trial_id: str) -> int:
        self._get(trial_id)
        return 0

    @property
    def planned_budget(self) -> None:
        """ASHA has no fixed budget: it runs until the search is exhausted or stopped."""
        return None

    @property
    def planned_trials(self) -> int | None:
        return self.max_trials

    def ledger(self) -> Ledger:
        """One bracket: rung ``k`` planned ``floor(max_trials / eta**k)`` (None), reached by ``n_k`` trials;
        ``promoted``: those of them that went beyond it."""
        trials = self._table.trials
        rounds = tuple(
            RoundLedger(
                round=k,
                r=row["r"],
                planned=row["n"],
                entered=len(self._members[k]),
                reached=len(self._members[k]),
                promoted=sum(1 for t in self._members[k] if trials[t].rung > k),
                decided=False,
            )
            for k, row in enumerate(self.plan())
        )
        bracket = BracketLedger(0, 0, None, self.budget_spent, True, rounds)
        return Ledger(planned=None, spent=self.budget_spent, brackets=(bracket,))

    def is_finished(self) -> bool:
        return self._search_over() and self._table.all_terminal()

    def best(self) -> str | None:
        """The best result of the highest rung reached (its trials reached no rung above it)."""
        for ranked in reversed(self._ranked):
            if ranked:
                return ranked[0][-1]
        return None

    def _promotable(self) -> Trial | None:
        """``get_job`` of the paper: the best unpromoted paused trial in the top 1/eta of the highest rung."""
        for k in reversed(range(len(self.rungs) - 1)):
            waiting, ranked = self._waiting[k], self._ranked[k]
            top = len(ranked) // self.eta
            if waiting and top and waiting[0] <= ranked[top - 1]:
                return self._table.trials[waiting[0][-1]]
        return None

    # -- events ---------------------------------------------------------------------------------------------

    def on_trial_add(self, trial_id: str) -> None:
        self._check_new(trial_id)
        self._table.add(trial_id, bracket=0)

    def on_result(self, trial_id: str, resource: int, value: float) -> Decision:
        trial, resource, value = self._take_result(trial_id, resource, value)
        k = trial.rung
        if resource < self.rungs[k]:
            return Decision.CONTINUE
        trial.values.append(value)
        self._members[k].append(trial_id)
        key = self._key(trial, k)
        insort(self._ranked[k], key)
        if k == len(self.rungs) - 1:
            self._set(trial, STOPPED)
            decision = Decision.STOP
        else:
            self._set(trial, WAITING)
            insort(self._waiting[k], key)
            decision = Decision.PAUSE
            if not self._table.count(QUEUED) and self._promotable() is trial:
                self._leave_rung(trial, RUNNING)
                decision = Decision.CONTINUE
        return self._maybe_flush(trigger=trial_id) or decision

    def next_paused(self) -> str | None:
        queued = self._table.first_queued()
        if queued is not None:
            return queued
        trial = self._promotable()
        return None if trial is None else trial.id

    def choose_paused(self) -> str | None:
        resumed = self._resume_queued()
        if resumed is not None:
            return resumed
        trial = self._promotable()
        if trial is None:
            return None
        self._leave_rung(trial, RUNNING)
        return trial.id

    def on_trial_remove(self, trial_id: str) -> None:
        trial = self._leaving(trial_id)
        if trial is None:
            return
        if trial.status is WAITING:
            self._leave_rung(trial, REMOVED)
        else:  # a QUEUED trial stays in the queue, skipped by pop_queued()
            self._set(trial, REMOVED)
        self._maybe_flush()

    def on_search_exhausted(self) -> None:
        self._exhausted = True
        self._maybe_flush()

    def _maybe_flush(self, trigger: str | None = None) -> Decision | None:
        """At the end of the search, decide every paused trial once nothing runs and nothing is promotable."""
        if not self._search_over() or self._promotable() is not None:
            return None
        if self._table.count(RUNNING, QUEUED):
            return None
        decision = None
        for k in reversed(range(len(self.rungs) - 1)):
            if not self._waiting[k]:
                continue
            ranked = self._ranked[k]
            last_kept = ranked[max(1, len(ranked) // self.eta) - 1]
            for key in list(self._waiting[k]):  # best first, as the ranking visits them
                trial = self._table.trials[key[-1]]
                if key <= last_kept:
                    if trial.id == trigger:
                        self._leave_rung(trial, RUNNING)
                        decision = Decision.CONTINUE
                    else:
                        self._leave_rung(trial, QUEUED)
                        self._table.enqueue(trial)
                else:
                    self._leave_rung(trial, STOPPED)
                    decision = self._decide_out(trial, trigger) or decision
        return decision

    # -- persistence ----------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"members": [list(m) for m in self._members]}

    def _load(self, state: dict[str, Any]) -> None:
        self._members = [list(m) for m in state["members"]]
        trials = self._table.trials
        for k, members in enumerate(self._members):
            self._ranked[k] = sorted(self._key(trials[t], k) for t in members)
            self._waiting[k] = [
                key
                for key in self._ranked[k]
                if trials[key[-1]].status is WAITING and trials[key[-1]].rung == k
            ]
