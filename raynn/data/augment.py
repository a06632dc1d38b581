"""Image data augmentation for training batches (seed section 4.2.2).

"Rotation: rotate the image by a random angle; flip: flip it horizontally or vertically at random;
zoom: enlarge or shrink it by some ratio; shift: translate it horizontally or vertically by some
step; noise: add random noise." Each is one entry of the ``AUGMENTATIONS`` registry:

============  ==========================================================  ===============================
name          parameters                                                  torchvision v2 counterpart
============  ==========================================================  ===============================
``rotation``  ``degrees``: ``d`` (angle ~ U[-d, d]) or ``[lo, hi]``       ``RandomRotation(degrees)``
``flip``      ``direction``: ``horizontal``/``vertical``; ``p``           ``RandomHorizontalFlip(p)`` /
                                                                          ``RandomVerticalFlip(p)``
``zoom``      ``scale``: ``[lo, hi]``, factor ~ U[lo, hi]                 ``RandomAffine(0, scale=...)``
``shift``     ``fraction``: ``f`` or ``[fx, fy]``, fractions of W and H   ``RandomAffine(0, translate=...)``
``noise``     ``std``, ``mean``, ``clip``: x + N(mean, std^2)             ``GaussianNoise`` (own, see below)
============  ==========================================================  ===============================

Each follows the torchvision v2 transform in its table row, with two differences. The v2
``Random*`` classes draw one set of parameters per call, so a whole batch would be rotated by the
same angle; here every image gets its own. And they use torch's global RNG; here every draw comes
from one explicit ``torch.Generator`` (the training loop seeds it with ``seed + rank``), so a run is
reproducible and workers differ. Flips call ``v2.functional.horizontal_flip`` / ``vertical_flip``.
Rotation, zoom and shift warp the whole batch in one ``grid_sample`` with a matrix per image, the
computation of ``v2.functional.rotate`` / ``affine`` (checked against them in the tests) without a
Python call per image. Noise is written here: ``v2.GaussianNoise`` exists in torchvision 0.29 but
uses the global RNG and by default clips to ``[0, 1]``, which would destroy raw 0..255 pixels.

Augmentation acts on raw image batches ``(N, C, H, W)`` of the training split only, before the
preprocessor (:mod:`raynn.data.preprocess`), so noise ``std`` is in raw pixel units (0..255 for
MNIST). Zero-strength settings (``degrees=0``, ``p=0``, ``scale=[1, 1]``, ``fraction=0``,
``std=0``) return the batch unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from raynn.registry import Registry
from raynn.values import check_int, check_number, value_error, value_error_of

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "AugmentationPipeline",
    "Flip",
    "GaussianNoise",
    "Rotation",
    "Shift",
    "Zoom",
    "build_augmentation",
]

AUGMENTATIONS: Registry[type[Augmentation]] = Registry("augmentation", word="parameter")

_INTERPOLATIONS = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR}


def _real(owner: str, key: str, value: Any) -> float:
    return float(check_number(key, value, "must be a finite number", error=value_error_of(owner)))


def _pair(owner: str, key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{owner}: `{key}` must be a pair [lo, hi], but got {key}={value!r}")
    lo, hi = _real(owner, key, value[0]), _real(owner, key, value[1])
    if not lo <= hi:
        raise ValueError(f"{owner}: `{key}[0] <= {key}[1]` must hold, but got {key}={list(value)!r}")
    return lo, hi


def _interpolation(owner: str, value: Any) -> InterpolationMode:
    if value not in _INTERPOLATIONS:
        raise ValueError(
            f"{owner}: `interpolation` must be one of {sorted(_INTERPOLATIONS)}, "
            f"but got interpolation={value!r}"
        )
    return _INTERPOLATIONS[value]


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of U[lo, hi], float64 on the CPU (they only build the affine matrices)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
    return lo + (hi - lo) * u.cpu()


def _affine_batch(
    x: torch.Tensor,
    angle: torch.Tensor,
    scale: torch.Tensor,
    translate: torch.Tensor,
    mode: InterpolationMode,
    fill: float,
) -> torch.Tensor:
    """Per-image affine warp of ``x`` (N, C, H, W) about the image centre, in one ``grid_sample``.

    The same computation as ``v2.functional.affine(image, angle, translate, scale, shear=0,
    fill=[fill])`` (its ``_get_inverse_affine_matrix``, ``_affine_grid`` and
    ``_apply_grid_transform``) for each image, but with a different matrix per image instead of one
    Python call per image (about 0.3 ms each on one CPU thread, 1 to 15 ms on a busy machine).
    ``tests/data/test_augment.py`` checks it against torchvision.

    Args:
        angle: (N,) degrees, clockwise as in ``v2.functional.affine`` (``rotate`` is ``-angle``).
        scale: (N,) zoom factors.
        translate: (N, 2) shifts ``(dx, dy)`` in pixels.
    """
    n, _, height, width = x.shape
    rot = torch.deg2rad(angle.to(torch.float64))
    cos, sin = torch.cos(rot) / scale.to(torch.float64), torch.sin(rot) / scale.to(torch.float64)
    tx, ty = translate.to(torch.float64).unbind(1)
    # Inverse map output -> input pixel, centred coordinates: R(a)^-1 S(s)^-1 (p - t).
    theta = torch.stack(
        [
            torch.stack([cos, sin, -cos * tx - sin * ty], dim=1),
            torch.stack([-sin, cos, sin * tx - cos * ty], dim=1),
        ],
        dim=1,
    )  # (N, 2, 3)
    xs = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, width, dtype=torch.float64)
    ys = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, height, dtype=torch.float64)
    base = torch.stack(
        [
            xs.expand(height, width),
            ys[:, None].expand(height, width),
            torch.ones(height, width, dtype=torch.float64),
        ],
        dim=-1,
    ).reshape(1, height * width, 3)
    rescaled = theta.transpose(1, 2) / torch.tensor([0.5 * width, 0.5 * height], dtype=torch.float64)
    grid = (base @ rescaled).reshape(n, height, width, 2).to(device=x.device, dtype=x.dtype)
    # A channel of ones marks where the output comes from inside the image, as torchvision does.
    warped = torch.nn.functional.grid_sample(
        torch.cat([x, torch.ones_like(x[:, :1])], dim=1),
        grid,
        mode=mode.value,
        padding_mode="zeros",
        align_corners=False,
    )
    out, inside = warped[:, :-1], warped[:, -1:]
    if mode == InterpolationMode.NEAREST:
        return torch.where(inside < 0.5, torch.full_like(out, fill), out)
    return (out - fill) * inside + fill


class Augmentation(ABC):
    """One random image transform applied independently to each image of a batch.

    Subclasses validate their arguments in ``__init__`` (a ``ValueError`` naming the parameter) and
    implement :meth:`_apply`; ``__call__`` skips it when :attr:`is_identity`.
    """

    name: ClassVar[str]

    @property
    @abstractmethod
    def is_identity(self) -> bool:
        """Whether the settings make this a no-op (zero strength)."""

    @abstractmethod
    def _apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment the batch ``x`` of shape ``(N, C, H, W)``; same shape, dtype and device."""
        if self.is_identity or len(x) == 0:
            return x
        return self._apply(x, generator)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


#: Per-image affine parameters: angle (N,) in degrees clockwise, zoom factor (N,), shift (N, 2) in pixels.
_Affine = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class _Warp(Augmentation):
    """An augmentation that moves each image by its own affine map about the centre (rotation, zoom, shift).

    A subclass draws the per-image parameters in :meth:`_draw`; the warp of the whole batch is one
    :func:`_affine_batch` with the subclass's interpolation ``_mode`` and ``fill``.
    """

    _mode: InterpolationMode
    fill: float

    def _set_warp(self, interpolation: str, fill: float) -> None:
        """Check and keep ``interpolation`` and ``fill`` (called after the subclass's own parameters,
        which the repr lists first)."""
        self.interpolation = interpolation
        self._mode = _interpolation(self.name, interpolation)
        self.fill = _real(self.name, "fill", fill)

    @abstractmethod
    def _draw(self, n: int, height: int, width: int, generator: torch.Generator) -> _Affine:
        """The :data:`_Affine` parameters of each of ``n`` images of ``height`` x ``width`` pixels."""

    def _apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, height, width = x.shape
        angle, scale, translate = self._draw(n, height, width, generator)
        return _affine_batch(x, angle, scale, translate, self._mode, self.fill)


def _no_turn(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.float64)


def _no_zoom(n: int) -> torch.Tensor:
    return torch.ones(n, dtype=torch.float64)


def _no_shift(n: int) -> torch.Tensor:
    return torch.zeros(n, 2, dtype=torch.float64)


@AUGMENTATIONS.register(
    "rotation", "rotate each image by an angle ~ U[-degrees, degrees] (v2.functional.rotate)"
)
class Rotation(_Warp):
    """Random rotation about the image centre, as ``v2.RandomRotation`` but one angle per image.

    Args:
        degrees: ``d >= 0`` for angles uniform in ``[-d, d]``, or a pair ``[lo, hi]``; in degrees,
            counter-clockwise.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill: Value of the pixels rotated in from outside the image.
    """

    name = "rotation"

    def __init__(
        self, degrees: float | Sequence[float] = 15.0, interpolation: str = "bilinear", fill: float = 0.0
    ):
        if isinstance(degrees, Sequence) and not isinstance(degrees, (str, bytes)):
            self.degrees = _pair(self.name, "degrees", degrees)
        else:
            d = _real(self.name, "degrees", degrees)
            if d < 0:
                raise ValueError(f"{self.name}: `degrees >= 0` must hold, but got degrees={degrees!r}")
            self.degrees = (-d, d)
        self._set_warp(interpolation, fill)

    @property
    def is_identity(self) -> bool:
        return self.degrees == (0.0, 0.0)

    def _draw(self, n: int, height: int, width: int, generator: torch.Generator) -> _Affine:
        # v2.functional.rotate turns counter-clockwise and passes -angle to the affine matrix.
        return -_uniform(n, *self.degrees, generator), _no_zoom(n), _no_shift(n)


@AUGMENTATIONS.register("flip", "flip each image horizontally or vertically with probability p")
class Flip(Augmentation):
    """Random flip, as ``v2.RandomHorizontalFlip(p)`` / ``v2.RandomVerticalFlip(p)`` but per image.

    Args:
        direction: ``"horizontal"`` (mirror left-right) or ``"vertical"`` (upside down).
        p: Probability that an image is flipped, ``0 <= p <= 1``.
    """

    name = "flip"
    _DIRECTIONS: ClassVar[dict[str, Any]] = {"horizontal": F.horizontal_flip, "vertical": F.vertical_flip}

    def __init__(self, direction: str = "horizontal", p: float = 0.5):
        if direction not in self._DIRECTIONS:
            raise ValueError(
                f"{self.name}: `direction` must be one of {sorted(self._DIRECTIONS)}, but got {direction=!r}"
            )
        self.direction = direction
        self.p = _real(self.name, "p", p)
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"{self.name}: `0 <= p <= 1` must hold, but got p={p!r}")

    @property
    def is_identity(self) -> bool:
        return self.p == 0.0

    def _apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        flip = torch.rand(len(x), generator=generator, device=generator.device) < self.p
        flipped = self._DIRECTIONS[self.direction](x)
        return torch.where(flip.to(x.device).view(-1, *([1] * (x.dim() - 1))), flipped, x)


@AUGMENTATIONS.register("zoom", "scale each image about its centre by a factor ~ U[scale]")
class Zoom(_Warp):
    """Random zoom in/out, as ``v2.RandomAffine(degrees=0, scale=scale)`` but one factor per image.

    Args:
        scale: ``[lo, hi]`` with ``0 < lo <= hi``; a factor above 1 zooms in, below 1 zooms out.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill: Value of the pixels that come in from outside the image.
    """

    name = "zoom"

    def __init__(
        self, scale: Sequence[float] = (0.9, 1.1), interpolation: str = "bilinear", fill: float = 0.0
    ):
        self.scale = _pair(self.name, "scale", scale)
        if self.scale[0] <= 0:
            raise ValueError(f"{self.name}: `0 < scale[0]` must hold, but got scale={list(scale)!r}")
        self._set_warp(interpolation, fill)

    @property
    def is_identity(self) -> bool:
        return self.scale == (1.0, 1.0)

    def _draw(self, n: int, height: int, width: int, generator: torch.Generator) -> _Affine:
        return _no_turn(n), _uniform(n, *self.scale, generator), _no_shift(n)


@AUGMENTATIONS.register("shift", "translate each image by up to fraction*(W, H) whole pixels")
class Shift(_Warp):
    """Random translation, as ``v2.RandomAffine(degrees=0, translate=fraction)`` but per image.

    The shift is ``dx = round(U[-fx W, fx W])``, ``dy = round(U[-fy H, fy H])`` whole pixels
    (rounded as torchvision does), so pixels move exactly and no interpolation blurs them.

    Args:
        fraction: ``f`` for ``fx = fy = f``, or ``[fx, fy]``; the largest shift as a fraction of the
            width and height, each in ``[0, 1]`` (torchvision's ``translate``).
        fill: Value of the pixels shifted in from outside the image.
    """

    name = "shift"
    _mode = InterpolationMode.NEAREST  # whole-pixel shifts: nothing to interpolate

    def __init__(self, fraction: float | Sequence[float] = 0.1, fill: float = 0.0):
        if isinstance(fraction, Sequence) and not isinstance(fraction, (str, bytes)):
            if len(fraction) != 2:
                raise ValueError(f"{self.name}: `fraction` must be f or [fx, fy], but got {fraction=!r}")
            fx, fy = (_real(self.name, "fraction", t) for t in fraction)
        else:
            fx = fy = _real(self.name, "fraction", fraction)
        if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
            raise ValueError(f"{self.name}: `0 <= fraction <= 1` must hold, but got {fraction=!r}")
        self.fraction = (fx, fy)
        self.fill = _real(self.name, "fill", fill)

    @property
    def is_identity(self) -> bool:
        return self.fraction == (0.0, 0.0)

    def _draw(self, n: int, height: int, width: int, generator: torch.Generator) -> _Affine:
        fx, fy = self.fraction
        dx = _uniform(n, -fx * width, fx * width, generator)
        dy = _uniform(n, -fy * height, fy * height, generator)
        shifts = torch.stack([dx, dy], dim=1).round()  # whole pixels, like v2.RandomAffine
        return _no_turn(n), _no_zoom(n), shifts


@AUGMENTATIONS.register("noise", "add Gaussian noise N(mean, std^2) to every pixel")
class GaussianNoise(Augmentation):
    """Additive Gaussian noise ``x + n``, ``n ~ N(mean, std^2)`` i.i.d. per pixel.

    Like ``v2.GaussianNoise(mean, sigma, clip)``, but drawn from the pipeline's generator and not
    clipped unless asked.

    Args:
        std: Standard deviation in raw pixel units, ``std >= 0``.
        mean: Mean of the noise.
        clip: ``None`` (default) or ``[lo, hi]`` to clamp the result to.
    """

    name = "noise"

    def __init__(self, std: float = 0.1, mean: float = 0.0, clip: Sequence[float] | None = None):
        self.std = _real(self.name, "std", std)
        if self.std < 0:
            raise ValueError(f"{self.name}: `std >= 0` must hold, but got std={std!r}")
        self.mean = _real(self.name, "mean", mean)
        self.clip = None if clip is None else _pair(self.name, "clip", clip)

    @property
    def is_identity(self) -> bool:
        return self.std == 0.0 and self.mean == 0.0 and self.clip is None

    def _apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        out = x + (self.mean + self.std * noise).to(x.device)
        return out if self.clip is None else out.clamp(*self.clip)


class AugmentationPipeline:
    """Augmentations applied in order to a training batch, with one explicit RNG.

    Args:
        steps: The augmentations, applied first to last.
        generator: Source of all randomness; the training loop seeds it with ``seed + rank``.
    """

    def __init__(self, steps: Sequence[Augmentation], generator: torch.Generator) -> None:
        self.steps = list(steps)
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` of shape ``(N, C, H, W)`` (floating point); same shape, dtype and device."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise ValueError(
                "augmentation needs a floating-point image batch of shape (N, C, H, W), but got "
                + (
                    f"dtype={x.dtype}, shape={tuple(x.shape)}"
                    if isinstance(x, torch.Tensor)
                    else repr(type(x))
                )
            )
        for step in self.steps:
            x = step(x, self.generator)
        return x

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, so a resumed run draws the same augmentations."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"AugmentationPipeline({self.steps!r})"


def build_augmentation(
    specs: Sequence[str | Mapping[str, Any]] | None,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> AugmentationPipeline | None:
    """Build the pipeline from ``[{"name": "rotation", "degrees": 10}, "flip", ...]``.

    Args:
        specs: Augmentation specs in order: a name, or a mapping with ``name`` and parameters.
            ``None`` or an empty list means no augmentation, and ``None`` is returned.
        seed: Seed of the pipeline's own ``torch.Generator`` when ``generator`` is not given.
        generator: The generator to draw from (it is used, not copied).

    Raises:
        ValueError: for an unknown name (listing the valid ones), an unknown parameter, or an
            invalid parameter value (naming it).
    """
    if specs is None:
        return None
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Sequence):
        raise ValueError(f"augmentation specs must be a list, but got {specs!r}")
    if len(specs) == 0:
        return None
    steps = [AUGMENTATIONS.build(spec) for spec in specs]
    if generator is None:
        generator = torch.Generator().manual_seed(check_int("seed", seed, rule="must be an int", error=value_error))
    return AugmentationPipeline(steps, generator)
