from __future__ import annotations

import re

import pytest

from raynn.schedules import build


def test_matches_the_closed_form() -> None:
    lr = build("exponential", alpha0=2.0, beta=0.5)
    table = {0: 2.0, 1: 1.0, 3: 0.25, 10: 2.0 / 1024}
    for k, expected in table.items():
        assert lr(k) == pytest.approx(expected, rel=1e-12), k
    for k in range(0, 300, 13):
        assert lr(k) == pytest.approx(2.0 * 0.5**k, rel=1e-12)


def test_an_int_alpha0_is_accepted_and_stored_as_float() -> None:
    lr = build("exponential", alpha0=1, beta=0.9)
    assert lr.alpha0 == 1.0 and type(lr.alpha0) is float
    assert type(lr(0)) is float


@pytest.mark.parametrize("beta", [1, 1.0, 0, 1.5, -0.5])
def test_rejects_beta_outside_the_open_unit_interval(beta: float) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"exponential: `0 < beta < 1` must hold, but got beta={float(beta)}")
    ):
        build("exponential", alpha0=0.1, beta=beta)
