from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raynn.config import DEFAULTS, check_config, load_config
from raynn.errors import ConfigError


def test_defaults_check_and_fill_derived_values() -> None:
    cfg = check_config({})
    assert cfg["data"]["name"] == "digits"
    assert cfg["model"]["init"] == {"name": "he"}  # Table 7.2: He for ReLU
    assert check_config({"model": {"activation": "tanh"}})["model"]["init"] == {"name": "xavier"}
    assert set(cfg) == set(DEFAULTS)


def test_checking_a_checked_config_changes_nothing() -> None:
    cfg = check_config({"schedule": "cosine", "optimizer": {"clip": {"name": "norm", "max_norm": 1.0}}})
    assert check_config(cfg) == cfg


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        ({"optimizer": {"lr": -0.1}}, "optimizer.lr", "-0.1"),
        ({"optimizer": {"lr": "fast"}}, "optimizer.lr", "fast"),
        ({"targets": {"label_smoothing": 1.0}}, "targets.label_smoothing", "1.0"),
        ({"targets": {"label_smoothing": -0.1}}, "targets.label_smoothing", "-0.1"),
        ({"train": {"batch_size": 0}}, "train.batch_size", "0"),
        ({"train": {"epochs": 2.5}}, "train.epochs", "2.5"),
        ({"train": {"workers": True}}, "train.workers", "True"),
        ({"data": {"name": "mnist", "root": "/no/such/dir"}}, "data.root", "/no/such/dir"),
        ({"data": {"name": "cifar10"}}, "data.root", "None"),
        ({"data": {"name": "imagenet"}}, "data.name", "imagenet"),
        ({"data": {"val_fraction": 1.5}}, "data.val_fraction", "1.5"),
        ({"optimizer": {"name": "lbfgs"}}, "optimizer.name", "lbfgs"),
        ({"optimizer": {"params": {"momentun": 0.9}}}, "optimizer.params", "momentun"),
        ({"schedule": {"name": "exponential", "beta": 1.5}}, "schedule", "beta"),
        ({"schedule": {"name": "cosinus"}}, "schedule.name", "cosinus"),
        ({"model": {"activation": "gelu"}}, "model.activation", "gelu"),
        ({"model": {"dropout": 1.0}}, "model.dropout", "1.0"),
        ({"model": {"init": {"name": "lecun"}}}, "model.init", "lecun"),
        ({"optimizer": {"clip": {"name": "norm", "max_norm": -1}}}, "optimizer.clip", "-1"),
        ({"optimizer": {"weight_decay": 1.0}}, "optimizer.weight_decay", "1.0"),
        ({"scaling": {"rule": "cubic"}}, "scaling.rule", "cubic"),
        ({"scaling": {"warmup_epochs": -1}}, "scaling.warmup_epochs", "-1"),
        ({"train": {"early_stopping": {"patience": 0}}}, "train.early_stopping.patience", "0"),
        ({"trian": {"epochs": 3}}, "trian", "epochs"),
        ({"optimizer": {"learning_rate": 0.1}}, "optimizer.learning_rate", "0.1"),
    ],
)
def test_bad_values_name_the_key_the_rule_and_the_value(raw: dict, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_config(raw)
    message = str(info.value)
    assert info.value.key.startswith(key), message
    assert message.startswith(info.value.key) and value in message, message


def test_overrides_are_parsed_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("optimizer: {name: adam, lr: 0.001}\n")
    cfg = load_config(path, ["optimizer.lr=0.01", "train.epochs=3", "schedule.name=cosine"])
    assert cfg["optimizer"] == cfg["optimizer"] | {"name": "adam", "lr": 0.01}
    assert cfg["train"]["epochs"] == 3 and cfg["schedule"] == {"name": "cosine"}


def test_malformed_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("optimizer: {lr: 0.1\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_config(path)


def _raynn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raynn.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("optimizer: {lr: -1}\n", "optimizer.lr: must be > 0, got -1"),
        ("targets: {label_smoothing: 1.2}\n", "targets.label_smoothing: must be in [0, 1), got 1.2"),
        ("train: {batch_size: 0}\n", "train.batch_size: must be >= 1, got 0"),
        ("data: {name: mnist, root: /missing}\n", "data.root: must be an existing directory, got '/missing'"),
        ("optimizer: [lr\n", "config: must be valid YAML"),
    ],
)
def test_cli_rejects_bad_config_with_exit_2_and_starts_nothing(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "run.yaml").write_text(text)
    proc = _raynn("train", "run.yaml", "--workers", "2", "--storage", "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one message, no traceback
    assert not (tmp_path / "out").exists()  # nothing started, nothing written
    assert "Started a local Ray instance" not in proc.stdout + proc.stderr


def test_relative_input_paths_are_read_next_to_the_config_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "run.yaml").write_text("data: {name: mnist, root: ../data}\n")
    cwd = tmp_path / "a" / "b"  # from here ../data would be a/data, which does not exist
    (cwd / "data").mkdir(parents=True)
    monkeypatch.chdir(cwd)
    assert load_config(tmp_path / "configs" / "run.yaml")["data"]["root"] == str(tmp_path / "data")
    # --set and Python dicts: relative to the current directory
    cfg = load_config(tmp_path / "configs" / "run.yaml", ["data.root=data"])
    assert cfg["data"]["root"] == str(cwd / "data")
    assert check_config({"data": {"name": "mnist", "root": "data"}})["data"]["root"] == str(cwd / "data")


def test_the_shipped_mnist_example_trains_from_any_directory(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "mnist_cnn.yaml"
    proc = _raynn("train", str(example), "--set", "train.epochs=1", "--set", "data.subset=500",
                  "--storage", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "val_acc" in proc.stdout + proc.stderr and (tmp_path / "out").is_dir()


def test_cli_rejects_bad_override(tmp_path: Path) -> None:
    proc = _raynn("train", "--set", "optimizer.lr", cwd=tmp_path)
    assert proc.returncode == 2 and "--set: must look like key.subkey=value" in proc.stderr


def test_the_typed_config_reads_as_attributes_and_round_trips_through_its_dict() -> None:
    from raynn.config import RunConfig, parse_config

    raw = {"schedule": "cosine", "optimizer": {"penalty": {"lambda": 0.01}},
           "train": {"early_stopping": {"patience": 2}, "epochs": 3}}
    cfg = parse_config(raw)
    assert cfg.train.epochs == 3 and cfg.schedule == {"name": "cosine"}
    assert cfg.optimizer.penalty.lambda_ == 0.01 and cfg.train.early_stopping.metric == "val_loss"
    plain = cfg.to_dict()
    assert plain == check_config(raw) and plain["optimizer"]["penalty"] == {"p": 2, "lambda": 0.01}
    # The dict as it crosses to a Ray worker or sits in a checkpoint types back to the same config.
    assert RunConfig.checked(plain) == cfg and RunConfig.checked(plain).to_dict() == plain
    with pytest.raises(ConfigError, match="^train.epochs: must be an integer"):
        RunConfig.checked({**plain, "train": {**plain["train"], "epochs": "3"}})
