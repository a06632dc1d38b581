from __future__ import annotations

import math
import re

import pytest

from raynn.schedules import build


def test_matches_the_closed_form() -> None:
    lr = build("natural_exponential", alpha0=0.5, beta=math.log(2))
    table = {0: 0.5, 1: 0.25, 2: 0.125, 5: 0.5 / 32}
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k
    for k in range(0, 300, 13):
        assert lr(k) == pytest.approx(0.5 * math.exp(-math.log(2) * k), rel=1e-12)


def test_equals_exponential_with_beta_exp_minus_beta() -> None:
    natural = build("natural_exponential", alpha0=0.1, beta=0.05)
    plain = build("exponential", alpha0=0.1, beta=math.exp(-0.05))
    for k in range(0, 200, 9):
        assert natural(k) == pytest.approx(plain(k), rel=1e-9)


@pytest.mark.parametrize("beta", [0, -1.0])
def test_rejects_a_non_positive_beta(beta: float) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"natural_exponential: `beta > 0` must hold, but got beta={float(beta)}")
    ):
        build("natural_exponential", alpha0=0.1, beta=beta)
