"""Turning a config entry (a name, or a mapping with ``name`` and options) into a checked call."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["check_kwargs", "split_spec"]


def split_spec(spec: str | Mapping[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """``"he"`` -> ``("he", {})``; ``{"name": "he", "distribution": "uniform"}`` -> ``("he", {...})``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"a {kind} spec must have a `name` key, but got {dict(spec)!r}")
        options = dict(spec)
        return options.pop("name"), options
    raise ValueError(f"a {kind} spec must be a name or a mapping with `name`, but got {spec!r}")


def valid_kwargs(fn: Callable[..., Any], hidden: Iterable[str] = ()) -> list[str]:
    """The keyword arguments of ``fn`` a user may set: its parameters minus ``hidden`` and ``self``."""
    hidden = set(hidden) | {"self"}
    params = inspect.signature(fn).parameters.values()
    return [
        p.name
        for p in params
        if p.name not in hidden
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def check_kwargs(
    kind: str, name: str, fn: Callable[..., Any], kwargs: Mapping[str, Any], hidden: Iterable[str] = ()
) -> None:
    """Raise ``ValueError`` naming every key of ``kwargs`` that ``fn`` does not take (or that is hidden)."""
    valid = valid_kwargs(fn, hidden)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for {kind} {name!r}; valid options: {', '.join(valid) or '(none)'}"
        )
