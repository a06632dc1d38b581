"""raynn.data.user: your own data set split, turned into (input, label) tensors, and trained on without Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from raynn_testing import write_image_folder

from raynn.config import check_config, parse_config
from raynn.data.user import Samples, known_labels, load_user_data, split_indices
from raynn.training.checkpoint import load_checkpoint, load_model
from raynn.training.local import LocalRun
from raynn.training.loop import run_training


def test_split_indices_is_seeded_stratified_and_matches_the_built_in_arithmetic() -> None:
    labels = torch.tensor([0] * 30 + [1] * 10)
    train, val = split_indices(40, labels, 0.25, seed=3)
    assert sorted(train + val) == list(range(40)) and len(val) == 10  # round(40 * 0.25)
    assert (labels[val] == 1).sum() == 2 and (labels[val] == 0).sum() == 8  # 30:10 kept in validation
    assert split_indices(40, labels, 0.25, seed=3) == (train, val)
    assert split_indices(40, labels, 0.25, seed=4) != (train, val)
    train_u, val_u = split_indices(40, None, 0.25, seed=3)
    assert len(val_u) == 10 and sorted(train_u + val_u) == list(range(40))
    with pytest.raises(ValueError, match="both parts are non-empty"):
        split_indices(3, None, 0.01, seed=0)


def test_samples_take_tuples_and_mappings_and_make_float_tensors_of_pil_images() -> None:
    img = Image.fromarray(np.full((4, 5, 3), 255, dtype=np.uint8))
    s = Samples([(img, 2)], None, [], None)
    x, y = s[0]
    assert x.shape == (3, 4, 5) and x.dtype == torch.float32 and float(x.max()) == 1.0 and y == 2
    m = Samples([{"pixels": torch.ones(3), "target": 1}], None, [lambda t: t * 2], ["pixels", "target"])
    x, y = m[0]
    assert torch.equal(x, torch.full((3,), 2.0)) and y == 1
    with pytest.raises(ValueError, match="set data.batch_keys"):
        Samples([{"pixels": 1, "target": 1}], None, [], None)[0]
    with pytest.raises(ValueError, match="no key 'label'"):
        Samples([{"pixels": 1, "target": 1}], None, [], ["pixels", "label"])[0]


def test_image_folder_is_split_by_its_targets_and_a_train_validation_pair_is_kept(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    cfg = check_config({"data": {"class_path": "torchvision.datasets.ImageFolder", "init_args": {"root": str(root)},
                                 "val_fraction": 0.25}})
    data = load_user_data(parse_config(cfg).data, seed=0)
    assert data.num_classes == 3 and len(data.train) == 27 and len(data.val) == 9
    labels = known_labels(data.train.dataset)
    assert labels is not None and sorted(labels[data.val.indices].tolist()) == [0] * 3 + [1] * 3 + [2] * 3
    x, y = data.train[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32


def test_an_image_folder_trains_in_process_with_statistics_of_the_training_split_in_the_checkpoint(
        tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    cfg = check_config({
        "name": "folder", "storage": str(tmp_path / "runs"), "model": {"name": "mlp", "params": {"hidden": [16]}},
        "data": {"class_path": "torchvision.datasets.ImageFolder", "init_args": {"root": str(root)},
                 "preprocess": {"name": "standardize", "drop_constant": False},
                 "train_transform": [{"class_path": "torchvision.transforms.v2.RandomHorizontalFlip"}]},
        "train": {"epochs": 2, "batch_size": 8}})
    run = LocalRun(tmp_path / "runs" / "folder", log=lambda line: None)
    history = run_training(cfg, run.env())
    assert [h["epoch"] for h in history] == [1, 2] and all(np.isfinite(h["val_loss"]) for h in history)
    state = load_checkpoint(run.latest_checkpoint())
    data = load_user_data(parse_config(cfg).data, seed=0)
    x_train = torch.stack([data.plain[i][0] for i in range(len(data.plain))])  # no flip: the plain split
    assert torch.allclose(torch.as_tensor(state["preprocess"]["mean"]).flatten().float(),
                          x_train.reshape(len(x_train), -1).mean(0), atol=1e-5)
    predictor = load_model(run.latest_checkpoint())
    x_val = torch.stack([data.val[i][0] for i in range(len(data.val))])
    assert predictor.logits(x_val).shape == (7, 3)  # round(36 * 0.2) validation images
