"""Ray Tune adapters around the pure halving cores of :mod:`raynn.hpo` (seed §4.7.3).

Each adapter is a ``TrialScheduler`` that translates Tune's calls into :class:`~raynn.hpo.HalvingScheduler`
calls; the cores keep every trial's status, rung, resource and the ledger. The slots are :mod:`raynn.tune.gate`'s,
persistence :mod:`raynn.tune.persistence`'s; the resource is the result key ``resource_attr`` (``epoch``).
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from raynn.hpo import SCHEDULERS
from raynn.hpo import AsyncHalving as _AsyncCore
from raynn.hpo import Decision, HalvingScheduler, Mode, TrialStatus
from raynn.hpo import HyperBand as _HyperBandCore
from raynn.hpo import SuccessiveHalving as _SuccessiveHalvingCore
from raynn.hpo.curve_stopping import LearningCurveStopping as _CurveCore
from raynn.hpo.ledger import BracketLedger, Ledger, RoundLedger, as_resource
from raynn._ray_private import forget_decisions
from raynn.tune.gate import ConcurrencyGate
from raynn.tune.persistence import FORMAT, SchedulerSnapshot, push_trial_logs
from raynn.values import check_int, is_real, value_error

__all__ = ["AsyncHalving", "HalvingAdapter", "HyperBand", "SuccessiveHalving", "build_scheduler"]

logger = logging.getLogger(__name__)

_DONE = "done"

TUNE_DECISION = {
    Decision.CONTINUE: TrialScheduler.CONTINUE,
    Decision.PAUSE: TrialScheduler.PAUSE,
    Decision.STOP: TrialScheduler.STOP,
}
"""A core's :class:`~raynn.hpo.Decision` as Ray Tune's constant: raynn's enum never leaks into Tune."""


class HalvingAdapter(FIFOScheduler):
    """Base of the Ray Tune adapters: one or more :class:`~raynn.hpo.HalvingScheduler` cores behind Tune.

    Subclasses say how to build a core (:meth:`_make_core`) and whether another one may be opened when the
    current one has no room (:meth:`_may_open`). Trials Tune creates beyond what the cores accept end
    ``TERMINATED`` without training.

    To survive a killed driver and ``Tuner.restore``, pass :meth:`snapshot_callback` to the run:
    ``tune.RunConfig(callbacks=[scheduler.snapshot_callback()])`` (``raynn tune`` always does). Without it a
    restored experiment whose trials have results fails with an error saying so.

    Args:
        metric: Result key to optimise; None: taken from ``TuneConfig(metric=...)``.
        mode: ``"min"`` or ``"max"``; None: taken from ``TuneConfig(mode=...)``.
        resource_attr: Result key holding the cumulative units trained (an integer >= 1).
    """

    # Each result must reach the scheduler on its own: a trial pauses exactly at its rung target.
    _supports_buffered_results = False

    def __init__(self, metric: str | None, mode: Mode | str | None, resource_attr: str) -> None:
        super().__init__()
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise ValueError(f"`metric` must be None or a non-empty string, but got {metric=!r}")
        if not isinstance(resource_attr, str) or not resource_attr:
            raise ValueError(f"`resource_attr` must be a non-empty string, but got {resource_attr=!r}")
        self._metric = metric
        self._mode: Mode | None = None if mode is None else Mode.parse(mode)
        self.resource_attr = resource_attr
        # Every trial Tune added, by id (Tune's own objects): read per event instead of listing get_trials()
        self._tune_trials: dict[str, Trial] = {}
        self._reset()

    def _reset(self) -> None:
        self._cores: list[HalvingScheduler] = []
        self._owner: dict[str, int] = {}  # Tune trial id -> index of its core
        self._overflow: list[str] = []  # trials no core had room for (so no core knows them): stopped unstarted
        self._exhausted = False
        self._restored = False  # a state was loaded: its trials that Tune did not re-add are to be dropped
        self._has_state = False  # a state was loaded (from Tune's snapshot: snapshot_callback)
        self._refused: str | None = None  # why a restored experiment cannot go on: raised at Tune's next step
        self._open_from = 0  # cores before this index are finished: events no longer visit them

    # -- what subclasses provide ----------------------------------------------------------------------------

    @abstractmethod
    def _make_core(self, mode: Mode) -> HalvingScheduler:
        """A fresh core built from the constructor arguments."""

    def _may_open(self) -> bool:
        """Whether a new core may be opened when the last one has no room (default: only the first)."""
        return not self._cores

    @abstractmethod
    def _core_args(self) -> dict[str, Any]:
        """The arguments the cores are built with (JSON-serialisable)."""

    def _config(self) -> dict[str, Any]:
        """The constructor arguments; a loaded state must have been saved with the same."""
        return {**self._core_args(), "resource_attr": self.resource_attr}

    @property
    def _promote_eagerly(self) -> bool:
        """Synchronous cores decide promotions themselves; ASHA promotes only when a slot is free."""
        return True

    # -- public queries -------------------------------------------------------------------------------------

    @property
    def mode(self) -> str | None:
        return None if self._mode is None else self._mode.value

    @property
    def budget_spent(self) -> int:
        """Units trained so far, each trial counted once at its furthest ``resource_attr``."""
        return sum(core.budget_spent for core in self._cores)

    def plan(self) -> list[dict[str, Any]]:
        """The planned rounds: rows ``{"bracket": s, "round": i, "n": n_i, "r": r_i}``, ``r_i`` cumulative."""
        return self._make_core(self._mode or Mode.MIN).plan()

    @property
    def planned_trials(self) -> int | None:
        """Configurations one band of the plan takes (the core's; None: ASHA without ``max_trials``)."""
        return self._make_core(self._mode or Mode.MIN).planned_trials

    @property
    def planned_budget(self) -> int | None:
        """Units one band of the plan needs if every round is full (the core's; None: ASHA)."""
        return self._make_core(self._mode or Mode.MIN).planned_budget

    def rungs(self) -> list[int]:
        """The resource levels at which trials are compared (every ``r_i`` of the plan), ascending."""
        return sorted({int(row["r"]) for row in self.plan()})

    def trial_rungs(self) -> dict[str, list[int]]:
        """Every trial's rungs: the ``r_i`` of the bracket it was placed in (a HyperBand bracket s < s_max
        starts above the first rung)."""
        return {trial_id: self._cores[index].rungs_of(trial_id) for trial_id, index in self._owner.items()}

    @abstractmethod
    def ledger(self) -> Ledger:
        """Budget spent against budget planned, per bracket and round, for the reporting code."""

    @property
    def cores(self) -> list[HalvingScheduler]:
        """The cores opened so far (a copy of the list; the cores themselves are live)."""
        return list(self._cores)

    def debug_string(self) -> str:
        return (
            f"Using {type(self).__name__} ({len(self._owner)} trials, budget spent {self.budget_spent}, "
            f"metric={self._metric!r}, mode={self.mode!r}, resource_attr={self.resource_attr!r})."
        )

    # -- Tune: setup ----------------------------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Take ``metric`` / ``mode`` from ``TuneConfig``; given to the constructor too, they must agree."""
        new_mode = None if mode is None else Mode.parse(mode)
        if metric is not None and self._metric is not None and metric != self._metric:
            return False
        if new_mode is not None and self._mode is not None and new_mode != self._mode:
            return False
        self._metric = metric if metric is not None else self._metric
        self._mode = new_mode if new_mode is not None else self._mode
        self._require_search_properties()
        return True

    def _require_search_properties(self) -> None:
        if self._metric is None or self._mode is None:
            raise ValueError(
                f"{type(self).__name__} needs `metric` and `mode`, given to it or to "
                f"tune.TuneConfig(metric=..., mode=...), but got metric={self._metric!r}, mode={self.mode!r}"
            )

    # -- Tune: events ---------------------------------------------------------------------------------------

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self._require_search_properties()
        self._tune_trials[trial.trial_id] = trial
        forget_decisions(tune_controller, trial.trial_id)  # a restored snapshot's PAUSE would strand it
        trial_id = trial.trial_id
        if trial_id in self._owner:
            self._readopt(tune_controller, trial)
        elif trial_id in self._overflow:
            self._stop_in_tune(tune_controller, trial_id)
        elif self._has_results(trial) and not self._has_state:
            self._refused = self._refused or self._no_snapshot_message(trial_id)
        elif trial.status in (Trial.TERMINATED, Trial.ERROR):
            pass  # finished before it reported anything: nothing to decide
        else:
            core = self._core_with_room()
            if core is None:
                self._overflow.append(trial_id)
                logger.info(f"{type(self).__name__}: no room for trial {trial_id}; it ends without training")
                self._stop_in_tune(tune_controller, trial_id)
            else:
                core.on_trial_add(trial_id)
                self._owner[trial_id] = len(self._cores) - 1  # the core with room is always the last
        self._after_event(tune_controller)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        trial_id = trial.trial_id
        core = self._core_of(trial_id)
        if core is None:
            logger.error(f"{type(self).__name__}: trial {trial_id} has no place in the brackets; stopping it")
            return TrialScheduler.STOP
        resource = as_resource(result.get(self.resource_attr))
        if resource == 0:  # reported before training anything: no rung can be reached yet
            return TrialScheduler.CONTINUE
        if resource is None or resource < 0:
            logger.error(
                f"{type(self).__name__}: stopping trial {trial_id}: every result must hold "
                f"`{self.resource_attr}` (resource_attr), the cumulative units trained as an integer >= 1, "
                f"but got {self.resource_attr}={result.get(self.resource_attr)!r}. Report it with "
                f"ray.tune.report({{{self.resource_attr!r}: ..., {self._metric!r}: ...}}) "
                "or set resource_attr."
            )
            return TrialScheduler.STOP
        value = result.get(self._metric)
        if not is_real(value):
            logger.error(
                f"{type(self).__name__}: stopping trial {trial_id}: every result must hold the metric "
                f"`{self._metric}` as a real number, but got {self._metric}={value!r}"
            )
            return TrialScheduler.STOP
        try:
            decision = TUNE_DECISION[core.on_result(trial_id, resource, float(value))]
        except ValueError as err:
            if result.get(_DONE):  # the function returned; Tune completes it next
                return TrialScheduler.CONTINUE
            logger.error(f"{type(self).__name__}: stopping trial {trial_id}: {err}")
            return TrialScheduler.STOP
        self._after_event(tune_controller)
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        self._remove(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        if trial.status == Trial.ERROR:
            # Tune retrying a failed trial (FailureConfig.max_failures): Tune 2.60 stops it (ERROR), calls
            # this, then adds it again (PENDING) to restart from its checkpoint. It keeps its place in its
            # bracket; removed, its rung was decided without it and its re-add stopped it as removed.
            # A trial that failed for good comes here still RUNNING or PENDING.
            return
        self._remove(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._remove(tune_controller, trial)

    def _remove(self, tune_controller: Any, trial: Trial) -> None:
        trial_id = trial.trial_id
        core = self._core_of(trial_id)
        if core is not None:
            core.on_trial_remove(trial_id)
        self._after_event(tune_controller, leaving=trial_id)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        """Resume the trial a core promoted first, once Tune has paused it and it holds a slot; then start a
        pending one. The core keeps a promoted trial until this hands it out (:meth:`~raynn.hpo.HalvingScheduler.
        next_paused`), so the adapter keeps no list of its own."""
        if self._refused is not None:  # not in on_trial_add: Tune's resume logs its errors and starts afresh
            raise RuntimeError(self._refused)
        trials = self._tune_trials  # the trials of tune_controller.get_trials(), by id
        if self._restored:
            self._drop_unrestored(tune_controller, trials)
        self._maybe_exhaust(tune_controller, trials)
        gate = self._gate(tune_controller)
        self._balance(gate, trials)
        for core in self._cores[self._open_from :]:
            trial_id = core.next_paused()
            trial = None if trial_id is None else trials.get(trial_id)
            # PAUSED: Tune has finished pausing it (a trial still saving is RUNNING, and waits a step)
            if trial is not None and trial.status == Trial.PAUSED and (gate is None or gate.holds(trial_id)):
                core.choose_paused()  # handed out: the core counts it running from here
                push_trial_logs(trial)
                return trial
        for trial in tune_controller.get_trials():
            if trial.status == Trial.PENDING and trial.trial_id in self._owner:
                return trial
        return None

    # -- Tune: save / restore (Tune 2.60 never calls these; the snapshot callback is what survives) --------

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.state_dict()))

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            self.load_state_dict(json.load(f))

    def snapshot_callback(self) -> Callback:
        """A Tune ``Callback`` that puts this scheduler's state into Tune's own experiment snapshots: the one
        way it survives ``Tuner.restore``. Pass it as ``tune.RunConfig(callbacks=[scheduler.snapshot_callback()])``.

        The scheduler and the trials are restored from the same moment. ``Tuner.restore`` unpickles the
        scheduler and this callback together, so a plain ``Tuner`` needs nothing more; ``raynn tune`` always
        adds it, first among its callbacks (Tune restores callback states by position).
        """
        return SchedulerSnapshot(self)

    # -- state ----------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot: the cores' ``state_dict`` and the adapter's own bookkeeping."""
        return {
            "format": FORMAT,
            "scheduler": type(self).__name__,
            "config": self._config(),
            "metric": self._metric,
            "mode": self.mode,
            "cores": [core.state_dict() for core in self._cores],
            "owner": dict(self._owner),
            "overflow": list(self._overflow),
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into an adapter built with the same arguments."""
        expected = json.loads(json.dumps(self._config()))
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("config") != expected:
            got = state.get("config") if isinstance(state, dict) else state
            raise ValueError(
                f"scheduler state was saved by a scheduler built with other arguments: expected config "
                f"{expected}, but got {got}"
            )
        for key, current in (("metric", self._metric), ("mode", self.mode)):
            saved = state[key]
            if current is not None and saved is not None and current != saved:
                raise ValueError(
                    f"scheduler state was saved with {key}={saved!r}, "
                    f"but this scheduler has {key}={current!r}"
                )
        self._reset()
        self._metric = self._metric or state["metric"]
        self._mode = self._mode or (None if state["mode"] is None else Mode.parse(state["mode"]))
        for core_state in state["cores"]:
            core = self._make_core(self._mode or Mode.MIN)
            core.load_state_dict(core_state)
            self._cores.append(core)
        self._owner = {str(k): int(v) for k, v in state["owner"].items()}
        self._overflow = list(state["overflow"])
        self._exhausted = bool(state["exhausted"])
        self._restored = self._has_state = True

    # -- internals ------------------------------------------------------------------------------------------

    def _core_of(self, trial_id: str) -> HalvingScheduler | None:
        index = self._owner.get(trial_id)
        return None if index is None else self._cores[index]

    def _core_with_room(self) -> HalvingScheduler | None:
        if self._cores and self._cores[-1].has_room():
            return self._cores[-1]
        if self._exhausted or not self._may_open():
            return None
        assert self._mode is not None  # _require_search_properties ran
        core = self._make_core(self._mode)
        self._cores.append(core)
        return core

    def _has_results(self, trial: Trial) -> bool:
        """Whether Tune restored ``trial`` with results: its last one (Tune's run metadata) trained a unit."""
        last = getattr(getattr(trial, "run_metadata", None), "last_result", None) or {}
        resource = as_resource(last.get(self.resource_attr))
        return resource is not None and resource >= 1

    def _no_snapshot_message(self, trial_id: str) -> str:
        return (
            f"{type(self).__name__}: Tune restored trial {trial_id} with results, but not this scheduler's "
            "state, so its rung decisions would be wrong. Add the scheduler's snapshot callback when the "
            "experiment starts: tune.RunConfig(callbacks=[scheduler.snapshot_callback()])"
        )

    def _readopt(self, tune_controller: Any, trial: Trial) -> None:
        """A trial restored by ``Tuner.restore`` that the loaded state knows: make Tune's status agree."""
        trial_id = trial.trial_id
        core = self._core_of(trial_id)
        assert core is not None
        status = core.status(trial_id)
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            if not status.terminal:
                core.on_trial_remove(trial_id)
            return
        # Tune re-adds every unfinished trial as PENDING and starts all PENDING trials by itself; a trial
        # waiting at a rung, or promoted but not handed out yet, must stay paused until its core says so.
        if status in (TrialStatus.WAITING, TrialStatus.QUEUED):
            trial.set_status(Trial.PAUSED)
        elif status.terminal:
            self._stop_in_tune(tune_controller, trial_id)
        # TrialStatus.RUNNING: Tune starts it again from its latest checkpoint

    def _after_event(self, tune_controller: Any, leaving: str | None = None) -> None:
        """After every call into a core: stop what it eliminated, rebalance slots."""
        for core in self._cores[self._open_from :]:
            for trial_id in core.pop_stops():
                self._stop_in_tune(tune_controller, trial_id)
        # A finished core has no stops or promotions left; bands finish about in the order they opened, so
        # skipping the finished ones at the front keeps an event O(1) with thousands of bands.
        while self._open_from < len(self._cores) and self._cores[self._open_from].is_finished():
            self._open_from += 1
        if tune_controller is not None:  # O(1) per event: no listing of Tune's trials
            self._balance(self._gate(tune_controller), self._tune_trials, leaving=leaving)

    def _stop_in_tune(self, tune_controller: Any, trial_id: str) -> None:
        """End in Tune a trial its core eliminated (or none took), now, as Ray's own HyperBand does.

        A core eliminates only trials paused at a rung: PAUSED in Tune, or still RUNNING while Tune saves
        them for the pause (``is_saving``; Tune then stops the trial once the save is done). PENDING: a trial
        re-added by ``Tuner.restore``, or one no core had room for. Nothing is kept for later: a trial Tune
        has not re-added yet is stopped by :meth:`_readopt` when it is.
        """
        trial = self._tune_trials.get(trial_id)
        if tune_controller is None or trial is None:
            return
        if trial.status in (Trial.PAUSED, Trial.PENDING) or (trial.status == Trial.RUNNING and trial.is_saving):
            gate = self._gate(tune_controller)
            if gate is not None:
                gate.take(trial_id)  # so the search algorithm hears of its completion and frees it
            tune_controller.stop_trial(trial)

    @staticmethod
    def _gate(tune_controller: Any) -> ConcurrencyGate | None:
        search_alg = getattr(tune_controller, "search_alg", None)
        return None if search_alg is None else ConcurrencyGate.of(search_alg)

    def _balance(self, gate: ConcurrencyGate | None, trials: dict[str, Trial], leaving: str | None = None) -> None:
        """Paused trials give their concurrency slot back; the trials the cores promoted take one.

        A synchronous core promotes a whole rung at once (its :meth:`~raynn.hpo.HalvingScheduler.queued`
        trials); ASHA promotes one trial when a slot is free (its :meth:`~raynn.hpo.HalvingScheduler.
        next_paused`), so that slot goes to the promotion before the search algorithm can fill it.
        ``leaving``: a trial Tune is completing right now; the search algorithm frees its slot next.
        """
        if gate is None:
            return
        cores = self._cores[self._open_from :]
        promoted = [trial_id for core in cores for trial_id in core.queued()]
        if not self._promote_eagerly:  # ASHA: the next promotion of each core, once
            promoted += [t for t in (core.next_paused() for core in cores) if t is not None and t not in promoted]
        kept = set(promoted)
        for trial_id in list(gate.live):  # only trials holding a slot can give one back
            trial = trials.get(trial_id)
            if trial is not None and trial.status == Trial.PAUSED and trial_id not in kept:
                gate.free(trial_id)
        used = gate.used - (leaving is not None and gate.holds(leaving))
        for trial_id in promoted:
            trial = trials.get(trial_id)
            if used >= gate.limit:
                return
            # RUNNING: Tune is still pausing it
            if trial is not None and not gate.holds(trial_id) and trial.status in (Trial.PAUSED, Trial.RUNNING):
                gate.take(trial_id)
                used += 1

    def _drop_unrestored(self, tune_controller: Any, trials: dict[str, Trial]) -> None:
        """Once, at the first step after a restore: Tune re-added every trial it brings back before it, so a
        trial the loaded state knows and Tune does not (one Tune restarted under a new id) will never report
        again. Its core must not wait for it, nor hand it out."""
        self._restored = False
        for trial_id, index in self._owner.items():
            if trial_id not in trials and not self._cores[index].status(trial_id).terminal:
                self._cores[index].on_trial_remove(trial_id)
        self._after_event(tune_controller)

    def _maybe_exhaust(self, tune_controller: Any, trials: dict[str, Trial]) -> None:
        """The search algorithm is finished and every trial it made was added: halve what there is."""
        if self._exhausted:
            return
        search_alg = getattr(tune_controller, "search_alg", None)
        if search_alg is None or not search_alg.is_finished():
            return
        if any(t not in self._owner and t not in self._overflow for t in trials):
            return
        self._exhausted = True
        for core in self._cores:
            core.on_search_exhausted()
        logger.debug(f"{type(self).__name__}: search exhausted after {len(self._owner)} trials")
        self._after_event(tune_controller)


# -- the three adapters -----------------------------------------------------------------------------------


class SuccessiveHalving(HalvingAdapter):
    """Successive halving (seed Algorithm 7.2) as a Ray Tune scheduler.

    One band holds ``num_configs = N`` trials; round ``t`` gives each of its ``|S_t|`` survivors
    ``r_t = floor(B / (|S_t| T))`` more units, ``T = ceil(log2 N) - 1``, and keeps the better half (see
    :class:`raynn.hpo.SuccessiveHalving`). Trials beyond ``N`` open a new band with the same plan (up to
    ``max_bands``); a band that gets fewer than ``N`` trials before the search ends halves what it has.

    Args:
        budget: ``B``, units of resource per band.
        num_configs: ``N >= 3`` trials per band.
        metric: Result key to optimise (None: from ``TuneConfig``).
        mode: ``"min"`` or ``"max"`` (None: from ``TuneConfig``).
        resource_attr: Result key with the cumulative units trained.
        max_bands: Bands to open at most (None: as many as the search provides trials for).
    """

    def __init__(
        self,
        budget: int,
        num_configs: int,
        metric: str | None = None,
        mode: Mode | str | None = None,
        resource_attr: str = "epoch",
        max_bands: int | None = None,
    ) -> None:
        _SuccessiveHalvingCore(budget, num_configs)  # checks the arguments now
        check_int("max_bands", max_bands, 1, optional=True, error=value_error)
        self.budget, self.num_configs, self.max_bands = budget, num_configs, max_bands
        super().__init__(metric, mode, resource_attr)

    def _make_core(self, mode: Mode) -> HalvingScheduler:
        return _SuccessiveHalvingCore(self.budget, self.num_configs, mode=mode)

    def _may_open(self) -> bool:
        return self.max_bands is None or len(self._cores) < self.max_bands

    def _core_args(self) -> dict[str, Any]:
        # max_bands is the adapter's (one core per band), saved with the core's arguments
        return {"budget": self.budget, "num_configs": self.num_configs, "max_bands": self.max_bands}

    def ledger(self) -> Ledger:
        """The cores' ledgers as one, a bracket per band (``band``: its core); ``planned``: ``B`` times the
        bands opened (each bracket's own ``planned`` is ``sum_t |S_t| r_t <= B``)."""
        brackets = tuple(replace(b, band=band) for band, core in enumerate(self._cores)
                         for b in core.ledger().brackets)
        return Ledger(self.budget * len(self._cores), self.budget_spent, brackets, type(self).__name__)


class HyperBand(HalvingAdapter):
    """HyperBand (Li et al., JMLR 2018) as a Ray Tune scheduler.

    Brackets ``s = s_max..0`` of successive halving, ``s_max = floor(log_eta(R / r_min))``; bracket ``s``
    starts ``n = ceil((s_max + 1) eta**s / (s + 1))`` trials at ``r = R eta**-s`` and keeps the best
    ``floor(m / eta)`` of ``m`` each round (see :class:`raynn.hpo.HyperBand`). Brackets fill one after the
    other; after ``s = 0`` a new band repeats the plan (up to ``max_bands``).

    Args:
        max_resource: ``R``, units of resource of the last round.
        eta: Reduction factor, an integer >= 2.
        min_resource: ``r_min``, the smallest units a round gives.
        metric: Result key to optimise (None: from ``TuneConfig``).
        mode: ``"min"`` or ``"max"`` (None: from ``TuneConfig``).
        resource_attr: Result key with the cumulative units trained.
        max_bands: Bands to open at most (None: as many as the search provides trials for).
    """

    def __init__(
        self,
        max_resource: int,
        eta: int = 3,
        min_resource: int = 1,
        metric: str | None = None,
        mode: Mode | str | None = None,
        resource_attr: str = "epoch",
        max_bands: int | None = None,
    ) -> None:
        _HyperBandCore(max_resource, eta, min_resource, max_bands=max_bands)  # checks the arguments now
        self.max_resource, self.eta, self.min_resource = max_resource, eta, min_resource
        self.max_bands = max_bands
        super().__init__(metric, mode, resource_attr)

    def _make_core(self, mode: Mode) -> HalvingScheduler:
        return _HyperBandCore(**self._core_args(), mode=mode)

    def _core_args(self) -> dict[str, Any]:
        return {"max_resource": self.max_resource, "eta": self.eta, "min_resource": self.min_resource,
                "max_bands": self.max_bands}

    def ledger(self) -> Ledger:
        """The cores' ledgers as one, a bracket per bracket instance; ``planned``: the brackets opened."""
        ledgers = [core.ledger() for core in self._cores]
        brackets = tuple(b for ledger in ledgers for b in ledger.brackets)
        planned = sum(ledger.planned or 0 for ledger in ledgers)
        return Ledger(planned, self.budget_spent, brackets, type(self).__name__)


class AsyncHalving(HalvingAdapter):
    """Asynchronous successive halving with promotion (ASHA, Li et al., MLSys 2020) as a Ray Tune scheduler.

    Rung ``k`` trains to ``r_k = r_min * eta**k`` (the last rung is ``max_resource``). A trial pauses at
    every rung; when a slot is free the best paused trial in the top ``1/eta`` of its rung is promoted and
    resumes from its checkpoint, otherwise a new trial starts (see :class:`raynn.hpo.AsyncHalving`). Ray's
    ``ASHAScheduler`` only stops trials; this one pauses and promotes.

    Args:
        max_resource: ``R``, units of resource of the last rung.
        eta: Reduction factor, an integer >= 2.
        min_resource: ``r_min``, units of rung 0.
        metric: Result key to optimise (None: from ``TuneConfig``).
        mode: ``"min"`` or ``"max"`` (None: from ``TuneConfig``).
        resource_attr: Result key with the cumulative units trained.
        max_trials: Trials to accept at most (None: as many as the search provides).
    """

    def __init__(
        self,
        max_resource: int,
        eta: int = 3,
        min_resource: int = 1,
        metric: str | None = None,
        mode: Mode | str | None = None,
        resource_attr: str = "epoch",
        max_trials: int | None = None,
    ) -> None:
        _AsyncCore(max_resource, eta, min_resource, max_trials=max_trials)  # checks the arguments now
        self.max_resource, self.eta, self.min_resource = max_resource, eta, min_resource
        self.max_trials = max_trials
        super().__init__(metric, mode, resource_attr)

    @property
    def _promote_eagerly(self) -> bool:
        return False

    def _make_core(self, mode: Mode) -> HalvingScheduler:
        return _AsyncCore(**self._core_args(), mode=mode)

    def _core_args(self) -> dict[str, Any]:
        return {"max_resource": self.max_resource, "eta": self.eta, "min_resource": self.min_resource,
                "max_trials": self.max_trials}

    def ledger(self) -> Ledger:
        """The core's one bracket of rungs (``planned``: None, ASHA has no fixed budget); before any trial,
        the plan's rungs with nothing reached."""
        brackets = tuple(b for core in self._cores for b in core.ledger().brackets)
        if not brackets:
            rounds = tuple(RoundLedger(p["round"], p["r"], p["n"], 0, 0, 0, False) for p in self.plan())
            brackets = (BracketLedger(0, 0, None, 0, False, rounds),)
        return Ledger(None, self.budget_spent, brackets, type(self).__name__)


class LearningCurveStopping(FIFOScheduler):
    """Learning-curve stopping (seed §4.7.3) as a Ray Tune scheduler (``--scheduler curve``): FIFO, and each
    result goes to the pure :class:`raynn.hpo.curve_stopping.LearningCurveStopping` (named alike, as every
    adapter is named as its core), whose STOP ends the trial. Works with any searcher.

    Tune 2.60 does not save schedulers across ``--resume``; the rule then rebuilds the curves from the results
    the resumed trials report, so it starts out lenient, never stricter.

    Args:
        max_resource: ``R``, the units a trial trains at most.
        metric: Result key to optimise (None: from ``TuneConfig``).
        mode: ``"min"`` or ``"max"`` (None: from ``TuneConfig``; ``"min"`` if neither says).
        resource_attr: Result key with the cumulative units trained.
    """

    def __init__(self, max_resource: int, metric: str | None = None, mode: Mode | str | None = None,
                 resource_attr: str = "epoch") -> None:
        super().__init__()
        self.rule = _CurveCore(max_resource, mode=mode or Mode.MIN)
        self._metric, self.resource_attr = metric, resource_attr

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if metric is not None:
            self._metric = metric
        if mode is not None:
            self.rule = _CurveCore(self.rule.max_resource, mode=mode)
        return True

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        resource = as_resource(result.get(self.resource_attr))
        value = result.get(self._metric) if self._metric else None
        if resource is None or not is_real(value):
            return TrialScheduler.CONTINUE
        decision = self.rule.on_result(trial.trial_id, resource, float(value))
        return TrialScheduler.STOP if decision is Decision.STOP else TrialScheduler.CONTINUE

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.rule.state_dict()))

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            self.rule.load_state_dict(json.load(f))


def build_scheduler(name: str, **options: Any) -> Any:
    """The Tune scheduler of ``raynn tune --scheduler NAME`` (a name of :data:`raynn.hpo.SCHEDULERS`, re-exported
    here): the entry's adapter, given the entry's options (its :class:`~raynn.hpo.SchedulerOptions` model says
    which; any other is a one-line ``ConfigError``)."""
    from raynn.classpath import import_object

    info = SCHEDULERS.get(name)
    checked = info.options.check(SCHEDULERS.canonical(name), options)
    return import_object(info.adapter)(**checked.model_dump())
