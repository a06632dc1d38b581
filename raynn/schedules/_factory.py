"""Build a schedule from its name and parameters, or from a YAML-style spec ``{"name": ..., **params}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raynn.schedules._base import SCHEDULES, Schedule

__all__ = ["build", "build_spec", "names", "schedule_class"]


def names() -> list[str]:
    """The registered schedule names, sorted."""
    return SCHEDULES.names()


def build(name: str, /, **params: Any) -> Schedule:
    """The schedule registered as ``name`` with ``params``: a callable ``k -> learning rate``.

    Args:
        name: A registered name (see :func:`names`).
        **params: The schedule's parameters, named as in the chapter (``alpha0``, ``beta``, ...).

    Raises:
        ValueError: unknown name (the message lists the valid ones), unknown or missing parameter,
            or a parameter that breaks its rule.
    """
    SCHEDULES.check(name, params)
    return SCHEDULES.get(name)(**params)


def schedule_class(spec: Mapping[str, Any]) -> type[Schedule]:
    """The class a spec names; a spec that is not a mapping or lacks ``name`` is a ``ValueError``."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a schedule spec must be a mapping with a 'name' key, but got {spec!r}")
    if "name" not in spec:
        raise ValueError(
            f"a schedule spec must have a 'name' key (one of: {', '.join(names())}), but got {dict(spec)!r}"
        )
    return SCHEDULES.get(spec["name"])


def build_spec(spec: Mapping[str, Any]) -> Schedule:
    """:func:`build` from a spec ``{"name": ..., **params}`` as written in YAML.

    ``build_spec({"name": "cosine", "alpha0": 0.1, "max_iter": 100})`` equals
    ``build("cosine", alpha0=0.1, max_iter=100)``.
    """
    schedule_class(spec)
    params = dict(spec)
    return build(params.pop("name"), **params)
