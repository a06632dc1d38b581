"""Trial bookkeeping shared by the synchronous and asynchronous cores (private): one trial table, and the
event checks and persistence every core does the same way (:class:`TableCore`)."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from raynn.hpo.base import Decision, HalvingScheduler, Mode, TrialStatus
from raynn.hpo.ledger import as_resource
from raynn.values import check_int, check_number, value_error

__all__ = ["TableCore", "Trial", "TrialTable", "as_resource"]


# Short names for the cores' code; the enum is the public type (raynn.hpo.TrialStatus).
RUNNING = TrialStatus.RUNNING
WAITING = TrialStatus.WAITING
QUEUED = TrialStatus.QUEUED
STOPPED = TrialStatus.STOPPED
REMOVED = TrialStatus.REMOVED


@dataclass(slots=True)
class Trial:
    id: str
    arrival: int
    bracket: int
    rung: int = 0
    status: TrialStatus = RUNNING
    resource: int = 0
    values: list[float] = field(default_factory=list)  # values[k]: metric when rung k was reached

    def to_json(self) -> list[Any]:
        return [self.id, self.arrival, self.bracket, self.rung, self.status.value, self.resource, self.values]

    @classmethod
    def from_json(cls, row: list[Any]) -> Trial:
        tid, arrival, bracket, rung, status, resource, values = row
        return cls(tid, arrival, bracket, rung, TrialStatus(status), resource, [float(v) for v in values])


class TrialTable:
    """The trials of one core, in arrival order, with what the per-result path reads kept current in O(1)
    per change: how many trials are in each :class:`TrialStatus` and the budget spent (each trial charged
    its furthest resource once). Statuses change only through :meth:`set_status`, so the counts stay true."""

    def __init__(self) -> None:
        self.trials: dict[str, Trial] = {}
        self._counts = dict.fromkeys(TrialStatus, 0)
        self.spent = 0
        self._queue: deque[str] = deque()

    def __len__(self) -> int:
        return len(self.trials)

    def get(self, trial_id: str) -> Trial:
        try:
            return self.trials[trial_id]
        except KeyError:
            raise ValueError(f"unknown trial {trial_id!r}; on_trial_add it first") from None

    def add(self, trial_id: str, bracket: int) -> Trial:
        trial = Trial(trial_id, arrival=len(self.trials), bracket=bracket)
        self.trials[trial_id] = trial
        self._counts[trial.status] += 1
        return trial

    def set_status(self, trial: Trial, status: TrialStatus) -> None:
        """Set a trial's status, keeping the counts per status true."""
        self._counts[trial.status] -= 1
        self._counts[status] += 1
        trial.status = status

    def reach(self, trial: Trial, resource: int) -> None:
        """The trial reported ``resource``; it is charged up to its furthest one."""
        if resource > trial.resource:
            self.spent += resource - trial.resource
            trial.resource = resource

    def count(self, *statuses: TrialStatus) -> int:
        return sum(self._counts[s] for s in statuses)

    def all_terminal(self) -> bool:
        return self.count(STOPPED, REMOVED) == len(self.trials)

    # The promotion queue: trials set QUEUED, in the order they were promoted. A trial leaves it by
    # pop_queued() or by being removed; removal only changes its status, and pop_queued() skips it (O(1)).

    def enqueue(self, trial: Trial) -> None:
        """Append a trial the caller has just set QUEUED."""
        self._queue.append(trial.id)

    def pop_queued(self) -> Trial | None:
        """The first trial still QUEUED, taken out of the queue (its status is the caller's to set)."""
        while self._queue:
            trial = self.trials[self._queue.popleft()]
            if trial.status is QUEUED:
                return trial
        return None

    def queued(self) -> list[str]:
        return [t for t in self._queue if self.trials[t].status is QUEUED]

    def first_queued(self) -> str | None:
        """The trial :meth:`pop_queued` would return, left in the queue."""
        return next((t for t in self._queue if self.trials[t].status is QUEUED), None)

    # -- persistence: the rows and queue of state_dict() ------------------------------------------------------

    def rows(self) -> list[list[Any]]:
        return [t.to_json() for t in self.trials.values()]

    def load(self, rows: list[list[Any]], queue: list[str]) -> None:
        self.trials, self._counts, self.spent = {}, dict.fromkeys(TrialStatus, 0), 0
        for row in rows:
            trial = Trial.from_json(row)
            self.trials[trial.id] = trial
            self._counts[trial.status] += 1
            self.spent += trial.resource
        self._queue = deque(queue)


def rank_key(trial: Trial, rung: int, mode: Mode) -> tuple[int, float, int]:
    """Best first: by value in ``mode`` (NaN last), then by arrival order. Keys are unique (arrival), so a
    rung kept sorted by them with ``bisect`` has the one order ``sorted`` would give."""
    value = trial.values[rung]
    if math.isnan(value):
        return (1, 0.0, trial.arrival)
    return (0, value if mode is Mode.MIN else -value, trial.arrival)


def check_trial_id(trial_id: Any) -> str:
    if not isinstance(trial_id, str) or not trial_id:
        raise ValueError(f"`trial_id` must be a non-empty string, but got {trial_id=!r}")
    return trial_id


def check_result(resource: Any, value: Any) -> tuple[int, float]:
    check_int("resource", resource, 1, integral=True, rule="must be an integer >= 1 (cumulative units trained)",
              error=value_error)
    check_number("value", value, "must be a real number", real=True, finite=False, error=value_error)
    return int(resource), float(value)



def check_state_config(expected: dict[str, Any], state: Any, what: str = "scheduler") -> None:
    """``load_state_dict`` only into an object (a ``what``: scheduler, searcher) built with the same arguments."""
    got = state.get("config") if isinstance(state, dict) else None
    if json.loads(json.dumps(expected)) != got:
        raise ValueError(
            f"state_dict was saved by a {what} built with other arguments: expected config {expected}, "
            f"but got {got}"
        )


class TableCore(HalvingScheduler):
    """A core over one :class:`TrialTable`: what the synchronous and asynchronous cores share.

    Subclasses keep their rungs beside the table (brackets, sorted rungs) and say how a result at a target,
    a removal and the end of the search are decided. The table is the one record of every trial's status,
    rung, resource and rung values; the adapter and the reporting code ask the core, never keep their own.
    """

    _full = "has_room() is False"  # why on_trial_add was refused, for the message

    def _reset(self) -> None:
        self._table = TrialTable()
        self._stops: list[str] = []
        self._exhausted = False

    def _set(self, trial: Trial, status: TrialStatus) -> None:
        """Every status change goes through here (a subclass that counts statuses per rung extends it)."""
        self._table.set_status(trial, status)

    def _resume_queued(self) -> str | None:
        """The first trial promoted and queued, now running; None when the queue is empty."""
        trial = self._table.pop_queued()
        if trial is None:
            return None
        self._set(trial, RUNNING)
        return trial.id

    # -- queries --------------------------------------------------------------------------------------------

    def _get(self, trial_id: str) -> Trial:
        return self._table.get(trial_id)

    def status(self, trial_id: str) -> TrialStatus:
        return self._table.get(trial_id).status

    def rung_of(self, trial_id: str) -> int:
        return self._get(trial_id).rung

    @property
    def budget_spent(self) -> int:
        return self._table.spent

    def queued(self) -> list[str]:
        return self._table.queued()

    def next_paused(self) -> str | None:
        return self._table.first_queued()

    def trial_ids(self) -> list[str]:
        """Every trial added, in arrival order."""
        return list(self._table.trials)

    # -- event checks shared by every core ------------------------------------------------------------------

    def _check_new(self, trial_id: str) -> None:
        check_trial_id(trial_id)
        if trial_id in self._table.trials:
            raise ValueError(f"trial {trial_id!r} was already added")
        if not self.has_room():
            raise ValueError(f"no room for trial {trial_id!r}: has_room() is False ({self._full})")

    def _take_result(self, trial_id: str, resource: int, value: float) -> tuple[Trial, int, float]:
        """Check a result of a running trial and charge its resource."""
        trial = self._get(trial_id)
        resource, value = check_result(resource, value)
        if trial.status != RUNNING:
            raise ValueError(
                f"trial {trial_id!r} is {trial.status.value}; only running trials report results"
            )
        self._table.reach(trial, resource)
        return trial, resource, value

    def _leaving(self, trial_id: str) -> Trial | None:
        """The trial being removed, or None when the core had already stopped or removed it."""
        trial = self._get(trial_id)
        if trial_id in self._stops:
            self._stops.remove(trial_id)
        return None if trial.status.terminal else trial

    def pop_stops(self) -> list[str]:
        stops, self._stops = self._stops, []
        return stops

    def _decide_out(self, trial: Trial, trigger: str | None) -> Decision | None:
        """``trial`` was eliminated: STOP for the trial whose result decided it, else a stop for the adapter."""
        if trial.id == trigger:
            return Decision.STOP
        self._stops.append(trial.id)
        return None

    # -- persistence ----------------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        """What a ``state_dict`` must have been saved with: the class, the mode and the plan's arguments."""
        return {"class": type(self).__name__, "mode": self.mode.value, **self._arguments()}

    def _arguments(self) -> dict[str, Any]:
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        """The subclass's own state beside the table's."""
        raise NotImplementedError

    def _load(self, state: dict[str, Any]) -> None:
        """Rebuild the subclass's state after the table was loaded."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self._config(),
            "trials": self._table.rows(),
            **self._state(),
            "queue": self._table.queued(),
            "stops": list(self._stops),
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_config(self._config(), state)
        self._reset()
        self._table.load(state["trials"], state["queue"])
        self._load(state)
        self._stops = list(state["stops"])
        self._exhausted = bool(state["exhausted"])
