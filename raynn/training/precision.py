"""How a step computes: ``train.precision`` (fp32, bf16, fp16) as ``torch.autocast`` and, for fp16, a gradient
scaler; ``train.compile`` as ``torch.compile``; the device a run or a Ray worker trains on (``train.device``).

These are settings of an unchanged loop, as in Lightning's precision plugins and Accelerate: the forward pass
runs under autocast on the run's device, the loss is computed in float32, and fp16 scales the loss so that small
gradients do not underflow (``torch.amp.GradScaler``: a step whose gradients are inf or NaN is skipped and the
scale lowered, not reported as a diverged run; its state is part of the checkpoint). bf16 needs no scaler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["DTYPES", "Precision", "compile_model", "resolve_device"]

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""``train.precision`` -> the autocast dtype (None: no autocast)."""


class Precision:
    """Autocast and the gradient scaler of one run.

    Args:
        name: ``fp32``, ``bf16`` or ``fp16``.
        device: The run's device; autocast and the scaler are made for its type (``cuda``, ``cpu``).
    """

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in DTYPES:
            raise ValueError(f"`precision` must be one of {', '.join(DTYPES)}, but got {name=!r}")
        self.name, self.device_type, self.dtype = name, device.type, DTYPES[name]
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device_type, dtype=self.dtype):
            yield

    def __repr__(self) -> str:
        return f"Precision({self.name!r}, device_type={self.device_type!r})"


def compile_model(model: nn.Module, spec: bool | dict[str, Any]) -> nn.Module:
    """``torch.compile(model, **spec)`` when ``train.compile`` asks for it (``true`` or ``{backend, mode}``)."""
    if spec is False:
        return model
    return torch.compile(model, **({} if spec is True else dict(spec)))


def resolve_device(setting: str, assigned: torch.device, where: str) -> torch.device:
    """The device to train on: ``train.device`` (``auto``: the one assigned by the launcher, ``cpu``, ``cuda``)
    against what this process was given. A process given a GPU whose torch finds no CUDA device (a CPU-only
    wheel on a GPU node) fails with one line naming ``where`` rather than train silently on the CPU.

    Raises:
        ConfigError: ``train.device`` cannot be honoured here.
    """
    from raynn.errors import ConfigError

    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda" or assigned.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device", f"must be cpu on {where}: it was given a GPU but torch "
                              f"{torch.__version__} finds no CUDA device there (a CPU-only torch build?); install "
                              "a CUDA build of torch there or set train.device: cpu", setting)
        return assigned if assigned.type == "cuda" else torch.device("cuda", torch.cuda.current_device())
    return assigned
