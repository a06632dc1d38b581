"""The plain-PyTorch loop, in this process, without Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from raynn.api import train
from raynn.training.checkpoint import load_checkpoint, load_model
from raynn.training.local import checkpoint_dirs

FAST: dict[str, Any] = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "params": {"hidden": [64]}},
    "optimizer": {"name": "momentum", "lr": 0.05},
    "train": {"epochs": 3, "batch_size": 64, "num_threads": 1},
}


def _cfg(storage: str, name: str, **sections: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {k: dict(v) for k, v in FAST.items()}
    for key, value in sections.items():
        cfg[key] = cfg.get(key, {}) | value if isinstance(value, dict) and key in cfg else value
    return cfg | {"storage": storage, "name": name}


def test_single_process_run_learns_digits_and_checkpoints_every_epoch(storage: str, capsys: Any) -> None:
    result = train(_cfg(storage, "plain"))
    assert result.metrics["epoch"] == 3 and result.metrics["val_accuracy"] > 0.9
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    out = capsys.readouterr().out
    assert out.count("epoch ") >= 3 and "samples/s" in out and "val_acc" in out
    assert "global batch 64 = 64 x 1 worker(s)" in out
    state = load_checkpoint(result.checkpoint)
    assert state["epoch"] == 3 and state["step"] == 3 * result.history[0]["step"]
    assert {"model", "optimizer", "preprocess", "rng", "config"} <= set(state)
    assert len(checkpoint_dirs(result.run_dir)) == 2  # the newest two are kept


def test_resume_from_checkpoint_is_exact(storage: str) -> None:
    full = train(_cfg(storage, "full", train=FAST["train"] | {"epochs": 4}))
    train(_cfg(storage, "split", train=FAST["train"] | {"epochs": 2}))
    # The same name and storage resume the run: epochs 3 and 4 continue from the epoch-2 checkpoint.
    resumed = train(_cfg(storage, "split", train=FAST["train"] | {"epochs": 4}))
    assert resumed.metrics["resumes"] == 1 and [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["resumes"] for h in resumed.history] == [0, 0, 1, 1]
    a, b = load_checkpoint(full.checkpoint)["model"], load_checkpoint(resumed.checkpoint)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_predictor_applies_the_saved_preprocessing(storage: str) -> None:
    result = train(_cfg(storage, "predict"))
    predictor = load_model(result.checkpoint)
    from raynn.data import load_dataset, split_dataset

    _, val = split_dataset(load_dataset("digits"), 0.2, seed=0)
    accuracy = (predictor.predict(val.x) == val.y).float().mean().item()
    assert abs(accuracy - result.metrics["val_accuracy"]) < 1e-6


def test_fine_tuning_from_a_pretrained_checkpoint_starts_where_it_ended(storage: str) -> None:
    base = train(_cfg(storage, "base"))
    tuned = train(_cfg(storage, "tuned", model=FAST["model"] | {"init": {"name": "pretrained", "path": base.checkpoint}},
                       optimizer={"name": "sgd", "lr": 1e-9}, train=FAST["train"] | {"epochs": 1}))
    assert abs(tuned.metrics["val_accuracy"] - base.metrics["val_accuracy"]) < 0.02


def test_distillation_and_label_smoothing_train(storage: str) -> None:
    teacher = train(_cfg(storage, "teacher"))
    student = train(_cfg(storage, "student", model={"name": "mlp", "params": {"hidden": [16]}},
                         targets={"label_smoothing": 0.1,
                                  "distillation": {"teacher": teacher.checkpoint, "temperature": 4.0, "alpha": 0.7}}))
    assert student.metrics["val_accuracy"] > 0.85


def test_every_technique_at_once_runs(storage: str) -> None:
    result = train(_cfg(
        storage, "kitchen-sink",
        data={"preprocess": {"name": "pca_whiten", "n_components": 32}, "augment": [{"name": "noise", "std": 0.3}]},
        model={"name": "mlp", "activation": "tanh", "norm": "layer", "dropout": 0.1, "params": {"hidden": [64]}},
        optimizer={"name": "adam", "lr": 0.01, "weight_decay": 1e-4, "penalty": {"p": 1, "lambda": 1e-5},
                   "clip": {"name": "adaptive"}},
        schedule={"name": "triangular", "alpha_min": 0.001, "delta_t": 20, "decay": 0.5},
        train=FAST["train"] | {"epochs": 5},
    ))
    assert result.metrics["val_accuracy"] > 0.8


def test_cnn_with_batch_norm_and_augmentation(storage: str) -> None:
    result = train(_cfg(
        storage, "cnn",
        data={"preprocess": "minmax", "augment": [{"name": "rotation", "degrees": 10}, {"name": "shift", "fraction": 0.1}]},
        model={"name": "cnn", "norm": "batch", "params": {"channels": [8, 16]}},
        schedule={"name": "cosine"},
    ))
    assert result.metrics["val_accuracy"] > 0.8


def test_early_stopping_ends_the_run_before_its_epochs(storage: str) -> None:
    result = train(_cfg(storage, "early", optimizer={"name": "sgd", "lr": 1e-7},
                        train=FAST["train"] | {"epochs": 30, "early_stopping": {"patience": 2, "min_delta": 0.01}}))
    assert result.metrics["early_stopped"] and result.metrics["epoch"] == 3


def test_run_dirs_are_separate_per_name(storage: str) -> None:
    train(_cfg(storage, "one", train=FAST["train"] | {"epochs": 1}))
    assert (Path(storage) / "one" / "progress.jsonl").exists()


def test_a_diverging_run_stops_at_that_epoch_marked_diverged_with_an_infinite_loss(
        storage: str, capsys: Any) -> None:
    from raynn.cli import main

    code = main(["train", "--set", "optimizer.lr=1.0e4", "--set", "train.epochs=6", "--set", "train.num_threads=1",
                 "--set", "model.params.hidden=[64]", "--storage", storage, "--name", "diverge"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    history = [json.loads(line) for line in (Path(storage) / "diverge" / "progress.jsonl").read_text().splitlines()]
    last = history[-1]
    assert last["diverged"] is True and last["val_loss"] == float("inf") and last["train_loss"] == float("inf")
    assert len(history) < 6 and not any(h["diverged"] for h in history[:-1])  # stopped at the first such epoch
    assert f"raynn: warning: diverged at epoch {last['epoch']}: the loss is not finite" in captured.err
    assert captured.err.strip().splitlines()[-1].startswith(
        f"raynn: error: training diverged at epoch {last['epoch']}")
