"""Trial bookkeeping shared by the synchronous and asynchronous cores (private)."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from raynn.errors import argument_error
from raynn.hpo.base import Mode, TrialStatus


def as_resource(value: Any) -> int | None:
    """A reported resource (cumulative epochs) as an ``int`` when it is a whole number (``3``, ``3.0``,
    ``numpy.int64(3)``), else None (``True``, ``2.5``, ``"3"``, missing). Callers check the sign."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real) and float(value).is_integer():
        return int(value)
    return None


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
    if isinstance(resource, bool) or not isinstance(resource, Integral) or resource < 1:
        raise ValueError(
            f"`resource` must be an integer >= 1 (cumulative units trained), but got {resource=!r}"
        )
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"`value` must be a real number, but got {value=!r}")
    return int(resource), float(value)


def check_optional_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise argument_error(name, f"must be None or an integer >= {minimum}", value)
    return value


def check_config(expected: dict[str, Any], state: dict[str, Any]) -> None:
    """``load_state_dict`` only into an object built with the same arguments."""
    got = state.get("config") if isinstance(state, dict) else None
    if json.loads(json.dumps(expected)) != got:
        raise ValueError(
            f"state_dict was saved by a scheduler built with other arguments: expected config {expected}, "
            f"but got {got}"
        )
