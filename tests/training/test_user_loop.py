"""The plain loop (no Ray) on your own model, data set and loss: the chapter's techniques still apply to them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from raynn.config import check_config, parse_config
from raynn.nn import build_initializer, build_network
from raynn.training.checkpoint import load_model
from raynn.training.local import LocalRun
from raynn.training.loop import run_training

USER = '''
import torch
from torch import nn
from torch.utils.data import Dataset


class Blobs(Dataset):
    """Three Gaussian blobs in `dim` dimensions, as {"features", "label"} mappings."""

    def __init__(self, n=240, dim=6, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 3, (n,), generator=g)
        self.x = torch.randn(n, dim, generator=g) + 2 * nn.functional.one_hot(self.y, dim).float()
        self.targets, self.classes = self.y.tolist(), ["a", "b", "c"]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"features": self.x[i], "label": int(self.y[i])}


def pair(n=240):
    """A (train, validation) pair, kept as it is."""
    return Blobs(n, seed=1), Blobs(n // 4, seed=2)


class Net(nn.Module):
    def __init__(self, width=8, num_classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.body(x)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "blobpkg").mkdir(parents=True)
    (tmp_path / "proj" / "blobpkg" / "__init__.py").write_text(USER)
    return tmp_path / "proj"


def _cfg(project: Path, tmp_path: Path, name: str, **sections: Any) -> dict[str, Any]:
    raw = {"name": name, "storage": str(tmp_path / "runs"), "code": {"working_dir": str(project)},
           "model": {"class_path": "blobpkg.Net", "init_args": {"width": 8}},
           "data": {"class_path": "blobpkg.Blobs", "batch_keys": ["features", "label"]},
           "train": {"epochs": 3, "batch_size": 16}}
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) and key in raw else value
    return check_config(raw)


def _run(cfg: dict[str, Any], tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    run = LocalRun(tmp_path / "runs" / cfg["name"], log=lambda line: None)
    history = run_training(cfg, run.env())
    return history, run.latest_checkpoint()


def test_a_user_model_keeps_its_own_initialization_unless_an_initializer_is_asked_for(project: Path,
                                                                                     tmp_path: Path) -> None:
    cfg = _cfg(project, tmp_path, "init")
    assert cfg["model"]["init"] == {"name": "default"} and cfg["model"]["name"] is None
    torch.manual_seed(0)
    own = build_network(parse_config(cfg), (6,), 3)
    torch.manual_seed(0)
    kept = build_initializer(cfg["model"]["init"])(build_network(parse_config(cfg), (6,), 3), activation="relu",
                                                    generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(own.parameters(), kept.parameters()))
    he = _cfg(project, tmp_path, "he", model={"init": "he"})
    torch.manual_seed(0)
    model = build_initializer(he["model"]["init"])(build_network(parse_config(he), (6,), 3), activation="relu",
                                                   generator=torch.Generator().manual_seed(1))
    w = model.body[0].weight
    assert not torch.equal(w, own.body[0].weight)
    assert torch.all(model.body[0].bias == 0)  # the chapter's constant bias
    assert abs(float(w.detach().var()) - 2 / 6) < 0.25  # He: variance 2 / fan_in


def test_the_chapters_techniques_train_a_user_model_on_user_data(project: Path, tmp_path: Path) -> None:
    cfg = _cfg(project, tmp_path, "all", optimizer={"name": "adam", "lr": 0.01, "clip": {"name": "norm",
                                                                                           "max_norm": 1.0}},
               schedule={"name": "cosine"}, targets={"label_smoothing": 0.1},
               train={"epochs": 4, "early_stopping": {"patience": 2}})
    history, checkpoint = _run(cfg, tmp_path)
    assert 1 <= len(history) <= 4 and all(math.isfinite(h["val_loss"]) for h in history)
    assert history[-1]["lr"] < history[0]["lr"]  # the schedule ran
    # a teacher trained on the same data distils into a new student, its logits computed batch by batch
    student = _cfg(project, tmp_path, "student",
                   targets={"distillation": {"teacher": checkpoint, "temperature": 2.0, "alpha": 0.5}})
    plain = _cfg(project, tmp_path, "plain")
    distilled, _ = _run(student, tmp_path)
    undistilled, _ = _run(plain, tmp_path)
    assert distilled[0]["train_loss"] != undistilled[0]["train_loss"]


def test_a_train_validation_pair_and_a_loss_of_ones_own(project: Path, tmp_path: Path) -> None:
    cfg = _cfg(project, tmp_path, "pair", data={"class_path": "blobpkg.pair", "init_args": {"n": 160}},
               loss={"class_path": "torch.nn.CrossEntropyLoss", "init_args": {"label_smoothing": 0.2}})
    history, checkpoint = _run(cfg, tmp_path)
    assert len(history) == 3 and history[-1]["step"] == 3 * 10  # 160 training samples, batches of 16
    predictor = load_model(checkpoint)
    assert predictor.logits(torch.zeros(5, 6)).shape == (5, 3)


def test_a_run_on_user_data_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one(project: Path,
                                                                                   tmp_path: Path) -> None:
    whole, _ = _run(_cfg(project, tmp_path, "whole", train={"epochs": 3}), tmp_path)
    _run(_cfg(project, tmp_path, "parts", train={"epochs": 2}), tmp_path)
    resumed, _ = _run(_cfg(project, tmp_path, "parts", train={"epochs": 3}), tmp_path)  # same name: resumes
    assert [h["epoch"] for h in resumed] == [1, 2, 3] and resumed[-1]["resumes"] == 1
    assert resumed[-1]["val_loss"] == whole[-1]["val_loss"] and resumed[-1]["step"] == whole[-1]["step"]
