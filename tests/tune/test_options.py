"""raynn/tune/options.py: the options of ``raynn tune``, checked when made, shared by the CLI and the API."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from raynn.errors import ConfigError
from raynn.hpo.spaces import SearchSpace
from raynn.tune.options import CHECKPOINT_EVERY, SETTINGS, TuneOptions

SPACE = {"base": {"train": {"epochs": 3}}, "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}}


def test_defaults_are_checked_and_frozen() -> None:
    options = TuneOptions("space.yaml")
    assert (options.scheduler, options.searcher, options.eta, options.checkpoint_every) == (
        "hyperband", "optuna-mfgp", 3, CHECKPOINT_EVERY)
    with pytest.raises(ValidationError, match="frozen"):
        options.eta = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "key", "value"),
    [
        ({"space": None}, "SPACE", "None"),
        ({"scheduler": "hyper_band"}, "--scheduler", "hyper_band"),
        ({"searcher": "tpe"}, "--searcher", "tpe"),
        ({"mode": "best"}, "--mode", "best"),
        ({"eta": 1}, "--eta", "1"),
        ({"budget": True}, "--budget", "True"),
        ({"num_samples": 2**40}, "--num-samples", str(2**40)),
        ({"checkpoint_every": -1}, "--checkpoint-every", "-1"),
        ({"gpus_per_worker": math.nan}, "--gpus-per-worker", "nan"),
        ({"seed": -1}, "--seed", "-1"),
        ({"metric": ""}, "--metric", "''"),
        ({"pending_timeout": 0}, "--pending-timeout", "0"),
        ({"scheduler": "sh"}, "--budget", "None"),
        ({"name": "../x"}, "--name", "../x"),
        ({"storage": 5}, "--storage", "5"),
    ],
)
def test_a_bad_option_names_its_flag_and_value(kwargs: dict, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        TuneOptions(**{"space": "space.yaml", **kwargs})
    assert key in str(info.value) and value in str(info.value)


def test_resume_needs_no_space_and_takes_the_saved_settings(tmp_path: Path) -> None:
    options = TuneOptions(None, resume=True, name="exp", storage=tmp_path, pending_timeout=5.0)
    saved = {"space": SPACE, "scheduler": "asha", "searcher": "random", "budget": None, "num_samples": 4,
             "workers_per_trial": 1, "gpus_per_worker": 0, "max_concurrent": 2, "metric": "val_loss", "mode": "min",
             "eta": 2, "seed": 7}  # written before checkpoint_every existed
    resumed = options.with_saved(saved)
    assert (resumed.scheduler, resumed.eta, resumed.seed, resumed.checkpoint_every) == ("asha", 2, 7, CHECKPOINT_EVERY)
    assert resumed.pending_timeout == 5.0 and resumed.name == "exp"  # a setting of this driver, kept
    assert isinstance(resumed.space, SearchSpace)
    assert resumed.settings(resumed.space, 4, 2) == {"space": SPACE, **{k: getattr(resumed, k) for k in SETTINGS}}


def test_an_unknown_option_and_a_pydantic_error_read_as_the_run_config_reads_them() -> None:
    with pytest.raises(ConfigError) as info:
        TuneOptions("space.yaml", max_concurent=2)
    assert str(info.value).startswith("--max-concurent: is not a known option of raynn tune; valid options here: "
                                      "SPACE, --scheduler, ") and str(info.value).endswith(", got 2")
    with pytest.raises(ConfigError) as info:
        TuneOptions("space.yaml", address=5)
    assert str(info.value) == "--address: must be a string, got 5"
