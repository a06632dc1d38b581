"""Learning-curve stopping (seed §4.7.3): read each trial's curve so far and stop the ones that will not pay off.

The seed's rule of thumb for dynamic resource allocation: watch a configuration's learning curve and stop it
when it does not converge, or converges to something poor. As a stopping rule (any searcher, every trial
trains until stopped or ``R``), after each result ``y_r`` of a trial at ``r`` cumulative units:

1. **Diverged**: a non-finite value stops the trial.
2. **Predicted worse than the incumbent** (Domhan, Springenberg & Hutter, 2015, "Speeding up Automatic
   Hyperparameter Optimization of Deep Neural Networks by Extrapolation of Learning Curves", IJCAI): the curve
   ``y_1..y_r`` is fitted by ``a + b t^-c`` (``b >= 0``) for each ``c`` in :data:`EXPONENTS` by least squares;
   the forecast is the best-fitting ``c``'s ``a_c + b_c R^-c`` (never above the best value so far); it is made
   optimistic by a margin of twice the fit's residual standard deviation (at least ``rel_margin`` of the
   incumbent). The incumbent is the
   best value any other trial reached at ``R``, or, before one has, the best latest value of the others. A trial
   whose optimistic forecast is still worse than the incumbent is stopped.
3. **Not converging**: no new best in the last ``patience`` results while worse than the incumbent.

No decision is taken before ``grace`` results, nor at ``R``. Pure and backend-free:
:class:`raynn.tune.schedulers.CurveStopping` adapts it to Ray Tune (``raynn tune --scheduler curve``).

Args:
    max_resource: ``R``, the units a trial trains at most.
    mode: ``"min"`` or ``"max"``.
    grace: Results a trial reports before it can be stopped; None: ``max(2, R // 9)``.
    patience: Results without a new best that count as not converging; None: ``max(3, R // 4)``.
    rel_margin: Smallest margin of the forecast, relative to the incumbent (>= 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from raynn.hpo._common import check_result, check_state_config, check_trial_id
from raynn.hpo.base import Decision, Mode
from raynn.values import check_int, check_number

__all__ = ["EXPONENTS", "LearningCurveStopping", "forecast"]

EXPONENTS = (0.5, 1.0, 2.0)
"""The power-law exponents ``c`` fitted (the "pow" family of Domhan et al., 2015)."""


def forecast(values: list[float], at: int) -> tuple[float, float]:
    """``(forecast at resource at, residual std)`` of the best power-law fit to ``values[t-1] = y_t`` (lower is
    better); the forecast is never above ``min(values)``."""
    y = np.asarray(values, dtype=float)
    t = np.arange(1, len(y) + 1, dtype=float)
    best_pred, best_sse, resid = math.inf, math.inf, 0.0
    for c in EXPONENTS:
        basis = np.stack([np.ones_like(t), t ** -c], axis=1)
        coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
        if coef[1] < 0:  # an increasing fit: the curve's own mean, flat
            coef = np.array([y.mean(), 0.0])
        sse = float(((y - basis @ coef) ** 2).sum())
        if sse < best_sse:
            best_sse, resid = sse, math.sqrt(sse / max(1, len(y) - 2))
            best_pred = float(coef[0] + coef[1] * at ** -c)
    return min(best_pred, float(y.min())), resid


class LearningCurveStopping:
    """Stops trials from their learning curves (see the module docstring)."""

    def __init__(
        self,
        max_resource: int,
        mode: Mode | str = Mode.MIN,
        grace: int | None = None,
        patience: int | None = None,
        rel_margin: float = 0.02,
    ) -> None:
        self.max_resource = check_int("max_resource", max_resource, 1)
        self.mode = Mode.parse(mode)
        check_int("grace", grace, 1, optional=True)
        check_int("patience", patience, 1, optional=True)
        grace = max(2, max_resource // 9) if grace is None else grace
        patience = max(3, max_resource // 4) if patience is None else patience
        check_number("rel_margin", rel_margin, "must be a number >= 0", lambda v: v >= 0, real=True, finite=False)
        self.grace, self.patience, self.rel_margin = grace, patience, float(rel_margin)
        self._curves: dict[str, list[float]] = {}  # trial id -> values (lower is better) at 1, 2, ...
        self._final: dict[str, float] = {}  # trial id -> value at R
        self._stopped: list[str] = []

    def _sign(self, value: float) -> float:
        return value if self.mode is Mode.MIN else -value

    def incumbent(self, exclude: str | None = None) -> float:
        """The best value at ``R`` of another trial; else the best latest value of the others (inf: none)."""
        finals = [v for t, v in self._final.items() if t != exclude and math.isfinite(v)]
        if finals:
            return min(finals)
        latest = [c[-1] for t, c in self._curves.items() if t != exclude and c and math.isfinite(c[-1])]
        return min(latest, default=math.inf)

    def on_result(self, trial_id: str, resource: int, value: float) -> Decision:
        """``trial_id`` reached ``resource`` units with ``value``: CONTINUE or STOP."""
        tid = check_trial_id(trial_id)
        resource, value = check_result(resource, value)
        curve = self._curves.setdefault(tid, [])
        v = self._sign(value)
        if resource <= len(curve):  # a resumed trial reports again: the first value stands
            return Decision.CONTINUE
        curve.extend([curve[-1] if curve else v] * (resource - 1 - len(curve)))  # gaps: hold the last
        curve.append(v if math.isfinite(v) else math.inf)
        if not math.isfinite(v):
            return self._stop(tid)
        if resource >= self.max_resource:
            self._final[tid] = v
            return Decision.CONTINUE
        if len(curve) < self.grace:
            return Decision.CONTINUE
        best_other = self.incumbent(exclude=tid)
        if not math.isfinite(best_other):
            return Decision.CONTINUE
        optimistic, resid = forecast(curve, self.max_resource)
        margin = max(2.0 * resid, self.rel_margin * abs(best_other))
        if optimistic - margin > best_other:
            return self._stop(tid)
        recent, before = min(curve[-self.patience :]), min(curve[: -self.patience] or [math.inf])
        if len(curve) > self.patience and recent >= before and curve[-1] > best_other:
            return self._stop(tid)
        return Decision.CONTINUE

    def _stop(self, tid: str) -> Decision:
        self._stopped.append(tid)
        return Decision.STOP

    def on_trial_remove(self, trial_id: str) -> None:
        """The trial is over; its curve stays (it still tells what the others must beat)."""

    @property
    def stopped(self) -> list[str]:
        """Trials this rule stopped, in order."""
        return list(self._stopped)

    def _config(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "max_resource": self.max_resource, "mode": self.mode.value,
                "grace": self.grace, "patience": self.patience, "rel_margin": self.rel_margin}

    def state_dict(self) -> dict[str, Any]:
        """JSON: the curves (non-finite values as None) and the arguments."""
        return {"config": self._config(),
                "curves": {t: [v if math.isfinite(v) else None for v in c] for t, c in self._curves.items()},
                "final": self._final, "stopped": self._stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_config(self._config(), state, "scheduler")
        self._curves = {t: [math.inf if v is None else float(v) for v in c] for t, c in state["curves"].items()}
        self._final = {t: float(v) for t, v in state["final"].items()}
        self._stopped = list(state["stopped"])
