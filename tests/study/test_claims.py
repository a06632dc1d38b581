"""Claim checks on hand-made results: each verdict follows from numbers worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from raynn import schedules
from raynn.study.analyses import Analysis
from raynn.study.claims import CLAIMS, chapter_lr, evaluate_claims
from raynn.study.results import RunResult, StudyResults, smooth
from raynn.study.spec import ClaimSpec, RunSpec, Study


def _study(claims: list[ClaimSpec]) -> Study:
    return Study("fake", Path("fake.yaml"), "fake", "0", "", False, tuple(claims), (), None, (), {})


def _run(label: str, seed: int, losses: list[float], iterations: list[float] = (), params: dict | None = None,
         acc: list[float] | None = None) -> RunResult:
    spec = RunSpec(f"{label}-{seed}", label, seed, params or {}, ({},))
    acc = acc or [0.9] * len(losses)
    history = [{"epoch": i + 1, "train_loss": v, "val_loss": v, "val_accuracy": a} for i, (v, a) in enumerate(zip(losses, acc))]
    return RunResult(spec, history, list(iterations))


def test_compare_with_margin_and_mode() -> None:
    runs = [_run("a", 0, [1.0, 0.5]), _run("a", 1, [1.0, 0.7]), _run("b", 0, [1.0, 0.8])]
    res = StudyResults(_study([]), runs)
    assert CLAIMS.get("compare")(res, metric="train_loss", better=["a"], than="b").held  # 0.6 < 0.8
    assert not CLAIMS.get("compare")(res, metric="train_loss", better=["a"], than="b", margin=0.3).held
    assert CLAIMS.get("compare")(res, metric="train_loss", better=["b"], than="a", margin=-0.25).held
    assert not CLAIMS.get("compare")(res, metric="train_loss", better=["a"], than="b", mode="max").held


def test_batch_claims_orderings() -> None:
    # Per iteration: batch 8 runs 8 iterations, batch 32 runs 2; both have 2 in common: [1] vs [.4]/[.6].
    runs = [_run("batch 8", 0, [0.3, 0.1], [2, 1.0, 0, 0, 0, 0, 0, 0]), _run("batch 32", 0, [0.6, 0.5], [2, 0.6]),
            _run("batch 32", 1, [0.6, 0.5], [2, 0.4])]
    res = StudyResults(_study([]), runs)
    out = CLAIMS.get("batch_per_iteration")(res, labels=["batch 8", "batch 32"])
    assert out.held and "iterations 2-2" in out.measured and "batch 32: 0.5" in out.measured
    assert CLAIMS.get("batch_per_epoch")(res, labels=["batch 8", "batch 32"]).held  # 0.1 < 0.5
    assert not CLAIMS.get("batch_per_epoch")(res, labels=["batch 32", "batch 8"]).held


def _lb(k: int, rule: str, warmup: str, seed: int, acc: float) -> RunResult:
    return _run(f"k={k} {rule} {warmup}", seed, [1.0], params={"k": k, "rule": rule, "warmup": warmup}, acc=[acc])


def test_large_batch_checks() -> None:
    runs = [_lb(1, "reference", "none", 0, 0.95), _lb(1, "reference", "none", 1, 0.95),
            _lb(2, "linear", "gradual", 0, 0.948), _lb(32, "linear", "gradual", 0, 0.93),
            _lb(32, "none", "none", 0, 0.90), _lb(32, "linear", "constant", 0, 0.935), _lb(32, "linear", "auto", 0, 0.85)]
    res = StudyResults(_study([]), runs)
    out = CLAIMS.get("linear_rule_range")(res, warmup="gradual", points=0.5)
    assert out.held and "k=2: +0.20" in out.measured and "k=32: +2.00" in out.measured
    assert "largest k within 0.5 points: 2" in out.measured
    assert CLAIMS.get("large_batch_compare")(res, better=["linear", "gradual"], than=["none", "none"]).held
    # constant (6.5%) beats gradual (7%) by 0.5 points: not more than the tolerance 0.5, so "no better" holds ...
    assert CLAIMS.get("large_batch_compare")(res, better=["linear", "gradual"], than=["linear", "constant"], margin=-0.5).held
    # ... but not with a tolerance of 0.4.
    assert not CLAIMS.get("large_batch_compare")(res, better=["linear", "gradual"], than=["linear", "constant"], margin=-0.4).held
    out = CLAIMS.get("warmup_default")(res, rule="linear", points=0.5)
    assert not out.held and "auto 15.00% vs best (constant) 6.50%" in out.measured


def test_a_claim_the_setting_cannot_decide_is_not_measured() -> None:
    claim = ClaimSpec("c", "t", "large_batch_compare", {"better": ["linear", "gradual"], "than": ["linear", "none"]})
    res = StudyResults(_study([claim]), [_lb(1, "reference", "none", 0, 0.9), _lb(4, "linear", "gradual", 0, 0.9)])
    out = evaluate_claims(res)["c"]
    assert out.held is None and out.verdict == "not measured"


def test_a_check_that_breaks_is_reported_as_not_held() -> None:
    claim = ClaimSpec("c", "t", "compare", {"metric": "train_loss", "better": ["missing"], "than": "a"})
    out = evaluate_claims(StudyResults(_study([claim]), [_run("a", 0, [1.0])]))["c"]
    assert out.held is False and "could not be checked" in out.measured


SPECS = [
    {"name": "piecewise_constant", "alpha0": 0.1, "boundaries": [3, 7], "factors": [0.5, 0.1]},
    {"name": "inverse_time", "alpha0": 0.1, "beta": 0.3},
    {"name": "exponential", "alpha0": 0.1, "beta": 0.9},
    {"name": "natural_exponential", "alpha0": 0.1, "beta": 0.2},
    {"name": "cosine", "alpha0": 0.1, "max_iter": 9},
    {"name": "warmup", "alpha0": 0.1, "warmup_iters": 4, "after": {"name": "cosine", "max_iter": 8}},
    {"name": "triangular", "alpha_min": 0.01, "alpha_max": 0.1, "delta_t": 3, "decay": 0.5},
    {"name": "sgdr", "alpha_min": 0.0, "alpha_max": 0.1, "t0": 1, "kappa": 2, "iters_per_epoch": 2},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
def test_the_written_out_closed_forms_agree_with_raynn(spec: dict) -> None:
    lr = schedules.build_spec(spec)
    for k in range(20):
        assert chapter_lr(spec, k) == pytest.approx(lr(k), rel=1e-12, abs=1e-15)


def test_closed_form_check_catches_a_wrong_curve() -> None:
    spec = SPECS[2]
    good = {"spec": spec, "k": [0, 1, 2], "lr": [0.1, 0.09, 0.081]}
    bad = {"spec": spec, "k": [0, 1, 2], "lr": [0.1, 0.09, 0.08]}
    for curve, held in ((good, True), (bad, False)):
        res = StudyResults(_study([]), [], Analysis(data={"curves": {"exp": curve}}))
        assert CLAIMS.get("schedule_closed_forms")(res).held is held


def test_smooth_is_a_trailing_mean() -> None:
    assert smooth([1, 2, 3, 4], 2).tolist() == [1, 1.5, 2.5, 3.5]
    assert math.isnan(float(smooth([float("nan")], 3)[0]))
