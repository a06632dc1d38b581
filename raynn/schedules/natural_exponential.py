"""Natural exponential decay (seed §4.4.2 (1) ③, second form)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from raynn.schedules._base import RateDecay, register

__all__ = ["NaturalExponential"]


@register("natural_exponential", "alpha0 * exp(-beta k)")
@dataclass(frozen=True)
class NaturalExponential(RateDecay):
    r"""Natural exponential decay.

    .. math:: \alpha_k = \alpha_0 \exp(-\beta k)

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        beta: Decay rate :math:`\beta > 0`.
    """

    def _lr(self, k: int) -> float:
        return self.alpha0 * math.exp(-self.beta * k)
