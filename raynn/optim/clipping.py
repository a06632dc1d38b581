"""Gradient clipping, the seed's section 4.4.3 (3): by value, by norm, and by norm with a threshold that
follows the recent average gradient norm.

A clipper is called between ``loss.backward()`` and ``optimizer.step()``:
``norm = clipper(model.parameters())`` changes the ``.grad`` tensors in place and returns the global norm
``||g|| = sqrt(sum over all elements of g^2)`` *before* clipping, for logging. Parameters without a gradient
are skipped. The norm clippers leave the gradients untouched when the norm is not finite (and return it),
so the caller can decide to skip the step.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from raynn.registry import Registry

__all__ = [
    "CLIPPERS",
    "AdaptiveNormClipper",
    "Clipper",
    "NormClipper",
    "ValueClipper",
    "build_clipper",
    "global_norm",
]

CLIPPERS: Registry[type[Clipper]] = Registry("clipper")


def _grads(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        params = [params]
    return [p.grad for p in params if p.grad is not None]


def global_norm(grads: Iterable[torch.Tensor]) -> float:
    """``||g||_2`` of all ``grads`` flattened into one vector (0.0 for none)."""
    grads = list(grads)
    if not grads:
        return 0.0
    per_tensor = torch.stack([torch.linalg.vector_norm(g.detach(), dtype=torch.float64) for g in grads])
    return float(torch.linalg.vector_norm(per_tensor))


def _scale_to_(grads: list[torch.Tensor], norm: float, threshold: float) -> None:
    """The chapter's norm clipping: ``g <- b g / ||g||`` if ``||g|| > b``, else unchanged."""
    if math.isfinite(norm) and norm > threshold:
        with torch.no_grad():
            for g in grads:
                g.mul_(threshold / norm)


class Clipper(ABC):
    """Clips gradients in place; ``__call__`` returns the pre-clip global norm."""

    @abstractmethod
    def __call__(self, params: Iterable[torch.Tensor]) -> float: ...

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (none for stateless clippers)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027 -- stateless by default
        """Restore what :meth:`state_dict` returned."""


@CLIPPERS.register("value", "clamp every gradient element to [low, high] (4.4.3)")
class ValueClipper(Clipper):
    """Clip by value: ``g_clipped = max(min(g, b), a)`` element-wise, with ``a = low``, ``b = high``.

    The interval need not be symmetric.

    Args:
        low: Lower bound ``a``.
        high: Upper bound ``b >= a``.
    """

    def __init__(self, low: float, high: float) -> None:
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"`low` and `high` must be finite, but got ({low=}, {high=})")
        if not low <= high:
            raise ValueError(f"`low <= high` must hold, but got ({low=}, {high=})")
        self.low, self.high = float(low), float(high)

    def __call__(self, params: Iterable[torch.Tensor]) -> float:
        grads = _grads(params)
        norm = global_norm(grads)
        with torch.no_grad():
            for g in grads:
                g.clamp_(self.low, self.high)
        return norm


@CLIPPERS.register("norm", "rescale the global gradient to norm b when ||g|| > b (4.4.3)")
class NormClipper(Clipper):
    """Clip by norm: ``g_clipped = g`` if ``||g|| <= b``, else ``b g / ||g||``, on the global norm.

    Unlike ``torch.nn.utils.clip_grad_norm_`` no ``1e-6`` is added to ``||g||``: the clipped norm is exactly
    ``b``.

    Args:
        max_norm: The threshold ``b > 0``.
    """

    def __init__(self, max_norm: float) -> None:
        if not (max_norm > 0 and math.isfinite(max_norm)):
            raise ValueError(f"`max_norm > 0` must hold, but got {max_norm=}")
        self.max_norm = float(max_norm)

    def __call__(self, params: Iterable[torch.Tensor]) -> float:
        grads = _grads(params)
        norm = global_norm(grads)
        _scale_to_(grads, norm, self.max_norm)
        return norm


@CLIPPERS.register("adaptive", "norm clipping at b = factor * mean of the last `window` norms (4.4.3)")
class AdaptiveNormClipper(Clipper):
    """Norm clipping whose threshold follows the recent gradient norms, as 4.4.3 suggests.

    ``b = factor * mean(n_{k-window}, ..., n_{k-1})`` over the norms of the last ``window`` steps *before*
    this one, so a spike cannot raise its own threshold. What enters the window is the norm after
    clipping, ``min(||g_k||, b)``: an exploding gradient is recorded as ``b``, not as its own size, so a burst
    of spikes raises the threshold by at most ``factor`` per window. During the first ``warmup_steps`` steps
    there is no clipping, only recording. Non-finite norms are neither clipped nor recorded.

    Args:
        factor: Threshold multiplier, ``factor > 0`` (``>= 1`` leaves typical gradients alone).
        window: How many recent norms to average, ``>= 1``.
        warmup_steps: Steps recorded before clipping starts, ``>= 1``.
    """

    def __init__(self, factor: float = 2.0, window: int = 100, warmup_steps: int = 10) -> None:
        if not (factor > 0 and math.isfinite(factor)):
            raise ValueError(f"`factor > 0` must hold, but got {factor=}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"`window` must be an int >= 1, but got {window=!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
            raise ValueError(f"`warmup_steps` must be an int >= 1, but got {warmup_steps=!r}")
        self.factor, self.window, self.warmup_steps = float(factor), window, warmup_steps
        self._norms: deque[float] = deque(maxlen=window)
        self._steps = 0

    @property
    def threshold(self) -> float | None:
        """The ``b`` the next call will use, or None while warming up."""
        if self._steps < self.warmup_steps or not self._norms:
            return None
        return self.factor * sum(self._norms) / len(self._norms)

    def __call__(self, params: Iterable[torch.Tensor]) -> float:
        grads = _grads(params)
        norm = global_norm(grads)
        if not math.isfinite(norm):
            return norm
        threshold = self.threshold
        if threshold is not None:
            _scale_to_(grads, norm, threshold)
        self._norms.append(norm if threshold is None else min(norm, threshold))
        self._steps += 1
        return norm

    def state_dict(self) -> dict[str, Any]:
        return {"norms": list(self._norms), "steps": self._steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        norms = [float(n) for n in state["norms"]]
        steps = int(state["steps"])
        if steps < len(norms):
            raise ValueError(
                f"`steps >= len(norms)` must hold in the state, but got ({steps=}, {len(norms)=})"
            )
        self._norms = deque(norms, maxlen=self.window)
        self._steps = steps


def build_clipper(spec: str | Mapping[str, Any]) -> Clipper:
    """A clipper from a config entry: ``{"name": "norm", "max_norm": 1.0}``.

    Unknown names and options are ``ValueError`` that list the valid ones.
    """
    return CLIPPERS.build(spec)
