"""Errors raised where user input enters raynn."""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A config value broke a rule. The message names the key, the rule and the value.

    Args:
        key: Dotted path of the offending key (``optimizer.lr``).
        rule: What must hold (``must be > 0``).
        value: The value that was given.
    """

    def __init__(self, key: str, rule: str, value: Any) -> None:
        self.key, self.rule, self.value = key, rule, value
        super().__init__(f"{key}: {rule}, got {value!r}")
