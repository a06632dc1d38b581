"""raynn.nn.activations: the activations of Table 7.2, by name."""

from __future__ import annotations

import pytest
import torch

from raynn.nn import ACTIVATIONS, build_activation


def test_each_name_is_its_formula() -> None:
    z = torch.linspace(-3, 3, 13)
    assert torch.equal(build_activation("relu")(z), z.clamp(min=0))
    assert torch.allclose(build_activation("logistic")(z), 1 / (1 + torch.exp(-z)))
    assert torch.allclose(build_activation("tanh")(z), (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z)))
    assert ACTIVATIONS.names() == ["logistic", "relu", "tanh"]


def test_each_call_builds_a_new_module() -> None:
    assert build_activation("relu") is not build_activation("relu")
    with pytest.raises(ValueError, match="unknown activation 'gelu'; valid names: logistic, relu, tanh"):
        build_activation("gelu")
