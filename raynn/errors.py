"""Errors raised where user input enters raynn."""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "StorageError", "argument_error"]


class ConfigError(ValueError):
    """A config value broke a rule. The message names the key, the rule and the value.

    Args:
        key: Dotted path of the offending key (``optimizer.lr``).
        rule: What must hold (``must be > 0``).
        value: The value that was given.
        message: The whole message, when the default ``"{key}: {rule}, got {value!r}"`` does not read well
            (see :func:`argument_error`).
    """

    def __init__(self, key: str, rule: str, value: Any, *, message: str | None = None) -> None:
        self.key, self.rule, self.value = key, rule, value
        super().__init__(message if message is not None else f"{key}: {rule}, got {value!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Ray pickles an exception raised in a trial or worker; ValueError's default would call
        # ConfigError(message) and lose the error behind a TypeError about missing arguments.
        return (_rebuild_config_error, (self.key, self.rule, self.value, str(self)))


def _rebuild_config_error(key: str, rule: str, value: Any, message: str) -> ConfigError:
    return ConfigError(key, rule, value, message=message)


def argument_error(name: str, rule: str, value: Any) -> ConfigError:
    """A bad constructor argument of the Python API, worded as Optuna words them:
    ``argument_error("eta", "must be an integer >= 2", 1)`` reads "`eta` must be an integer >= 2, but got eta=1"."""
    return ConfigError(name, rule, value, message=f"`{name}` {rule}, but got {name}={value!r}")


class StorageError(OSError):
    """A run could not write its storage (disk full, read-only, no permission) after it started. The message
    says which file, why, which checkpoint is the last good one and how to resume."""
