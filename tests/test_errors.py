"""``raynn.errors``: the messages user input gets, and errors that survive the trip through Ray."""

from __future__ import annotations

import pickle

from raynn.errors import ConfigError, argument_error


def test_config_error_names_the_key_the_rule_and_the_value() -> None:
    error = ConfigError("optimizer.lr", "must be > 0", -1)
    assert str(error) == "optimizer.lr: must be > 0, got -1" and isinstance(error, ValueError)
    assert str(argument_error("eta", "must be an integer >= 2", 1)) == "`eta` must be an integer >= 2, but got eta=1"


def test_config_error_pickles_with_its_fields_and_message() -> None:
    """Ray pickles an exception raised in a trial; the user must see raynn's message, not a TypeError."""
    for error in (ConfigError("train.epochs", "must be >= 1", 0), argument_error("eta", "must be >= 2", 1)):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is ConfigError and str(back) == str(error)
        assert (back.key, back.rule, back.value) == (error.key, error.rule, error.value)
