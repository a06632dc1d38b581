"""Learning-rate warmup followed by any other schedule (seed §4.4.2 (2))."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from raynn.schedules._base import Schedule, positive_int, positive_real, register, store
from raynn.schedules._factory import build_spec, schedule_class

__all__ = ["Warmup"]

# A spec under `after` that omits its peak learning rate inherits warmup's alpha0 through the first of
# these parameters it has: alpha0 for the decays, alpha_max for the cyclic schedules.
_INHERITED = ("alpha0", "alpha_max")


@register("warmup", "linear warmup to alpha0 over warmup_iters, then the `after` schedule")
@dataclass(frozen=True)
class Warmup(Schedule):
    r"""Linear warmup to :math:`\alpha_0`, then a decay schedule shifted to start where warmup ends.

    The seed counts iterations from 1, :math:`\alpha_k = \frac{k}{\text{warm\_up\_iter}} \alpha_0`
    for :math:`1 \le k \le \text{warm\_up\_iter}`.
    Our ``k`` counts from 0, so with :math:`W` = ``warmup_iters``

    .. math::
        \text{lr}(k) = \frac{k + 1}{W} \alpha_0 \quad (0 \le k < W), \qquad
        \text{lr}(k) = \text{after}(k - W) \quad (k \ge W)

    so ``lr(W - 1) == alpha0`` is the end of warmup and ``after`` starts from its own step 0 at ``k = W``.

    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017 (gradual warmup).

    Args:
        alpha0: Learning rate reached at the end of warmup, :math:`\alpha_0 > 0`.
        warmup_iters: :math:`W`, the number of warmup iterations, a positive int.
        after: Spec of the schedule that follows, e.g. ``{"name": "cosine", "max_iter": 100}``. A spec
            without ``alpha0`` (or without ``alpha_max`` for ``triangular`` / ``sgdr``) inherits warmup's
            ``alpha0``. ``None`` keeps the rate at ``alpha0``. A nested ``warmup`` is a ``ValueError``.
    """

    alpha0: float
    warmup_iters: int
    after: Mapping[str, Any] | None = field(default=None, hash=False)
    _after: Schedule | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        alpha0 = positive_real(self, "alpha0")
        positive_int(self, "warmup_iters")
        if self.after is None:
            store(self, "_after", None)
            return
        try:
            cls = schedule_class(self.after)
            if cls is Warmup:
                raise ValueError(
                    f"`name != 'warmup'` must hold (warmups do not nest), but got {dict(self.after)!r}"
                )
            spec = copy.deepcopy(dict(self.after))
            params = {f.name for f in dataclasses.fields(cls) if f.init}
            for inherited in _INHERITED:
                if inherited in params:
                    spec.setdefault(inherited, alpha0)
                    break
            then = build_spec(spec)
        except ValueError as error:
            raise ValueError(f"{self.name}: `after`: {error}") from error
        store(self, "after", spec)
        store(self, "_after", then)

    def _lr(self, k: int) -> float:
        if k < self.warmup_iters:
            return (k + 1) / self.warmup_iters * self.alpha0
        if self._after is None:
            return self.alpha0
        return self._after(k - self.warmup_iters)
