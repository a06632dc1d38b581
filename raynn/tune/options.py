"""The options of ``raynn tune``: one frozen Pydantic model that the CLI and ``raynn.tune(...)`` both build.

Every value is checked when the object is made (:class:`~raynn.errors.ConfigError` naming the flag, the rule and
the value), before anything reads a file or starts Ray; :func:`raynn.tune.run.run_tune` takes the object.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from raynn.errors import ConfigError
from raynn.hpo.registry import SCHEDULERS
from raynn.hpo.searchers import SEARCHERS
from raynn.hpo.spaces import SearchSpace
from raynn.paths import check_name, check_storage
from raynn.validation import config_error, unknown_key
from raynn.values import INT_MAX, SEED_MAX, check_int, is_finite_number

__all__ = ["CHECKPOINT_EVERY", "SETTINGS", "TuneOptions"]

CHECKPOINT_EVERY = 10
"""Default of ``checkpoint_every``. A pause needs a checkpoint only at a rung; between rungs a checkpoint only
limits what a crash costs. Rungs grow geometrically (1, 3, 9, 27, 81 with eta = 3), so without one a crash late
in a long trial could cost most of its epochs; every 10 epochs bounds that to 9 epochs, for at most one
checkpoint write per 10 epochs (a write costs far less than an epoch for the models raynn trains)."""

SETTINGS = ("scheduler", "searcher", "budget", "num_samples", "workers_per_trial", "gpus_per_worker",
            "max_concurrent", "metric", "mode", "eta", "seed", "checkpoint_every")
"""The options an experiment keeps (saved in its ``raynn_tune.json``): ``--resume`` continues with them."""

_INTS = {"budget": 1, "num_samples": 1, "workers_per_trial": 1, "max_concurrent": 1, "eta": 2, "checkpoint_every": 0}


def _flag(key: str) -> str:
    return "SPACE" if key == "space" else "--" + key.replace("_", "-")


def _key(loc: list[str]) -> str:
    """The flag an option's error is named by (``--max-concurrent``; ``raynn tune`` for the whole call)."""
    return _flag(loc[0]) if loc else "raynn tune"


class TuneOptions(BaseModel):
    """What ``raynn tune`` was asked to do; see ``raynn tune --help`` for each option.

    ``budget`` is successive halving's B (epochs); for the other schedulers it caps the resource the
    experiment may spend by choosing how many configurations to try. ``num_samples`` is the number of
    configurations (for ``sh`` the N of Algorithm 7.2). ``resume`` continues ``storage/name`` with the
    settings it was started with (:data:`SETTINGS`; ``space`` may then be None). ``space`` is a YAML file or a
    :class:`~raynn.hpo.SearchSpace`, checked when it is loaded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    space: Any = None
    scheduler: str = "hyperband"
    searcher: str = "optuna-mfgp"
    budget: int | None = None
    num_samples: int | None = None
    workers_per_trial: int = 1
    gpus_per_worker: int | float = 0
    max_concurrent: int | None = None
    resume: bool = False
    address: str | None = None
    name: str | None = None
    storage: Any = "experiments"
    metric: str = "val_loss"
    mode: str = "min"
    eta: int = 3
    seed: int = 0
    checkpoint_every: int = CHECKPOINT_EVERY
    verbose: bool = True
    ray_logs: bool = False
    pending_timeout: int | float = 600.0
    working_dir: Any = None
    py_modules: tuple[Any, ...] = ()

    def __init__(self, space: str | os.PathLike[str] | SearchSpace | None = None, /, **options: Any) -> None:
        options.setdefault("space", space)
        try:
            super().__init__(**options)
        except ValidationError as exc:
            raise config_error(exc, key=_key, unknown=unknown_key(map(_flag, type(self).model_fields), "option",
                                                                  "raynn tune")) from None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return value if value is None else check_name("--name", value)

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        check_storage("--storage", value)
        return value

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler(cls, value: Any) -> str:
        if value not in SCHEDULERS:
            raise ConfigError("--scheduler", f"must be one of {', '.join(SCHEDULERS.names())}", value)
        return SCHEDULERS.canonical(value)  # successive_halving: sh

    @field_validator("searcher", mode="before")
    @classmethod
    def _searcher(cls, value: Any) -> Any:
        if value not in SEARCHERS:
            raise ConfigError("--searcher", f"must be one of {', '.join(SEARCHERS.names())}", value)
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value not in ("min", "max"):
            raise ConfigError("--mode", "must be min or max", value)
        return value

    @field_validator(*_INTS, mode="before")
    @classmethod
    def _int(cls, value: Any, info: Any) -> Any:
        flag, low = _flag(info.field_name), _INTS[info.field_name]
        check_int(flag, value, low, optional=True, rule=f"must be an integer >= {low}", error=ConfigError)
        return check_int(flag, value, high=INT_MAX, optional=True, rule=f"must be <= {INT_MAX}", error=ConfigError)

    @field_validator("gpus_per_worker", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> Any:
        if not is_finite_number(value) or value < 0:
            raise ConfigError("--gpus-per-worker", "must be a finite number >= 0", value)
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        return check_int("--seed", value, 0, SEED_MAX, error=ConfigError)

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ConfigError("--metric", "must be the name of a metric the trials report (val_loss, ...)", value)
        return value

    @field_validator("pending_timeout", mode="before")
    @classmethod
    def _pending_timeout(cls, value: Any) -> Any:
        if not is_finite_number(value) or not value > 0:
            raise ConfigError("--pending-timeout", "must be a finite number > 0 (seconds)", value)
        return value

    @model_validator(mode="after")
    def _whole(self) -> TuneOptions:
        if self.space is None and not self.resume:
            raise ConfigError("SPACE", "a search-space YAML file is needed unless resuming", self.space)
        # the options the scheduler cannot do without (successive halving's B)
        for key, field in SCHEDULERS.get(self.scheduler).options.model_fields.items():
            if field.is_required() and key in type(self).model_fields and getattr(self, key) is None:
                raise ConfigError(_flag(key), f"must be given for {field.description or self.scheduler}", None)
        return self

    def replace(self, **changes: Any) -> TuneOptions:
        """These options with ``changes``, checked again."""
        return type(self)(**{**{key: getattr(self, key) for key in type(self).model_fields}, **changes})

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
        return self.replace(space=SearchSpace.from_dict(saved["space"]), **settings)

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
