from __future__ import annotations

import inspect

import pytest
import torch

from raynn.optim.optimizers import NOT_EXPOSED, OPTIMIZERS, build_optimizer, hyperparameters
from raynn.optim.regularization import decoupled_weight_decay_


def _param(values: list[float], grad: list[float]) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_registry_holds_the_chapters_optimizers() -> None:
    assert OPTIMIZERS.names() == sorted(
        ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "nadam"]
    )


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_descends_a_quadratic(name: str) -> None:
    theta = torch.nn.Parameter(torch.tensor([2.0, -3.0]))
    opt = build_optimizer([theta], name, lr=1.0 if name == "adadelta" else 0.05)
    start = float((theta.detach() ** 2).sum())
    for _ in range(20):
        opt.zero_grad()
        (theta**2).sum().backward()
        opt.step()
    assert float((theta.detach() ** 2).sum()) < start


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_hyperparameters_are_torch_constructor_arguments(name: str) -> None:
    info = OPTIMIZERS.get(name)
    signature = set(inspect.signature(info.cls.__init__).parameters)
    valid = hyperparameters(name)
    assert set(valid) <= signature
    assert not set(valid) & (NOT_EXPOSED | set(info.fixed))
    assert "weight_decay" not in valid


def test_sgd_step_is_the_formula_exactly() -> None:
    theta = _param([1.0, 2.0, -3.0], [0.5, -1.0, 2.0])
    build_optimizer([theta], "sgd", lr=0.25).step()
    assert torch.equal(theta.detach(), torch.tensor([0.875, 2.25, -3.5], dtype=torch.float64))


def test_sgd_with_decoupled_weight_decay_is_the_formula_exactly() -> None:
    # theta_k = (1 - beta) theta_{k-1} - alpha g_k, with beta not multiplied by alpha
    theta = _param([1.0, 2.0, -3.0], [0.5, -1.0, 2.0])
    opt = build_optimizer([theta], "sgd", lr=0.25)
    decoupled_weight_decay_([theta], beta=0.5)
    opt.step()
    expected = 0.5 * torch.tensor([1.0, 2.0, -3.0]) - 0.25 * torch.tensor([0.5, -1.0, 2.0])
    assert torch.equal(theta.detach(), expected.double())


def test_momentum_matches_the_chapters_recursion() -> None:
    # Delta theta_k = rho Delta theta_{k-1} - alpha g_k, theta_k = theta_{k-1} + Delta theta_k
    alpha, rho = 0.1, 0.9
    theta = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = build_optimizer([theta], "momentum", lr=alpha)
    assert opt.param_groups[0]["momentum"] == 0.9
    expected, delta = theta.detach().clone(), torch.zeros(2, dtype=torch.float64)
    for _ in range(4):
        opt.zero_grad()
        (theta**2).sum().backward()
        delta = rho * delta - alpha * 2 * expected
        expected = expected + delta
        opt.step()
        torch.testing.assert_close(theta.detach(), expected, rtol=1e-12, atol=1e-12)


def test_rmsprop_uses_the_chapters_decay_rate_and_update() -> None:
    theta = _param([1.0, -2.0], [0.3, -4.0])
    opt = build_optimizer([theta], "rmsprop", lr=0.01)
    assert opt.param_groups[0]["alpha"] == 0.9
    opt.step()
    g = torch.tensor([0.3, -4.0], dtype=torch.float64)
    avg = (1 - 0.9) * g * g
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64) - 0.01 * g / (avg.sqrt() + 1e-8)
    torch.testing.assert_close(theta.detach(), expected, rtol=1e-12, atol=1e-12)


def test_adagrad_one_step() -> None:
    theta = _param([1.0, -2.0], [0.3, -4.0])
    build_optimizer([theta], "adagrad", lr=0.1).step()
    g = torch.tensor([0.3, -4.0], dtype=torch.float64)
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64) - 0.1 * g / ((g * g).sqrt() + 1e-10)
    torch.testing.assert_close(theta.detach(), expected, rtol=1e-12, atol=1e-12)


def test_nesterov_and_adam_settings() -> None:
    theta = torch.nn.Parameter(torch.zeros(2))
    assert build_optimizer([theta], "nesterov", lr=0.1).param_groups[0]["nesterov"] is True
    assert build_optimizer([theta], "momentum", lr=0.1).param_groups[0]["nesterov"] is False
    adam = build_optimizer([theta], "adam", lr=1e-3, betas=[0.8, 0.99], amsgrad=True)
    assert adam.param_groups[0]["betas"] == (0.8, 0.99)
    assert adam.param_groups[0]["weight_decay"] == 0


def test_unknown_or_fixed_hyperparameters_are_named() -> None:
    theta = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(
        ValueError, match=r"unknown hyperparameter\(s\) \['beta', 'gamma'\] for optimizer 'adam'"
    ):
        build_optimizer([theta], "adam", lr=0.1, beta=0.9, gamma=1.0)
    with pytest.raises(ValueError, match="decoupled_weight_decay_"):
        build_optimizer([theta], "sgd", lr=0.1, weight_decay=1e-4)
    with pytest.raises(ValueError, match=r"'sgd' fixes momentum=0\.0"):
        build_optimizer([theta], "sgd", lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"'nesterov' fixes nesterov=True"):
        build_optimizer([theta], "nesterov", lr=0.1, nesterov=False)
    with pytest.raises(ValueError, match="valid: alpha, eps, momentum, centered"):
        build_optimizer([theta], "rmsprop", lr=0.1, beta=0.9)
    with pytest.raises(ValueError, match="lr > 0"):
        build_optimizer([theta], "adam", lr=0.0)
    with pytest.raises(ValueError, match="valid names: adadelta, adagrad, adam"):
        build_optimizer([theta], "lamb", lr=0.1)
