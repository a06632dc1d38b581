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
from raynn.hpo._common import QUEUED, REMOVED, RUNNING, STOPPED, WAITING, TableCore, Trial, rank_key
from raynn.hpo.base import Decision, Mode, TrialStatus
from raynn.hpo.budget import BracketPlan
from raynn.hpo.ledger import BracketLedger, Ledger, RoundLedger, planned_units


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


class SyncHalving(TableCore):
    """Shared state machine; subclasses only build the plan. See the module docstring."""

    _full = "plan filled or search exhausted"

    def __init__(
        self, plans: Sequence[BracketPlan], halving: int, mode: Mode | str, max_bands: int | None
    ) -> None:
        self.mode = Mode.parse(mode)
        self._plans = list(plans)
        self.halving = halving
        self.max_bands = max_bands
        self._reset()

    def _arguments(self) -> dict[str, Any]:
        return {"halving": self.halving, "max_bands": self.max_bands, "plan": self.plan()}

    def _reset(self) -> None:
        super()._reset()
        self._brackets: list[_Bracket] = []
        self._filling: int | None = None

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
        return sum(planned_units(p.rounds) for p in self._plans)

    @property
    def planned_trials(self) -> int:
        """Configurations one band takes: ``n_0`` summed over its brackets."""
        return sum(p.rounds[0].n for p in self._plans)

    def ledger(self) -> Ledger:
        trials = self._table.trials
        brackets = []
        for index, bracket in enumerate(self._brackets):
            plan = self._plans[bracket.plan]
            rounds = tuple(
                RoundLedger(
                    round=i,
                    r=rnd.r,
                    planned=rnd.n,
                    entered=len(bracket.members[i]),
                    reached=sum(1 for t in bracket.members[i] if len(trials[t].values) > i),
                    promoted=len(bracket.members[i + 1]) if i + 1 < len(plan.rounds) else 0,
                    decided=i < bracket.decided,
                )
                for i, rnd in enumerate(plan.rounds)
            )
            brackets.append(
                BracketLedger(
                    band=index // len(self._plans),
                    bracket=plan.s,
                    planned=planned_units(plan.rounds),
                    spent=sum(trials[t].resource for t in bracket.members[0]),
                    sealed=bracket.sealed,
                    rounds=rounds,
                )
            )
        return Ledger(
            planned=sum(b.planned for b in brackets if b.planned is not None),
            spent=self.budget_spent,
            brackets=tuple(brackets),
        )

    def _can_open(self) -> bool:
        return self.max_bands is None or len(self._brackets) < self.max_bands * len(self._plans)

    def has_room(self) -> bool:
        return not self._exhausted and (self._filling is not None or self._can_open())

    def _rounds(self, trial: Trial) -> Sequence[Any]:
        return self._plans[self._brackets[trial.bracket].plan].rounds

    def rungs_of(self, trial_id: str) -> list[int]:
        return [int(row.r) for row in self._rounds(self._get(trial_id))]

    def target(self, trial_id: str) -> int:
        trial = self._get(trial_id)
        return self._rounds(trial)[trial.rung].r

    def bracket_of(self, trial_id: str) -> int:
        return self._get(trial_id).bracket

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
        self._check_new(trial_id)
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
        trial, resource, value = self._take_result(trial_id, resource, value)
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
        return self._resume_queued()

    def on_trial_remove(self, trial_id: str) -> None:
        trial = self._leaving(trial_id)
        if trial is None:
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
            decision = self._decide_out(trial, trigger) or decision
        if keep == 0:  # every configuration of the rung was removed: nothing left to halve
            bracket.decided = len(rounds)
        fault_point("rung-decision")
        return decision

    # -- persistence ----------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"brackets": [b.to_json() for b in self._brackets], "filling": self._filling}

    def _load(self, state: dict[str, Any]) -> None:
        self._brackets = [
            _Bracket(plan, [list(m) for m in members], sealed, decided, pending=[0] * len(members))
            for plan, members, sealed, decided in state["brackets"]
        ]
        for trial in self._table.trials.values():
            if trial.status is RUNNING or trial.status is QUEUED:
                self._brackets[trial.bracket].pending[trial.rung] += 1
        self._filling = state["filling"]
