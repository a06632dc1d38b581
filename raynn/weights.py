"""Reading a PyTorch file as data only: :func:`safe_load`, the one way raynn opens a checkpoint or state dict.

A leaf module (torch only): the model initializers (a pre-trained model, :mod:`raynn.nn.init`) and the
checkpoints of :mod:`raynn.training.checkpoint` both read files through it, and the checkpoints also rebuild
models, so keeping it there made an import cycle between ``raynn.nn`` and ``raynn.training``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FILE", "CheckpointError", "checkpoint_file", "safe_load"]

CHECKPOINT_FILE = "checkpoint.pt"


def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """The checkpoint file at ``path``: the path itself, or ``checkpoint.pt`` in a directory."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no raynn checkpoint at {str(path)!r} (expected a directory with {CHECKPOINT_FILE} or the file itself)")
    return p


class CheckpointError(ValueError):
    """A checkpoint file that raynn will not use: refused (it holds more than tensors and plain data) or
    unreadable (truncated, corrupted, not a raynn checkpoint). The message names the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{str(path)!r}: {reason}")


def _weights_only_reason(exc: Exception) -> str:
    for line in str(exc).splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip().split(". Please use")[0]
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def safe_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, its failures as one :class:`CheckpointError`.

    A pickle naming a Python global that is not a tensor type (``builtins.open``, ``os.system``: what a
    payload needs) is refused before anything of it runs; say so plainly rather than relay torch's advice to
    retry with ``weights_only=False``.
    """
    p = checkpoint_file(path)
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _weights_only_reason(exc)
        if "Unsupported global" in reason or "Unsupported operand" in reason:
            raise CheckpointError(p, f"refused: it holds Python objects, not only tensors and plain data "
                                  f"({reason}); loading it could run code, so raynn does not. Use only "
                                  "checkpoints from a source you trust, saved by raynn or as a state dict")
        raise CheckpointError(p, f"unreadable: not a PyTorch file of tensors ({reason})") from None
    except Exception as exc:  # noqa: BLE001 - a truncated zip, an empty file, flipped bytes: all "unreadable"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(p, f"unreadable (truncated or corrupted?): {type(exc).__name__}: {detail}") from None
