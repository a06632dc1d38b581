"""raynn.hpo.curve_stopping: learning-curve stopping (seed 4.7.3), driven by hand-made curves, no Ray."""

from __future__ import annotations

import json
import math

import pytest

from raynn.hpo import SCHEDULERS, Decision, LearningCurveStopping
from raynn.hpo.curve_stopping import forecast


def _feed(rule: LearningCurveStopping, tid: str, curve: list[float]) -> list[Decision]:
    out = []
    for r, v in enumerate(curve, start=1):
        out.append(rule.on_result(tid, r, v))
        if out[-1] is Decision.STOP:
            break
    return out


def test_forecast_of_a_power_law_is_its_value_at_R() -> None:
    curve = [0.1 + 1.0 / t for t in range(1, 6)]  # a + b t^-1 exactly
    predicted, resid = forecast(curve, 27)
    assert math.isclose(predicted, 0.1 + 1.0 / 27, abs_tol=1e-6) and resid < 1e-6
    # an increasing curve is forecast flat at its best, never better than what it showed
    assert forecast([0.5, 0.6, 0.7], 27)[0] == pytest.approx(0.5)


def test_a_curve_forecast_worse_than_the_incumbent_is_stopped() -> None:
    rule = LearningCurveStopping(27, grace=3)
    assert all(d is Decision.CONTINUE for d in _feed(rule, "good", [0.1 + 0.5 / t for t in range(1, 28)]))
    assert rule.incumbent() == pytest.approx(0.1 + 0.5 / 27)
    # converges to 0.5: by epoch 3 its optimistic forecast (0.5 + 1/27) is far above 0.12
    decisions = _feed(rule, "poor", [0.5 + 1.0 / t for t in range(1, 28)])
    assert decisions[-1] is Decision.STOP and len(decisions) == 3
    # one that will beat the incumbent trains to R
    assert all(d is Decision.CONTINUE for d in _feed(rule, "better", [0.05 + 0.5 / t for t in range(1, 28)]))
    assert rule.stopped == ["poor"]


def test_divergence_stops_at_once_and_grace_protects_early_results() -> None:
    rule = LearningCurveStopping(9, grace=3)
    _feed(rule, "a", [0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert rule.on_result("b", 1, 5.0) is Decision.CONTINUE  # worse, but within grace
    assert rule.on_result("b", 2, math.inf) is Decision.STOP
    assert rule.on_result("c", 1, math.nan) is Decision.STOP


def test_a_stalled_curve_worse_than_the_incumbent_is_stopped() -> None:
    rule = LearningCurveStopping(27, grace=2, patience=3, rel_margin=0.0)
    rule.on_result("inc", 27, 0.3)  # an incumbent at R
    # noisy and flat at 0.35..0.4 with a lucky 0.2 first: the forecast stays optimistic (min <= 0.2),
    # but 3 results without a new best while worse than 0.3 is not converging
    decisions = _feed(rule, "flat", [0.2, 0.4, 0.35, 0.38, 0.36])
    assert decisions == [Decision.CONTINUE] * 3 + [Decision.STOP]


def test_mode_max_and_state_round_trip() -> None:
    rule = LearningCurveStopping(9, mode="max", grace=2)
    _feed(rule, "a", [0.5, 0.8, 0.9, 0.92, 0.93, 0.94, 0.95, 0.95, 0.96])
    state = json.loads(json.dumps(rule.state_dict()))
    again = LearningCurveStopping(9, mode="max", grace=2)
    again.load_state_dict(state)
    poor = [0.1, 0.15, 0.17, 0.18]
    assert _feed(again, "b", poor) == _feed(rule, "b", poor)
    assert _feed(rule, "c", poor)[-1] is Decision.STOP  # accuracy 0.18 will not reach 0.96
    with pytest.raises(ValueError, match="other arguments"):
        LearningCurveStopping(9, mode="min").load_state_dict(state)


@pytest.mark.parametrize(("kwargs", "key"), [({"max_resource": 0}, "max_resource"), ({"grace": 0}, "grace"),
                                             ({"patience": -1}, "patience"), ({"rel_margin": -1}, "rel_margin")])
def test_arguments_are_checked(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        LearningCurveStopping(**({"max_resource": 9} | kwargs))


def test_registered_as_a_scheduler_name() -> None:
    assert SCHEDULERS.get("curve").core is LearningCurveStopping
