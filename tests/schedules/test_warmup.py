from __future__ import annotations

import math
import re

import pytest

from raynn.schedules import Warmup, build, build_spec


def test_linear_warmup_matches_the_seed_shifted_to_zero_based_k() -> None:
    # seed: alpha_k = k / W * alpha0 for 1 <= k <= W (1-based); ours: lr(k) = (k + 1) / W * alpha0
    alpha0, W = 0.5, 5
    lr = build("warmup", alpha0=alpha0, warmup_iters=W)
    assert lr(0) == pytest.approx(0.1, rel=1e-12)  # step 0: alpha0 / W
    assert lr(2) == pytest.approx(0.3, rel=1e-12)  # midpoint
    assert lr(4) == 0.5  # end of warmup: lr(W - 1) == alpha0
    for seed_k in range(1, W + 1):
        assert lr(seed_k - 1) == pytest.approx(seed_k / W * alpha0, rel=1e-12)


def test_without_after_the_rate_stays_at_alpha0() -> None:
    lr = build("warmup", alpha0=0.5, warmup_iters=5)
    assert [lr(k) for k in (5, 6, 100, 10_000)] == [0.5] * 4


def test_after_cosine_starts_at_step_zero_when_warmup_ends() -> None:
    alpha0, W, max_iter = 0.5, 5, 10
    lr = build("warmup", alpha0=alpha0, warmup_iters=W, after={"name": "cosine", "max_iter": max_iter})
    assert lr(4) == 0.5  # end of warmup
    assert lr(5) == 0.5  # cosine step 0, inheriting alpha0
    assert lr(10) == pytest.approx(0.25, rel=1e-12)  # cosine midpoint
    assert lr(15) == 0.0  # end of the cosine
    assert lr(1000) == 0.0  # past the end
    for k in range(W, W + max_iter):
        j = k - W
        assert lr(k) == pytest.approx(0.5 * alpha0 * (1 + math.cos(j * math.pi / max_iter)), rel=1e-12)


def test_after_with_its_own_alpha0_keeps_it() -> None:
    lr = build(
        "warmup", alpha0=0.5, warmup_iters=2, after={"name": "exponential", "alpha0": 0.2, "beta": 0.5}
    )
    assert [lr(k) for k in (0, 1, 2, 3, 4)] == [0.25, 0.5, 0.2, 0.1, 0.05]


def test_after_inherits_alpha0_for_the_decays() -> None:
    lr = build("warmup", alpha0=0.4, warmup_iters=4, after={"name": "inverse_time", "beta": 1.0})
    assert lr.after == {"name": "inverse_time", "beta": 1.0, "alpha0": 0.4}
    assert [lr(k) for k in (3, 4, 5, 7)] == [0.4, 0.4, 0.2, 0.1]


def test_after_piecewise_constant_counts_boundaries_from_the_end_of_warmup() -> None:
    lr = build(
        "warmup",
        alpha0=1.0,
        warmup_iters=10,
        after={"name": "piecewise_constant", "boundaries": [5], "factors": [0.1]},
    )
    assert [lr(k) for k in (9, 10, 14, 15)] == [1.0, 1.0, 1.0, 0.1]


def test_after_inherits_alpha_max_for_the_cyclic_schedules() -> None:
    tri = build(
        "warmup", alpha0=0.3, warmup_iters=3, after={"name": "triangular", "alpha_min": 0.1, "delta_t": 2}
    )
    assert tri.after["alpha_max"] == 0.3
    assert [tri(k) for k in (2, 3, 4, 5, 7)] == pytest.approx([0.3, 0.1, 0.2, 0.3, 0.1], rel=1e-12)

    sgdr = build(
        "warmup",
        alpha0=0.3,
        warmup_iters=3,
        after={"name": "sgdr", "alpha_min": 0.0, "t0": 1, "kappa": 1, "iters_per_epoch": 4},
    )
    assert sgdr.after["alpha_max"] == 0.3
    assert [sgdr(k) for k in (2, 3, 5, 7)] == pytest.approx([0.3, 0.3, 0.15, 0.3], rel=1e-12)


def test_build_equals_build_spec_with_after() -> None:
    after = {"name": "sgdr", "alpha_min": 0.01, "t0": 0.5, "kappa": 2.0, "iters_per_epoch": 8}
    a = build("warmup", alpha0=0.3, warmup_iters=4, after=after)
    b = build_spec({"name": "warmup", "alpha0": 0.3, "warmup_iters": 4, "after": after})
    assert a == b
    assert [a(k) for k in range(100)] == [b(k) for k in range(100)]


def test_the_given_after_dict_is_copied_not_aliased() -> None:
    after = {"name": "piecewise_constant", "boundaries": [5], "factors": [0.5]}
    lr = Warmup(alpha0=1.0, warmup_iters=1, after=after)
    after["boundaries"].append(9)
    after["name"] = "cosine"
    assert lr.after == {"name": "piecewise_constant", "boundaries": [5], "factors": [0.5], "alpha0": 1.0}
    assert lr(6) == 0.5


def test_rejects_a_nested_warmup() -> None:
    with pytest.raises(
        ValueError, match=r"warmup: `after`: `name != 'warmup'` must hold \(warmups do not nest\)"
    ):
        build("warmup", alpha0=0.1, warmup_iters=5, after={"name": "warmup", "warmup_iters": 3})


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ("cosine", "warmup: `after`: a schedule spec must be a mapping"),
        ({"max_iter": 10}, "warmup: `after`: a schedule spec must have a 'name' key"),
        ({"name": "cosin", "max_iter": 10}, "warmup: `after`: unknown schedule 'cosin'; valid names: cosine"),
        (
            {"name": "cosine", "max_iters": 10},
            "warmup: `after`: unknown parameter 'max_iters' for schedule 'cosine'",
        ),
        ({"name": "cosine"}, "warmup: `after`: missing parameter 'max_iter' for schedule 'cosine'"),
        (
            {"name": "cosine", "max_iter": 0},
            "warmup: `after`: cosine: `max_iter > 0` must hold, but got max_iter=0",
        ),
        (
            {"name": "triangular", "alpha_min": 0.5, "delta_t": 2},
            "warmup: `after`: triangular: `alpha_min <= alpha_max` must hold, "
            "but got (alpha_min=0.5, alpha_max=0.1)",
        ),
    ],
)
def test_rejects_a_bad_after_spec(after: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build("warmup", alpha0=0.1, warmup_iters=5, after=after)


@pytest.mark.parametrize("warmup_iters", [0, -1])
def test_rejects_a_non_positive_warmup_iters(warmup_iters: int) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(f"warmup: `warmup_iters > 0` must hold, but got warmup_iters={warmup_iters}"),
    ):
        build("warmup", alpha0=0.1, warmup_iters=warmup_iters)
