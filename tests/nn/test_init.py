from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from raynn.nn import init
from raynn.nn.init import (
    INITIALIZERS,
    build_initializer,
    fans,
    he_,
    he_scale,
    init_lstm_forget_bias,
    load_pretrained_,
    orthogonal_,
    xavier_,
    xavier_scale,
)
from raynn.nn.models import mlp


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _var(w: torch.Tensor) -> float:
    return float(w.detach().double().pow(2).mean())  # mean is 0 by construction; 1e6 samples


def test_table_7_2_closed_forms() -> None:
    # M_{l-1} = 300, M_l = 100
    assert xavier_scale(300, 100, "tanh", "uniform") == pytest.approx(math.sqrt(6 / 400))
    assert xavier_scale(300, 100, "tanh", "normal") ** 2 == pytest.approx(2 / 400)
    assert xavier_scale(300, 100, "logistic", "uniform") == pytest.approx(4 * math.sqrt(6 / 400))
    assert xavier_scale(300, 100, "logistic", "normal") ** 2 == pytest.approx(16 * 2 / 400)
    assert he_scale(300, "uniform") == pytest.approx(math.sqrt(6 / 300))
    assert he_scale(300, "normal") ** 2 == pytest.approx(2 / 300)
    # rho multiplies the variance, so r by sqrt(rho)
    assert xavier_scale(300, 100, "tanh", "normal", rho=4.0) ** 2 == pytest.approx(4 * 2 / 400)
    assert xavier_scale(300, 100, "tanh", "uniform", rho=4.0) == pytest.approx(2 * math.sqrt(6 / 400))
    # relu with Xavier is allowed and gets the tanh row
    assert xavier_scale(300, 100, "relu", "normal") == xavier_scale(300, 100, "tanh", "normal")


def test_fans_match_torch_for_linear_and_conv() -> None:
    for shape in [(100, 300), (16, 8, 3, 3), (4, 2, 5)]:
        w = torch.empty(shape)
        assert fans(w) == nn.init._calculate_fan_in_and_fan_out(w)
    assert fans(torch.empty(100, 300)) == (300, 100)  # (M_l, M_{l-1}) -> fan_in = M_{l-1}


def test_xavier_normal_empirical_variance_tanh_and_logistic() -> None:
    w_tanh = xavier_(torch.empty(1000, 1000), "tanh", _gen(1), "normal")
    w_log = xavier_(torch.empty(1000, 1000), "logistic", _gen(1), "normal")
    assert _var(w_tanh) == pytest.approx(2 / 2000, rel=0.02)
    assert _var(w_log) == pytest.approx(16 * 2 / 2000, rel=0.02)
    assert _var(w_log) / _var(w_tanh) == pytest.approx(16.0, rel=1e-5)


def test_xavier_uniform_range_and_variance() -> None:
    w = xavier_(torch.empty(2000, 500), "tanh", _gen(2), "uniform")
    r = math.sqrt(6 / 2500)
    assert float(w.abs().max()) <= r
    assert float(w.abs().max()) > 0.999 * r
    assert _var(w) == pytest.approx(r**2 / 3, rel=0.02)  # var of U(-r, r) = 2/(fan_in+fan_out)
    w_log = xavier_(torch.empty(2000, 500), "logistic", _gen(2), "uniform")
    assert float(w_log.abs().max()) <= 4 * r
    assert float(w_log.abs().max()) > 0.999 * 4 * r


def test_xavier_rho_scales_variance() -> None:
    w = xavier_(torch.empty(1000, 1000), "tanh", _gen(3), "normal", rho=3.0)
    assert _var(w) == pytest.approx(3 * 2 / 2000, rel=0.02)


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_he_empirical_variance(distribution: str) -> None:
    w = he_(torch.empty(2000, 500), _gen(4), distribution)  # fan_in = 500
    assert _var(w) == pytest.approx(2 / 500, rel=0.02)
    if distribution == "uniform":
        assert float(w.abs().max()) <= math.sqrt(6 / 500)


def test_gaussian_and_uniform_fixed_variance() -> None:
    w = init.gaussian_(torch.empty(1000, 1000), 0.05, _gen(5))
    assert _var(w) == pytest.approx(0.05**2, rel=0.02)
    w = init.uniform_(torch.empty(1000, 1000), 0.2, _gen(5))
    assert float(w.abs().max()) <= 0.2
    assert _var(w) == pytest.approx(0.2**2 / 3, rel=0.02)


@pytest.mark.parametrize("shape", [(100, 200), (200, 100), (64, 64)])
@pytest.mark.parametrize("rho", [1.0, 1.5])
def test_orthogonal_is_rho_times_orthonormal(shape: tuple[int, int], rho: float) -> None:
    w = orthogonal_(torch.empty(shape, dtype=torch.float64), _gen(6), rho=rho)
    rows, cols = shape
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(gram, rho**2 * torch.eye(min(shape), dtype=torch.float64), atol=1e-10, rtol=0)


def test_orthogonal_conv_kernel_rows_are_orthonormal() -> None:
    w = orthogonal_(torch.empty(16, 8, 3, 3), _gen(7), rho=2.0)
    flat = w.reshape(16, -1)
    torch.testing.assert_close(flat @ flat.T, 4.0 * torch.eye(16), atol=1e-5, rtol=0)


def test_same_generator_seed_same_weights_no_global_rng() -> None:
    torch.manual_seed(0)
    a = xavier_(torch.empty(50, 40), "tanh", _gen(9))
    torch.manual_seed(1)
    b = xavier_(torch.empty(50, 40), "tanh", _gen(9))
    c = xavier_(torch.empty(50, 40), "tanh", _gen(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_apply_initializes_weights_and_constant_biases() -> None:
    model = mlp((20,), 3, hidden=[400, 300], activation="relu", norm="batch")
    build_initializer({"name": "he", "bias": "auto"}).apply(model, "relu", _gen(11))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for lin in linears:
        assert torch.all(lin.bias == init.RELU_BIAS)
    assert _var(linears[1].weight) == pytest.approx(2 / 400, rel=0.05)
    bn = next(m for m in model if isinstance(m, nn.BatchNorm1d))
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)

    build_initializer({"name": "xavier", "bias": "auto"}).apply(model, "tanh", _gen(11))
    assert all(torch.all(lin.bias == 0) for lin in linears)
    build_initializer({"name": "gaussian", "std": 0.1, "bias": 0.5}).apply(model, "tanh", _gen(11))
    assert all(torch.all(lin.bias == 0.5) for lin in linears)


def test_calling_an_initializer_applies_it_with_a_bias_override() -> None:
    model = mlp((8,), 2, hidden=[4])
    he = build_initializer({"name": "he", "bias": 0.3})
    assert he(model, activation="relu", generator=_gen(14)) is model
    assert torch.all(model[1].bias == 0.3)
    he(model, activation="relu", generator=_gen(14), bias="auto")
    assert torch.all(model[1].bias == init.RELU_BIAS)
    he(model, activation="relu", generator=_gen(14), bias=0.0)
    assert torch.all(model[1].bias == 0.0)
    with pytest.raises(ValueError, match="`bias` must be a finite number or 'auto'"):
        he(model, activation="relu", generator=_gen(14), bias=math.nan)


def test_every_random_initializer_applies_to_linear_conv_and_lstm() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    lstm = nn.LSTM(3, 5, num_layers=2)
    for entry in INITIALIZERS:
        if entry.name in ("pretrained", "default"):  # not random: they load weights / keep the model's own
            continue
        initializer = build_initializer(entry.name)
        initializer.apply(model, "tanh", _gen(12))
        initializer.apply(lstm, "tanh", _gen(12))
        assert all(torch.isfinite(p).all() for p in [*model.parameters(), *lstm.parameters()])
        assert torch.all(lstm.bias_ih_l0 == 0)


def test_initializer_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="distribution"):
        build_initializer({"name": "xavier", "distribution": "cauchy"})
    with pytest.raises(ValueError, match="rho > 0"):
        build_initializer({"name": "orthogonal", "rho": 0.0})
    with pytest.raises(
        ValueError, match=r"unknown option\(s\) \['gain'\].*valid options: distribution, rho, bias"
    ):
        build_initializer({"name": "xavier", "gain": 2.0})
    with pytest.raises(
        ValueError, match="valid names: default, gaussian, he, orthogonal, pretrained, uniform, xavier"
    ):
        build_initializer("lecun")
    with pytest.raises(ValueError, match="activation 'gelu'"):
        build_initializer("he").apply(nn.Linear(2, 2), "gelu", _gen())
    with pytest.raises(ValueError, match=r"torch\.Generator"):
        build_initializer("he").apply(nn.Linear(2, 2), "relu", 0)  # type: ignore[arg-type]


def test_lstm_forget_bias_slice() -> None:
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    init_lstm_forget_bias(lstm, 2)
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.all(p[4:8] == 2.0)
        elif name.startswith("bias_hh"):
            assert torch.all(p[4:8] == 0.0)
    # the other gates keep their values; the effective forget bias is exactly `value`
    before = lstm.bias_ih_l0.detach().clone()
    init_lstm_forget_bias(lstm, 1.0)
    assert torch.equal(lstm.bias_ih_l0[:4], before[:4]) and torch.equal(lstm.bias_ih_l0[8:], before[8:])
    assert torch.all(lstm.bias_ih_l1_reverse[4:8] + lstm.bias_hh_l1_reverse[4:8] == 1.0)
    with pytest.raises(ValueError, match="bias=False"):
        init_lstm_forget_bias(nn.LSTM(3, 4, bias=False), 1.0)
    with pytest.raises(ValueError, match=r"nn\.LSTM"):
        init_lstm_forget_bias(nn.GRU(3, 4), 1.0)  # type: ignore[arg-type]


def test_pretrained_loads_state_dict_and_raynn_checkpoint(tmp_path: Path) -> None:
    source = mlp((6,), 3, hidden=[5])
    build_initializer("he").apply(source, "relu", _gen(13))
    torch.save(source.state_dict(), tmp_path / "sd.pt")
    torch.save({"model": source.state_dict(), "epoch": 7}, tmp_path / "ckpt.pt")
    for file in ["sd.pt", "ckpt.pt"]:
        target = mlp((6,), 3, hidden=[5])
        build_initializer({"name": "pretrained", "path": str(tmp_path / file)}).apply(target, "relu", _gen())
        for a, b in zip(source.state_dict().values(), target.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_pretrained_errors_and_non_strict_fine_tuning(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        build_initializer({"name": "pretrained", "path": str(tmp_path / "nope.pt")}).apply(
            mlp((6,), 3), "relu"
        )
    source = mlp((6,), 3, hidden=[5])
    torch.save(source.state_dict(), tmp_path / "sd.pt")
    new_head = mlp((6,), 10, hidden=[5])  # fine-tuning on a 10-class task
    with pytest.raises(ValueError, match=r"shape mismatch.*3\.weight: \(3, 5\) vs \(10, 5\)"):
        load_pretrained_(new_head, tmp_path / "sd.pt")
    with pytest.raises(
        ValueError, match=r"missing from the checkpoint: \[5\.bias, 5\.weight\].*shape mismatch.*3\.weight"
    ):
        load_pretrained_(mlp((6,), 3, hidden=[5, 4]), tmp_path / "sd.pt")
    left = load_pretrained_(new_head, tmp_path / "sd.pt", strict=False)
    assert left == ["3.bias", "3.weight"]
    assert torch.equal(new_head[1].weight, source[1].weight)
    torch.save({"step": 3}, tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="state dict"):
        load_pretrained_(new_head, tmp_path / "junk.pt")


def test_default_keeps_the_models_own_parameters() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    before = [p.detach().clone() for p in model.parameters()]
    build_initializer("default").apply(model, "relu", _gen(3), bias=0.5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
