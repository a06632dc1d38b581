"""Feature normalization fitted on the training split (seed section 4.2.1).

A preprocessor is fitted once on the training images and then applied unchanged to every split, so
validation and test data are scaled with the training statistics. A "feature" is one position of the
flattened example (one pixel of one channel): for ``x`` of shape ``(N, C, H, W)`` there are
``D = C * H * W`` features and every statistic below is a vector over them.

Names (the ``PREPROCESSORS`` registry):

* ``none`` -- identity.
* ``minmax`` -- ``x~ = (x - min) / (max - min)``, mapping the training range onto ``[0, 1]``.
* ``minmax_symmetric`` -- ``x~ = 2 (x - min) / (max - min) - 1``, onto ``[-1, 1]``.
* ``standardize`` -- ``x~ = (x - mean) / std``; features with zero variance on the training split
  have "no discriminative power" and are deleted, so the output is flat ``(N, D')``.
* ``pca_whiten`` -- PCA whitening: project the centred data onto the principal components and
  divide each by ``sqrt(eigenvalue + eps)``, so the components are uncorrelated with unit variance.

Shapes passed to :meth:`Preprocessor.output_shape` are per-example shapes, without ``N``.
Augmentation (:mod:`raynn.data.augment`) works on raw images, so it runs before ``transform``.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch

from raynn.registry import Registry
from raynn.values import check_flag, check_int, is_finite_number, value_error

__all__ = [
    "PREPROCESSORS",
    "MinMax",
    "MinMaxSymmetric",
    "NoPreprocessing",
    "PCAWhiten",
    "Preprocessor",
    "Standardize",
    "build_preprocessor",
    "restore_preprocessor",
]

logger = logging.getLogger(__name__)

PREPROCESSORS: Registry[type[Preprocessor]] = Registry("preprocessor", word="parameter")


def _check_batch(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError(
            f"{what} needs a floating-point tensor of shape (N, ...) with at least 2 dimensions, but got "
            f"{type(x).__name__}"
            + (f" dtype={x.dtype}, shape={tuple(x.shape)}" if isinstance(x, torch.Tensor) else "")
        )


class Preprocessor(ABC):
    """Base class: statistics fitted on training data, a fixed transform afterwards.

    Subclasses set ``name`` and ``fitted_tensors`` (the fitted state) and implement :meth:`_fit`,
    :meth:`_transform` and :meth:`_params` (the constructor arguments).
    """

    name: ClassVar[str]
    #: The fitted state: the attributes :meth:`_fit` sets, each with the dtype it is kept in.
    #: :meth:`state_dict` saves them and :meth:`load_state_dict` restores them, in this order.
    fitted_tensors: ClassVar[Mapping[str, torch.dtype]] = MappingProxyType({})

    def __init__(self) -> None:
        self.input_shape: tuple[int, ...] | None = None

    # ---- the protocol

    @property
    def fitted(self) -> bool:
        return self.input_shape is not None

    def fit(self, x_train: torch.Tensor) -> Preprocessor:
        """Fit the statistics on the training split ``x_train`` of shape ``(N, ...)``; returns ``self``."""
        _check_batch(x_train, f"{self.name}.fit")
        if len(x_train) < 1:
            raise ValueError(f"{self.name}.fit needs at least one example, but got N={len(x_train)}")
        self._fit(x_train.detach().reshape(len(x_train), -1))
        self.input_shape = tuple(x_train.shape[1:])
        logger.debug(self.describe())  # the training loop prints it once, from rank 0
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the fitted transform to ``x`` of shape ``(N, *input_shape)``; same dtype and device."""
        _check_batch(x, f"{self.name}.transform")
        if self.input_shape is None:
            raise ValueError(f"{self.name}: fit() must be called (on the training split) before transform()")
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self.name}.transform: examples must have the fitted shape {self.input_shape}, "
                f"but got {tuple(x.shape[1:])}"
            )
        return self._transform(x)

    def fit_transform(self, x_train: torch.Tensor) -> torch.Tensor:
        return self.fit(x_train).transform(x_train)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape for per-example ``input_shape`` (e.g. ``(1, 28, 28)``)."""
        return tuple(input_shape)

    def describe(self) -> str:
        """One line saying what the preprocessor does (and, once fitted, what it fitted)."""
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{self.name}({params})"

    def state_dict(self) -> dict[str, Any]:
        """Name, constructor arguments and fitted tensors: plain types that ``torch.save`` and
        ``torch.load(weights_only=True)`` accept."""
        state: dict[str, Any] = {"name": self.name, "params": dict(self._params())}
        state["input_shape"] = None if self.input_shape is None else list(self.input_shape)
        if self.fitted:
            state.update(self._tensors())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; the name must match this class."""
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for preprocessor {state.get('name')!r}, not {self.name!r}")
        self._set_params(**state["params"])
        shape = state.get("input_shape")
        self.input_shape = None if shape is None else tuple(int(s) for s in shape)
        if self.fitted:
            self._load_tensors(state)

    # ---- the parts subclasses fill in

    def _params(self) -> dict[str, Any]:
        return {}

    def _set_params(self, **params: Any) -> None:
        self.__init__(**params)  # re-validates them

    def _fit(self, x: torch.Tensor) -> None:  # noqa: B027 - optional hook
        """``x``: the flattened training split ``(N, D)`` in its own dtype; store statistics in float64."""

    @abstractmethod
    def _transform(self, x: torch.Tensor) -> torch.Tensor: ...

    def _tensors(self) -> dict[str, Any]:
        return {attr: getattr(self, attr) for attr in self.fitted_tensors}

    def _load_tensors(self, state: Mapping[str, Any]) -> None:
        for attr, dtype in self.fitted_tensors.items():
            setattr(self, attr, state[attr].to(dtype))

    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise ValueError(f"{self.name}: fit() must be called before {what}")


@PREPROCESSORS.register("none", "identity")
class NoPreprocessing(Preprocessor):
    """The identity; ``transform`` works before ``fit``."""

    name = "none"

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, f"{self.name}.transform")
        return x

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        return x


@PREPROCESSORS.register("minmax", "per feature (x - min) / (max - min), onto [0, 1]; constant features -> 0")
class MinMax(Preprocessor):
    """Min-max normalization onto ``[0, 1]`` (seed 4.2.1):

        x~ = (x - min) / (max - min)

    with ``min``, ``max`` taken per feature over the training split. Features with
    ``max == min`` on the training split map to 0 (the formula is 0/0 there). Values outside the
    training range land outside ``[0, 1]``; nothing is clipped. The output keeps the input shape.
    """

    name = "minmax"
    fitted_tensors = MappingProxyType({"min": torch.float64, "max": torch.float64})
    low: ClassVar[float] = 0.0
    high: ClassVar[float] = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.min: torch.Tensor | None = None
        self.max: torch.Tensor | None = None

    def _fit(self, x: torch.Tensor) -> None:
        self.min = x.amin(dim=0).to(torch.float64)  # exact: min and max are data values
        self.max = x.amax(dim=0).to(torch.float64)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        lo, hi = self.min.to(flat), self.max.to(flat)
        span = hi - lo
        constant = span == 0
        unit = (flat - lo) / torch.where(constant, torch.ones_like(span), span)
        out = self.low + (self.high - self.low) * unit
        return torch.where(constant, torch.zeros_like(out), out).reshape(x.shape)

    def describe(self) -> str:
        text = f"{self.name}: per feature (x - min) / (max - min) onto [{self.low:g}, {self.high:g}]"
        if self.min is None or self.max is None:
            return text + " (not fitted)"
        constant = torch.nonzero(self.max == self.min).flatten().tolist()
        if constant:
            text += f"; {len(constant)} features constant on the training split map to 0: {constant}"
        return text


@PREPROCESSORS.register("minmax_symmetric", "per feature 2 (x - min) / (max - min) - 1, onto [-1, 1]")
class MinMaxSymmetric(MinMax):
    """Min-max normalization onto ``[-1, 1]``: ``x~ = 2 (x - min) / (max - min) - 1``.

    Constant features map to 0, as in :class:`MinMax`.
    """

    name = "minmax_symmetric"
    low: ClassVar[float] = -1.0
    high: ClassVar[float] = 1.0


@PREPROCESSORS.register("standardize", "per feature (x - mean) / std; zero-variance features dropped")
class Standardize(Preprocessor):
    """Standardization (seed 4.2.1):

        x~ = (x - mean) / std

    per feature, with the mean and the population standard deviation (divisor ``N``) of the
    training split, so the standardized training split has mean 0 and std 1 per kept feature.
    "The standard deviation must not be zero; if it is, the feature has no discriminative power and
    can be deleted": a feature whose training values are all equal (``max == min``, an exact test)
    is dropped. Dropping changes the shape, so the output is flat ``(N, D')``.

    Args:
        drop_constant: Drop the constant features (default). With ``False`` nothing is dropped, the
            output keeps the input shape and constant features map to 0.

    After ``fit``, ``dropped`` lists the dropped flattened feature indices and ``kept`` the others.
    """

    name = "standardize"
    fitted_tensors = MappingProxyType({"mean": torch.float64, "std": torch.float64, "constant": torch.bool})

    def __init__(self, drop_constant: bool = True) -> None:
        super().__init__()
        self.drop_constant = check_flag("drop_constant", drop_constant, "must be a bool", error=value_error)
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.constant: torch.Tensor | None = None

    def _params(self) -> dict[str, Any]:
        return {"drop_constant": self.drop_constant}

    @property
    def dropped(self) -> list[int]:
        """Flattened indices of the features deleted for zero training variance."""
        if self.constant is None or not self.drop_constant:
            return []
        return torch.nonzero(self.constant).flatten().tolist()

    @property
    def kept(self) -> list[int]:
        if self.constant is None:
            return []
        if not self.drop_constant:
            return list(range(len(self.constant)))
        return torch.nonzero(~self.constant).flatten().tolist()

    def _fit(self, x: torch.Tensor) -> None:
        constant = x.amax(dim=0) == x.amin(dim=0)
        x = x.to(torch.float64)
        if self.drop_constant and bool(constant.all()):
            raise ValueError(
                f"standardize: all {x.shape[1]} features are constant on the training split "
                f"(N={len(x)}), nothing would be left after dropping them"
            )
        std = x.std(dim=0, correction=0)
        self.constant = constant
        self.mean = torch.where(constant, x[0], x.mean(dim=0))
        self.std = torch.where(constant, torch.ones_like(std), std)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        out = (flat - self.mean.to(flat)) / self.std.to(flat)
        constant = self.constant.to(flat.device)
        if self.drop_constant:
            return out[:, ~constant]
        return torch.where(constant, torch.zeros_like(out), out).reshape(x.shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(D',)`` once fitted. Before ``fit`` the number of dropped features is unknown and this is
        ``(D,)``, the shape with nothing dropped (enough for config checks that a model builds)."""
        if not self.drop_constant:
            return tuple(input_shape)
        if not self.fitted:
            return (math.prod(input_shape),)
        if tuple(input_shape) != self.input_shape:
            raise ValueError(
                f"standardize was fitted on shape {self.input_shape}, but got {tuple(input_shape)}"
            )
        return (len(self.kept),)

    def describe(self) -> str:
        text = f"{self.name}: per feature (x - mean) / std"
        if self.constant is None:
            return text + f" (not fitted, drop_constant={self.drop_constant})"
        constant = torch.nonzero(self.constant).flatten().tolist()
        if not self.drop_constant:
            return text + (f"; {len(constant)} constant features map to 0: {constant}" if constant else "")
        return (
            text + f"; kept {len(self.kept)} of {len(self.constant)} features, dropped {len(constant)} "
            f"with zero variance on the training split (no discriminative power): {constant}"
        )


@PREPROCESSORS.register(
    "pca_whiten", "PCA whitening: rotate onto principal components, divide by sqrt(eig+eps)"
)
class PCAWhiten(Preprocessor):
    """PCA whitening (seed 4.2.1; Bishop, *Pattern Recognition and Machine Learning*, 12.1.3):

        Sigma = (1/N) sum_n (x_n - mean)(x_n - mean)^T = U diag(lambda) U^T
        x~ = diag(lambda_k + eps)^(-1/2) U_k^T (x - mean)

    ``U_k`` holds the ``k`` eigenvectors of the training covariance with the largest eigenvalues
    (``torch.linalg.eigh`` in float64), each with its largest-magnitude entry made positive so the
    result does not depend on the solver's sign choice. The whitened training data has covariance
    ``diag(lambda / (lambda + eps))``, the identity up to ``eps``. The output is flat ``(N, k)``.

    By default only the directions with variance on the training split are kept: an eigenvalue
    above ``lambda_max * D * 2^-52`` (numpy ``matrix_rank``'s tolerance) counts as nonzero. A
    direction without variance has no discriminative power (as in ``standardize``), and whitening
    would multiply it, and any augmentation noise in it, by ``1/sqrt(eps)`` (316 for ``1e-5``).

    Args:
        n_components: ``k``, the number of components kept; ``None`` keeps every component with a
            nonzero eigenvalue (the rank of the training covariance).
        eps: Added to each eigenvalue before the square root, ``eps >= 0``.
    """

    name = "pca_whiten"
    fitted_tensors = MappingProxyType(
        {"mean": torch.float64, "components": torch.float64, "eigenvalues": torch.float64}
    )

    def __init__(self, n_components: int | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        check_int("n_components", n_components, 1, optional=True, rule="must be None or an int >= 1",
                  error=value_error)
        if not is_finite_number(eps) or not eps >= 0:
            raise ValueError(f"`eps >= 0` must hold, but got {eps=!r}")
        self.n_components = n_components
        self.eps = float(eps)
        self.mean: torch.Tensor | None = None
        self.components: torch.Tensor | None = None  # (k, D), rows are U_k^T
        self.eigenvalues: torch.Tensor | None = None  # (k,), descending

    def _params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "eps": self.eps}

    def _fit(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        n, d = x.shape
        k = d if self.n_components is None else self.n_components
        if k > d:
            raise ValueError(f"`n_components <= D` must hold, but got ({self.n_components=}, D={d})")
        mean = x.mean(dim=0)
        centred = x - mean
        covariance = centred.T @ centred / n
        eigenvalues, vectors = torch.linalg.eigh(covariance)  # ascending
        eigenvalues = eigenvalues.flip(0).clamp_min(0.0)  # round-off can make zeros negative
        if self.n_components is None:
            tolerance = float(eigenvalues[0]) * d * torch.finfo(torch.float64).eps
            k = max(1, int((eigenvalues > tolerance).sum()))
        eigenvalues = eigenvalues[:k]
        vectors = vectors.flip(1)[:, :k]
        pivot = vectors.abs().argmax(dim=0)
        vectors = vectors * torch.sign(vectors[pivot, torch.arange(k)])
        if self.eps == 0 and bool((eigenvalues == 0).any()):
            raise ValueError(
                f"pca_whiten: {int((eigenvalues == 0).sum())} of the {k} kept eigenvalues are 0 and eps=0 "
                f"would divide by 0; use eps > 0 or fewer n_components"
            )
        self.mean, self.components, self.eigenvalues = mean, vectors.T.contiguous(), eigenvalues

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        scale = torch.rsqrt(self.eigenvalues + self.eps)
        whitening = (self.components * scale[:, None]).T  # (D, k)
        return (flat - self.mean.to(flat)) @ whitening.to(flat)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(k,)``. Before ``fit`` with ``n_components=None`` the rank is unknown and this is ``(D,)``."""
        if self.n_components is not None:
            return (self.n_components,)
        if self.fitted:
            return (len(self.eigenvalues),)
        return (math.prod(input_shape),)

    def describe(self) -> str:
        if self.eigenvalues is None or self.mean is None:
            return f"{self.name}(n_components={self.n_components}, eps={self.eps:g}) (not fitted)"
        ev = self.eigenvalues
        return (
            f"{self.name}: {len(ev)} of {len(self.mean)} principal components, eigenvalues "
            f"{float(ev[0]):.4g} .. {float(ev[-1]):.4g}, divided by sqrt(eigenvalue + {self.eps:g})"
        )


def build_preprocessor(spec: str | Mapping[str, Any] | None) -> Preprocessor:
    """Build an unfitted preprocessor from ``"name"`` or ``{"name": ..., **params}`` (``None`` is ``"none"``).

    Raises:
        ValueError: for an unknown name (listing the valid ones) or an unknown parameter.
    """
    return PREPROCESSORS.build("none" if spec is None else spec)


def restore_preprocessor(state: Mapping[str, Any]) -> Preprocessor:
    """Rebuild a (fitted) preprocessor from its :meth:`Preprocessor.state_dict`, e.g. from a checkpoint."""
    preprocessor = build_preprocessor({"name": state["name"], **state["params"]})
    preprocessor.load_state_dict(state)
    return preprocessor
