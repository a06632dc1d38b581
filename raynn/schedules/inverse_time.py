"""Inverse time decay (seed §4.4.2 (1) ②)."""

from __future__ import annotations

from dataclasses import dataclass

from raynn.schedules._base import RateDecay, register

__all__ = ["InverseTime"]


@register("inverse_time", "alpha0 / (1 + beta k)")
@dataclass(frozen=True)
class InverseTime(RateDecay):
    r"""Inverse time decay.

    .. math:: \alpha_k = \alpha_0 \frac{1}{1 + \beta k}

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        beta: Decay rate :math:`\beta > 0`.
    """

    def _lr(self, k: int) -> float:
        return self.alpha0 / (1.0 + self.beta * k)
