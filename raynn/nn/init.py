"""Network initialization, the seed's section 4.3 (Table 7.2).

Three ways to set the initial parameters (4.3): pre-trained initialization (:class:`Pretrained`, for
fine-tuning), random initialization (:class:`Gaussian`, :class:`Uniform`, :class:`Xavier`, :class:`He`,
:class:`Orthogonal`) and constant initialization of biases (the ``bias`` option of every random initializer,
and :func:`init_lstm_forget_bias`).

Fans follow the chapter: for a weight ``W`` of layer ``l`` with shape ``(M_l, M_{l-1})``, ``fan_in = M_{l-1}``
and ``fan_out = M_l``. For a convolution ``(out, in, *kernel)`` both are multiplied by the kernel size,
as torch computes them (:func:`fans`).

Every initializer draws from a ``torch.Generator`` it is handed, never from the global RNG.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raynn.nn.activations import ACTIVATIONS
from raynn.registry import Registry
from raynn.values import check_number, value_error

__all__ = [
    "INITIALIZERS",
    "RELU_BIAS",
    "Gaussian",
    "He",
    "Initializer",
    "KeepDefault",
    "Orthogonal",
    "Pretrained",
    "RandomInitializer",
    "Uniform",
    "Xavier",
    "build_initializer",
    "default_initializer",
    "fans",
    "gaussian_",
    "he_",
    "he_scale",
    "init_lstm_forget_bias",
    "load_pretrained_",
    "orthogonal_",
    "uniform_",
    "xavier_",
    "xavier_scale",
]

INITIALIZERS: Registry[type[Initializer]] = Registry("initializer")

#: The chapter's suggested bias for ReLU units, so that they are active (and get a gradient) early on.
RELU_BIAS = 0.01

_DISTRIBUTIONS = ("normal", "uniform")


# --------------------------------------------------------------------------------------------------------
# Pure arithmetic: Table 7.2


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(M_{l-1}, M_l)`` for a ``(M_l, M_{l-1})`` matrix.

    For ``dim > 2`` (convolutions) both are multiplied by the receptive field size ``prod(shape[2:])``,
    which is what ``torch.nn.init`` computes.
    """
    if weight.dim() < 2:
        raise ValueError(
            f"fans need a weight with at least 2 dimensions, but got shape {tuple(weight.shape)}"
        )
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _require(ok: bool, rule: str, **values: Any) -> None:
    """A ``ValueError`` stating ``rule`` and the values that break it, unless ``ok``."""
    if not ok:
        got = ", ".join(f"{key}={value!r}" for key, value in values.items())
        raise ValueError(f"`{rule}` must hold, but got {got}")


def _check_distribution(distribution: str) -> None:
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"`distribution` must be one of {_DISTRIBUTIONS}, but got {distribution=!r}")


def xavier_scale(fan_in: int, fan_out: int, activation: str, distribution: str, rho: float = 1.0) -> float:
    """Table 7.2's Xavier row: ``r`` for ``"uniform"``, ``sigma`` for ``"normal"``.

    Tanh (and any activation but logistic): ``r = sqrt(6 rho / (M_{l-1} + M_l))``,
    ``sigma^2 = 2 rho / (M_{l-1} + M_l)``. Logistic: 4x the range, 16x the variance.
    ``rho`` is the chapter's empirical scaling factor of the variance, so ``r`` scales with ``sqrt(rho)``.

    Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
    AISTATS 2010.
    """
    _check_distribution(distribution)
    ACTIVATIONS.get(activation)
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fans must be >= 1, but got ({fan_in=}, {fan_out=})")
    _require(rho > 0, "rho > 0", rho=rho)
    gain = 4.0 if activation == "logistic" else 1.0
    numerator = 6.0 if distribution == "uniform" else 2.0
    return gain * math.sqrt(numerator * rho / (fan_in + fan_out))


def he_scale(fan_in: int, distribution: str) -> float:
    """Table 7.2's He row: ``r = sqrt(6 / M_{l-1})`` for ``"uniform"``, ``sigma = sqrt(2 / M_{l-1})``.

    He et al., "Delving Deep into Rectifiers", ICCV 2015.
    """
    _check_distribution(distribution)
    if fan_in < 1:
        raise ValueError(f"`fan_in >= 1` must hold, but got {fan_in=}")
    return math.sqrt((6.0 if distribution == "uniform" else 2.0) / fan_in)


# --------------------------------------------------------------------------------------------------------
# One weight tensor


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"`generator` must be a torch.Generator, but got {generator!r}")


def _sample_dtype(weight: torch.Tensor) -> torch.dtype:
    if not weight.is_floating_point():
        raise ValueError(f"can only initialize floating point weights, but got dtype {weight.dtype}")
    return torch.float64 if weight.dtype == torch.float64 else torch.float32


def _copy_(weight: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    # Sampling happens on the generator's device; copy_ moves and casts to the weight's.
    with torch.no_grad():
        weight.copy_(values)
    return weight


def gaussian_(weight: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``weight`` in place from ``N(0, std^2)`` (4.3.1)."""
    _check_generator(generator)
    _require(std >= 0, "std >= 0", std=std)
    sample = torch.randn(
        weight.shape, generator=generator, device=generator.device, dtype=_sample_dtype(weight)
    )
    return _copy_(weight, sample * std)


def uniform_(weight: torch.Tensor, r: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``weight`` in place from ``uniform(-r, r)`` (4.3.1)."""
    _check_generator(generator)
    _require(r >= 0, "r >= 0", r=r)
    sample = torch.rand(
        weight.shape, generator=generator, device=generator.device, dtype=_sample_dtype(weight)
    )
    return _copy_(weight, (2.0 * sample - 1.0) * r)


def _fill_(weight: torch.Tensor, distribution: str, scale: float, generator: torch.Generator) -> torch.Tensor:
    if distribution == "uniform":
        return uniform_(weight, scale, generator)
    return gaussian_(weight, scale, generator)


def xavier_(
    weight: torch.Tensor,
    activation: str,
    generator: torch.Generator,
    distribution: str = "normal",
    rho: float = 1.0,
) -> torch.Tensor:
    """Xavier (Glorot) initialization of one weight in place; see :func:`xavier_scale` for the formula."""
    fan_in, fan_out = fans(weight)
    return _fill_(
        weight, distribution, xavier_scale(fan_in, fan_out, activation, distribution, rho), generator
    )


def he_(weight: torch.Tensor, generator: torch.Generator, distribution: str = "normal") -> torch.Tensor:
    """He (Kaiming) initialization of one weight in place; see :func:`he_scale` for the formula."""
    fan_in, _ = fans(weight)
    return _fill_(weight, distribution, he_scale(fan_in, distribution), generator)


def orthogonal_(weight: torch.Tensor, generator: torch.Generator, rho: float = 1.0) -> torch.Tensor:
    """Orthogonal initialization in place (4.3.3).

    Draw ``A ~ N(0, 1)`` of ``W``'s shape (a convolution kernel is viewed as ``(out, in * prod(kernel))``),
    take its SVD ``A = U S V^T`` and set ``W = rho U`` or ``W = rho V^T``, whichever has ``W``'s shape. Then
    ``W W^T = rho^2 I`` when ``W`` has no more rows than columns, else ``W^T W = rho^2 I``.

    Saxe et al., "Exact solutions to the nonlinear dynamics of learning in deep linear neural networks", 2014.
    """
    _check_generator(generator)
    if weight.dim() < 2:
        raise ValueError(
            f"orthogonal init needs a weight with >= 2 dimensions, but got {tuple(weight.shape)}"
        )
    _require(rho > 0, "rho > 0", rho=rho)
    _sample_dtype(weight)
    rows, cols = weight.shape[0], math.prod(weight.shape[1:])
    # float64 keeps the singular vectors orthonormal to ~1e-15 before the cast to the weight's dtype.
    a = torch.randn((rows, cols), generator=generator, device=generator.device, dtype=torch.float64)
    u, _, vh = torch.linalg.svd(a, full_matrices=False)
    q = vh if rows <= cols else u
    return _copy_(weight, (rho * q).reshape(weight.shape))


# --------------------------------------------------------------------------------------------------------
# Whole models


def _affine_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """The weights and biases of the affine maps ``z = W a + b`` in ``model``: linear, conv and RNN layers.

    Normalization layers keep their own initialization (scale 1, shift 0); embeddings are left alone.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd, nn.RNNBase)):
            for name, param in module.named_parameters(recurse=False):
                if name.startswith("weight") or name.startswith("bias"):
                    yield name, param


def _check_bias(bias: float | str) -> None:
    if isinstance(bias, str):
        if bias != "auto":
            raise ValueError(f"`bias` must be a float or 'auto', but got {bias=!r}")
    else:
        check_number("bias", bias, "must be a finite number or 'auto'", error=value_error)


class Initializer(ABC):
    """Sets a model's initial parameters. ``initializer(model, ...)`` is ``initializer.apply(model, ...)``."""

    @abstractmethod
    def apply(
        self,
        model: nn.Module,
        activation: str,
        generator: torch.Generator,
        bias: float | str | None = None,
    ) -> nn.Module:
        """Initialize ``model`` in place and return it.

        Args:
            model: The model; its linear, conv and RNN layers are initialized.
            activation: The model's activation (one of ``ACTIVATIONS``): which row of Table 7.2 applies.
            generator: The only source of randomness.
            bias: Overrides the initializer's own ``bias`` option for this call (None keeps it).
        """

    def __call__(
        self,
        model: nn.Module,
        activation: str,
        generator: torch.Generator,
        bias: float | str | None = None,
    ) -> nn.Module:
        return self.apply(model, activation, generator, bias=bias)


class RandomInitializer(Initializer):
    """Random weights, constant biases (4.3 ② and ③).

    Args:
        bias: The constant every bias is set to: 0 by default, a float, or ``"auto"`` for
            :data:`RELU_BIAS` (0.01) when the activation is ReLU and 0 otherwise.
    """

    def __init__(self, bias: float | str = 0.0) -> None:
        _check_bias(bias)
        self.bias = bias

    @abstractmethod
    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        """Initialize one weight tensor in place."""

    def bias_value(self, activation: str, bias: float | str | None = None) -> float:
        """The constant for the biases: ``bias`` if given, else the initializer's option; "auto" resolved."""
        bias = self.bias if bias is None else bias
        if bias == "auto":
            return RELU_BIAS if activation == "relu" else 0.0
        return float(bias)

    def apply(
        self,
        model: nn.Module,
        activation: str,
        generator: torch.Generator,
        bias: float | str | None = None,
    ) -> nn.Module:
        """Initialize every linear, conv and RNN weight with this rule; set their biases to the constant."""
        ACTIVATIONS.get(activation)
        _check_generator(generator)
        if bias is not None:
            _check_bias(bias)
        bias = self.bias_value(activation, bias)
        for name, param in _affine_parameters(model):
            if name.startswith("weight"):
                self.init_weight_(param, activation, generator)
            else:
                with torch.no_grad():
                    param.fill_(bias)
        return model

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


@INITIALIZERS.register("gaussian", "N(0, std^2), fixed variance (4.3.1)")
class Gaussian(RandomInitializer):
    """Fixed-variance Gaussian ``N(0, std^2)`` (4.3.1).

    Args:
        std: Standard deviation ``sigma >= 0``.
        bias: See :class:`RandomInitializer`.
    """

    def __init__(self, std: float = 0.01, bias: float | str = 0.0) -> None:
        super().__init__(bias)
        _require(std >= 0, "std >= 0", std=std)
        self.std = std

    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        return gaussian_(weight, self.std, generator)


@INITIALIZERS.register("uniform", "uniform(-r, r), fixed variance (4.3.1)")
class Uniform(RandomInitializer):
    """Fixed-variance uniform ``uniform(-r, r)`` (4.3.1).

    Args:
        r: Half-width ``r >= 0``.
        bias: See :class:`RandomInitializer`.
    """

    def __init__(self, r: float = 0.05, bias: float | str = 0.0) -> None:
        super().__init__(bias)
        _require(r >= 0, "r >= 0", r=r)
        self.r = r

    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        return uniform_(weight, self.r, generator)


@INITIALIZERS.register("xavier", "Glorot: variance 2 rho/(fan_in+fan_out), x16 for logistic (Table 7.2)")
class Xavier(RandomInitializer):
    """Xavier (Glorot) initialization, Table 7.2 (see :func:`xavier_scale`).

    With activation ``"logistic"`` the range is 4x and the variance 16x the tanh row; every other activation
    (tanh, and relu if one asks for it) gets the tanh row.

    Args:
        distribution: ``"normal"`` or ``"uniform"``.
        rho: The chapter's scaling factor of the variance, ``rho > 0``.
        bias: See :class:`RandomInitializer`.
    """

    def __init__(self, distribution: str = "normal", rho: float = 1.0, bias: float | str = 0.0) -> None:
        super().__init__(bias)
        _check_distribution(distribution)
        _require(rho > 0, "rho > 0", rho=rho)
        self.distribution, self.rho = distribution, rho

    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        return xavier_(weight, activation, generator, self.distribution, self.rho)


@INITIALIZERS.register("he", "Kaiming: variance 2/fan_in, for ReLU (Table 7.2)")
class He(RandomInitializer):
    """He (Kaiming) initialization, Table 7.2 (see :func:`he_scale`); the formula ignores the activation.

    Args:
        distribution: ``"normal"`` or ``"uniform"``.
        bias: See :class:`RandomInitializer`.
    """

    def __init__(self, distribution: str = "normal", bias: float | str = 0.0) -> None:
        super().__init__(bias)
        _check_distribution(distribution)
        self.distribution = distribution

    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        return he_(weight, generator, self.distribution)


@INITIALIZERS.register("orthogonal", "singular vectors of a Gaussian matrix times rho (4.3.3)")
class Orthogonal(RandomInitializer):
    """Orthogonal initialization (4.3.3, see :func:`orthogonal_`).

    Args:
        rho: Scale of the (semi-)orthogonal matrix, ``rho > 0``.
        bias: See :class:`RandomInitializer`.
    """

    def __init__(self, rho: float = 1.0, bias: float | str = 0.0) -> None:
        super().__init__(bias)
        _require(rho > 0, "rho > 0", rho=rho)
        self.rho = rho

    def init_weight_(self, weight: torch.Tensor, activation: str, generator: torch.Generator) -> torch.Tensor:
        return orthogonal_(weight, generator, self.rho)


# --------------------------------------------------------------------------------------------------------
# Pre-trained initialization


def _strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():  # a raynn checkpoint directory
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"pretrained checkpoint {str(path)!r} does not exist or is not a file")
    from raynn.weights import safe_load

    obj = safe_load(path)  # torch.load(weights_only=True): a checkpoint is data, never code to run
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{str(path)!r} must hold a state dict (name -> tensor) or a raynn checkpoint with key 'model'"
        )
    state = dict(obj)
    # Saved from a DDP-wrapped or torch.compile'd model.
    for prefix in ("module.", "_orig_mod."):
        state = _strip_prefix(state, prefix)
    return state


def _preview(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}] ({len(keys)})"


def load_pretrained_(model: nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Load a state dict, or the ``"model"`` entry of a raynn checkpoint, into ``model`` (4.3 ①).

    Args:
        model: The model to fine-tune; changed in place.
        path: A file written by ``torch.save``.
        strict: If True, the checkpoint's keys and shapes must match the model's exactly. If False, the
            entries whose name and shape match are loaded and the rest of the model keeps its current values
            (initialize it first, e.g. a new classifier head).

    Returns:
        The model's keys that were not loaded (always empty when ``strict``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a state dict, or keys or shapes do not match (``strict``), or nothing
            matches (not ``strict``).
    """
    path = Path(path)
    state = _read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if strict and (missing or unexpected or mismatched):
        problems = []
        if missing:
            problems.append(f"missing from the checkpoint: {_preview(missing)}")
        if unexpected:
            problems.append(f"not in the model: {_preview(unexpected)}")
        if mismatched:
            shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]
            problems.append(f"shape mismatch (checkpoint vs model): {_preview(shapes)}")
        raise ValueError(
            f"pretrained checkpoint {str(path)!r} does not match the model; "
            + "; ".join(problems)
            + " (use strict=False to load only the matching entries)"
        )
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ValueError(
            f"no entry of pretrained checkpoint {str(path)!r} matches the model's keys and shapes"
        )
    model.load_state_dict(matching, strict=False)
    return sorted(set(own) - set(matching))


@INITIALIZERS.register("default", "keep the model's own initialization (the default for model.class_path)")
class KeepDefault(Initializer):
    """Leave every parameter as the model made it: torch's default initialization, or weights the model loaded
    itself (``torchvision.models.resnet18(weights=...)``). The default for your own model (``model.class_path``);
    the chapter's initializers apply to it only when asked (``model.init: he``)."""

    def apply(
        self,
        model: nn.Module,
        activation: str | None = None,
        generator: torch.Generator | None = None,
        bias: float | str | None = None,
    ) -> nn.Module:
        return model

    def __repr__(self) -> str:
        return "KeepDefault()"


@INITIALIZERS.register("pretrained", "load a state dict / raynn checkpoint for fine-tuning (4.3)")
class Pretrained(Initializer):
    """Pre-trained initialization for fine-tuning (4.3 ①), see :func:`load_pretrained_`.

    Args:
        path: A saved state dict, or a raynn checkpoint whose ``"model"`` entry is one.
        strict: Require an exact match of keys and shapes.
    """

    def __init__(self, path: str | Path, strict: bool = True) -> None:
        self.path, self.strict = Path(path), strict

    def apply(
        self,
        model: nn.Module,
        activation: str | None = None,
        generator: torch.Generator | None = None,
        bias: float | str | None = None,
    ) -> nn.Module:
        """Load the checkpoint into ``model``; ``activation``, ``generator`` and ``bias`` are not used:
        every loaded tensor, biases included, comes from the checkpoint."""
        load_pretrained_(model, self.path, self.strict)
        return model

    def __repr__(self) -> str:
        return f"Pretrained(path={str(self.path)!r}, strict={self.strict})"


# --------------------------------------------------------------------------------------------------------
# Constant initialization of LSTM forget gates, and the config entry point


def init_lstm_forget_bias(lstm: nn.LSTM, value: float = 1.0) -> nn.LSTM:
    """Set the forget-gate bias of every layer and direction of ``lstm`` to ``value`` (4.3 ③: 1 or 2).

    torch's LSTM has two biases per layer, ``bias_ih`` and ``bias_hh``, laid out as the gates
    ``[input, forget, cell, output]``; only their sum acts. The forget slice ``[H:2H]`` of ``bias_ih`` is set
    to ``value`` and that of ``bias_hh`` to 0, so the forget gate's effective bias is exactly ``value``.
    The other gates' biases are left as they are.

    Jozefowicz et al., "An Empirical Exploration of Recurrent Network Architectures", ICML 2015.
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"`lstm` must be a torch.nn.LSTM, but got {type(lstm).__name__}")
    if not lstm.bias:
        raise ValueError("the LSTM was built with bias=False, so it has no forget-gate bias to set")
    check_number("value", value, "must be a finite number (1 or 2 in the chapter)", error=value_error)
    h = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[h : 2 * h].fill_(float(value))
            elif name.startswith("bias_hh"):
                param[h : 2 * h].zero_()
    return lstm


def default_initializer(activation: str) -> Initializer:
    """Table 7.2's choice for ``activation``: He for ReLU, Xavier (normal) for logistic and tanh."""
    ACTIVATIONS.get(activation)
    return He() if activation == "relu" else Xavier()


def build_initializer(spec: str | Mapping[str, Any]) -> Initializer:
    """An initializer from a config entry: ``"he"`` or ``{"name": "xavier", "distribution": "uniform"}``.

    Unknown names and options are ``ValueError`` that list the valid ones.
    """
    return INITIALIZERS.build(spec)
