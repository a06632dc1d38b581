"""The options of ``raynn tune``: one frozen, checked dataclass that the CLI and ``raynn.tune(...)`` both build.

Every value is checked when the object is made (:class:`~raynn.errors.ConfigError` naming the flag, the rule and
the value), before anything reads a file or starts Ray; :func:`raynn.tune.run.run_tune` takes the object.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from raynn.config import INT_MAX, SEED_MAX, is_finite_number, is_int
from raynn.errors import ConfigError
from raynn.hpo.searchers import SEARCHERS
from raynn.hpo.spaces import SearchSpace
from raynn.paths import check_name, check_storage

__all__ = ["CHECKPOINT_EVERY", "SETTINGS", "TuneOptions"]

CHECKPOINT_EVERY = 10
"""Default of ``checkpoint_every``. A pause needs a checkpoint only at a rung; between rungs a checkpoint only
limits what a crash costs. Rungs grow geometrically (1, 3, 9, 27, 81 with eta = 3), so without one a crash late
in a long trial could cost most of its epochs; every 10 epochs bounds that to 9 epochs, for at most one
checkpoint write per 10 epochs (a write costs far less than an epoch for the models raynn trains)."""

SETTINGS = ("scheduler", "searcher", "budget", "num_samples", "workers_per_trial", "gpus_per_worker",
            "max_concurrent", "metric", "mode", "eta", "seed", "checkpoint_every")
"""The options an experiment keeps (saved in its ``raynn_tune.json``): ``--resume`` continues with them."""

_INTS = (("budget", 1), ("num_samples", 1), ("workers_per_trial", 1), ("max_concurrent", 1), ("eta", 2),
         ("checkpoint_every", 0))


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


@dataclass(frozen=True)
class TuneOptions:
    """What ``raynn tune`` was asked to do; see ``raynn tune --help`` for each option.

    ``budget`` is successive halving's B (epochs); for the other schedulers it caps the resource the
    experiment may spend by choosing how many configurations to try. ``num_samples`` is the number of
    configurations (for ``sh`` the N of Algorithm 7.2). ``resume`` continues ``storage/name`` with the
    settings it was started with (:data:`SETTINGS`; ``space`` may then be None).
    """

    space: str | os.PathLike[str] | SearchSpace | None = None
    scheduler: str = "hyperband"
    searcher: str = "optuna-mfgp"
    budget: int | None = None
    num_samples: int | None = None
    workers_per_trial: int = 1
    gpus_per_worker: float = 0
    max_concurrent: int | None = None
    resume: bool = False
    address: str | None = None
    name: str | None = None
    storage: str | os.PathLike[str] = "experiments"
    metric: str = "val_loss"
    mode: str = "min"
    eta: int = 3
    seed: int = 0
    checkpoint_every: int = CHECKPOINT_EVERY
    verbose: bool = True
    ray_logs: bool = False
    pending_timeout: float = 600.0
    working_dir: str | os.PathLike[str] | None = None
    py_modules: tuple[str | os.PathLike[str], ...] = ()

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name("--name", self.name)
        check_storage("--storage", self.storage)
        if self.space is None and not self.resume:
            raise ConfigError("SPACE", "a search-space YAML file is needed unless resuming", self.space)
        self._check_settings()
        if not is_finite_number(self.pending_timeout) or not self.pending_timeout > 0:
            raise ConfigError("--pending-timeout", "must be a finite number > 0 (seconds)", self.pending_timeout)

    def _check_settings(self) -> None:
        from raynn.hpo import SCHEDULERS

        if self.scheduler not in SCHEDULERS:
            raise ConfigError("--scheduler", f"must be one of {', '.join(SCHEDULERS.names())}", self.scheduler)
        object.__setattr__(self, "scheduler", SCHEDULERS.canonical(self.scheduler))  # successive_halving: sh
        if self.searcher not in SEARCHERS:
            raise ConfigError("--searcher", f"must be one of {', '.join(SEARCHERS.names())}", self.searcher)
        if self.mode not in ("min", "max"):
            raise ConfigError("--mode", "must be min or max", self.mode)
        for key, low in _INTS:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ConfigError(_flag(key), f"must be an integer >= {low}", value)
            if value is not None and value > INT_MAX:
                raise ConfigError(_flag(key), f"must be <= {INT_MAX}", value)
        if not is_finite_number(self.gpus_per_worker) or self.gpus_per_worker < 0:
            raise ConfigError("--gpus-per-worker", "must be a finite number >= 0", self.gpus_per_worker)
        if not is_int(self.seed) or not 0 <= self.seed <= SEED_MAX:
            raise ConfigError("--seed", f"must be an integer in [0, {SEED_MAX}]", self.seed)
        if not isinstance(self.metric, str) or not self.metric:
            raise ConfigError("--metric", "must be the name of a metric the trials report (val_loss, ...)",
                              self.metric)
        if self.scheduler == "sh" and self.budget is None:
            raise ConfigError("--budget", "must be given for successive halving (the B of Algorithm 7.2)",
                              self.budget)

    def with_saved(self, saved: dict[str, Any]) -> TuneOptions:
        """These options continuing an experiment: its saved :data:`SETTINGS` and space replace the given ones,
        and its code is shipped again (from where ``--working-dir`` / ``--py-module`` say, when given: a new
        head node may keep it elsewhere)."""
        settings = {key: saved[key] for key in SETTINGS if key != "checkpoint_every"}
        settings["checkpoint_every"] = saved.get("checkpoint_every", CHECKPOINT_EVERY)
        code = saved.get("code") or {}
        if self.working_dir is None and not self.py_modules:
            settings["working_dir"] = code.get("working_dir")
            settings["py_modules"] = tuple(code.get("py_modules") or ())
        return dataclasses.replace(self, space=SearchSpace.from_dict(saved["space"]), **settings)

    def code(self, space: SearchSpace) -> dict[str, Any]:
        """The checked ``code`` section: the space's ``base.code`` with ``--working-dir`` / ``--py-module``."""
        from raynn.code import check_code, code_flags
        from raynn.config import merge_code

        flags = code_flags(None if self.working_dir is None else str(self.working_dir),
                           [str(p) for p in self.py_modules])
        section = merge_code(space.base.get("code"), flags)
        return check_code(section if section is not None else {})

    def settings(self, space: SearchSpace, num_samples: int, max_concurrent: int) -> dict[str, Any]:
        """What the experiment saves for ``--resume``: :data:`SETTINGS` as run, and the space."""
        values = {key: getattr(self, key) for key in SETTINGS}
        return {"space": space.to_dict(), **values, "num_samples": num_samples, "max_concurrent": max_concurrent}
