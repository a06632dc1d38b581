"""raynn checkpoints: one ``checkpoint.pt`` per directory, everything needed to resume or to predict.

A checkpoint holds the model, optimizer, schedule position (the iteration k), preprocessing statistics, RNG
state, early-stopping and clipping state, the checked config and the epoch's metrics. Evaluation, inference,
fine-tuning (``model.init: {name: pretrained, path: ...}``) and distillation all read the same file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CHECKPOINT_FILE", "load_checkpoint", "load_model", "load_teacher", "local_directory", "Predictor"]

CHECKPOINT_FILE = "checkpoint.pt"


def _resolve(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no raynn checkpoint at {str(path)!r} (expected a directory with {CHECKPOINT_FILE} or the file itself)")
    return p


def local_directory(checkpoint: Any) -> str:
    """A Ray ``Checkpoint``'s directory on this machine: read in place on a local (or shared) filesystem; from
    cloud storage, downloaded into a new temporary directory, removed when the process exits normally (a
    killed trial process can leave it behind). Callers load it at once and call this once per run."""
    import atexit
    import shutil
    import tempfile

    import pyarrow.fs

    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem) and Path(checkpoint.path).is_dir():
        return str(checkpoint.path)
    directory = tempfile.mkdtemp(prefix="raynn-restore-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return checkpoint.to_directory(directory)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint directory (or file). Only tensors and plain data are unpickled."""
    return torch.load(_resolve(path), map_location="cpu", weights_only=True)


@dataclass
class Predictor:
    """A trained model with the preprocessing it was trained with: raw inputs in, logits out."""

    model: nn.Module
    preprocess: Any

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.model(self.preprocess.transform(x[i : i + batch])) for i in range(0, len(x), batch)])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)


def load_model(path: str | os.PathLike[str]) -> Predictor:
    """Rebuild the model and its fitted preprocessing from a checkpoint."""
    from raynn.config import model_spec
    from raynn.data import build_preprocessor
    from raynn.nn import build_model

    state = load_checkpoint(path)
    cfg = state["config"]
    model = build_model(model_spec(cfg), tuple(state["in_shape"]), state["num_classes"])
    model.load_state_dict(state["model"])
    pre = build_preprocessor(cfg["data"]["preprocess"])
    pre.load_state_dict(state["preprocess"])
    return Predictor(model, pre)


def load_teacher(path: str | os.PathLike[str]) -> Predictor:
    """The teacher network of knowledge distillation (seed 4.2.3): a trained raynn checkpoint."""
    return load_model(path)
