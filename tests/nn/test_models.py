from __future__ import annotations

import pytest
import torch
from torch import nn

from raynn.nn.activations import ACTIVATIONS
from raynn.nn.models import MODELS, NORMS, build_model, cnn, mlp


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_cnn_forward_shapes(in_shape: tuple[int, int, int], norm: str) -> None:
    model = cnn(in_shape, 10, norm=norm, dropout=0.25)
    assert model(torch.randn(4, *in_shape)).shape == (4, 10)


@pytest.mark.parametrize("in_shape", [(7,), (1, 8, 8), (3, 4, 5)])
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu"])
def test_mlp_takes_any_input_shape(in_shape: tuple[int, ...], activation: str) -> None:
    model = mlp(in_shape, 3, hidden=[6, 5], activation=activation)
    assert model(torch.randn(2, *in_shape)).shape == (2, 3)
    assert model.activation == activation
    assert isinstance(model[1], nn.Linear) and model[1].in_features == torch.Size(in_shape).numel()


@pytest.mark.parametrize(("norm", "norm_type"), [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_mlp_normalizes_net_input_before_activation(norm: str, norm_type: type[nn.Module]) -> None:
    model = mlp((5,), 2, hidden=[4], activation="tanh", norm=norm)
    types = [type(m) for m in model]
    assert types == [nn.Flatten, nn.Linear, norm_type, nn.Tanh, nn.Linear]


@pytest.mark.parametrize(("norm", "norm_type"), [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm)])
def test_cnn_normalizes_net_input_before_activation(norm: str, norm_type: type[nn.Module]) -> None:
    model = cnn((1, 8, 8), 2, channels=[3], norm=norm)
    types = [type(m) for m in model]
    assert types == [nn.Conv2d, norm_type, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear]


def test_layer_norm_normalizes_each_sample() -> None:
    model = mlp((5,), 2, hidden=[64], norm="layer")
    z = model[2](model[1](torch.randn(3, 5) * 10 + 4))
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)


def test_no_norm_adds_no_module() -> None:
    assert [type(m) for m in mlp((5,), 2, hidden=[4])] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]


def test_dropout_masks_in_training_and_is_identity_in_eval() -> None:
    model = mlp((20,), 2, hidden=[200], dropout=0.5)
    dropouts = [m for m in model if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 1 and dropouts[0].p == 0.5
    x = torch.randn(8, 20)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    hidden = model[3](model[2](model[1](x)))
    assert (hidden == 0).float().mean() > 0.3  # ReLU zeros plus about half the rest dropped


def test_build_model_from_name_or_mapping() -> None:
    model = build_model(
        {"name": "cnn", "channels": [4, 8], "norm": "batch", "activation": "tanh"}, (3, 32, 32), 5
    )
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert model.activation == "tanh"
    assert build_model("mlp", (4,), 2)(torch.randn(1, 4)).shape == (1, 2)


def test_every_registered_model_builds_for_image_input() -> None:
    for entry in MODELS:
        assert build_model(entry.name, (1, 28, 28), 10)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_bad_model_configs_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['width'\] for model 'mlp'"):
        build_model({"name": "mlp", "width": 3}, (4,), 2)
    with pytest.raises(ValueError, match="valid names: cnn, mlp"):
        build_model("resnet", (4,), 2)
    with pytest.raises(ValueError, match="valid names: logistic, relu, tanh"):
        mlp((4,), 2, activation="gelu")
    with pytest.raises(ValueError, match="valid names: batch, layer, none"):
        mlp((4,), 2, norm="group")
    with pytest.raises(ValueError, match="0 <= dropout < 1"):
        mlp((4,), 2, dropout=1.0)
    with pytest.raises(ValueError, match=r"min\(H, W\) >= 2 \*\* len\(channels\)"):
        cnn((1, 8, 8), 2, channels=[4, 4, 4, 4])
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        cnn((28, 28), 2)
    with pytest.raises(ValueError, match="num_classes >= 1"):
        mlp((4,), 0)
    assert set(ACTIVATIONS.names()) == {"logistic", "tanh", "relu"}
    assert set(NORMS.names()) == {"none", "batch", "layer"}
