"""Synchronous halving over a repeating plan of brackets (private core of SuccessiveHalving and HyperBand).

A bracket is filled with exactly ``n_0`` configurations, then the next bracket of the plan is filled, and
after the last bracket a new band repeats the plan. Each bracket halves on its own: rung ``i`` is decided when
every configuration in it has reached ``r_i`` or was removed; the best ``max(1, floor(m / halving))`` of the
``m`` configurations still alive go on to rung ``i + 1``, the others stop.

Cost: each bracket counts, per rung, the members still running or queued (``_Bracket.pending``), so a result
checks whether its rung is complete in O(1); the rung is sorted once, when it is decided. A result therefore
costs O(1) amortised however many trials and brackets there are (O(m log m) once per rung of m members).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from raynn.faults import fault_point
from raynn.hpo._common import (
    QUEUED,
    REMOVED,
    RUNNING,
    STOPPED,
    WAITING,
    Trial,
    TrialTable,
    check_config,
    check_result,
    check_trial_id,
    rank_key,
)
from raynn.hpo.base import Decision, HalvingScheduler, Mode, TrialStatus
from raynn.hpo.budget import BracketPlan


@dataclass
class _Bracket:
    plan: int  # index into the band's plan
    members: list[list[str]]  # members[i]: trial ids that entered rung i, in order of entry
    sealed: bool = False  # rung 0 takes no more configurations
    decided: int = 0  # rungs decided so far; the bracket is done when it equals the number of rounds
    # pending[i]: members of rung i that are RUNNING or QUEUED (derived, not saved): rung i can be decided
    # when it is 0
    pending: list[int] = field(default_factory=list)

    def to_json(self) -> list[Any]:
        return [self.plan, self.members, self.sealed, self.decided]


class SyncHalving(HalvingScheduler):
    """Shared state machine; subclasses only build the plan. See the module docstring."""

    def __init__(
        self, plans: Sequence[BracketPlan], halving: int, mode: Mode | str, max_bands: int | None
    ) -> None:
        self.mode = Mode.parse(mode)
        self._plans = list(plans)
        self.halving = halving
        self.max_bands = max_bands
        self._reset()

    def _config(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "mode": self.mode.value,
            "halving": self.halving,
            "max_bands": self.max_bands,
            "plan": self.plan(),
        }

    def _reset(self) -> None:
        self._table = TrialTable()
        self._brackets: list[_Bracket] = []
        self._filling: int | None = None
        self._stops: list[str] = []
        self._exhausted = False

    def _set(self, trial: Trial, status: TrialStatus) -> None:
        """Every status change goes through here, so the bracket's pending count stays true."""
        before = trial.status is RUNNING or trial.status is QUEUED
        after = status is RUNNING or status is QUEUED
        if before != after:
            self._brackets[trial.bracket].pending[trial.rung] += 1 if after else -1
        self._table.set_status(trial, status)

    # -- queries --------------------------------------------------------------------------------------------

    def plan(self) -> list[dict[str, Any]]:
        return [
            {"bracket": p.s, "round": i, "n": rnd.n, "r": rnd.r}
            for p in self._plans
            for i, rnd in enumerate(p.rounds)
        ]

    @property
    def planned_budget(self) -> int:
        """Units one band needs if every round is full: ``sum_i n_i (r_i - r_{i-1})`` over its brackets."""
        total = 0
        for p in self._plans:
            held = 0
            for rnd in p.rounds:
                total += rnd.n * (rnd.r - held)
                held = rnd.r
        return total

    def _can_open(self) -> bool:
        return self.max_bands is None or len(self._brackets) < self.max_bands * len(self._plans)

    def has_room(self) -> bool:
        return not self._exhausted and (self._filling is not None or self._can_open())

    def _get(self, trial_id: str) -> Trial:
        return self._table.get(trial_id)

    def status(self, trial_id: str) -> TrialStatus:
        return self._table.get(trial_id).status

    def _rounds(self, trial: Trial) -> Sequence[Any]:
        return self._plans[self._brackets[trial.bracket].plan].rounds

    def rungs_of(self, trial_id: str) -> list[int]:
        return [int(row.r) for row in self._rounds(self._get(trial_id))]

    def target(self, trial_id: str) -> int:
        trial = self._get(trial_id)
        return self._rounds(trial)[trial.rung].r

    def rung_of(self, trial_id: str) -> int:
        return self._get(trial_id).rung

    def bracket_of(self, trial_id: str) -> int:
        return self._get(trial_id).bracket

    @property
    def budget_spent(self) -> int:
        return self._table.spent

    def is_finished(self) -> bool:
        return not self.has_room() and self._table.all_terminal()

    def best(self) -> str | None:
        scored = [t for t in self._table.trials.values() if t.values]
        if not scored:
            return None

        def key(t: Trial) -> tuple[Any, ...]:
            top = len(t.values) - 1
            return (-self._rounds(t)[top].r, *rank_key(t, top, self.mode))

        return min(scored, key=key).id

    # -- events ---------------------------------------------------------------------------------------------

    def on_trial_add(self, trial_id: str) -> None:
        check_trial_id(trial_id)
        if trial_id in self._table.trials:
            raise ValueError(f"trial {trial_id!r} was already added")
        if not self.has_room():
            raise ValueError(
                f"no room for trial {trial_id!r}: has_room() is False (plan filled or search exhausted)"
            )
        if self._filling is None:
            index = len(self._brackets)
            plan = index % len(self._plans)
            rounds = len(self._plans[plan].rounds)
            self._brackets.append(_Bracket(plan, [[] for _ in range(rounds)], pending=[0] * rounds))
            self._filling = index
        bracket = self._brackets[self._filling]
        bracket.members[0].append(trial_id)
        self._table.add(trial_id, bracket=self._filling)
        bracket.pending[0] += 1
        if len(bracket.members[0]) == self._plans[bracket.plan].rounds[0].n:
            bracket.sealed = True
            self._filling = None

    def on_result(self, trial_id: str, resource: int, value: float) -> Decision:
        trial = self._get(trial_id)
        resource, value = check_result(resource, value)
        if trial.status != RUNNING:
            raise ValueError(
                f"trial {trial_id!r} is {trial.status.value}; only running trials report results"
            )
        self._table.reach(trial, resource)
        rounds = self._rounds(trial)
        if resource < rounds[trial.rung].r:
            return Decision.CONTINUE
        trial.values.append(value)
        last = trial.rung == len(rounds) - 1
        self._set(trial, STOPPED if last else WAITING)
        decided = self._maybe_decide(self._brackets[trial.bracket], trigger=trial_id)
        if last:
            return Decision.STOP
        return decided or Decision.PAUSE

    def choose_paused(self) -> str | None:
        trial = self._table.pop_queued()
        if trial is None:
            return None
        self._set(trial, RUNNING)
        return trial.id

    def pop_stops(self) -> list[str]:
        stops, self._stops = self._stops, []
        return stops

    def on_trial_remove(self, trial_id: str) -> None:
        trial = self._get(trial_id)
        if trial_id in self._stops:
            self._stops.remove(trial_id)
        if trial.status.terminal:
            return
        self._set(trial, REMOVED)  # a QUEUED trial stays in the queue, skipped by pop_queued()
        self._maybe_decide(self._brackets[trial.bracket])

    def on_search_exhausted(self) -> None:
        self._exhausted = True
        if self._filling is not None:
            bracket = self._brackets[self._filling]
            bracket.sealed = True
            self._filling = None
            self._maybe_decide(bracket)

    # -- the halving step -----------------------------------------------------------------------------------

    def _maybe_decide(self, bracket: _Bracket, trigger: str | None = None) -> Decision | None:
        """Decide the bracket's open rung if it is complete; return the trigger's decision if it got one."""
        rounds = self._plans[bracket.plan].rounds
        i = bracket.decided
        if i >= len(rounds) or (i == 0 and not bracket.sealed) or bracket.pending[i]:
            return None
        bracket.decided = i + 1
        if i == len(rounds) - 1:  # everyone in the last rung has already stopped
            return None
        trials = self._table.trials
        ranked = sorted(
            (t for t in map(trials.__getitem__, bracket.members[i]) if t.status is WAITING),
            key=lambda t: rank_key(t, i, self.mode),
        )
        keep = max(1, len(ranked) // self.halving) if ranked else 0
        decision = None
        for trial in ranked[:keep]:
            trial.rung = i + 1
            bracket.members[i + 1].append(trial.id)
            if trial.id == trigger:  # promoted the moment it paused: no need to pause at all
                self._set(trial, RUNNING)
                decision = Decision.CONTINUE
            else:
                self._set(trial, QUEUED)
                self._table.enqueue(trial)
        for trial in ranked[keep:]:
            self._set(trial, STOPPED)
            if trial.id == trigger:
                decision = Decision.STOP
            else:
                self._stops.append(trial.id)
        if keep == 0:  # every configuration of the rung was removed: nothing left to halve
            bracket.decided = len(rounds)
        fault_point("rung-decision")
        return decision

    # -- persistence ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self._config(),
            "trials": self._table.rows(),
            "brackets": [b.to_json() for b in self._brackets],
            "filling": self._filling,
            "queue": self._table.queued(),
            "stops": list(self._stops),
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_config(self._config(), state)
        self._reset()
        self._table.load(state["trials"], state["queue"])
        self._brackets = [
            _Bracket(plan, [list(m) for m in members], sealed, decided, pending=[0] * len(members))
            for plan, members, sealed, decided in state["brackets"]
        ]
        for trial in self._table.trials.values():
            if trial.status is RUNNING or trial.status is QUEUED:
                self._brackets[trial.bracket].pending[trial.rung] += 1
        self._filling = state["filling"]
        self._stops = list(state["stops"])
        self._exhausted = bool(state["exhausted"])
