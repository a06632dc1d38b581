"""The one direction of a metric, shared by the halving cores (:mod:`raynn.hpo`) and early stopping.

A leaf module (it imports nothing of raynn but the error helper) so the training loop's early stopping and
the pure search package can share it without either importing the other.
"""

from __future__ import annotations

from enum import StrEnum

from raynn.errors import argument_error

__all__ = ["Mode"]


class Mode(StrEnum):
    """Whether a smaller (``MIN``: a loss, an error rate) or larger (``MAX``: an accuracy) value is better.

    A ``StrEnum``: ``Mode.MIN == "min"``, so it can be written to JSON and YAML as it is.
    """

    MIN = "min"
    MAX = "max"

    @classmethod
    def parse(cls, mode: Mode | str) -> Mode:
        """Accept a :class:`Mode` or the strings ``"min"`` / ``"max"`` (the edge: YAML, Ray's ``mode``)."""
        if isinstance(mode, Mode):
            return mode
        if isinstance(mode, str) and mode.lower() in ("min", "max"):
            return cls(mode.lower())
        raise argument_error("mode", "must be one of 'min', 'max'", mode)
