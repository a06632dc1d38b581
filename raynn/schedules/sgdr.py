"""Stochastic gradient descent with warm restarts, SGDR (seed §4.4.2 (3) ②)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from raynn.schedules._base import (
    CyclicSchedule,
    as_real,
    check_iteration,
    positive_int,
    positive_real,
    register,
    require,
)

__all__ = ["SGDR"]

# A restart whose epoch differs from the iteration's by less than this (relative) counts as reached, so
# that round-off in t0 * kappa**m (t0 = 0.1, ...) cannot delay a restart by one iteration.
_REL_TOL = 1e-9


@register("sgdr", "cosine from alpha_max to alpha_min, restarted after t0, t0 kappa, ... epochs")
@dataclass(frozen=True)
class SGDR(CyclicSchedule):
    r"""Cosine annealing with warm restarts.

    .. math::
        \alpha_k = \alpha_{\min}^{(m)} + \frac{1}{2} (\alpha_{\max}^{(m)} - \alpha_{\min}^{(m)})
        \left(1 + \cos\left(\frac{T_{\text{epoch}}}{T_m} \pi\right)\right)

    Cycle :math:`m = 1, 2, \dots` lasts :math:`T_m` epochs, :math:`T_1 = t_0`, :math:`T_m = \kappa T_{m-1}`;
    :math:`T_{\text{epoch}}` is the (fractional) number of epochs since the last restart, counted from
    iteration ``k`` as ``k / iters_per_epoch``. The bounds of cycle :math:`m` are
    :math:`\alpha_{\min}\,\text{decay}^{m-1}` and :math:`\alpha_{\max}\,\text{decay}^{m-1}`.
    :math:`m` is found by walking the restart epochs (no logarithms). At a restart the rate jumps back
    to :math:`\alpha_{\max}^{(m)}`.

    Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017
    (``t0`` = :math:`T_0`, ``kappa`` = :math:`T_{mult}`).

    Args:
        alpha_min: Lower bound :math:`\alpha_{\min} \ge 0` of the first cycle.
        alpha_max: Upper bound :math:`\alpha_{\max} > 0` of the first cycle, ``alpha_min <= alpha_max``.
        t0: Length :math:`T_1` of the first cycle in epochs, > 0, may be fractional; the first cycle must
            span at least one iteration (``t0 * iters_per_epoch >= 1``).
        kappa: Growth factor of the cycle length, :math:`\kappa \ge 1` (the seed writes :math:`> 1`;
            1 gives equal cycles).
        iters_per_epoch: Iterations per epoch, a positive int.
        decay: Factor in :math:`(0, 1]` applied to both bounds once per cycle.
    """

    t0: float
    kappa: float
    iters_per_epoch: int
    decay: float = 1.0

    def _check_cycle(self) -> None:
        t0 = positive_real(self, "t0")
        kappa = as_real(self, "kappa")
        require(self, kappa >= 1, "kappa >= 1", kappa=kappa)
        iters = positive_int(self, "iters_per_epoch")
        require(self, t0 * iters >= 1 - _REL_TOL, "t0 * iters_per_epoch >= 1", t0=t0, iters_per_epoch=iters)

    def cycle(self, k: int) -> tuple[int, float, float]:
        """``(m, T_epoch, T_m)`` at iteration ``k``: the 1-based cycle, epochs into it, and its length."""
        epoch = check_iteration(self, k) / self.iters_per_epoch
        m, start, period = 1, 0.0, self.t0
        if self.kappa == 1.0:  # equal cycles: jump close, then let the walk below settle the boundary
            m += int(epoch // period)
            start = (m - 1) * period
            while m > 1 and epoch < start - _REL_TOL * start:
                m, start = m - 1, start - period
        while epoch >= (start + period) * (1.0 - _REL_TOL):
            m, start, period = m + 1, start + period, period * self.kappa
        return m, max(0.0, epoch - start), period

    def _lr(self, k: int) -> float:
        m, t_epoch, period = self.cycle(k)
        low, high = self.bounds(m)
        return low + 0.5 * (high - low) * (1.0 + math.cos(math.pi * t_epoch / period))
