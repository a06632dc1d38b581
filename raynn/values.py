"""Value rules and the dotted-key setter shared by the run config and the pure packages.

A leaf module (it imports only :mod:`raynn.errors`): :mod:`raynn.config` and :mod:`raynn.hpo` both use it, and
``raynn.hpo`` must not import the run config (which pulls in the whole training stack).
"""

from __future__ import annotations

import math
from typing import Any

from raynn.errors import ConfigError

__all__ = ["INT_MAX", "SEED_MAX", "is_finite_number", "is_int", "set_dotted"]

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
