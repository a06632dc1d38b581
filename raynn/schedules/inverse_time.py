"""Inverse time decay (seed §4.4.2 (1) ②)."""

from __future__ import annotations

from dataclasses import dataclass

from raynn.schedules._base import Schedule, positive_real, register

__all__ = ["InverseTime"]


@register("inverse_time", "alpha0 / (1 + beta k)")
@dataclass(frozen=True)
class InverseTime(Schedule):
    r"""Inverse time decay.

    .. math:: \alpha_k = \alpha_0 \frac{1}{1 + \beta k}

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        beta: Decay rate :math:`\beta > 0`.
    """

    alpha0: float
    beta: float

    def __post_init__(self) -> None:
        positive_real(self, "alpha0")
        positive_real(self, "beta")

    def _lr(self, k: int) -> float:
        return self.alpha0 / (1.0 + self.beta * k)
