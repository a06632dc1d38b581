"""Search spaces for grid search, random search and Bayesian optimization (seed §4.7.1, §4.7.2, §4.7.4).

A search space is a YAML file: fixed overrides for every trial (``base``, a partial raynn run config) and the
searched keys (``space``, dotted config keys mapped to typed distributions)::

    base:
      data: {name: digits}
      train: {epochs: 9}
    space:
      optimizer.lr: {type: float, low: 0.001, high: 0.5, log: true, grid_points: 3}
      model.dropout: {type: float, low: 0.0, high: 0.5, grid: [0.0, 0.2]}
      train.batch_size: {type: int, low: 16, high: 256, log: true}
      model.params.hidden: {type: categorical, choices: [[64], [128], [128, 64]]}
      optimizer.name: {type: grid, values: [momentum, nesterov]}

Types (the :data:`DISTRIBUTIONS` registry):

* ``float`` / ``int``: ``low``, ``high`` (``low < high``), optional ``log`` (log-uniform, ``low > 0``),
  ``step``, and for grid search either ``grid: [values]`` or ``grid_points: n`` (evenly spaced, or spaced
  evenly in ``log`` when ``log`` is set).
* ``categorical``: ``choices``, any YAML values (lists and mappings too).
* ``grid``: ``values``; sampled like a categorical, enumerated by grid search (``tune.grid_search`` in Ray).

Grid search tries the ``m_1 x ... x m_K`` combinations of the K keys' values (§4.7.1); random search draws
each key independently (§4.7.2); Optuna's samplers see :meth:`SearchSpace.to_optuna` (§4.7.4).

*Parameters* (what searchers suggest, what :meth:`SearchSpace.apply` takes) map each dotted key to a JSON
primitive: numbers as they are, and for a categorical whose choices are not all primitives (hidden sizes
``[128, 64]``), the choice's JSON text ``"[128, 64]"``, because Optuna's ``CategoricalDistribution`` only
holds primitives. :meth:`SearchSpace.apply` decodes them into the nested raw config.

A relative input path in ``base`` (``data.root``, a teacher or pre-trained file) is made absolute at load:
against the YAML file's directory for :func:`load_space`, against the current directory for
:meth:`SearchSpace.from_dict`, so every trial reads the same files wherever it runs. Every key is checked at load: a bad distribution is a
:class:`~raynn.errors.ConfigError` naming ``space.<key>.<field>``, and configs built from the space (each key
at its low end / first choice, then every key at each end and each choice in turn) must pass the run config's
check that the caller passes in (``raynn tune`` passes :func:`raynn.config.check_config`), so a key that is not
a config key, or a value no run accepts, is reported before any trial starts.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

import numpy as np

from pydantic import BeforeValidator, Field, ValidationError, WrapValidator, model_validator

from raynn.errors import ConfigError, argument_error
from raynn.paths import resolve_input_paths
from raynn.registry import Registry
from raynn.validation import Flag, Rule, Section, config_error, integer, number
from raynn.values import check_flag, is_integral, is_real, set_dotted
from raynn.yamlio import load_yaml_file

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = [
    "DISTRIBUTIONS",
    "Categorical",
    "Dimension",
    "FloatRange",
    "Grid",
    "IntRange",
    "SearchSpace",
    "SpaceFile",
    "load_space",
]

_PRIMITIVES = (type(None), bool, int, float, str)
# Grid points are rounded to 12 significant digits so that geomspace(1e-3, 1e-1, 3)[1] reads 0.01.
_GRID_DIGITS = 12


def _round(x: float) -> float:
    return float(f"{x:.{_GRID_DIGITS}g}")


# ------------------------------------------------------------------------------------------------------------
# Dimensions: one searched key each.


class Dimension(ABC):
    """One searched key: how Optuna sees it, how it is drawn at random, its grid values, its encoding."""

    type_name: str

    @abstractmethod
    def to_optuna(self) -> BaseDistribution:
        """The Optuna distribution over the key's (encoded) parameter values."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One parameter value drawn with ``rng``."""

    @abstractmethod
    def grid_values(self, key: str) -> list[Any]:
        """The parameter values grid search tries; ``ValueError`` naming ``key`` if there are none."""

    @abstractmethod
    def corners(self) -> list[Any]:
        """Parameter values checked against the run config at load: the ends, or every choice."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The YAML form, ``{"type": ..., ...}``; :meth:`SearchSpace.from_dict` reads it back."""

    @abstractmethod
    def normalize(self, key: str, value: Any) -> Any:
        """A parameter value as a JSON primitive (numpy scalars unwrapped); ``ValueError`` if out of range."""

    def decode(self, value: Any) -> Any:
        """The config value of a (normalized) parameter value."""
        return value


class _Range(Dimension):
    """What a float and an int key share: bounds ``[low, high]``, ``log``, ``step`` and the grid options.

    A subclass is a frozen dataclass with the fields ``low, high, log, step, grid, grid_points``; it sets
    ``no_step`` (the ``step`` that means "every value") and snaps evenly spaced points onto its values
    in :meth:`_grid_from`.
    """

    low: Any
    high: Any
    log: bool
    step: Any
    grid: tuple[Any, ...] | None
    grid_points: int | None
    no_step: Any = None

    @abstractmethod
    def _grid_from(self, points: np.ndarray) -> list[Any]:
        """Evenly spaced points from ``low`` to ``high`` snapped onto the key's values, duplicates dropped."""

    def grid_values(self, key: str) -> list[Any]:
        if self.grid is not None:
            return list(self.grid)
        if self.grid_points is None:
            raise ValueError(
                f"grid search needs `grid: [...]` or `grid_points: n` for every float/int key, but "
                f"{key!r} has neither ({self.to_dict()})"
            )
        space = np.geomspace if self.log else np.linspace
        return self._grid_from(space(self.low, self.high, self.grid_points))

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step != self.no_step:
            out["step"] = self.step
        if self.grid is not None:
            out["grid"] = list(self.grid)
        if self.grid_points is not None:
            out["grid_points"] = self.grid_points
        return out


@dataclass(frozen=True)
class FloatRange(_Range):
    """A real-valued key on ``[low, high]``; log-uniform (``log``) draws ``exp(U(log low, log high))``.

    Args:
        low: The lower bound, ``low < high`` (``low > 0`` with ``log``).
        high: The upper bound.
        log: Search in ``log`` space (learning rates, weight decay).
        step: Only multiples ``low + k step`` (not with ``log``); ``high - low`` must be a multiple.
        grid: The values grid search tries.
        grid_points: Or their number, evenly spaced from ``low`` to ``high`` (geometrically with ``log``).
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None
    grid: tuple[float, ...] | None = None
    grid_points: int | None = None
    type_name = "float"

    def __post_init__(self) -> None:
        # The YAML parser checks first, naming space.<key>.<field>; these guard direct construction.
        for name in ("low", "high"):
            if not is_real(getattr(self, name), finite=True):
                raise argument_error(name, "must be a finite number", getattr(self, name))
        _check_range(self.low, self.high, self.log, log_ok=self.low > 0, log_rule="> 0")
        if self.step is not None and (self.log or not is_real(self.step, finite=True) or self.step <= 0):
            raise argument_error("step", "must be None or a number > 0 (and None with log)", self.step)
        _check_grid(self, lambda v: is_real(v, finite=True) and self.low <= v <= self.high)

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def sample(self, rng: np.random.Generator) -> float:
        if self.step is not None:
            n_steps = round((self.high - self.low) / self.step)
            return _round(self.low + self.step * int(rng.integers(0, n_steps + 1)))
        if self.log:
            return float(
                min(self.high, max(self.low, math.exp(rng.uniform(math.log(self.low), math.log(self.high)))))
            )
        return float(rng.uniform(self.low, self.high))

    def _grid_from(self, points: np.ndarray) -> list[float]:
        values = [_round(float(x)) for x in points]
        if self.step is not None:
            values = [_round(self.low + self.step * round((x - self.low) / self.step)) for x in values]
        return list(dict.fromkeys(values))

    def normalize(self, key: str, value: Any) -> float:
        if not is_real(value, finite=True) or not self.low <= float(value) <= self.high:
            raise ValueError(f"`{key}` must be a number in [{self.low}, {self.high}], but got {value!r}")
        return float(value)


@dataclass(frozen=True)
class IntRange(_Range):
    """An integer key on ``[low, high]``; ``log`` draws ``round(exp(U(log(low - 1/2), log(high + 1/2))))``.

    Args:
        low: The lower bound, an integer, ``low < high`` (``low >= 1`` with ``log``).
        high: The upper bound, an integer.
        log: Search in ``log`` space (batch sizes, widths).
        step: Only ``low + k step`` (``step == 1`` with ``log``); ``high - low`` must be a multiple.
        grid: The values grid search tries.
        grid_points: Or their number, evenly spaced (geometrically with ``log``), rounded, duplicates dropped.
    """

    low: int
    high: int
    log: bool = False
    step: int = 1
    grid: tuple[int, ...] | None = None
    grid_points: int | None = None
    type_name = "int"
    no_step = 1

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            if not is_integral(getattr(self, name)):
                raise argument_error(name, "must be an integer", getattr(self, name))
        _check_range(self.low, self.high, self.log, log_ok=self.low >= 1, log_rule=">= 1")
        if self.step < 1 or (self.log and self.step != 1) or (self.high - self.low) % self.step:
            raise argument_error("step", "must be >= 1, divide high - low, and be 1 with log", self.step)
        _check_grid(self, lambda v: is_integral(v) and self.low <= v <= self.high and not (v - self.low) % self.step)

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return int(min(self.high, max(self.low, round(x))))
        return self.low + self.step * int(rng.integers(0, (self.high - self.low) // self.step + 1))

    def _grid_from(self, points: np.ndarray) -> list[int]:
        snapped = (self.low + self.step * round((float(x) - self.low) / self.step) for x in points)
        return list(dict.fromkeys(int(p) for p in snapped))

    def normalize(self, key: str, value: Any) -> int:
        if is_real(value) and float(value).is_integer():
            value = int(value)
        if not is_integral(value) or not self.low <= value <= self.high or (value - self.low) % self.step:
            raise ValueError(
                f"`{key}` must be an integer low + k step in [{self.low}, {self.high}] (step {self.step}), "
                f"but got {value!r}"
            )
        return int(value)


@dataclass(frozen=True)
class Categorical(Dimension):
    """A key drawn uniformly from ``choices``, any YAML values.

    When a choice is not a JSON primitive (a list of hidden sizes, a schedule mapping), every choice is
    encoded as its JSON text for Optuna (``[128, 64]`` -> ``"[128, 64]"``) and :meth:`decode` turns it back.
    """

    choices: tuple[Any, ...]
    type_name = "categorical"

    def __post_init__(self) -> None:
        if not isinstance(self.choices, (tuple, list)) or not self.choices:
            raise argument_error("choices", "must be a non-empty tuple of YAML values", self.choices)
        texts = []
        for choice in self.choices:
            try:
                texts.append(json.dumps(choice, sort_keys=True, allow_nan=False))
            except (TypeError, ValueError):
                raise argument_error("choices", "must hold plain YAML values (no NaN)", choice) from None
        if len(set(texts)) < len(texts):
            raise argument_error("choices", "must not repeat a value", self.choices)
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def encoded(self) -> bool:
        return not all(isinstance(c, _PRIMITIVES) for c in self.choices)

    @property
    def options(self) -> list[Any]:
        """The parameter values: the choices, or their JSON texts when :attr:`encoded`."""
        return [json.dumps(c) for c in self.choices] if self.encoded else list(self.choices)

    def to_optuna(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.options)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(0, len(self.choices)))]

    def grid_values(self, key: str) -> list[Any]:
        return self.options

    def corners(self) -> list[Any]:
        return self.options

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": copy.deepcopy(list(self.choices))}

    def _index(self, value: Any) -> int | None:
        options = self.options
        for i, option in enumerate(options):
            if type(option) is type(value) and option == value:
                return i
        # Lenient: a decoded choice ([128, 64]) or a numpy scalar is accepted as well.
        if isinstance(value, np.generic):
            value = value.item()
        for i, choice in enumerate(self.choices):
            if json.dumps(choice) == json.dumps(value, default=str):
                return i
        return None

    def normalize(self, key: str, value: Any) -> Any:
        i = self._index(value)
        if i is None:
            raise ValueError(f"`{key}` must be one of {self.options}, but got {value!r}")
        return self.options[i]

    def decode(self, value: Any) -> Any:
        i = self._index(value)
        if i is None:
            raise ValueError(f"must be one of {self.options}, but got {value!r}")
        return copy.deepcopy(self.choices[i])


@dataclass(frozen=True)
class Grid(Categorical):
    """Like :class:`Categorical`, and the values to enumerate in grid search (Ray's ``tune.grid_search``)."""

    type_name = "grid"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "grid", "values": copy.deepcopy(list(self.choices))}


def _check_range(low: Any, high: Any, log: Any, log_ok: bool, log_rule: str) -> None:
    if not low < high:
        raise argument_error("low", "must be < high", low)
    check_flag("log", log)
    if log and not log_ok:
        raise argument_error("low", f"must be {log_rule} when log is True", low)


def _check_grid(dim: Any, ok: Callable[[Any], bool]) -> None:
    if dim.grid is not None and dim.grid_points is not None:
        raise argument_error("grid_points", "must be None when grid is given", dim.grid_points)
    if dim.grid_points is not None and (not is_integral(dim.grid_points) or dim.grid_points < 2):
        raise argument_error("grid_points", "must be None or an integer >= 2", dim.grid_points)
    if dim.grid is not None:
        if not isinstance(dim.grid, (tuple, list)) or not dim.grid or not all(ok(v) for v in dim.grid):
            raise argument_error("grid", "must be a non-empty tuple of values in [low, high] (on the step)",
                                 dim.grid)
        object.__setattr__(dim, "grid", tuple(dim.grid))


# ------------------------------------------------------------------------------------------------------------
# One key's distribution as written in a file: a Pydantic model per type (the JSON Schema's), each problem a
# ConfigError naming space.<key>.<field>.


def _values(v: Any) -> Any:
    """A non-empty list of plain YAML values (no NaN), none repeated."""
    if not isinstance(v, list) or not v:
        raise Rule("must be a non-empty list")
    seen: set[str] = set()
    for item in v:
        try:
            text = json.dumps(item, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            raise Rule("must hold plain YAML values (no NaN)", value=item) from None
        if text in seen:
            raise Rule("must not repeat a value", value=item)
        seen.add(text)
    return copy.deepcopy(v)


_Values = Annotated[list[Any], BeforeValidator(_values), Field(min_length=1)]


class _Spec(Section):
    """What every distribution mapping shares: its ``type`` and the wording of an unknown field."""

    @classmethod
    def _unknown_rule(cls, raw: dict[str, Any]) -> str:
        fields = ["type", *(k for k in cls.keys() if k != "type")]
        return f"is not a known field of type {raw.get('type')!r}; valid fields: {', '.join(fields)}"

    def dimension(self) -> Dimension:
        raise NotImplementedError


_LOG = Field(False, description="Search in log space (low > 0; low >= 1 for int).")
_GRID_POINTS = Field(None, description="Grid search: this many evenly spaced values (geometrically with log).")


class _RangeSpec(_Spec):
    """What the float and int mappings share: the checks of bounds and grid."""

    def _check_bounds(self, integer_: bool) -> None:
        if not self.low < self.high:
            raise Rule(f"`low < high` must hold (high = {self.high!r})", key="low", value=self.low)
        if self.log and not (self.low >= 1 if integer_ else self.low > 0):
            raise Rule(f"must be {'>= 1' if integer_ else '> 0'} when log is true", key="low", value=self.low)

    def _check_grid(self, ok: Callable[[Any], str | None]) -> None:
        if self.grid is not None and self.grid_points is not None:
            raise Rule("must not be set together with grid", key="grid_points", value=self.grid_points)
        for v in self.grid or []:
            rule = ok(v)
            if rule:
                raise Rule(rule, key="grid", value=v)


class FloatSpec(_RangeSpec):
    """``{type: float, low, high}``: a real-valued key on [low, high]."""

    type: Literal["float"]
    low: number() = Field(..., description="The lower bound.")
    high: number() = Field(..., description="The upper bound, > low.")
    log: Flag = _LOG
    step: number("must be a number > 0", lambda v: v > 0, optional=True, gt=0) = Field(
        None, description="Only low + k step (not with log); must divide high - low.")
    grid: Optional[_Values] = Field(None, description="Grid search: the values tried.")
    grid_points: integer(2, optional=True) = _GRID_POINTS

    @model_validator(mode="after")
    def _check(self) -> FloatSpec:
        self._check_bounds(integer_=False)
        if self.step is not None:
            if self.log:
                raise Rule("must not be set when log is true", key="step", value=self.step)
            n = (self.high - self.low) / self.step
            if abs(n - round(n)) > 1e-8 * max(1.0, abs(n)):
                raise Rule(f"must divide high - low = {self.high - self.low!r}", key="step", value=self.step)
        rule = f"must hold numbers in [low, high] = [{self.low}, {self.high}]"
        self._check_grid(lambda v: None if is_real(v, finite=True) and self.low <= v <= self.high else rule)
        return self

    def dimension(self) -> FloatRange:
        grid = None if self.grid is None else tuple(float(v) for v in self.grid)
        step = None if self.step is None else float(self.step)
        return FloatRange(float(self.low), float(self.high), self.log, step, grid, self.grid_points)


class IntSpec(_RangeSpec):
    """``{type: int, low, high}``: an integer key on [low, high]."""

    type: Literal["int"]
    low: integer() = Field(..., description="The lower bound.")
    high: integer() = Field(..., description="The upper bound, > low.")
    log: Flag = _LOG
    step: integer(1) = Field(1, description="Only low + k step (1 with log); must divide high - low.")
    grid: Optional[_Values] = Field(None, description="Grid search: the values tried.")
    grid_points: integer(2, optional=True) = _GRID_POINTS

    @model_validator(mode="after")
    def _check(self) -> IntSpec:
        self._check_bounds(integer_=True)
        if self.log and self.step != 1:
            raise Rule("must be 1 when log is true", key="step", value=self.step)
        if (self.high - self.low) % self.step:
            raise Rule(f"must divide high - low = {self.high - self.low}", key="step", value=self.step)

        def ok(v: Any) -> str | None:
            if not is_integral(v) or not self.low <= v <= self.high:
                return f"must hold integers in [low, high] = [{self.low}, {self.high}]"
            return f"must hold values low + k step (step {self.step})" if (v - self.low) % self.step else None

        self._check_grid(ok)
        return self

    def dimension(self) -> IntRange:
        grid = None if self.grid is None else tuple(int(v) for v in self.grid)
        return IntRange(self.low, self.high, self.log, self.step, grid, self.grid_points)


class CategoricalSpec(_Spec):
    """``{type: categorical, choices}``: one of the choices, any YAML values (lists and mappings too)."""

    type: Literal["categorical"]
    choices: _Values = Field(..., description="The values drawn from.")

    def dimension(self) -> Categorical:
        return Categorical(tuple(self.choices))


class GridSpec(_Spec):
    """``{type: grid, values}``: like categorical, and every value enumerated by grid search."""

    type: Literal["grid"]
    values: _Values = Field(..., description="The values, each tried by grid search.")

    def dimension(self) -> Grid:
        return Grid(tuple(self.values))


def _parser(kind: str, model: type[_Spec]) -> Callable[[str, Mapping[str, Any]], Dimension]:
    def parse(prefix: str, raw: Mapping[str, Any]) -> Dimension:
        try:
            return model.model_validate({**raw, "type": kind}).dimension()
        except ValidationError as exc:
            raise config_error(exc, prefix=prefix) from None

    return parse


_SPECS: dict[str, type[_Spec]] = {"float": FloatSpec, "int": IntSpec, "categorical": CategoricalSpec,
                                  "grid": GridSpec}

#: Every ``type:`` a search-space key may name, mapped to its parser ``(prefix, raw) -> Dimension``.
DISTRIBUTIONS: Registry[Callable[[str, Mapping[str, Any]], Dimension]] = Registry("search-space type")
DISTRIBUTIONS.add("float", _parser("float", FloatSpec), "low..high, optional log / step / grid / grid_points")
DISTRIBUTIONS.add("int", _parser("int", IntSpec), "integers low..high, optional log / step / grid / grid_points")
DISTRIBUTIONS.add("categorical", _parser("categorical", CategoricalSpec), "one of `choices` (any YAML values)")
DISTRIBUTIONS.add("grid", _parser("grid", GridSpec), "one of `values`, enumerated by grid search")


def _parse_dimension(key: str, raw: Any) -> Dimension:
    prefix = f"space.{key}"
    if not isinstance(raw, Mapping):
        raise ConfigError(prefix, f"must be a mapping {{type: {'|'.join(DISTRIBUTIONS.names())}, ...}}", raw)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in DISTRIBUTIONS:
        raise ConfigError(f"{prefix}.type", f"must be one of {', '.join(DISTRIBUTIONS.names())}", kind)
    return DISTRIBUTIONS.get(kind)(prefix, raw)


def _space(v: Any) -> Any:
    if not isinstance(v, Mapping) or not v:
        raise Rule("must name at least one key")
    return {_check_key(key): _parse_dimension(key, dist) for key, dist in v.items()}


_AnySpec = Annotated[Union[FloatSpec, IntSpec, CategoricalSpec, GridSpec], Field(discriminator="type")]


class SpaceFile(Section):
    """A search-space file (raynn tune): the fixed part of every trial's config and the searched keys."""

    base: Optional[dict[str, Any]] = Field(None, description="A partial raynn run config applied to every "
                                                             "trial (raynn schema config).")
    space: Annotated[dict[str, _AnySpec], WrapValidator(lambda v, _: _space(v))] = Field(
        ..., description="Dotted config keys (optimizer.lr) mapped to their distributions.")

    @classmethod
    def _mapping_rule(cls) -> str:
        return "must be a mapping with keys base, space"

    @model_validator(mode="before")
    @classmethod
    def _space_given(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "space" not in raw:
            raise Rule("must name at least one key", key="space", value=None)
        return raw


# ------------------------------------------------------------------------------------------------------------
# The space.


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"space.{key}", "must be a dotted config key like optimizer.lr", key)
    return key


class SearchSpace:
    """Searched keys with their distributions, and the fixed config every trial starts from.

    Args:
        dimensions: Dotted config key -> :class:`Dimension`, in the order grid search varies them (the last
            fastest). No key may be a prefix of another.
        base: Partial raw run config applied to every trial before the searched values.
    """

    def __init__(self, dimensions: Mapping[str, Dimension], base: Mapping[str, Any] | None = None) -> None:
        if not dimensions:
            raise ConfigError("space", "must name at least one key", dict(dimensions))
        for key, dim in dimensions.items():
            _check_key(key)
            if not isinstance(dim, Dimension):
                raise ConfigError(f"space.{key}", "must be a Dimension", dim)
        keys = sorted(dimensions)
        for a, b in itertools.pairwise(keys):
            if b.startswith(a + "."):
                raise ConfigError(f"space.{b}", f"must not lie inside another searched key {a!r}", b)
        if base is not None and not isinstance(base, Mapping):
            raise ConfigError("base", "must be a mapping (a partial raynn run config)", base)
        self.dimensions: dict[str, Dimension] = dict(dimensions)
        self.base: dict[str, Any] = copy.deepcopy(dict(base or {}))
        for key in self.dimensions:
            try:
                set_dotted(copy.deepcopy(self.base), key, None)
            except ConfigError as exc:
                rule = f"cannot set `{key}`: `{exc.key}` must be a mapping, but got {exc.value!r}"
                raise ConfigError(f"space.{key}", rule, key) from None

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, check: Callable[[dict[str, Any]], object] | None = None,
                  base_dir: str | os.PathLike[str] = ".") -> SearchSpace:
        """Parse ``{"base": {...}, "space": {key: {type: ...}}}``; ``check``: also check the run configs the
        space makes with it (:meth:`check`), usually :func:`raynn.config.check_config`.

        Relative input paths in ``base`` are resolved against ``base_dir`` once, where the search is set up:
        trials run in other directories (Ray Tune changes into each trial's), and a resumed search may start
        elsewhere.
        """
        try:
            parsed = SpaceFile.model_validate(dict(raw) if isinstance(raw, Mapping) else raw)
        except ValidationError as exc:
            raise config_error(exc, root="search space") from None
        dims: dict[str, Dimension] = parsed.space  # the wrap validator built them
        out = cls(dims, resolve_input_paths(raw.get("base"), base_dir))
        if check:
            out.check(check)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The YAML form; ``SearchSpace.from_dict(s.to_dict())`` equals ``s``."""
        return {
            "base": copy.deepcopy(self.base),
            "space": {k: d.to_dict() for k, d in self.dimensions.items()},
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"SearchSpace({self.to_dict()!r})"

    # mapping-like -------------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __iter__(self) -> Iterator[str]:
        return iter(self.dimensions)

    def __getitem__(self, key: str) -> Dimension:
        return self.dimensions[key]

    # what searchers use -------------------------------------------------------------------------------------
    def to_optuna(self) -> dict[str, BaseDistribution]:
        """Key -> Optuna distribution over the (encoded) parameter values."""
        return {key: dim.to_optuna() for key, dim in self.dimensions.items()}

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One parameter per key, drawn independently with ``rng`` in key order (log-uniform for ``log``)."""
        return {key: dim.sample(rng) for key, dim in self.dimensions.items()}

    def grid_points(self) -> list[dict[str, Any]]:
        """The Cartesian product of every key's grid values, the last key varying fastest (§4.7.1).

        Raises:
            ValueError: naming the first float/int key that has neither ``grid`` nor ``grid_points``.
        """
        values = [dim.grid_values(key) for key, dim in self.dimensions.items()]
        return [dict(zip(self.dimensions, combo)) for combo in itertools.product(*values)]

    def normalize(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with every value a JSON primitive in range, in key order.

        Raises:
            ValueError: if a key is missing or unknown, or a value is not in its distribution.
        """
        if not isinstance(params, Mapping):
            raise ValueError(f"`params` must be a mapping of searched keys, but got {params!r}")
        missing = [k for k in self.dimensions if k not in params]
        unknown = sorted(set(params) - set(self.dimensions))
        if missing or unknown:
            raise ValueError(
                f"`params` must give exactly the searched keys {self.keys()}, but got missing={missing}, "
                f"unknown={unknown}"
            )
        return {key: dim.normalize(key, params[key]) for key, dim in self.dimensions.items()}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Key -> config value (encoded categorical choices turned back into lists / mappings)."""
        params = self.normalize(params)
        return {key: dim.decode(params[key]) for key, dim in self.dimensions.items()}

    def apply(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The nested raw run config of a trial: :attr:`base` with each value set at its dotted path.

        The result is ready for :func:`raynn.config.check_config`.
        """
        raw = copy.deepcopy(self.base)
        for key, value in self.decode(params).items():
            set_dotted(raw, key, value)
        return raw

    # checking against the run config ----------------------------------------------------------------------
    def check(self, check_config: Callable[[dict[str, Any]], object]) -> None:
        """Check that configs built from the space pass ``check_config`` (the run config's check,
        :func:`raynn.config.check_config`, passed in by the caller: ``raynn.hpo`` does not import the training
        stack it needs).

        First every key at its low end / first choice; then every key in turn at each end / each choice.
        A failure is a :class:`ConfigError` naming ``space.<key>`` (or ``base.<key>`` when no searched key
        is involved).
        """
        first = {key: dim.corners()[0] for key, dim in self.dimensions.items()}
        try:
            check_config(self.apply(first))
        except ConfigError as exc:
            raise self._blame(exc, first, check_config) from None
        for key, dim in self.dimensions.items():
            for value in dim.corners()[1:]:
                try:
                    check_config(self.apply({**first, key: value}))
                except ConfigError as exc:
                    shown = dim.decode(value)
                    raise ConfigError(
                        f"space.{key}", f"value {shown!r} gives an invalid run config ({exc})", shown
                    ) from None

    def _blame(self, exc: ConfigError, params: dict[str, Any],
               check_config: Callable[[dict[str, Any]], object]) -> ConfigError:
        """Which searched key (or the base) made the first sample config fail."""
        decoded = self.decode(params)
        if exc.key in self.dimensions:
            return ConfigError(f"space.{exc.key}", exc.rule, exc.value)
        related = [k for k in self.dimensions if k.startswith(exc.key + ".") or exc.key.startswith(k + ".")]
        if not related:
            return ConfigError(f"base.{exc.key}", exc.rule, exc.value)
        # Several keys under the failing one (model.dropout and model.params.hidden under model): add them
        # one at a time to a config holding all the others; the first that breaks it is to blame.
        raw = copy.deepcopy(self.base)
        for key in self.dimensions:
            if key not in related:
                set_dotted(raw, key, decoded[key])
        try:
            check_config(copy.deepcopy(raw))
        except ConfigError as inner:
            if inner.key == exc.key:  # it fails without the related keys too: the base is to blame
                return ConfigError(f"base.{exc.key}", exc.rule, exc.value)
        for key in related:
            set_dotted(raw, key, decoded[key])
            try:
                check_config(copy.deepcopy(raw))
            except ConfigError as inner:
                return ConfigError(f"space.{key}", f"gives an invalid run config ({inner})", decoded[key])
        return ConfigError(
            f"space.{related[-1]}", f"gives an invalid run config ({exc})", decoded[related[-1]]
        )


def load_space(path: str | os.PathLike[str], check: Callable[[dict[str, Any]], object] | None = None,
               ) -> SearchSpace:
    """Read and check a search-space YAML file (see the module docstring for the format); ``check``: as for
    :meth:`SearchSpace.from_dict`."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError("search space", "must be the path of a YAML file or a SearchSpace", path)
    raw = load_yaml_file(path, "search space")
    if not isinstance(raw, dict):
        raise ConfigError("search space", "must be a YAML mapping with keys base, space", str(path))
    return SearchSpace.from_dict(raw, check=check, base_dir=Path(path).parent)
