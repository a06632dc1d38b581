"""Cosine decay (seed §4.4.2 (1) ④)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from raynn.schedules._base import Schedule, positive_int, positive_real, register

__all__ = ["Cosine"]


@register("cosine", "0.5 alpha0 (1 + cos(k pi / max_iter)), 0 from max_iter on")
@dataclass(frozen=True)
class Cosine(Schedule):
    r"""Cosine decay from :math:`\alpha_0` to 0 over ``max_iter`` iterations.

    .. math:: \alpha_k = \frac{1}{2} \alpha_0 \left(1 + \cos\frac{k \pi}{\text{max\_iter}}\right)

    The formula reaches 0 at ``k == max_iter``; for ``k >= max_iter`` the rate stays 0 (the cosine is
    not continued into its rising half).

    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017 (one cycle,
    :math:`\alpha_{\min} = 0`).

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        max_iter: Number of iterations of the decay, a positive int.
    """

    alpha0: float
    max_iter: int

    def __post_init__(self) -> None:
        positive_real(self, "alpha0")
        positive_int(self, "max_iter")

    def _lr(self, k: int) -> float:
        if k >= self.max_iter:
            return 0.0
        return 0.5 * self.alpha0 * (1.0 + math.cos(k * math.pi / self.max_iter))
