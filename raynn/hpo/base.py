"""The backend-free protocol shared by every halving scheduler (seed §4.7.3).

A scheduler is a state machine over trial ids: it never trains, never sleeps and never imports Ray. An adapter
(for instance a Ray Tune ``TrialScheduler``) only translates its events into these calls:

========================  =====================================================================
Ray Tune event            call
========================  =====================================================================
``on_trial_add``          :meth:`HalvingScheduler.on_trial_add` (only while :meth:`has_room`)
``on_trial_result``       :meth:`HalvingScheduler.on_result` -> :class:`Decision` for that trial
``choose_trial_to_run``   :meth:`HalvingScheduler.choose_paused` first, else a pending trial
                          (:meth:`~HalvingScheduler.next_paused` names it first, so the adapter
                          hands a trial out only once its framework can resume it)
after every call          :meth:`HalvingScheduler.pop_stops`: stop these paused trials
``on_trial_complete``,    :meth:`HalvingScheduler.on_trial_remove`
``on_trial_error``,
``on_trial_remove``
search algorithm is done  :meth:`HalvingScheduler.on_search_exhausted`
========================  =====================================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any

from raynn.hpo.ledger import Ledger
from raynn.mode import Mode

__all__ = ["Decision", "HalvingProtocol", "HalvingQueries", "HalvingScheduler", "Mode", "TrialStatus"]


class Decision(Enum):
    """What a trial does after reporting a result.

    raynn's own type: the values are the strings decision traces record (``tests/hpo/data``); an adapter maps
    each member to its framework's constant (:mod:`raynn.tune.schedulers` to Ray Tune's ``TrialScheduler``
    ones), never passes the value through."""

    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"


class TrialStatus(Enum):
    """Where a trial stands in a core; every trial is in exactly one. The values are the strings a
    ``state_dict`` stores (state files written before this enum existed load unchanged)."""

    RUNNING = "running"  # training towards its target (or not started yet)
    WAITING = "waiting"  # paused at its target, its rung not decided yet
    QUEUED = "queued"  # paused and promoted: choose_paused() will hand it out
    STOPPED = "stopped"  # finished the last rung or eliminated
    REMOVED = "removed"  # gone: completed, errored or stopped by the user

    @property
    def terminal(self) -> bool:
        """Stopped or removed: the core will never schedule it again."""
        return self in (TrialStatus.STOPPED, TrialStatus.REMOVED)


class HalvingProtocol(ABC):
    """The events a halving scheduler answers: what an adapter calls when its framework acts (the table above).

    Trials pause at rung targets and only the best go on. ``resource`` is the cumulative number of units a
    trial has trained (epochs, iterations); rankings follow :attr:`mode`; equal values are broken by arrival
    order (earlier trial wins). The state the events build is :meth:`state_dict`.
    """

    mode: Mode

    @abstractmethod
    def has_room(self) -> bool:
        """Whether the scheduler wants a new configuration now."""

    @abstractmethod
    def on_trial_add(self, trial_id: str) -> None:
        """A new configuration enters rung 0; ``ValueError`` if :meth:`has_room` is False or the id exists."""

    @abstractmethod
    def on_result(self, trial_id: str, resource: int, value: float) -> Decision:
        """A running trial reached ``resource`` units with metric ``value``.

        Below :meth:`target`: ``CONTINUE``. At the target: ``PAUSE`` until its rung is decided, ``STOP`` when
        the target is the last one or the trial is eliminated, ``CONTINUE`` when it is promoted at once.
        """

    @abstractmethod
    def choose_paused(self) -> str | None:
        """A paused, promoted trial to resume now (it is running from then on), or None."""

    @abstractmethod
    def pop_stops(self) -> list[str]:
        """Paused trials eliminated since the last call; the adapter must stop them."""

    @abstractmethod
    def on_trial_remove(self, trial_id: str) -> None:
        """The trial is gone (completed, errored, stopped by the user); no rung waits for it any more."""

    @abstractmethod
    def on_search_exhausted(self) -> None:
        """No more configurations will come: decide with what there is, so no trial stays paused forever."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the whole state (a NaN metric is written as Python's ``NaN``)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into an object built with the same arguments."""


class HalvingQueries(ABC):
    """What a halving scheduler reports without changing: where each trial stands, the incumbent, the plan and
    the budget ledger (read by the adapter's slot bookkeeping, the terminal view, the event log and the results).

    A paused trial resumes from its checkpoint, so :attr:`budget_spent` charges each trial its furthest resource
    once.
    """

    @abstractmethod
    def next_paused(self) -> str | None:
        """The trial :meth:`choose_paused` would hand out now, without handing it out (None: none)."""

    @abstractmethod
    def queued(self) -> list[str]:
        """Trials promoted and not handed out yet (status ``QUEUED``), in the order :meth:`choose_paused`
        hands them out: an adapter keeps a slot for each."""

    @abstractmethod
    def status(self, trial_id: str) -> TrialStatus:
        """Where the trial stands (O(1)); ``ValueError`` for an unknown id."""

    @abstractmethod
    def target(self, trial_id: str) -> int:
        """The cumulative resource the trial should reach next."""

    @abstractmethod
    def rung_of(self, trial_id: str) -> int:
        """The 0-based rung (round) the trial is in."""

    @abstractmethod
    def bracket_of(self, trial_id: str) -> int:
        """The bracket instance the trial belongs to, numbered in the order brackets were opened."""

    @property
    @abstractmethod
    def budget_spent(self) -> int:
        """Sum over trials of the furthest resource each reported."""

    @abstractmethod
    def is_finished(self) -> bool:
        """No configuration will be asked for and every trial is stopped or removed."""

    @abstractmethod
    def best(self) -> str | None:
        """The incumbent: the trial with the best value at the largest resource any trial reached (None
        before any rung result).

        The one definition of best (:mod:`raynn.tune.best` applies it to every reported epoch, the core to the
        values it records, those at rungs): among the results at the largest resource reached, the best in
        :attr:`mode`; NaN ranks last, equal values go to the earlier trial.
        """

    @property
    @abstractmethod
    def planned_budget(self) -> int | None:
        """Units one band of the plan needs if every round is full (None: no fixed budget, ASHA)."""

    @property
    @abstractmethod
    def planned_trials(self) -> int | None:
        """Configurations one band of the plan takes (None: as many as the search gives)."""

    @abstractmethod
    def ledger(self) -> Ledger:
        """Budget planned against spent, per bracket and round (:class:`~raynn.hpo.ledger.Ledger`)."""

    @abstractmethod
    def plan(self) -> list[dict[str, Any]]:
        """Rows ``{"bracket": b, "round": i, "n": n_i, "r": r_i}``; ``r_i``: cumulative, end of round i."""

    def rungs_of(self, trial_id: str) -> list[int]:
        """The resource levels at which ``trial_id`` is compared, ascending (here: every planned ``r_i``;
        synchronous halving narrows it to the trial's bracket)."""
        return sorted({int(row["r"]) for row in self.plan()})


class HalvingScheduler(HalvingProtocol, HalvingQueries):
    """A halving scheduler: the event protocol (:class:`HalvingProtocol`) and the reporting queries
    (:class:`HalvingQueries`) of one state machine; the cores of :mod:`raynn.hpo` subclass it."""
