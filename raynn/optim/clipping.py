"""Gradient clipping, the seed's section 4.4.3 (3): by value, by norm, and by norm with a threshold that
follows the recent average gradient norm.

A clipper is called between ``loss.backward()`` and ``optimizer.step()``:
``norm = clipper(model.parameters())`` changes the ``.grad`` tensors in place and returns the global norm
``||g|| = sqrt(sum over all elements of g^2)`` *before* clipping, for logging. Parameters without a gradient
are skipped. The norm clippers leave the gradients untouched when the norm is not finite (and return it),
so the caller can decide to skip the step.

:meth:`Clipper.clip_` does the same without ever reading a value back to the host: the norm stays a tensor on
the gradients' device and every decision is a ``torch.where``, so a GPU training step never waits for the GPU
(the training loop calls it; ``__call__`` returns the norm as a float).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from raynn.registry import Registry
from raynn.values import check_int, value_error

__all__ = [
    "CLIPPERS",
    "AdaptiveNormClipper",
    "Clipper",
    "NormClipper",
    "ValueClipper",
    "build_clipper",
    "global_norm",
    "global_norm_tensor",
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


def global_norm_tensor(grads: list[torch.Tensor]) -> torch.Tensor:
    """``||g||_2`` of all ``grads`` as a float64 tensor on their device, no host sync (0 for none)."""
    if not grads:
        return torch.zeros((), dtype=torch.float64)
    per_tensor = torch.stack([torch.linalg.vector_norm(g.detach(), dtype=torch.float64) for g in grads])
    return torch.linalg.vector_norm(per_tensor)


def _scale_to_(grads: list[torch.Tensor], norm: torch.Tensor, threshold: torch.Tensor | float) -> None:
    """The chapter's norm clipping: ``g <- b g / ||g||`` if ``||g|| > b`` (and finite), else unchanged; the
    decision is a ``torch.where`` on the device, never a host sync."""
    if not grads:
        return
    clip = torch.isfinite(norm) & (norm > threshold)
    scale = torch.where(clip, threshold / norm, torch.ones_like(norm))
    with torch.no_grad():
        torch._foreach_mul_(grads, scale.to(grads[0].dtype))


class Clipper(ABC):
    """Clips gradients in place; :meth:`clip_` returns the pre-clip global norm as a device tensor (no host
    sync), ``__call__`` as a float."""

    @abstractmethod
    def clip_(self, params: Iterable[torch.Tensor]) -> torch.Tensor: ...

    def __call__(self, params: Iterable[torch.Tensor]) -> float:
        return float(self.clip_(params))

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

    def clip_(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        grads = _grads(params)
        norm = global_norm_tensor(grads)
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

    def clip_(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        grads = _grads(params)
        norm = global_norm_tensor(grads)
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
        check_int("window", window, 1, rule="must be an int >= 1", error=value_error)
        check_int("warmup_steps", warmup_steps, 1, rule="must be an int >= 1", error=value_error)
        self.factor, self.window, self.warmup_steps = float(factor), window, warmup_steps
        # The last `window` recorded norms as a ring on the gradients' device; counters as device tensors too,
        # since whether a norm is recorded (finite or not) is known only there.
        self._ring = torch.zeros(window, dtype=torch.float64)
        self._pos = torch.zeros((), dtype=torch.int64)
        self._count = torch.zeros((), dtype=torch.int64)  # norms recorded, at most `window`
        self._steps = torch.zeros((), dtype=torch.int64)  # finite norms seen

    def _to(self, device: torch.device) -> None:
        if self._ring.device != device:
            self._ring, self._pos = self._ring.to(device), self._pos.to(device)
            self._count, self._steps = self._count.to(device), self._steps.to(device)

    def _threshold(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(active, b): whether clipping is on (past warmup, something recorded) and the threshold."""
        active = (self._steps >= self.warmup_steps) & (self._count > 0)
        mean = self._ring.sum() / self._count.clamp(min=1)
        return active, self.factor * mean

    @property
    def threshold(self) -> float | None:
        """The ``b`` the next call will use, or None while warming up."""
        active, b = self._threshold()
        return float(b) if bool(active) else None

    def clip_(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        grads = _grads(params)
        norm = global_norm_tensor(grads)
        self._to(norm.device)
        finite = torch.isfinite(norm)
        active, b = self._threshold()
        _scale_to_(grads, norm, torch.where(active, b, torch.full_like(b, math.inf)))
        recorded = torch.where(active, torch.minimum(norm, b), norm)
        # Write slot `pos` by a mask, not by indexing with a device scalar (which would read it back).
        at = torch.arange(self.window, device=norm.device) == self._pos
        self._ring = torch.where(at & finite, recorded, self._ring)
        step = finite.to(torch.int64)
        self._pos = (self._pos + step) % self.window
        self._count = torch.clamp(self._count + step, max=self.window)
        self._steps = self._steps + step
        return norm

    def state_dict(self) -> dict[str, Any]:
        count, pos = int(self._count), int(self._pos)
        ring = self._ring.cpu().tolist()
        norms = ring[:count] if count < self.window else ring[pos:] + ring[:pos]  # oldest first
        return {"norms": norms, "steps": int(self._steps)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        norms = [float(n) for n in state["norms"]]
        steps = int(state["steps"])
        if steps < len(norms):
            raise ValueError(
                f"`steps >= len(norms)` must hold in the state, but got ({steps=}, {len(norms)=})"
            )
        norms = norms[-self.window:]
        device = self._ring.device
        self._ring = torch.zeros(self.window, dtype=torch.float64, device=device)
        self._ring[: len(norms)] = torch.tensor(norms, dtype=torch.float64)
        self._pos = torch.tensor(len(norms) % self.window, device=device)
        self._count = torch.tensor(len(norms), device=device)
        self._steps = torch.tensor(steps, device=device)


def build_clipper(spec: str | Mapping[str, Any]) -> Clipper:
    """A clipper from a config entry: ``{"name": "norm", "max_norm": 1.0}``.

    Unknown names and options are ``ValueError`` that list the valid ones.
    """
    return CLIPPERS.build(spec)
