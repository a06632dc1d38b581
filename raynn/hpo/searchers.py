"""Searchers: which configuration to try next (seed §4.7.1 grid, §4.7.2 random, §4.7.4 Algorithm 7.1).

A searcher is an ask/tell state machine over trial ids with no backend; an adapter (Ray Tune's ``Searcher``)
only translates:

=============================  ===================================================================
Ray Tune event                 call
=============================  ===================================================================
``suggest(trial_id)``          :meth:`Searcher.suggest` -> parameters, or None when exhausted
``on_trial_result``            :meth:`Searcher.on_result` ``(trial_id, resource, value)``
``on_trial_complete``          :meth:`Searcher.on_complete` ``(trial_id, error=...)``
``save`` / ``restore``         :meth:`Searcher.state_dict` / :meth:`Searcher.load_state_dict`
=============================  ===================================================================

Parameters are the search space's (:mod:`raynn.hpo.spaces`): dotted key -> JSON primitive; the trial's run
config is ``space.apply(params)``. Every user-facing name is in :data:`SEARCHERS`.

Optuna is imported when an :class:`OptunaSearcher` is built, never at import time.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import json
import math
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from raynn.errors import argument_error
from raynn.hpo._common import check_result, check_state_config, check_trial_id
from raynn.hpo.base import Mode
from raynn.hpo.spaces import SearchSpace
from raynn.paths import NAME_RULE, is_name
from raynn.registry import Registry
from raynn.values import SEED_MAX, check_int, is_int

if TYPE_CHECKING:
    import optuna

__all__ = [
    "SEARCHERS",
    "GridSearcher",
    "MultiFidelityGPSearcher",
    "OptunaSearcher",
    "RandomSearcher",
    "Searcher",
    "SearcherInfo",
    "build_searcher",
]


def _check_space(space: Any) -> SearchSpace:
    if not isinstance(space, SearchSpace):
        raise argument_error("space", "must be a SearchSpace (see raynn.hpo.load_space)", space)
    return space


class Searcher(ABC):
    """Proposes configurations and hears how they did.

    The trial protocol is checked here: :meth:`suggest` takes a new id, :meth:`on_result` and
    :meth:`on_complete` a suggested one; a result after completion is a ``ValueError``; a second
    :meth:`on_complete` is ignored (backends may report a stop and then the end). ``resource`` is the
    cumulative number of units trained (epochs), as in :class:`~raynn.hpo.base.HalvingScheduler`.

    Args:
        space: The search space the parameters come from.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = _check_space(space)
        self._params: dict[str, dict[str, Any]] = {}
        self._done: set[str] = set()

    # the protocol -------------------------------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Parameters for the new trial ``trial_id`` (key -> value), or None when the search is exhausted."""
        tid = check_trial_id(trial_id)
        if tid in self._params:
            raise ValueError(f"trial ids must be new, but {tid!r} was suggested before")
        params = self._suggest(tid)
        if params is None:
            return None
        self._params[tid] = dict(params)
        return dict(params)

    def on_result(self, trial_id: str, resource: int, value: float) -> None:
        """Trial ``trial_id`` reached ``resource`` cumulative units with metric ``value``."""
        tid = self._known(trial_id)
        if tid in self._done:
            raise ValueError(f"trial {tid!r} is complete; results must come before on_complete")
        resource, value = check_result(resource, value)
        self._on_result(tid, resource, value)

    def on_complete(self, trial_id: str, error: bool = False) -> None:
        """Trial ``trial_id`` finished, was stopped, or (``error``) failed; it reports nothing more."""
        tid = self._known(trial_id)
        if tid in self._done:
            return
        self._on_complete(tid, bool(error))
        self._done.add(tid)

    def params(self, trial_id: str) -> dict[str, Any]:
        """The parameters suggested for ``trial_id``."""
        return dict(self._params[self._known(trial_id)])

    def config(self, trial_id: str) -> dict[str, Any]:
        """The raw run config of ``trial_id``: ``space.apply(params)``, ready for ``check_config``."""
        return self.space.apply(self.params(trial_id))

    @property
    def trial_ids(self) -> list[str]:
        """Every suggested trial id, in order."""
        return list(self._params)

    def is_complete(self, trial_id: str) -> bool:
        return self._known(trial_id) in self._done

    # what subclasses implement ------------------------------------------------------------------------------
    @abstractmethod
    def _suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Normalized parameters for a new, checked trial id, or None."""

    def _on_result(self, trial_id: str, resource: int, value: float) -> None:
        """A checked result of a running trial; grid and random search ignore results."""

    def _on_complete(self, trial_id: str, error: bool) -> None:
        """A suggested trial is over (called once)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot; :meth:`load_state_dict` into a searcher built alike continues it."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a searcher built with the same arguments."""

    # helpers ------------------------------------------------------------------------------------------------
    def _known(self, trial_id: str) -> str:
        tid = check_trial_id(trial_id)
        if tid not in self._params:
            raise ValueError(f"unknown trial {tid!r}: only suggested trials report results")
        return tid

    def _trials_state(self) -> dict[str, Any]:
        return {"params": copy.deepcopy(self._params), "done": sorted(self._done)}

    def _load_trials(self, state: dict[str, Any]) -> None:
        self._params = {tid: self.space.normalize(p) for tid, p in state["params"].items()}
        self._done = set(state["done"])


# ------------------------------------------------------------------------------------------------------------
# Grid and random search.


class GridSearcher(Searcher):
    """Grid search (seed §4.7.1): each of the ``m_1 x ... x m_K`` combinations once, then None.

    Float and int keys need ``grid`` or ``grid_points`` (§4.7.1: "discretize continuous hyperparameters by a
    few values from experience"); see :meth:`SearchSpace.grid_points`.

    Args:
        space: The search space.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space)
        self.points = self.space.grid_points()
        self._next = 0

    def __len__(self) -> int:
        return len(self.points)

    def _suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._next >= len(self.points):
            return None
        self._next += 1
        return dict(self.points[self._next - 1])

    def _config(self) -> dict[str, Any]:
        return {"searcher": "grid", "space": self.space.to_dict()}

    def state_dict(self) -> dict[str, Any]:
        return {"config": self._config(), "next": self._next, **self._trials_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_config(self._config(), state, "searcher")
        self._next = int(state["next"])
        self._load_trials(state)


class RandomSearcher(Searcher):
    """Random search (seed §4.7.2; Bergstra & Bengio, 2012, JMLR 13): every key drawn independently.

    Float/int keys are uniform on ``[low, high]``, or log-uniform (``exp(U(log low, log high))``) with
    ``log``; categorical and grid keys uniform over their values. One ``numpy.random.Generator`` seeded with
    ``seed`` draws every suggestion in order, so a seed fixes the sequence.

    Args:
        space: The search space.
        seed: Seed of the generator.
        num_samples: Suggestions before the search is exhausted; None: never exhausted.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, num_samples: int | None = None) -> None:
        super().__init__(space)
        self.seed = check_int("seed", seed, 0, SEED_MAX)
        self.num_samples = check_int("num_samples", num_samples, 1, optional=True)
        self._rng = np.random.default_rng(seed)
        self._count = 0

    def _suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.num_samples is not None and self._count >= self.num_samples:
            return None
        self._count += 1
        return self.space.sample(self._rng)

    def _config(self) -> dict[str, Any]:
        return {
            "searcher": "random",
            "space": self.space.to_dict(),
            "seed": self.seed,
            "num_samples": self.num_samples,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self._config(),
            "count": self._count,
            "rng": self._rng.bit_generator.state,
            **self._trials_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_config(self._config(), state, "searcher")
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self._rng, self._count = rng, int(state["count"])
        self._load_trials(state)


# ------------------------------------------------------------------------------------------------------------
# Bayesian optimization with Optuna, one study per fidelity.

_TRIAL_ATTR = "raynn_trial_id"
_CONFIG_ATTR = "raynn_config"
_DONE_PREFIX = "raynn_done:"
def _gp_sampler(seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)


def _tpe_sampler(seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)


SAMPLERS: Registry[Callable[[int, int], optuna.samplers.BaseSampler]] = Registry("sampler")
"""``OptunaSearcher(sampler=...)``: each name builds its Optuna sampler from ``seed`` and ``n_startup_trials``
(a fresh one per ask, see :meth:`OptunaSearcher._make_sampler`)."""
SAMPLERS.add("gp", _gp_sampler, "optuna.samplers.GPSampler: Gaussian-process Bayesian optimization")
SAMPLERS.add("tpe", _tpe_sampler, "optuna.samplers.TPESampler: tree-structured Parzen estimator (Bergstra et al., 2011)")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna logs every tell at INFO; hush it for the duration of one call and restore the level after."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _derived_seed(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


class OptunaSearcher(Searcher):
    """Bayesian optimization (seed §4.7.4, Algorithm 7.1 SMBO) with Optuna's GP or TPE sampler.

    Single fidelity (``rungs=None``), Algorithm 7.1: ask ``x' = argmax_x a(x, H)`` (the sampler maximizes
    the acquisition ``a`` of its model ``p(f(x) | x, H)``), evaluate ``y' = f(x')``, tell
    ``H <- H u (x', y')``. The value told is the trial's last result before :meth:`on_complete` (so run every
    trial to the end: a FIFO scheduler); a trial that errored or reported nothing is told ``FAIL``.

    Multi-fidelity (``rungs=[r_1 < r_2 < ...]``, the rung resources of a halving scheduler), as BOHB
    (Falkner et al., 2018, "BOHB: Robust and Efficient Hyperparameter Optimization at Scale", ICML): the model
    only ever sees values measured at the same resource. Each rung ``r`` has its own study
    ``f"{study_name}-r{r}"``; a result at ``r`` adds (params, value) to that study (``tell`` when the trial
    was asked there, else ``add_trial``), the first result per trial and rung only. A result at a resource
    that is not a rung is not told at all. New trials are asked from the highest rung with at least
    ``min_points`` completed values (default ``d + 1`` for ``d`` searched keys, BOHB's rule), else from the
    lowest rung, whose sampler samples at random until it has ``min_points``. A trial asked on a rung's study
    and completed without a value there is told ``PRUNED`` (``FAIL`` on error), so no model learns a
    truncated score.

    Every study is in one SQLite file (``optuna-dashboard sqlite:///<storage_path>`` opens them); the file is
    the state. Each ask uses a fresh sampler seeded from ``(seed, rung, number of trials in the study)``, so
    suggestions are a function of the seed and the stored trials: a seeded run repeats exactly, and a searcher
    built again on an existing file (or :meth:`resume`) continues exactly where the first left off.

    Args:
        space: The search space.
        sampler: ``"gp"`` (``optuna.samplers.GPSampler``) or ``"tpe"`` (``TPESampler``).
        seed: Seed of every ask's sampler.
        storage_path: The SQLite file, e.g. ``<run dir>/optuna.db`` (parent directories are created); None
            keeps the studies in memory (no :meth:`state_dict`).
        mode: ``"min"`` or ``"max"``, the direction of the reported metric.
        rungs: Rung resources (increasing integers >= 1); None: single fidelity.
        min_points: Values a rung needs before it proposes; also each sampler's ``n_startup_trials``.
        study_name: Name of the study (prefix of the per-rung studies).
    """

    # Bookkeeping, rebuilt from the storage by _sync().
    _asked: dict[str, tuple[int, int]]  # trial id -> (level, Optuna trial number) of its RUNNING asked trial
    _told: dict[str, set[int]]  # trial id -> levels whose study holds its value
    _last: dict[str, float]  # single fidelity: the last value each trial reported
    _n_complete: list[int]  # COMPLETE trials per level

    def __init__(
        self,
        space: SearchSpace,
        sampler: str = "gp",
        seed: int = 0,
        storage_path: str | Path | None = None,
        mode: Mode | str = Mode.MIN,
        rungs: list[int] | None = None,
        min_points: int | None = None,
        study_name: str = "raynn",
    ) -> None:
        super().__init__(space)
        if sampler not in SAMPLERS:
            raise argument_error("sampler", f"must be one of {', '.join(SAMPLERS.names())}", sampler)
        self.sampler = sampler
        self.seed = check_int("seed", seed, 0, SEED_MAX)
        self.mode = Mode.parse(mode)
        self.rungs = self._check_rungs(rungs)
        check_int("min_points", min_points, 1, optional=True)
        self.min_points = len(self.space) + 1 if min_points is None else min_points
        if not is_name(study_name):
            raise argument_error("study_name", NAME_RULE, study_name)
        self.study_name = study_name
        if storage_path is not None and not isinstance(storage_path, (str, os.PathLike)):
            raise argument_error("storage_path", "must be None or the path of a SQLite file", storage_path)
        self.storage_path = None if storage_path is None else Path(storage_path)

        import optuna

        if self.storage_path is None:
            self._storage: optuna.storages.BaseStorage = optuna.storages.InMemoryStorage()
        else:
            self.storage_path.parent.mkdir(parents=True, exist_ok=True)
            self._storage = optuna.storages.RDBStorage(self.storage_url)
        self._distributions = self.space.to_optuna()
        direction = "minimize" if self.mode is Mode.MIN else "maximize"
        with _quiet():
            self._studies = [
                optuna.create_study(
                    storage=self._storage, study_name=name, direction=direction, load_if_exists=True
                )
                for name in self.study_names
            ]
        self._study_ids = [self._storage.get_study_id_from_name(name) for name in self.study_names]
        stored = self._storage.get_study_system_attrs(self._study_ids[0]).get(_CONFIG_ATTR)
        if stored is None:
            self._storage.set_study_system_attr(self._study_ids[0], _CONFIG_ATTR, self._config())
        elif stored != json.loads(json.dumps(self._config())):
            raise ValueError(
                f"{self.storage_url} holds study {self.study_names[0]!r} of a searcher built with other "
                f"arguments: stored {stored}, but got {self._config()} "
                "(OptunaSearcher.resume continues it with the stored arguments)"
            )
        self._sync()

    # construction helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _check_rungs(rungs: Any) -> list[int] | None:
        if rungs is None:
            return None
        ok = (
            isinstance(rungs, (list, tuple))
            and len(rungs) > 0
            and all(is_int(r) and r >= 1 for r in rungs)
        )
        if not ok or any(a >= b for a, b in itertools.pairwise(rungs)):
            raise argument_error("rungs", "must be None or increasing integers >= 1", rungs)
        return [int(r) for r in rungs]

    @property
    def storage_url(self) -> str:
        """``sqlite:///<absolute path>``, what ``optuna-dashboard`` and ``optuna.load_study`` take."""
        if self.storage_path is None:
            raise ValueError("`storage_path` is None: the studies are in memory and have no URL")
        return f"sqlite:///{self.storage_path.resolve()}"

    @property
    def study_names(self) -> list[str]:
        """One study per rung (``f"{study_name}-r{r}"``), or ``[study_name]`` for a single fidelity."""
        if self.rungs is None:
            return [self.study_name]
        return [f"{self.study_name}-r{r}" for r in self.rungs]

    def _config(self) -> dict[str, Any]:
        return {
            "searcher": f"optuna-{self.sampler}",
            "space": self.space.to_dict(),
            "seed": self.seed,
            "mode": self.mode.value,
            "rungs": self.rungs,
            "min_points": self.min_points,
        }

    @classmethod
    def resume(cls, storage_path: str | Path, study_name: str = "raynn") -> OptunaSearcher:
        """The searcher stored in ``storage_path`` under ``study_name``, built with its stored arguments."""
        import optuna

        path = Path(storage_path)
        if not path.is_file():
            raise ValueError(f"`storage_path` must be an existing Optuna SQLite file, but got {str(path)!r}")
        storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
        names = [
            n
            for n in optuna.study.get_all_study_names(storage)
            if n == study_name or (n.startswith(f"{study_name}-r") and n[len(study_name) + 2 :].isdigit())
        ]
        for name in names:
            cfg = storage.get_study_system_attrs(storage.get_study_id_from_name(name)).get(_CONFIG_ATTR)
            if cfg is not None:
                break
        else:
            raise ValueError(f"{path} holds no raynn searcher named {study_name!r}; studies there: {names}")
        del storage
        space = SearchSpace.from_dict(cfg["space"])
        return cls(
            space,
            sampler=cfg["searcher"].removeprefix("optuna-"),
            seed=cfg["seed"],
            storage_path=path,
            mode=cfg["mode"],
            rungs=cfg["rungs"],
            min_points=cfg["min_points"],
            study_name=study_name,
        )

    # the state is in the storage ----------------------------------------------------------------------------
    def _sync(self) -> None:
        """Rebuild the bookkeeping from the stored trials."""
        from optuna.trial import TrialState

        self._params, self._done = {}, set()
        self._asked, self._told, self._last = {}, {}, {}
        self._n_complete = [0] * len(self._studies)
        first_seen: dict[str, tuple[float, int, int]] = {}
        for level, study in enumerate(self._studies):
            for t in study.get_trials(deepcopy=False):
                tid = t.user_attrs.get(_TRIAL_ATTR)
                if tid is None:
                    continue
                start = t.datetime_start.timestamp() if t.datetime_start is not None else math.inf
                first_seen[tid] = min(first_seen.get(tid, (math.inf, 0, 0)), (start, level, t.number))
                self._params.setdefault(tid, self.space.normalize(t.params))
                self._told.setdefault(tid, set())
                if t.state == TrialState.RUNNING:
                    self._asked[tid] = (level, t.number)
                    if t.intermediate_values:
                        self._last[tid] = t.intermediate_values[max(t.intermediate_values)]
                else:
                    self._told[tid].add(level)
                    self._n_complete[level] += t.state == TrialState.COMPLETE
        # Suggestion order: by the start of each trial's first Optuna trial.
        self._params = {tid: self._params[tid] for tid in sorted(self._params, key=first_seen.__getitem__)}
        attrs = self._storage.get_study_system_attrs(self._study_ids[0])
        self._done = {key[len(_DONE_PREFIX) :] for key in attrs if key.startswith(_DONE_PREFIX)}

    # the rung logic -----------------------------------------------------------------------------------------
    def observations(self) -> dict[int | None, int]:
        """Completed values per rung resource (key None for a single fidelity)."""
        levels = self.rungs if self.rungs is not None else [None]
        return dict(zip(levels, self._n_complete))

    def proposing_level(self) -> int:
        """Index of the study the next trial is asked from: the highest with ``min_points`` values, else 0."""
        for level in range(len(self._studies) - 1, -1, -1):
            if self._n_complete[level] >= self.min_points:
                return level
        return 0

    def study(self, rung: int | None = None) -> optuna.study.Study:
        """The study of rung resource ``rung`` (None: the single-fidelity study, or the lowest rung's)."""
        if rung is None:
            return self._studies[0]
        if self.rungs is None or rung not in self.rungs:
            raise ValueError(f"`rung` must be one of {self.rungs}, but got {rung=!r}")
        return self._studies[self.rungs.index(rung)]

    def _make_sampler(self, level: int, n_trials: int) -> optuna.samplers.BaseSampler:
        import optuna

        rung = 0 if self.rungs is None else self.rungs[level]
        seed = _derived_seed(self.seed, rung, n_trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return SAMPLERS.get(self.sampler)(seed, self.min_points)

    def _suggest(self, trial_id: str) -> dict[str, Any]:
        level = self.proposing_level()
        study = self._studies[level]
        study.sampler = self._make_sampler(level, len(study.get_trials(deepcopy=False)))
        with _quiet():
            trial = study.ask(self._distributions)
            trial.set_user_attr(_TRIAL_ATTR, trial_id)
        self._asked[trial_id] = (level, trial.number)
        self._told[trial_id] = set()
        return self.space.normalize(trial.params)

    def _tell(self, level: int, number: int, value: float | None, state: optuna.trial.TrialState) -> None:
        with _quiet():
            self._studies[level].tell(number, value, state=state)

    def _record(self, tid: str, level: int, value: float) -> None:
        from optuna.trial import TrialState, create_trial

        state = TrialState.COMPLETE if not math.isnan(value) else TrialState.FAIL
        asked = self._asked.get(tid)
        if asked is not None and asked[0] == level:
            self._tell(level, asked[1], value if state == TrialState.COMPLETE else None, state)
            del self._asked[tid]
        else:
            frozen = create_trial(
                state=state,
                value=value if state == TrialState.COMPLETE else None,
                params=self._params[tid],
                distributions=self._distributions,
                user_attrs={_TRIAL_ATTR: tid},
            )
            with _quiet():
                self._studies[level].add_trial(frozen)
        self._told[tid].add(level)
        self._n_complete[level] += state == TrialState.COMPLETE

    def _on_result(self, trial_id: str, resource: int, value: float) -> None:
        if self.rungs is None:
            asked = self._asked.get(trial_id)
            if asked is not None:  # intermediate values: learning curves in optuna-dashboard, and the state
                study_id = self._study_ids[asked[0]]
                internal = self._storage.get_trial_id_from_study_id_trial_number(study_id, asked[1])
                if math.isfinite(value):
                    self._storage.set_trial_intermediate_value(internal, resource, value)
            self._last[trial_id] = value
            return
        if resource not in self.rungs:
            return
        level = self.rungs.index(resource)
        if level in self._told[trial_id]:
            return  # a resumed trial re-reports a rung: the first value stands
        self._record(trial_id, level, value)

    def _on_complete(self, trial_id: str, error: bool) -> None:
        from optuna.trial import TrialState

        asked = self._asked.pop(trial_id, None)
        if asked is not None:
            if (
                self.rungs is None
                and not error
                and trial_id in self._last
                and not math.isnan(self._last[trial_id])
            ):
                self._tell(asked[0], asked[1], self._last[trial_id], TrialState.COMPLETE)
                self._n_complete[asked[0]] += 1
                self._told[trial_id].add(asked[0])
            else:
                self._tell(
                    asked[0],
                    asked[1],
                    None,
                    TrialState.FAIL if error or self.rungs is None else TrialState.PRUNED,
                )
        self._storage.set_study_system_attr(self._study_ids[0], _DONE_PREFIX + trial_id, True)

    # state --------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where the state is: the SQLite file and study name (the trials live there), and the arguments."""
        if self.storage_path is None:
            raise ValueError("state_dict needs `storage_path`: the SQLite study is the state, but got None")
        return {
            "config": self._config(),
            "storage_path": str(self.storage_path.resolve()),
            "study_name": self.study_name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Re-read the studies of ``state`` (the same file and study name as this searcher's)."""
        check_state_config(self._config(), state, "searcher")
        if (
            self.storage_path is None
            or state.get("storage_path") != str(self.storage_path.resolve())
            or state.get("study_name") != self.study_name
        ):
            raise ValueError(
                f"state_dict is of study {state.get('study_name')!r} in {state.get('storage_path')!r}, "
                f"but this searcher holds {self.study_name!r} in {self.storage_path}"
            )
        self._sync()


# ------------------------------------------------------------------------------------------------------------
# One GP over configuration and fidelity.


class MultiFidelityGPSearcher(Searcher):
    """Multi-fidelity Bayesian optimization: one GP over configuration and resource (:mod:`raynn.hpo.mfgp`).

    Every value a trial reports at a rung (every resource when ``rungs`` is None) is an observation, stopped
    trials included; a non-finite value (diverged) or a trial that errored before reporting counts as the worst
    seen. Proposals are for the largest rung, with a share of random ones, a Sobol start, ordered choices kept
    ordered and running trials accounted for (see :class:`~raynn.hpo.mfgp.MFGPCore`). The same core is the
    Optuna sampler :class:`raynn.hpo.optuna_mfgp.MultiFidelityGPSampler`.

    The state is plain JSON (:meth:`state_dict`): the trials, their values and the last kernel fit; a searcher
    built alike and loaded with it proposes what the original would have next.

    Args:
        space: The search space.
        seed: Seed of the proposals.
        mode: ``"min"`` or ``"max"``, the direction of the reported metric.
        rungs: Rung resources (increasing integers >= 1) of the halving scheduler; the values there are
            modelled and proposals are for ``rungs[-1]``. None: every reported resource, proposals for the
            largest seen (a FIFO scheduler).
        random_fraction: Share of proposals drawn uniformly at random after the start.
        n_startup: Sobol proposals before the model; None: ``max(5, d + 1)`` for ``d`` searched keys.
        storage_path: Accepted for the common interface of the model-based searchers (``raynn tune`` passes
            it); unused, the state travels in :meth:`state_dict`.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        mode: str = "min",
        rungs: list[int] | None = None,
        random_fraction: float = 0.2,
        n_startup: int | None = None,
        storage_path: str | os.PathLike[str] | None = None,
    ) -> None:
        from raynn.hpo.mfgp import MFGPCore

        super().__init__(space)
        self.seed = check_int("seed", seed, 0, SEED_MAX)
        self.mode = Mode.parse(mode)
        self.rungs = OptunaSearcher._check_rungs(rungs)
        self.storage_path = storage_path
        self.core = MFGPCore(
            self.space.to_optuna(),
            max_resource=1 if self.rungs is None else self.rungs[-1],
            seed=self.seed,
            n_startup=n_startup,
            random_fraction=random_fraction,
        )
        self.random_fraction = self.core.random_fraction
        self.n_startup = self.core.n_startup
        self._values: dict[str, dict[int, float]] = {}  # trial id -> resource -> value (as reported)
        self._failed: set[str] = set()

    def _observations(self) -> list[Any]:
        from raynn.hpo.mfgp import Observation

        sign = 1.0 if self.mode is Mode.MIN else -1.0
        out = []
        for tid, values in self._values.items():
            for resource, value in values.items():
                out.append(Observation(self._params[tid], resource, sign * value))
        for tid in self._failed:
            if not self._values.get(tid):
                out.append(Observation(self._params[tid], 0, None))
        return out

    def _suggest(self, trial_id: str) -> dict[str, Any]:
        if self.rungs is None:  # FIFO: the top is the largest resource any trial reached
            seen = [r for values in self._values.values() for r in values]
            self.core.max_resource = max(seen, default=1)
        pending = [self._params[t] for t in self._params if t not in self._done]
        params = self.core.propose(len(self._params), self._observations(), pending)
        return self.space.normalize(params)

    def _on_result(self, trial_id: str, resource: int, value: float) -> None:
        if self.rungs is not None and resource not in self.rungs:
            return
        # A resumed trial may report a rung again: the first value stands.
        self._values.setdefault(trial_id, {}).setdefault(resource, value)

    def _on_complete(self, trial_id: str, error: bool) -> None:
        if error:
            self._failed.add(trial_id)

    def _config(self) -> dict[str, Any]:
        return {
            "searcher": "optuna-mfgp",
            "space": self.space.to_dict(),
            "seed": self.seed,
            "mode": self.mode.value,
            "rungs": self.rungs,
            "random_fraction": self.random_fraction,
            "n_startup": self.n_startup,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self._config(),
            "values": {tid: [[r, v] for r, v in values.items()] for tid, values in self._values.items()},
            "failed": sorted(self._failed),
            "model": self.core.state_dict(),
            "max_resource": self.core.max_resource,
            **self._trials_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_config(self._config(), state, "searcher")
        self._load_trials(state)
        self._values = {tid: {int(r): float(v) for r, v in rows} for tid, rows in state["values"].items()}
        self._failed = set(state["failed"])
        self.core.load_state_dict(state["model"])
        self.core.max_resource = int(state["max_resource"])


# ------------------------------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class SearcherInfo:
    """One searcher name: the class and the arguments the name fixes."""

    cls: type[Searcher]
    fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def options(self) -> list[str]:
        """The keyword arguments :func:`build_searcher` accepts for this name."""
        hidden = {"self", "space", *self.fixed}
        return [
            p.name
            for p in inspect.signature(self.cls.__init__).parameters.values()
            if p.name not in hidden and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]

    def __call__(self, space: SearchSpace, **options: Any) -> Searcher:
        return self.cls(space, **self.fixed, **options)


SEARCHERS: Registry[SearcherInfo] = Registry("searcher", options=SearcherInfo.options)
SEARCHERS.add("grid", SearcherInfo(GridSearcher), "every combination of the grid values once (seed 4.7.1)")
SEARCHERS.add(
    "random", SearcherInfo(RandomSearcher), "independent draws, log-uniform for log keys (seed 4.7.2)"
)
SEARCHERS.add(
    "optuna-gp",
    SearcherInfo(OptunaSearcher, MappingProxyType({"sampler": "gp"})),
    "Bayesian optimization with a Gaussian process, one study per rung (Algorithm 7.1, BOHB)",
)
SEARCHERS.add(
    "optuna-tpe",
    SearcherInfo(OptunaSearcher, MappingProxyType({"sampler": "tpe"})),
    "tree-structured Parzen estimator (Bergstra et al., 2011), one study per rung",
)


SEARCHERS.add(
    "optuna-mfgp",
    SearcherInfo(MultiFidelityGPSearcher),
    "one GP over configuration and fidelity, every rung's values (MOBSTER-like); also an Optuna sampler",
)


def build_searcher(name: str, space: SearchSpace, **options: Any) -> Searcher:
    """The searcher registered as ``name`` over ``space``; unknown names or options are ``ValueError``."""
    SEARCHERS.check(name, options)
    return SEARCHERS.get(name)(space, **options)
