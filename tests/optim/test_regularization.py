from __future__ import annotations

import math

import pytest
import torch

from raynn.optim.regularization import decoupled_weight_decay_, lp_penalty


def _params() -> list[torch.Tensor]:
    # flattened theta = [3, -4, 12]
    return [torch.tensor([3.0, -4.0], requires_grad=True), torch.tensor([[12.0]], requires_grad=True)]


@pytest.mark.parametrize(
    ("p", "norm"), [(1, 19.0), (2, 13.0), (3, (27 + 64 + 1728) ** (1 / 3)), (math.inf, 12.0)]
)
def test_lp_penalty_is_lam_times_the_norm_of_all_parameters(p: float, norm: float) -> None:
    assert float(lp_penalty(_params(), p, lam=0.5).detach()) == pytest.approx(0.5 * norm)


def test_lp_penalty_gradients() -> None:
    params = _params()
    lp_penalty(params, 2, lam=0.5).backward()
    torch.testing.assert_close(params[0].grad, 0.5 * torch.tensor([3.0, -4.0]) / 13)
    torch.testing.assert_close(params[1].grad, 0.5 * torch.tensor([[12.0]]) / 13)
    params = _params()
    lp_penalty(params, 1, lam=0.5).backward()
    torch.testing.assert_close(params[0].grad, torch.tensor([0.5, -0.5]))
    torch.testing.assert_close(params[1].grad, torch.tensor([[0.5]]))


def test_lp_penalty_checks_arguments() -> None:
    with pytest.raises(ValueError, match="p >= 1"):
        lp_penalty(_params(), 0.5, lam=1.0)
    with pytest.raises(ValueError, match="lam >= 0"):
        lp_penalty(_params(), 2, lam=-1.0)
    with pytest.raises(ValueError, match="at least one tensor"):
        lp_penalty([], 2, lam=1.0)


def test_decoupled_weight_decay_scales_by_one_minus_beta() -> None:
    w = torch.nn.Parameter(torch.tensor([2.0, -4.0]))
    decoupled_weight_decay_([w], beta=0.25)
    assert torch.equal(w.detach(), torch.tensor([1.5, -3.0]))
    decoupled_weight_decay_([w], beta=0.0)
    assert torch.equal(w.detach(), torch.tensor([1.5, -3.0]))
    with pytest.raises(ValueError, match="0 <= beta < 1"):
        decoupled_weight_decay_([w], beta=1.0)


@pytest.mark.parametrize("keep", [True, False])
def test_decoupled_weight_decay_where_a_device_flag_says_so(keep: bool) -> None:
    """``where``: decay only where the 0-dim flag is True (a step the fp16 scaler keeps), (1 - beta) theta."""
    params = _params()
    decoupled_weight_decay_(params, 0.25, where=torch.tensor(keep))
    factor = 0.75 if keep else 1.0
    assert params[0].tolist() == [3.0 * factor, -4.0 * factor] and params[1].tolist() == [[12.0 * factor]]
