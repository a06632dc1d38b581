"""Exponential decay (seed §4.4.2 (1) ③, first form)."""

from __future__ import annotations

from dataclasses import dataclass

from raynn.schedules._base import Schedule, as_real, positive_real, register, require

__all__ = ["Exponential"]


@register("exponential", "alpha0 * beta**k")
@dataclass(frozen=True)
class Exponential(Schedule):
    r"""Exponential decay.

    .. math:: \alpha_k = \alpha_0 \beta^k

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        beta: Decay base, :math:`0 < \beta < 1`.
    """

    alpha0: float
    beta: float

    def __post_init__(self) -> None:
        positive_real(self, "alpha0")
        beta = as_real(self, "beta")
        require(self, 0 < beta < 1, "0 < beta < 1", beta=beta)

    def _lr(self, k: int) -> float:
        return self.alpha0 * self.beta**k
