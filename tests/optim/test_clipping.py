from __future__ import annotations

import math

import pytest
import torch

from raynn.optim.clipping import CLIPPERS, AdaptiveNormClipper, build_clipper, global_norm


def _params(*grads: list[float]) -> list[torch.nn.Parameter]:
    params = []
    for grad in grads:
        p = torch.nn.Parameter(torch.zeros(len(grad), dtype=torch.float64))
        p.grad = torch.tensor(grad, dtype=torch.float64)
        params.append(p)
    return params


def _grad_norm(params: list[torch.nn.Parameter]) -> float:
    return math.sqrt(sum(float((p.grad**2).sum()) for p in params))


def test_global_norm_is_the_norm_of_the_concatenation() -> None:
    params = _params([3.0, 0.0], [4.0], [12.0])
    assert global_norm(p.grad for p in params) == pytest.approx(13.0)
    assert global_norm([]) == 0.0


def test_value_clipping_is_elementwise_max_min_asymmetric() -> None:
    params = _params([-2.0, -0.2, 0.3, 5.0])
    norm = build_clipper({"name": "value", "low": -0.5, "high": 1.0})(params)
    assert norm == pytest.approx(math.sqrt(4 + 0.04 + 0.09 + 25))  # before clipping
    assert torch.equal(params[0].grad, torch.tensor([-0.5, -0.2, 0.3, 1.0], dtype=torch.float64))


def test_norm_clipping_rescales_to_b_above_threshold() -> None:
    params = _params([3.0, 0.0], [4.0], [12.0])
    norm = build_clipper({"name": "norm", "max_norm": 2.6})(params)
    assert norm == pytest.approx(13.0)
    assert _grad_norm(params) == pytest.approx(2.6, rel=1e-12)
    torch.testing.assert_close(params[0].grad, torch.tensor([0.6, 0.0], dtype=torch.float64))
    torch.testing.assert_close(params[2].grad, torch.tensor([2.4], dtype=torch.float64))


def test_norm_clipping_leaves_small_gradients_untouched() -> None:
    params = _params([0.3, -0.4])
    assert build_clipper({"name": "norm", "max_norm": 0.5})(params) == pytest.approx(0.5)
    assert torch.equal(params[0].grad, torch.tensor([0.3, -0.4], dtype=torch.float64))


def test_parameters_without_gradient_are_skipped() -> None:
    params = _params([3.0, 4.0])
    params.append(torch.nn.Parameter(torch.ones(3)))
    assert build_clipper({"name": "norm", "max_norm": 1.0})(params) == pytest.approx(5.0)
    assert params[1].grad is None


def test_adaptive_threshold_is_factor_times_recent_mean() -> None:
    clipper = AdaptiveNormClipper(factor=2.0, window=3, warmup_steps=3)
    for norm in [1.0, 2.0, 3.0]:  # warmup: record, never clip
        assert clipper.threshold is None
        params = _params([norm])
        assert clipper(params) == pytest.approx(norm)
        assert float(params[0].grad) == norm
    assert clipper.threshold == pytest.approx(2.0 * 2.0)
    spike = _params([30.0, 40.0])
    assert clipper(spike) == pytest.approx(50.0)
    assert _grad_norm(spike) == pytest.approx(4.0)  # b = 2 * mean(1, 2, 3)
    # the window now holds [2, 3, 4]: the spike entered as its clipped norm
    assert clipper.threshold == pytest.approx(2.0 * 3.0)
    assert clipper.state_dict() == {"norms": [2.0, 3.0, 4.0], "steps": 4}


def test_adaptive_state_survives_a_checkpoint() -> None:
    clipper = AdaptiveNormClipper(factor=1.5, window=4, warmup_steps=2)
    for norm in [1.0, 5.0, 2.0, 0.5, 3.0]:
        clipper(_params([norm]))
    restored = AdaptiveNormClipper(factor=1.5, window=4, warmup_steps=2)
    restored.load_state_dict(clipper.state_dict())
    assert restored.threshold == clipper.threshold
    a, b = _params([9.0]), _params([9.0])
    clipper(a)
    restored(b)
    assert torch.equal(a[0].grad, b[0].grad)
    assert restored.state_dict() == clipper.state_dict()


def test_non_finite_norm_is_returned_and_not_recorded() -> None:
    clipper = AdaptiveNormClipper(window=2, warmup_steps=1)
    clipper(_params([1.0]))
    params = _params([math.inf])
    assert clipper(params) == math.inf
    assert clipper.state_dict() == {"norms": [1.0], "steps": 1}


@pytest.mark.parametrize("name", CLIPPERS.names())
def test_every_clipper_returns_the_pre_clip_norm(name: str) -> None:
    options = {"value": {"low": -1.0, "high": 1.0}, "norm": {"max_norm": 1.0}, "adaptive": {}}[name]
    params = _params([3.0, 4.0])
    assert build_clipper({"name": name, **options})(params) == pytest.approx(5.0)
    assert isinstance(build_clipper({"name": name, **options}).state_dict(), dict)


def test_clipper_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"`low <= high` must hold, but got \(low=1.0, high=-1.0\)"):
        build_clipper({"name": "value", "low": 1.0, "high": -1.0})
    with pytest.raises(ValueError, match="max_norm > 0"):
        build_clipper({"name": "norm", "max_norm": 0.0})
    with pytest.raises(ValueError, match="window"):
        build_clipper({"name": "adaptive", "window": 0})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['threshold'\]"):
        build_clipper({"name": "norm", "threshold": 1.0})
    with pytest.raises(ValueError, match="valid names: adaptive, norm, value"):
        build_clipper("global")
