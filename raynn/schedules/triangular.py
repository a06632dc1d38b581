"""Triangular cyclical learning rate (seed §4.4.2 (3) ①)."""

from __future__ import annotations

from dataclasses import dataclass

from raynn.schedules._base import CyclicSchedule, positive_int, register

__all__ = ["Triangular"]


@register("triangular", "linear up alpha_min -> alpha_max over delta_t, down over delta_t, repeat")
@dataclass(frozen=True)
class Triangular(CyclicSchedule):
    r"""Triangular cyclical learning rate: cycles of :math:`2\Delta T` iterations, up then down.

    The rate rises linearly for :math:`\Delta T` iterations and falls for :math:`\Delta T`:

    .. math::
        m = \left\lfloor 1 + \frac{k}{2 \Delta T} \right\rfloor, \qquad
        b_k = \left| \frac{k}{\Delta T} - 2m + 1 \right|, \qquad
        \alpha_k = \alpha_{\min}^{(m)} + (\alpha_{\max}^{(m)} - \alpha_{\min}^{(m)}) \max(0, 1 - b_k)

    with :math:`\alpha_{\min}^{(m)} = \alpha_{\min}\,\text{decay}^{m-1}` and
    :math:`\alpha_{\max}^{(m)} = \alpha_{\max}\,\text{decay}^{m-1}` (both bounds shrink from cycle to
    cycle, as the seed allows; ``decay=1`` is Smith's plain ``triangular``).

    The seed prints :math:`b_k` with floor brackets; the triangle needs the absolute value (Smith's
    ``x = |k / stepsize - 2 cycle + 1|``), which is what we compute. :math:`m` is computed in integer
    arithmetic, ``k // (2 delta_t) + 1``; the rate is ``alpha_min^(m)`` at ``k = 2 (m-1) delta_t`` and
    ``alpha_max^(m)`` at ``k = (2m - 1) delta_t``.

    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

    Args:
        alpha_min: Lower bound :math:`\alpha_{\min} \ge 0` of the first cycle.
        alpha_max: Upper bound :math:`\alpha_{\max} > 0` of the first cycle, ``alpha_min <= alpha_max``.
        delta_t: Half-cycle length :math:`\Delta T` in iterations, a positive int.
        decay: Factor in :math:`(0, 1]` applied to both bounds once per cycle.
    """

    delta_t: int
    decay: float = 1.0

    def _check_cycle(self) -> None:
        positive_int(self, "delta_t")

    def _lr(self, k: int) -> float:
        m = k // (2 * self.delta_t) + 1
        b = abs(k - (2 * m - 1) * self.delta_t) / self.delta_t  # = |k / delta_t - 2m + 1|, in [0, 1]
        low, high = self.bounds(m)
        return low + (high - low) * max(0.0, 1.0 - b)
