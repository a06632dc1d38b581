"""One registry type for every name a user can type in YAML or on the command line.

Each kind of thing (schedules, optimizers, data sets, initializers, ...) owns one :class:`Registry`.
An unknown name is a ``ValueError`` that lists the valid ones, so a typo in a config file is answered
with the choices rather than a stack trace. :meth:`Registry.build` turns a config entry (a name, or a
mapping ``{name: ..., **options}``) into the built object after checking the options against the
builder's signature, the one place that rule is written.

A leaf module: it imports nothing of raynn, so every package can own a registry without import cycles
(the catalogue of all registries, ``raynn list``, is :mod:`raynn.catalog`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Entry", "Registry", "split_spec", "valid_kwargs"]


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered name: what it builds and a one-line summary shown by ``raynn list``."""

    name: str
    obj: T
    summary: str = ""


def split_spec(spec: str | Mapping[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """``"he"`` -> ``("he", {})``; ``{"name": "he", "distribution": "uniform"}`` -> ``("he", {...})``."""
    a = "an" if kind[:1] in "aeiou" else "a"
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"{a} {kind} spec must have a 'name' key, but got {dict(spec)!r}")
        options = dict(spec)
        return options.pop("name"), options
    raise ValueError(f"{a} {kind} spec must be a name or a mapping with 'name', but got {spec!r}")


def valid_kwargs(fn: Callable[..., Any], hidden: Iterable[str] = ()) -> list[str]:
    """The keyword arguments of ``fn`` (of its ``__init__`` for a class) a user may set, in signature order:
    its parameters minus ``hidden``, ``self`` and ``*args``/``**kwargs``."""
    hidden = set(hidden) | {"self"}
    params = inspect.signature(fn.__init__ if isinstance(fn, type) else fn).parameters.values()
    return [
        p.name
        for p in params
        if p.name not in hidden
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _required(fn: Callable[..., Any], hidden: Iterable[str]) -> list[str]:
    hidden = set(hidden) | {"self"}
    params = inspect.signature(fn.__init__ if isinstance(fn, type) else fn).parameters.values()
    return [p.name for p in params if p.name not in hidden and p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


class Registry(Generic[T]):
    """Maps user-facing names of one ``kind`` to implementations.

    Args:
        kind: What the names denote, used in error messages ("schedule", "optimizer", ...).
        word: What an entry's keyword arguments are called in error messages ("option", "parameter").
        listed: How an error introduces the list of valid options (default ``"valid {word}s"``).
        hidden: Arguments of every builder that :meth:`build` passes itself (``in_shape`` of a model), so a
            spec may not set them.
        options: The options a user may set for an entry object, when its signature does not say it
            (an info record that fixes some arguments); by default the builder's keyword arguments.
        strict: Check the options of a spec one key at a time in the order written and require every
            option without a default (schedules: a missing ``max_iter`` is named, not a ``TypeError``).
    """

    def __init__(self, kind: str, *, word: str = "option", listed: str | None = None, hidden: Iterable[str] = (),
                 options: Callable[[T], list[str]] | None = None, strict: bool = False) -> None:
        self.kind = kind
        self.word = word
        self.listed = listed or f"valid {word}s"
        self.hidden = tuple(hidden)
        self._options = options
        self.strict = strict
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, obj: T, summary: str = "", aliases: Iterable[str] = ()) -> T:
        """Register ``obj`` as ``name``; each of ``aliases`` is another name for it, accepted by :meth:`get`
        but not listed (a name kept working after the registries were merged)."""
        for key in (name, *aliases):
            if key in self:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[name] = Entry(name, obj, summary)
        self._aliases.update({alias: name for alias in aliases})
        return obj

    def register(self, name: str, summary: str = "") -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            return self.add(name, obj, summary)

        return decorate

    def canonical(self, name: str) -> str:
        """The listed name ``name`` denotes (itself, or the name an alias stands for)."""
        return self.entry(name).name

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        if not isinstance(name, str) or name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return self._entries[self._aliases.get(name, name)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def options(self, name: str) -> list[str]:
        """The keyword arguments a spec naming ``name`` may set."""
        obj = self.get(name)
        if self._options is not None:
            return self._options(obj)
        return valid_kwargs(obj, self.hidden)  # type: ignore[arg-type]

    def check(self, name: str, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for options ``name``'s builder does not take, listing the ones it does."""
        valid = self.options(name)
        w = self.word
        if self.strict:
            for key in options:
                if key not in valid:
                    raise ValueError(f"unknown {w} {key!r} for {self.kind} {name!r}; {self.listed}: {', '.join(valid)}")
            for key in _required(self.get(name), self.hidden):  # type: ignore[arg-type]
                if key not in options:
                    raise ValueError(f"missing {w} {key!r} for {self.kind} {name!r}; {self.listed}: {', '.join(valid)}")
            return
        unknown = sorted(set(options) - set(valid))
        if unknown:
            hint = getattr(self.get(name), "hint", None)
            notes = hint(name, unknown) if callable(hint) else []
            raise ValueError(
                f"unknown {w}(s) {unknown} for {self.kind} {name!r}; {self.listed}: {', '.join(valid) or '(none)'}"
                + "".join(f"; {note}" for note in notes)
            )

    def build(self, spec: str | Mapping[str, Any], /, *args: Any, **context: Any) -> Any:
        """Build a config entry: ``spec`` is a name or a mapping ``{name: ..., **options}``; its options are
        checked against the builder's signature, then ``builder(*args, **context, **options)`` is returned
        (``args`` and ``context`` are what the caller supplies, such as a model's input shape).

        Raises:
            ValueError: a malformed spec, an unknown name (listing the valid ones) or an option the builder
                does not take (listing the ones it does).
        """
        name, options = split_spec(spec, self.kind)
        builder = self.get(name)
        self.check(name, options)
        return builder(*args, **context, **options)  # type: ignore[operator]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or name in self._aliases)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._entries)
