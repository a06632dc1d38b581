"""Trial bookkeeping shared by the synchronous and asynchronous cores (private)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from raynn.hpo.base import Mode
from raynn.errors import argument_error

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


# A trial is in exactly one of these states.
RUNNING = "running"  # training towards its target (or pending start)
WAITING = "waiting"  # paused at its target, its rung not decided yet
QUEUED = "queued"  # paused and promoted: choose_paused() will hand it out
STOPPED = "stopped"  # finished the last rung or eliminated
REMOVED = "removed"  # gone: completed, errored or stopped by the user
TERMINAL = (STOPPED, REMOVED)


@dataclass
class Trial:
    id: str
    arrival: int
    bracket: int
    rung: int = 0
    status: str = RUNNING
    resource: int = 0
    values: list[float] = field(default_factory=list)  # values[k]: metric when rung k was reached

    def to_json(self) -> list[Any]:
        return [self.id, self.arrival, self.bracket, self.rung, self.status, self.resource, self.values]

    @classmethod
    def from_json(cls, row: list[Any]) -> Trial:
        tid, arrival, bracket, rung, status, resource, values = row
        return cls(tid, arrival, bracket, rung, status, resource, [float(v) for v in values])


def rank_key(trial: Trial, rung: int, mode: Mode) -> tuple[int, float, int]:
    """Best first: by value in ``mode`` (NaN last), then by arrival order."""
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
