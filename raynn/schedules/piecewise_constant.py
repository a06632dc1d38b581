"""Piecewise constant decay (seed §4.4.2 (1) ①)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raynn.schedules._base import (
    Schedule,
    fail,
    int_value,
    positive_real,
    real_value,
    register,
    require,
    store,
)

__all__ = ["PiecewiseConstant"]


def _as_tuple(schedule: Schedule, param: str) -> tuple[Any, ...]:
    value = getattr(schedule, param)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{schedule.name}: `{param}` must be a list, but got {param}={value!r}")
    return tuple(value)


@register("piecewise_constant", "alpha0 scaled by factors[i] from iteration boundaries[i] on")
@dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    r"""Piecewise constant decay: the learning rate drops by a fixed factor at fixed iterations.

    .. math::
        \alpha_k = \alpha_0 \text{ for } k < T_0, \qquad
        \alpha_k = \beta_i \alpha_0 \text{ for } T_i \le k < T_{i+1}

    with ``boundaries`` = :math:`T_i` and ``factors`` = :math:`\beta_i`. The seed asks for a decreasing
    sequence in :math:`(0, 1)`; we accept a non-increasing one in :math:`(0, 1]` so that a boundary may
    repeat a factor (e.g. to align with logging). Empty ``boundaries`` / ``factors`` give the constant
    :math:`\alpha_0`.

    Args:
        alpha0: Initial learning rate :math:`\alpha_0 > 0`.
        boundaries: Iterations :math:`T_i` where the rate changes, strictly increasing ints >= 0.
        factors: :math:`\beta_i` in :math:`(0, 1]`, non-increasing, one per boundary.
    """

    alpha0: float
    boundaries: Sequence[int]
    factors: Sequence[float]

    def __post_init__(self) -> None:
        positive_real(self, "alpha0")
        boundaries = _as_tuple(self, "boundaries")
        factors = _as_tuple(self, "factors")
        require(
            self,
            len(boundaries) == len(factors),
            "len(boundaries) == len(factors)",
            boundaries=list(boundaries),
            factors=list(factors),
        )
        boundaries = tuple(int_value(self, f"boundaries[{i}]", b) for i, b in enumerate(boundaries))
        factors = tuple(real_value(self, f"factors[{i}]", f) for i, f in enumerate(factors))
        if boundaries and boundaries[0] < 0:
            fail(self, "boundaries[0] >= 0", boundaries=list(boundaries))
        for i in range(len(boundaries) - 1):
            if not boundaries[i] < boundaries[i + 1]:
                fail(self, f"boundaries[{i}] < boundaries[{i + 1}]", boundaries=list(boundaries))
        for i, factor in enumerate(factors):
            require(self, 0 < factor <= 1, f"0 < factors[{i}] <= 1", factors=list(factors))
        for i in range(len(factors) - 1):
            if not factors[i] >= factors[i + 1]:
                fail(self, f"factors[{i}] >= factors[{i + 1}]", factors=list(factors))
        store(self, "boundaries", boundaries)
        store(self, "factors", factors)

    def _lr(self, k: int) -> float:
        passed = bisect.bisect_right(self.boundaries, k)  # number of boundaries T_i <= k
        return self.alpha0 if passed == 0 else self.factors[passed - 1] * self.alpha0
