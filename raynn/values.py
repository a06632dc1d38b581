"""Value rules and the dotted-key setter shared by the run config and the pure packages.

A leaf module (it imports only :mod:`raynn.errors`): :mod:`raynn.config` and :mod:`raynn.hpo` both use it, and
``raynn.hpo`` must not import the run config (which pulls in the whole training stack).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Callable

from raynn.errors import ConfigError, argument_error

__all__ = ["INT_MAX", "SEED_MAX", "check_flag", "check_int", "check_number", "is_finite_number", "is_int",
           "is_integral", "is_real", "set_dotted", "value_error", "value_error_of"]

INT_MAX = 2**31 - 1
"""The largest count or size a config takes: beyond it torch indexes overflow (a batch of 10^30)."""
SEED_MAX = 2**32 - 1
"""NumPy's legacy seeds, which Optuna's samplers use, are 32-bit."""


def is_int(v: Any) -> bool:
    """An ``int`` and not a ``bool`` (YAML's ``true`` is not a count)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_finite_number(v: Any) -> bool:
    """An ``int`` or ``float`` (not a ``bool``) that is finite: not NaN, not inf, not an int beyond any float."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond any float (10**400)
        return False


def is_integral(v: Any) -> bool:
    """A :class:`numbers.Integral` (NumPy's integers too) and not a ``bool``."""
    return isinstance(v, Integral) and not isinstance(v, bool)


def is_real(v: Any, *, finite: bool = False) -> bool:
    """A :class:`numbers.Real` (NumPy's scalars too) and not a ``bool``; ``finite``: not NaN or inf either."""
    if isinstance(v, bool) or not isinstance(v, Real):
        return False
    try:
        return not finite or math.isfinite(v)
    except OverflowError:  # an int beyond any float
        return False


# ---- checks of the Python API's arguments -------------------------------------------------------------------
#
# Each raises ``error(name, rule, value)``: by default :func:`raynn.errors.argument_error` (a ConfigError worded
# as Optuna words a bad argument), :func:`value_error` (the same words as a plain ValueError) where a module
# has always raised that, or :class:`ConfigError` itself where the name is a config key or a flag.

Error = Callable[[str, str, Any], Exception]


def value_error(name: str, rule: str, value: Any) -> ValueError:
    """A bad argument as a plain ``ValueError``: "`window` must be an int >= 1, but got window=0"."""
    return ValueError(f"`{name}` {rule}, but got {name}={value!r}")


def value_error_of(owner: str) -> Error:
    """:func:`value_error` naming whose argument it is: "step: `gamma` must be ..., but got gamma=0"."""
    return lambda name, rule, value: ValueError(f"{owner}: {value_error(name, rule, value)}")


def _int_rule(low: int | None, high: int | None, optional: bool) -> str:
    what = "None or an integer" if optional else "an integer"
    if low is not None and high is not None:
        return f"must be {what} in [{low}, {high}]"
    if low is not None:
        return f"must be {what} >= {low}"
    return f"must be {what} <= {high}" if high is not None else f"must be {what}"


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *, optional: bool = False,
              integral: bool = False, rule: str | None = None, error: Error = argument_error) -> Any:
    """``value`` if it is an ``int`` (``integral``: any :class:`numbers.Integral`), not a ``bool``, in
    ``[low, high]`` (``optional``: or None); else ``error(name, rule, value)``, the rule by default
    "must be [None or] an integer >= low"."""
    if value is None and optional:
        return value
    ok = is_integral(value) if integral else is_int(value)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        raise error(name, rule if rule is not None else _int_rule(low, high, optional), value)
    return value


def check_number(name: str, value: Any, rule: str, ok: Callable[[Any], bool] | None = None, *,
                 real: bool = False, finite: bool = True, optional: bool = False,
                 error: Error = argument_error) -> Any:
    """``value`` if it is a number, not a ``bool``, for which ``ok`` holds (``optional``: or None); else
    ``error(name, rule, value)``. A number is an ``int`` or ``float`` that is finite; ``real``: any
    :class:`numbers.Real` (NumPy's scalars too), finite only if ``finite``."""
    if value is None and optional:
        return value
    number = is_real(value, finite=finite) if real else is_finite_number(value)
    if not number or (ok is not None and not ok(value)):
        raise error(name, rule, value)
    return value


def check_flag(name: str, value: Any, rule: str = "must be True or False", *, error: Error = argument_error) -> bool:
    """``value`` if it is a ``bool`` (not 0 or 1, not ``'yes'``); else ``error(name, rule, value)``."""
    if not isinstance(value, bool):
        raise error(name, rule, value)
    return value


def set_dotted(node: dict[str, Any], key: str, value: Any) -> None:
    """``node[a][b] = value`` for ``key = "a.b"``, making intermediate mappings; a non-mapping on the way is a
    :class:`ConfigError` naming it (its key is the dotted path up to it, its value the non-mapping)."""
    path = key.split(".")
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(".".join(path[: i + 1]), "must be a mapping to set a subkey", child)
        node = child
    node[path[-1]] = value
