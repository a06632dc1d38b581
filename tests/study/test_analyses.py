"""Analyses without training: the momentum paths, the per-layer variances, the effect of standardizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raynn.nn import build_initializer, build_model
from raynn.study.analyses import ANALYSES, gd_least_squares, layer_variances, run_analysis


def test_momentum_on_a_quadratic_matches_the_recurrence() -> None:
    out = run_analysis({"name": "momentum", "curvatures": [1, 10], "start": [1.0, 1.0], "lr": 0.05,
                        "momentum": 0.9, "iterations": 30})
    a, alpha, rho = np.array([1.0, 10.0]), 0.05, 0.9
    # The chapter's heavy ball: Delta_k = rho Delta_(k-1) - alpha g_k; Nesterov takes g at theta + rho Delta.
    for method in ("momentum", "nesterov"):
        theta, delta = np.array([1.0, 1.0]), np.zeros(2)
        for _ in range(30):
            g = a * (theta + rho * delta) if method == "nesterov" else a * theta
            delta = rho * delta - alpha * g
            theta = theta + delta
        # torch's Nesterov (Bengio et al. 2012's form) keeps the look-ahead point theta + rho Delta as its parameter.
        want = theta + rho * delta if method == "nesterov" else theta
        assert out.data["paths"][method]["path"][-1] == pytest.approx(want.tolist(), rel=1e-9, abs=1e-12)


def test_layer_variances_of_a_linear_net_with_identity_weights() -> None:
    # relu MLP with identity weights and positive inputs: every layer passes x through unchanged.
    model = build_model({"name": "mlp", "hidden": [4, 4], "activation": "relu"}, (4,), 4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.eye(4))
                m.bias.zero_()
    x = torch.rand(64, 4)
    acts, grads = layer_variances(model, x, torch.zeros(64, dtype=torch.long))
    assert acts == pytest.approx([float(x.var())] * 2)
    assert len(grads) == 2 and grads[1] > 0


def test_he_keeps_relu_variance_and_a_tiny_gaussian_loses_it() -> None:
    x, y = torch.randn(256, 64, generator=torch.Generator().manual_seed(0)), torch.zeros(256, dtype=torch.long)
    ratios = {}
    for name, init, act in (("he", {"name": "he"}, "relu"), ("tiny", {"name": "gaussian", "std": 0.01}, "tanh")):
        model = build_model({"name": "mlp", "hidden": [64] * 8, "activation": act}, (64,), 10)
        build_initializer(init)(model, activation=act, bias=0.0, generator=torch.Generator().manual_seed(0))
        acts, _ = layer_variances(model, x, y)
        ratios[name] = acts[-1] / acts[0]
    assert 0.3 < ratios["he"] < 3
    assert ratios["tiny"] < 1e-10  # each layer multiplies the variance by about 64 * 1e-4


def test_standardizing_two_scales_cuts_the_condition_number() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)) * [1.0, 10.0]
    y = x @ [1.0, 0.1]
    raw = gd_least_squares(x, y, 1e-6, 100000)
    std = gd_least_squares(x / x.std(axis=0), y, 1e-6, 100000)
    assert raw["condition"] == pytest.approx(100, rel=0.3) and std["condition"] == pytest.approx(1, rel=0.3)
    assert std["steps_to_tol"] < raw["steps_to_tol"]
    assert raw["w_star"] == pytest.approx([1.0, 0.1], rel=1e-9)


def test_whitening_uses_raynns_preprocessors() -> None:
    out = run_analysis({"name": "normalization", "n": 300, "scales": [1, 5], "covariance": [[2, 1], [1, 2]],
                        "mean": [3, 1], "seeds": [1]})
    stats = out.data["whitening"]["stats"]
    assert np.allclose(stats["PCA-whitened"]["cov"], np.eye(2), atol=1e-6)
    assert stats["standardized"]["corr"] == pytest.approx(stats["raw"]["corr"], abs=1e-9)


@pytest.mark.parametrize("spec", [
    {"name": "momentum", "curvatures": [1], "lr": 0.1, "iterations": 3},
    {"name": "momentum", "curvatures": [1, 2], "lr": 0.1, "iterations": 3, "speed": 1},
    {"name": "initialization", "width": 8, "depth": 2, "batch": 8, "pairings": [{"init": "he", "activation": "nope"}]},
    {"name": "normalization", "n": 50, "scales": [1, 2], "covariance": [[1, 2], [2, 1]]},
    {"name": "schedules", "iterations": 10, "schedules": [{"label": "x", "spec": {"name": "cosine"}}]},
])
def test_bad_analysis_parameters_are_refused(spec: dict) -> None:
    with pytest.raises(ValueError):
        ANALYSES.get(spec["name"]).check(spec)
