"""Small models for the chapter's experiments: an MLP and a CNN, with normalization and dropout options.

Every hidden layer is ``a^(l) = f(N(z^(l)))`` with ``z^(l) = W^(l) mask(a^(l-1)) + b^(l)``:

* ``N`` is the layer-wise normalization of section 4.5, applied to the net input ``z`` (after the affine
  map, before the activation ``f``), as 4.5.1 says is the practice: ``"none"``, ``"batch"`` (Ioffe &
  Szegedy, 2015) or ``"layer"`` (Ba et al., 2016).
* ``mask`` is dropout (4.6.4) via ``nn.Dropout(p=dropout)``. torch's ``dropout`` is the probability of
  *dropping* a unit and kept units are scaled by ``1 / (1 - dropout)`` during training (inverted dropout);
  the chapter keeps a unit with probability ``p`` and scales by ``p`` at test time instead. The two agree in
  expectation with the chapter's ``p = 1 - dropout``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from raynn.nn.activations import ACTIVATIONS, build_activation
from raynn.registry import Registry
from raynn.values import is_int

__all__ = ["ACTIVATIONS", "CNN", "MLP", "MODELS", "NORMS", "build_model", "build_network", "cnn", "mlp",
           "model_spec"]

#: ``name -> (num_features, spatial) -> module``; ``spatial`` is True for conv feature maps ``(N, C, H, W)``.
NORMS: Registry[Callable[[int, bool], nn.Module]] = Registry("normalization")
NORMS.add("none", lambda width, spatial: nn.Identity(), "no normalization")
NORMS.add(
    "batch",
    lambda width, spatial: nn.BatchNorm2d(width) if spatial else nn.BatchNorm1d(width),
    "batch normalization of z over the mini-batch (4.5.1)",
)
# On feature maps, GroupNorm with one group normalizes each sample over (C, H, W) -- layer normalization --
# with a per-channel scale and shift, and needs no spatial size at construction.
NORMS.add(
    "layer",
    lambda width, spatial: nn.GroupNorm(1, width) if spatial else nn.LayerNorm(width),
    "layer normalization of z over each sample's units (4.5.2)",
)

MODELS: Registry[Callable[..., nn.Module]] = Registry("model", hidden=("in_shape", "num_classes"))


def _check_common(num_classes: int, activation: str, norm: str, dropout: float) -> None:
    if not is_int(num_classes) or num_classes < 1:
        raise ValueError(f"`num_classes >= 1` must hold, but got {num_classes=!r}")
    ACTIVATIONS.get(activation)
    NORMS.get(norm)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`0 <= dropout < 1` must hold, but got {dropout=}")


def _check_widths(key: str, widths: Sequence[int]) -> list[int]:
    widths = list(widths)
    if not all(is_int(w) and w >= 1 for w in widths):
        raise ValueError(f"every entry of `{key}` must be an int >= 1, but got {key}={widths!r}")
    return widths


def _check_shape(in_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(in_shape)
    if not shape or not all(is_int(d) and d >= 1 for d in shape):
        raise ValueError(f"`in_shape` must be a non-empty sequence of ints >= 1, but got {in_shape=!r}")
    return shape


def _norm(norm: str, width: int, spatial: bool) -> list[nn.Module]:
    # "none" adds no module at all, so an unnormalized model prints as the plain network it is.
    return [] if norm == "none" else [NORMS.get(norm)(width, spatial)]


class MLP(nn.Sequential):
    """Multi-layer perceptron built by :func:`mlp`; remembers its ``activation`` for initialization."""

    def __init__(self, *layers: nn.Module, activation: str) -> None:
        super().__init__(*layers)
        self.activation = activation


class CNN(nn.Sequential):
    """Convolutional network built by :func:`cnn`; remembers its ``activation`` for initialization."""

    def __init__(self, *layers: nn.Module, activation: str) -> None:
        super().__init__(*layers)
        self.activation = activation


@MODELS.register("mlp", "flatten, then [linear - norm - activation - dropout] per hidden layer, then linear")
def mlp(
    in_shape: Sequence[int],
    num_classes: int,
    hidden: Sequence[int] = (128, 64),
    activation: str = "relu",
    norm: str = "none",
    dropout: float = 0.0,
) -> MLP:
    """A fully connected network; any input shape is flattened to ``prod(in_shape)`` features.

    Args:
        in_shape: Shape of one input, without the batch dimension (``(784,)``, ``(1, 28, 28)``, ...).
        num_classes: Number of output logits ``K``.
        hidden: Widths ``M_1, ..., M_{L-1}`` of the hidden layers (may be empty: a linear classifier).
        activation: One of :data:`ACTIVATIONS`.
        norm: One of :data:`NORMS`, applied to each hidden layer's net input ``z``.
        dropout: Probability of dropping each hidden unit, ``0 <= dropout < 1``.
    """
    shape = _check_shape(in_shape)
    _check_common(num_classes, activation, norm, dropout)
    widths = _check_widths("hidden", hidden)
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(shape)
    for width in widths:
        layers += [nn.Linear(fan_in, width), *_norm(norm, width, False), build_activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return MLP(*layers, activation=activation)


@MODELS.register("cnn", "[conv - norm - activation - max-pool 2x2] per channel entry, then linear")
def cnn(
    in_shape: Sequence[int],
    num_classes: int,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    activation: str = "relu",
    norm: str = "none",
    dropout: float = 0.0,
) -> CNN:
    """A small CNN: per entry of ``channels`` a same-padded conv, norm, activation and 2x2 max-pool.

    The spatial size halves (rounding down) at every block: 8x8 -> 2x2, 28x28 -> 7x7, 32x32 -> 8x8 with the
    default two blocks. The flattened feature map goes through dropout (masking the classifier's input,
    as in 4.6.4) and a linear layer.

    Args:
        in_shape: ``(C, H, W)`` of one input.
        num_classes: Number of output logits ``K``.
        channels: Output channels of each conv block (at least one block).
        kernel_size: Odd conv kernel size (same padding keeps ``H`` and ``W``).
        activation: One of :data:`ACTIVATIONS`.
        norm: One of :data:`NORMS`, applied to each conv's output ``z``.
        dropout: Probability of dropping each feature before the classifier, ``0 <= dropout < 1``.
    """
    shape = _check_shape(in_shape)
    if len(shape) != 3:
        raise ValueError(f"`in_shape` of a cnn must be (C, H, W), but got {in_shape=!r}")
    _check_common(num_classes, activation, norm, dropout)
    widths = _check_widths("channels", channels)
    if not widths:
        raise ValueError(f"`channels` must have at least one entry, but got {channels=!r}")
    if not is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"`kernel_size` must be an odd int >= 1, but got {kernel_size=!r}")
    c, h, w = shape
    if min(h, w) < 2 ** len(widths):
        raise ValueError(
            f"`min(H, W) >= 2 ** len(channels)` must hold so that every 2x2 pool has input, "
            f"but got ({in_shape=!r}, {channels=!r})"
        )
    layers: list[nn.Module] = []
    for width in widths:
        layers += [
            nn.Conv2d(c, width, kernel_size, padding=kernel_size // 2),
            *_norm(norm, width, True),
            build_activation(activation),
            nn.MaxPool2d(2),
        ]
        c, h, w = width, h // 2, w // 2
    layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(c * h * w, num_classes))
    return CNN(*layers, activation=activation)


def build_model(spec: str | Mapping[str, Any], in_shape: Sequence[int], num_classes: int) -> nn.Module:
    """A model from a config entry: ``"mlp"`` or ``{"name": "cnn", "channels": [16, 32], "norm": "batch"}``.

    The parameters keep torch's default initialization; set them with an initializer from
    :mod:`raynn.nn.init` (the built model's ``activation`` attribute says which row of Table 7.2 applies).
    Unknown names and options are ``ValueError`` that list the valid ones.
    """
    return MODELS.build(spec, in_shape, num_classes)


def build_network(cfg: Any, in_shape: Sequence[int], num_classes: int) -> nn.Module:
    """The model of a typed run config (:class:`raynn.config_model.RunConfig`): a built-in one (``model.name``, :func:`build_model`), or your own
    (``model.class_path`` with ``init_args``; ``num_classes`` is passed when its signature takes it and
    ``init_args`` does not set it)."""
    m = cfg.model
    if m.class_path is None:
        return build_model(model_spec(cfg), in_shape, num_classes)
    from raynn.classpath import instantiate

    model = instantiate({"class_path": m.class_path, "init_args": m.init_args}, num_classes=num_classes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model.class_path {m.class_path} must build a torch.nn.Module, but built a "
                         f"{type(model).__name__}")
    return materialize(model, in_shape)


def materialize(model: nn.Module, in_shape: Sequence[int]) -> nn.Module:
    """Give a model with lazy layers (``nn.LazyLinear``) its parameter shapes: one forward pass of zeros in eval
    mode, so that an optimizer, an initializer or ``load_state_dict`` sees real parameters."""
    import torch
    from torch.nn.parameter import UninitializedParameter

    if any(isinstance(p, UninitializedParameter) for p in model.parameters()):
        training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *in_shape))
        model.train(training)
    return model


def model_spec(cfg: Any) -> dict[str, Any]:
    """The :func:`build_model` spec of a typed run config: its ``model`` section with ``params`` spread."""
    m = cfg.model
    return {"name": m.name, "activation": m.activation, "norm": m.norm, "dropout": m.dropout, **m.params}
