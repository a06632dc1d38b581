from __future__ import annotations

import math

import pytest

from raynn.config import check_config, parse_config
from raynn.scaling import build_lr_schedule, plan_scaling, scale_lr


def test_scale_lr_rules_match_closed_forms() -> None:
    assert scale_lr(0.1, 512, 128, "linear") == pytest.approx(0.4)
    assert scale_lr(0.1, 512, 128, "sqrt") == pytest.approx(0.2)
    assert scale_lr(0.1, 512, 128, "none") == pytest.approx(0.1)
    assert scale_lr(0.1, 64, 128, "linear") == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [dict(base_lr=-0.1), dict(global_batch=0), dict(rule="cubic")])
def test_scale_lr_rejects_bad_input(bad: dict) -> None:
    args = dict(base_lr=0.1, global_batch=64, reference_batch=64, rule="linear") | bad
    with pytest.raises(ValueError, match=next(iter(bad)) if "rule" not in bad else "cubic"):
        scale_lr(**args)


def _cfg(**train: object) -> dict:
    return check_config({"optimizer": {"lr": 0.1}, "scaling": {"reference_batch": 64},
                         "train": {"epochs": 20, "batch_size": 64, **train}})


def test_large_global_batch_gets_goyal_warmup_of_five_epochs() -> None:
    plan = plan_scaling(parse_config(_cfg(workers=4, epochs=90)), iters_per_epoch=10)  # Goyal et al.: 5 of 90 epochs
    assert plan.global_batch == 256
    assert plan.lr == pytest.approx(0.4)
    assert plan.warmup_epochs == 5 and plan.warmup_iters == 50
    assert "global batch 256" in plan.describe() and "warmup 5" in plan.describe()


def test_reference_batch_gets_no_warmup_and_base_lr() -> None:
    plan = plan_scaling(parse_config(_cfg(workers=1)), iters_per_epoch=10)
    assert plan.lr == pytest.approx(0.1) and plan.warmup_iters == 0


@pytest.mark.parametrize(("epochs", "warmup_epochs", "warmup_iters"), [(4, 0.4, 4), (10, 1, 10), (20, 2, 20), (50, 5, 50)])
def test_warmup_is_capped_at_a_tenth_of_a_short_run(epochs: int, warmup_epochs: float, warmup_iters: int) -> None:
    # A tenth, not half: half of a 10-epoch run was the worst warmup at 32x the reference batch (README).
    plan = plan_scaling(parse_config(_cfg(workers=2, epochs=epochs)), iters_per_epoch=10)
    assert plan.warmup_epochs == pytest.approx(warmup_epochs) and plan.warmup_iters == warmup_iters


def test_scaled_warmup_then_cosine_matches_closed_form() -> None:
    cfg = _cfg(workers=4)
    cfg["schedule"] = {"name": "cosine"}
    ipe = 10
    lr, plan = build_lr_schedule(parse_config(cfg), iters_per_epoch=ipe)
    w, total, m = plan.warmup_iters, 20 * ipe, 4.0  # factor m = 256 / 64
    # warmup: seed alpha_k = k / W * alpha0 with the seed's k = ours + 1
    assert lr(0) == pytest.approx(m * 0.1 * 1 / w)
    assert lr(w - 1) == pytest.approx(m * 0.1)  # end of warmup
    # cosine over the remaining iterations, from its own step 0
    decay = total - w
    for j in (0, decay // 2, decay - 1):
        assert lr(w + j) == pytest.approx(m * 0.5 * 0.1 * (1 + math.cos(j * math.pi / decay)))
    assert lr(total + 100) == pytest.approx(0.0, abs=1e-12)  # past the end


def test_schedule_without_warmup_is_scaled_by_the_rule() -> None:
    cfg = check_config({"optimizer": {"lr": 0.1}, "schedule": {"name": "exponential", "beta": 0.9},
                        "scaling": {"rule": "sqrt", "reference_batch": 32, "warmup_epochs": 0},
                        "train": {"batch_size": 64, "workers": 2}})
    lr, plan = build_lr_schedule(parse_config(cfg), iters_per_epoch=5)
    assert plan.factor == pytest.approx(2.0)
    assert lr(3) == pytest.approx(2.0 * 0.1 * 0.9**3)
