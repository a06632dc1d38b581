"""One registry type for every name a user can type in YAML or on the command line.

Each kind of thing (schedules, optimizers, data sets, initializers, ...) owns one :class:`Registry`.
An unknown name is a ``ValueError`` that lists the valid ones, so a typo in a config file is answered
with the choices rather than a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["Entry", "Registry"]


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered name: what it builds and a one-line summary shown by ``raynn list``."""

    name: str
    obj: T
    summary: str = ""


class Registry(Generic[T]):
    """Maps user-facing names of one ``kind`` to implementations.

    Args:
        kind: What the names denote, used in error messages ("schedule", "optimizer", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, obj: T, summary: str = "") -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, obj, summary)
        return obj

    def register(self, name: str, summary: str = "") -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            return self.add(name, obj, summary)

        return decorate

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._entries)


def all_registries() -> dict[str, Registry]:  # type: ignore[type-arg]
    """Every registry of user-facing names, by kind (``raynn list`` prints them; tests iterate them)."""
    from raynn.data import AUGMENTATIONS, DATASETS, PREPROCESSORS
    from raynn.hpo.searchers import SEARCHERS
    from raynn.nn import ACTIVATIONS, INITIALIZERS, MODELS
    from raynn.optim import CLIPPERS, OPTIMIZERS
    from raynn.schedules import SCHEDULES
    from raynn.tune import SCHEDULERS

    return {r.kind: r for r in (DATASETS, PREPROCESSORS, AUGMENTATIONS, MODELS, ACTIVATIONS, INITIALIZERS,
                                 OPTIMIZERS, CLIPPERS, SCHEDULES, SCHEDULERS, SEARCHERS)}
