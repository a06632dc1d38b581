"""The budget ledger of a halving core, and the one rule for reading a reported resource.

The core is the one bookkeeper of a search: the Ray adapter, the terminal view, the event log, the metrics
exporter, ``summary.json`` and ``raynn report`` read its :class:`Ledger` and compute none of it again.

Spent resource charges each trial its furthest resource once (a paused trial resumes from its checkpoint):

    spent = sum over trials i of max_resource(i),

planned resource of a bracket is ``sum_i n_i (r_i - r_{i-1})`` over its rounds (``r_{-1} = 0``): the ``n_i``
configurations of round ``i`` each train from ``r_{i-1}`` to ``r_i`` (Li et al. 2018, Algorithm 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from raynn.values import is_integral, is_real

__all__ = ["BracketLedger", "Furthest", "Ledger", "RoundLedger", "as_resource", "planned_units"]


def as_resource(value: Any) -> int | None:
    """A reported resource (cumulative epochs) as an ``int`` when it is a whole number (``3``, ``3.0``,
    ``numpy.int64(3)``), else None (``True``, ``2.5``, ``"3"``, missing). Callers check the sign.

    The one rule by which the adapter, the view, the event log, the metrics and the results read ``epoch``."""
    if is_integral(value) or (is_real(value) and float(value).is_integer()):
        return int(value)
    return None


def planned_units(rounds: Iterable[tuple[int, int]]) -> int:
    """``sum_i n_i (r_i - r_{i-1})`` of rounds ``(n_i, r_i)`` with cumulative ``r_i`` (``r_{-1} = 0``)."""
    total, held = 0, 0
    for n, r in rounds:
        total += n * (r - held)
        held = r
    return total


class Furthest:
    """Each trial's furthest resource and their sum, kept in O(1) per result: ``spent = sum_i max_resource(i)``.

    The cores' trial table charges through it; a tuning run keeps one in its
    :class:`~raynn.tune.progress.Progress`, which the view, the event log and the metrics read.
    """

    def __init__(self) -> None:
        self.resource: dict[str, int] = {}
        self.spent = 0

    def reach(self, trial_id: str, resource: int) -> bool:
        """``trial_id`` reported ``resource``; True if that is further than before (then it is charged)."""
        furthest = self.resource.get(trial_id, 0)
        if resource <= furthest:
            return False
        self.resource[trial_id] = resource
        self.spent += resource - furthest
        return True

    def get(self, trial_id: str) -> int:
        return self.resource.get(trial_id, 0)


@dataclass(frozen=True)
class RoundLedger:
    """One round (rung) of a bracket.

    Attributes:
        round: ``i``, 0-based.
        r: ``r_i``, the cumulative resource at the end of the round.
        planned: ``n_i`` (None: ASHA without ``max_trials``).
        entered: trials that started the round.
        reached: trials that reached ``r_i`` and reported there.
        promoted: trials of the round promoted beyond it.
        decided: whether the round was decided (synchronous halving; ASHA decides trial by trial: False).
    """

    round: int
    r: int
    planned: int | None
    entered: int
    reached: int
    promoted: int
    decided: bool


@dataclass(frozen=True)
class BracketLedger:
    """One bracket instance, in the order brackets were opened.

    Attributes:
        band: the band (repetition of the plan) it belongs to, 0-based.
        bracket: ``s`` of its plan (HyperBand), 0 for successive halving and ASHA.
        planned: its planned resource, ``sum_i n_i (r_i - r_{i-1})`` (None: ASHA, which has no fixed one).
        spent: resource its trials trained, each charged its furthest once.
        sealed: its first round takes no more configurations.
        rounds: its rounds, ``i = 0..``.
    """

    band: int
    bracket: int
    planned: int | None
    spent: int
    sealed: bool
    rounds: tuple[RoundLedger, ...]


@dataclass(frozen=True)
class Ledger:
    """Budget planned against spent, per bracket and round: what a core answers to :meth:`ledger`.

    Attributes:
        planned: planned resource of the brackets opened (None: ASHA).
        spent: ``sum_i max_resource(i)`` over every trial.
        brackets: one row per bracket instance opened.
    """

    planned: int | None
    spent: int
    brackets: tuple[BracketLedger, ...]
    scheduler: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ledger as ``summary.json`` keeps it: ``{"scheduler", "budget", "budget_spent", "brackets"}``,
        each bracket ``{"band", "bracket", "budget", "spent", "sealed", "rounds"}``, each round its fields."""
        return {"scheduler": self.scheduler, "budget": self.planned, "budget_spent": self.spent, "brackets": [
            {"band": b.band, "bracket": b.bracket, "budget": b.planned, "spent": b.spent, "sealed": b.sealed,
             "rounds": [asdict(r) for r in b.rounds]} for b in self.brackets]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ledger:
        """The ledger :meth:`to_json` wrote (a part it lacks reads as empty: a ledger of an older raynn)."""
        fields = ("round", "r", "planned", "entered", "reached", "promoted", "decided")
        defaults = {"planned": None, "entered": 0, "reached": 0, "promoted": 0, "decided": False}
        brackets = tuple(
            BracketLedger(b.get("band", 0), b.get("bracket", 0), b.get("budget"), b.get("spent", 0),
                          b.get("sealed", False),
                          tuple(RoundLedger(**{k: row.get(k, defaults.get(k)) for k in fields})
                                for row in b.get("rounds") or ()))
            for b in data.get("brackets") or ())
        return cls(data.get("budget"), data.get("budget_spent", 0), brackets, str(data.get("scheduler", "")))
