from __future__ import annotations

import re

import pytest

from raynn.schedules import build


def test_matches_the_closed_form() -> None:
    alpha0, beta = 0.6, 0.5
    lr = build("inverse_time", alpha0=alpha0, beta=beta)
    table = {0: 0.6, 1: 0.4, 2: 0.3, 4: 0.2, 10: 0.1, 1198: 0.001}
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k
    for k in range(0, 1000, 37):
        assert lr(k) == pytest.approx(alpha0 * 1 / (1 + beta * k), rel=1e-12)


@pytest.mark.parametrize("beta", [0, -0.5])
def test_rejects_a_non_positive_beta(beta: float) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"inverse_time: `beta > 0` must hold, but got beta={float(beta)}")
    ):
        build("inverse_time", alpha0=0.1, beta=beta)


def test_rejects_a_non_positive_alpha0() -> None:
    with pytest.raises(ValueError, match=re.escape("`alpha0 > 0` must hold, but got alpha0=0.0")):
        build("inverse_time", alpha0=0, beta=0.1)
