"""Search spaces: parsing, checks at load, Optuna distributions, apply, grid points, the shipped files."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import yaml

from raynn.config import check_config, parse_config
from raynn.errors import ConfigError
from raynn.hpo import DISTRIBUTIONS, SearchSpace, load_space
from raynn.hpo.spaces import Categorical, FloatRange, Grid, IntRange

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))

EXAMPLE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "train": {"epochs": 9}},
    "space": {
        "optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "train.batch_size": {"type": "int", "low": 16, "high": 256, "log": True},
        "model.params.hidden": {"type": "categorical", "choices": [[64], [128], [128, 64]]},
        "optimizer.name": {"type": "grid", "values": ["momentum", "adam"]},
    },
}


def _with(key: str, dist: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(EXAMPLE)
    if dist is None:
        del raw["space"][key]
    else:
        raw["space"][key] = dist
    if base is not None:
        raw["base"] = base
    return raw


def test_example_parses_into_typed_dimensions() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    assert space.keys() == list(EXAMPLE["space"])
    assert space["optimizer.lr"] == FloatRange(0.001, 0.5, log=True)
    assert space["train.batch_size"] == IntRange(16, 256, log=True)
    assert space["model.params.hidden"] == Categorical(([64], [128], [128, 64]))
    assert space["optimizer.name"] == Grid(("momentum", "adam"))
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_to_optuna_encodes_list_choices_as_json() -> None:
    dists = SearchSpace.from_dict(EXAMPLE).to_optuna()
    assert dists["optimizer.lr"] == optuna.distributions.FloatDistribution(0.001, 0.5, log=True)
    assert dists["model.dropout"] == optuna.distributions.FloatDistribution(0.0, 0.5)
    assert dists["train.batch_size"] == optuna.distributions.IntDistribution(16, 256, log=True)
    assert dists["model.params.hidden"].choices == ("[64]", "[128]", "[128, 64]")
    assert dists["optimizer.name"].choices == ("momentum", "adam")


def test_apply_nests_base_and_decoded_params_and_passes_check_config() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    params = {
        "optimizer.lr": 0.01,
        "model.dropout": 0.1,
        "train.batch_size": 32,
        "model.params.hidden": "[128, 64]",
        "optimizer.name": "adam",
    }
    raw = space.apply(params)
    assert raw == {
        "data": {"name": "digits"},
        "train": {"epochs": 9, "batch_size": 32},
        "optimizer": {"lr": 0.01, "name": "adam"},
        "model": {"dropout": 0.1, "params": {"hidden": [128, 64]}},
    }
    cfg = check_config(raw)
    assert cfg["model"]["params"]["hidden"] == [128, 64] and cfg["optimizer"]["name"] == "adam"
    # The decoded choice and numpy scalars are accepted too; apply never changes the base.
    same = {**params, "model.params.hidden": [128, 64], "train.batch_size": np.int64(32)}
    assert space.apply(same) == raw
    assert space.base == EXAMPLE["base"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"optimizer.lr": 0.01}, "missing"),
        (
            {
                "optimizer.lr": 0.01,
                "model.dropout": 0.1,
                "train.batch_size": 32,
                "model.params.hidden": "[64]",
                "optimizer.name": "adam",
                "optimizer.momentum": 0.9,
            },
            "unknown=\\['optimizer.momentum'\\]",
        ),
        (
            {
                "optimizer.lr": 0.9,
                "model.dropout": 0.1,
                "train.batch_size": 32,
                "model.params.hidden": "[64]",
                "optimizer.name": "adam",
            },
            "optimizer.lr",
        ),
        (
            {
                "optimizer.lr": 0.01,
                "model.dropout": 0.1,
                "train.batch_size": 32.5,
                "model.params.hidden": "[64]",
                "optimizer.name": "adam",
            },
            "train.batch_size",
        ),
        (
            {
                "optimizer.lr": 0.01,
                "model.dropout": 0.1,
                "train.batch_size": 32,
                "model.params.hidden": "[32]",
                "optimizer.name": "adam",
            },
            "model.params.hidden",
        ),
    ],
)
def test_apply_rejects_bad_params(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SearchSpace.from_dict(EXAMPLE).apply(params)


@pytest.mark.parametrize(
    ("raw", "key", "rule"),
    [
        (
            _with("optimizer.lr", {"type": "beta", "low": 0.1, "high": 0.2}),
            "space.optimizer.lr.type",
            "must be one of",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.5, "high": 0.5}),
            "space.optimizer.lr.low",
            "low < high",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.0, "high": 0.5, "log": True}),
            "space.optimizer.lr.low",
            "> 0 when log",
        ),
        (_with("optimizer.lr", {"type": "float", "high": 0.5}), "space.optimizer.lr.low", "is required"),
        (
            _with("optimizer.lr", {"type": "float", "low": "a", "high": 0.5}),
            "space.optimizer.lr.low",
            "finite",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "log": "yes"}),
            "space.optimizer.lr.log",
            "true or false",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "lgo": True}),
            "space.optimizer.lr.lgo",
            "not a known field",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "log": True, "step": 0.1}),
            "space.optimizer.lr.step",
            "not be set when log",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "step": 0.3}),
            "space.optimizer.lr.step",
            "must divide",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "grid": [0.1, 0.9]}),
            "space.optimizer.lr.grid",
            "in \\[low, high\\]",
        ),
        (
            _with(
                "optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "grid": [0.1], "grid_points": 3}
            ),
            "space.optimizer.lr.grid_points",
            "together with grid",
        ),
        (
            _with("optimizer.lr", {"type": "float", "low": 0.1, "high": 0.5, "grid_points": 1}),
            "space.optimizer.lr.grid_points",
            ">= 2",
        ),
        (
            _with("train.batch_size", {"type": "int", "low": 16.0, "high": 256}),
            "space.train.batch_size.low",
            "must be an integer",
        ),
        (
            _with("train.batch_size", {"type": "int", "low": 16, "high": 256.5}),
            "space.train.batch_size.high",
            "must be an integer",
        ),
        (
            _with("train.batch_size", {"type": "int", "low": 0, "high": 256, "log": True}),
            "space.train.batch_size.low",
            ">= 1 when log",
        ),
        (
            _with("train.batch_size", {"type": "int", "low": 16, "high": 256, "log": True, "step": 2}),
            "space.train.batch_size.step",
            "must be 1 when log",
        ),
        (
            _with("train.batch_size", {"type": "int", "low": 16, "high": 250, "step": 16}),
            "space.train.batch_size.step",
            "must divide",
        ),
        (
            _with("model.params.hidden", {"type": "categorical", "choices": []}),
            "space.model.params.hidden.choices",
            "non-empty list",
        ),
        (
            _with("model.params.hidden", {"type": "categorical", "choices": [[64], [64]]}),
            "space.model.params.hidden.choices",
            "not repeat",
        ),
        (
            _with("model.params.hidden", {"type": "categorical", "values": [[64]]}),
            "space.model.params.hidden.values",
            "not a known field",
        ),
        (
            _with("optimizer.name", {"type": "grid", "values": "adam"}),
            "space.optimizer.name.values",
            "non-empty list",
        ),
        (_with("optimizer.name", ["adam"]), "space.optimizer.name", "must be a mapping"),
        ({"base": {}, "space": {}}, "space", "must name at least one key"),
        ({"base": {}}, "space", "must name at least one key"),
        ({"space": EXAMPLE["space"], "spaces": {}}, "spaces", "not a known key"),
        (
            _with("model.params", {"type": "categorical", "choices": [{"hidden": [64]}]}),
            "space.model.params.hidden",
            "inside another searched key",
        ),
    ],
)
def test_bad_distribution_is_a_config_error_naming_the_full_key(
    raw: dict[str, Any], key: str, rule: str
) -> None:
    with pytest.raises(ConfigError, match=rule) as info:
        SearchSpace.from_dict(raw)
    assert info.value.key == key


def test_empty_space_message() -> None:
    with pytest.raises(ConfigError, match="^space: must name at least one key"):
        SearchSpace.from_dict({"space": {}})


@pytest.mark.parametrize(
    ("key", "dist", "base", "blamed", "rule"),
    [
        # Not a config key at all.
        (
            "optimizer.momentum",
            {"type": "float", "low": 0.5, "high": 0.9},
            None,
            "space.optimizer.momentum",
            "not a known key",
        ),
        ("trian.epochs", {"type": "int", "low": 1, "high": 9}, None, "space.trian.epochs", "not a known key"),
        # Not a parameter of the model (reported by check_config under `model`, among several model keys).
        (
            "model.params.widths",
            {"type": "categorical", "choices": [[64]]},
            None,
            "space.model.params.widths",
            "widths",
        ),
        # A value no run accepts, only at one end or one choice.
        ("model.dropout", {"type": "float", "low": 0.0, "high": 1.0}, None, "space.model.dropout", "1.0"),
        # A combination no run accepts: adam takes no momentum; the choice that breaks it is named.
        (
            "optimizer.params.momentum",
            {"type": "float", "low": 0.5, "high": 0.9},
            None,
            "space.optimizer.name",
            "'adam' gives an invalid run config .*momentum",
        ),
        # The base itself is broken.
        (
            "optimizer.lr",
            {"type": "float", "low": 0.01, "high": 0.1},
            {"train": {"epochs": 0}},
            "base.train.epochs",
            ">= 1",
        ),
        (
            "optimizer.lr",
            {"type": "float", "low": 0.01, "high": 0.1},
            {"model": {"name": "rnn"}},
            "base.model.name",
            "must be one of",
        ),
        # A searched key below a non-mapping base value.
        (
            "schedule.name",
            {"type": "grid", "values": ["cosine"]},
            {"schedule": "step"},
            "space.schedule.name",
            "must be a mapping",
        ),
    ],
)
def test_keys_are_checked_against_the_run_config(
    key: str, dist: dict[str, Any], base: dict[str, Any] | None, blamed: str, rule: str
) -> None:
    with pytest.raises(ConfigError, match=rule) as info:
        SearchSpace.from_dict(_with(key, dist, base), check=check_config)
    assert info.value.key == blamed


def test_whole_sub_specs_may_be_searched() -> None:
    choices = [None, "cosine", {"name": "exponential", "beta": 0.99}]
    space = SearchSpace.from_dict(_with("schedule", {"type": "categorical", "choices": choices}))
    assert space.to_optuna()["schedule"].choices == (
        "null",
        '"cosine"',
        '{"name": "exponential", "beta": 0.99}',
    )
    params = space.sample(np.random.default_rng(0))
    for option in space.to_optuna()["schedule"].choices:
        check_config(space.apply({**params, "schedule": option}))
    assert space.apply({**params, "schedule": "null"})["schedule"] is None


def test_sample_is_seeded_in_range_and_log_uniform() -> None:
    space = SearchSpace.from_dict(EXAMPLE)
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    draws = [space.sample(rng) for _ in range(2000)]
    lrs = np.array([d["optimizer.lr"] for d in draws])
    assert lrs.min() >= 0.001 and lrs.max() <= 0.5
    # log-uniform: the median is the geometric mean sqrt(0.001 * 0.5) ~ 0.0224, not the mean 0.25.
    assert abs(math.log(np.median(lrs)) - math.log(math.sqrt(0.001 * 0.5))) < 0.2
    bs = [d["train.batch_size"] for d in draws]
    assert 16 <= min(bs) <= 17 and 240 <= max(bs) <= 256 and all(isinstance(b, int) for b in bs)
    assert abs(math.log(np.median(bs)) - math.log(64)) < 0.2
    assert {d["model.params.hidden"] for d in draws} == {"[64]", "[128]", "[128, 64]"}


def test_grid_points_is_the_cartesian_product_last_key_fastest() -> None:
    space = SearchSpace.from_dict(
        {
            "space": {
                "optimizer.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True, "grid_points": 3},
                "train.batch_size": {"type": "int", "low": 16, "high": 64, "grid": [16, 64]},
                "model.params.hidden": {"type": "categorical", "choices": [[64], [128, 64]]},
            }
        }
    )
    points = space.grid_points()
    assert len(points) == 3 * 2 * 2
    assert [p["optimizer.lr"] for p in points[::4]] == [0.001, 0.01, 0.1]
    assert points[:4] == [
        {"optimizer.lr": 0.001, "train.batch_size": 16, "model.params.hidden": "[64]"},
        {"optimizer.lr": 0.001, "train.batch_size": 16, "model.params.hidden": "[128, 64]"},
        {"optimizer.lr": 0.001, "train.batch_size": 64, "model.params.hidden": "[64]"},
        {"optimizer.lr": 0.001, "train.batch_size": 64, "model.params.hidden": "[128, 64]"},
    ]


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        (FloatRange(0.0, 1.0, grid_points=5), [0.0, 0.25, 0.5, 0.75, 1.0]),
        (FloatRange(1e-4, 1.0, log=True, grid_points=5), [1e-4, 1e-3, 1e-2, 1e-1, 1.0]),
        (FloatRange(0.0, 1.0, step=0.5, grid_points=4), [0.0, 0.5, 1.0]),
        (IntRange(16, 256, log=True, grid_points=5), [16, 32, 64, 128, 256]),
        (IntRange(1, 10, grid_points=4), [1, 4, 7, 10]),
        (IntRange(0, 12, step=4, grid_points=3), [0, 8, 12]),
        (IntRange(1, 3, grid_points=5), [1, 2, 3]),
    ],
)
def test_grid_points_count_is_evenly_or_log_spaced(dim: Any, expected: list[Any]) -> None:
    assert dim.grid_values("k") == expected


def test_grid_points_without_grid_for_a_float_key_names_it() -> None:
    with pytest.raises(ValueError, match="'optimizer.lr' has neither"):
        SearchSpace.from_dict(EXAMPLE).grid_points()


def test_distribution_types_are_registered() -> None:
    assert DISTRIBUTIONS.names() == ["categorical", "float", "grid", "int"]


def test_load_space_reads_yaml_and_rejects_missing_or_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text(yaml.safe_dump(EXAMPLE))
    assert load_space(good, check=check_config) == SearchSpace.from_dict(EXAMPLE)
    with pytest.raises(ConfigError, match="existing YAML file"):
        load_space(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("space: {optimizer.lr: [\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_space(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_space(scalar)


def test_shipped_search_spaces_exist() -> None:
    assert {p.name for p in SHIPPED} >= {"digits.yaml", "mnist.yaml", "batch_size.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_search_space_samples_pass_check_config(path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # from any directory
    space = load_space(path, check=check_config)
    rng = np.random.default_rng(0)
    for _ in range(5):
        check_config(space.apply(space.sample(rng)))
    for params in space.grid_points()[:: max(1, len(space.grid_points()) // 5)]:
        check_config(space.apply(params))


def test_batch_size_space_searches_batch_and_base_lr_under_linear_scaling() -> None:
    text = (REPO / "search_spaces" / "batch_size.yaml").read_text()
    space = load_space(REPO / "search_spaces" / "batch_size.yaml")
    assert space.keys() == ["train.batch_size", "optimizer.lr"]
    assert space["train.batch_size"].log and space["optimizer.lr"].log
    assert space.base["scaling"]["rule"] == "linear"
    assert "reference_batch" in text and "scaling" in text.split("base:")[0]
    from raynn.scaling import plan_scaling

    cfg = check_config(space.apply({"train.batch_size": 256, "optimizer.lr": 0.01}))
    assert plan_scaling(parse_config(cfg), iters_per_epoch=5).lr == pytest.approx(
        0.01 * 256 / space.base["scaling"]["reference_batch"]
    )


def test_relative_data_root_is_resolved_against_the_space_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "spaces").mkdir()
    path = tmp_path / "spaces" / "s.yaml"
    path.write_text("base: {data: {name: mnist, root: ../data/mnist}}\n"
                    "space: {optimizer.lr: {type: float, low: 0.01, high: 0.1}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    space = load_space(path, check=check_config)
    assert space.base["data"]["root"] == str(tmp_path / "data" / "mnist")
    # a dict given in Python: relative to the current directory
    raw = {"base": {"data": {"name": "mnist", "root": "d"}},
           "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}}
    assert SearchSpace.from_dict(raw).base["data"]["root"] == str(elsewhere / "d")
    assert load_space(REPO / "search_spaces" / "digits.yaml").base["data"].get("root") is None
