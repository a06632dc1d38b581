from __future__ import annotations

import math
import re

import pytest

from raynn.schedules import build


def test_matches_the_closed_form() -> None:
    alpha0, max_iter = 2.0, 100
    lr = build("cosine", alpha0=alpha0, max_iter=max_iter)
    assert lr(0) == 2.0  # step 0
    assert lr(50) == pytest.approx(1.0, rel=1e-12)  # midpoint
    assert lr(25) == pytest.approx(1.0 + math.sqrt(0.5), rel=1e-12)
    assert lr(75) == pytest.approx(1.0 - math.sqrt(0.5), rel=1e-12)
    assert 0 < lr(99) < 1e-3  # last step before the end
    for k in range(max_iter):
        assert lr(k) == pytest.approx(
            0.5 * alpha0 * (1 + math.cos(k * math.pi / max_iter)), rel=1e-12, abs=1e-15
        )


def test_is_zero_at_and_past_max_iter() -> None:
    lr = build("cosine", alpha0=0.1, max_iter=10)
    assert [lr(k) for k in (10, 11, 20, 10_000)] == [0.0, 0.0, 0.0, 0.0]


def test_decreases_monotonically() -> None:
    lr = build("cosine", alpha0=0.1, max_iter=50)
    values = [lr(k) for k in range(60)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("max_iter", [0, -5])
def test_rejects_a_non_positive_max_iter(max_iter: int) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"cosine: `max_iter > 0` must hold, but got max_iter={max_iter}")
    ):
        build("cosine", alpha0=0.1, max_iter=max_iter)


def test_rejects_a_float_max_iter() -> None:
    with pytest.raises(
        ValueError, match=re.escape("cosine: `max_iter` must be an int, but got max_iter=100.0")
    ):
        build("cosine", alpha0=0.1, max_iter=100.0)
