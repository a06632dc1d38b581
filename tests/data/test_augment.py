from __future__ import annotations

from typing import Any

import pytest
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from raynn.data.augment import AUGMENTATIONS, _affine_batch, build_augmentation

# A strong setting per registered name; a new registry entry fails test_every_name_has_a_case until added.
STRONG: dict[str, dict[str, Any]] = {
    "rotation": {"degrees": 30},
    "flip": {"direction": "horizontal", "p": 1.0},
    "zoom": {"scale": [0.7, 1.3]},
    "shift": {"fraction": 0.3},
    "noise": {"std": 0.5},
}
ZERO: dict[str, dict[str, Any]] = {
    "rotation": {"degrees": 0},
    "flip": {"p": 0.0},
    "zoom": {"scale": [1, 1]},
    "shift": {"fraction": 0},
    "noise": {"std": 0},
}


def _batch(n: int = 8, seed: int = 0) -> torch.Tensor:
    """Asymmetric images: a bright blob off centre plus noise, values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 12, 12, generator=g) * 0.2
    x[:, :, 2:5, 1:6] += 0.8
    return x


def test_every_name_has_a_case() -> None:
    assert sorted(STRONG) == sorted(ZERO) == AUGMENTATIONS.names()


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_augmentation_changes_batch_keeps_shape_dtype(name: str) -> None:
    x = _batch()
    aug = build_augmentation([{"name": name, **STRONG[name]}], seed=1)
    out = aug(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    assert torch.isfinite(out).all()
    assert torch.equal(x, _batch())  # the input is not modified in place


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_zero_strength_is_the_identity(name: str) -> None:
    x = _batch()
    assert torch.equal(build_augmentation([{"name": name, **ZERO[name]}])(x), x)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_same_seed_same_result_other_seed_other_result(name: str) -> None:
    spec = [{"name": name, **STRONG[name]}]
    if name == "flip":
        spec = [{"name": "flip", "p": 0.5}]
    x = _batch(32)
    a, b, c = (
        build_augmentation(spec, seed=5),
        build_augmentation(spec, seed=5),
        build_augmentation(spec, seed=6),
    )
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, c(x))
    assert not torch.equal(first, a(x))  # the generator moves on between batches


def test_explicit_generator_is_used() -> None:
    spec = [{"name": "rotation", "degrees": 20}, {"name": "noise", "std": 0.1}]
    x = _batch()
    out1 = build_augmentation(spec, generator=torch.Generator().manual_seed(11))(x)
    out2 = build_augmentation(spec, generator=torch.Generator().manual_seed(11))(x)
    assert torch.equal(out1, out2)


def test_each_image_gets_its_own_parameters() -> None:
    x = _batch(1).expand(16, -1, -1, -1).contiguous()
    for name in ("rotation", "zoom", "shift"):
        out = build_augmentation([{"name": name, **STRONG[name]}], seed=2)(x)
        distinct = {tuple(o.flatten().tolist()) for o in out}
        assert len(distinct) > 8, name
    flips = build_augmentation([{"name": "flip", "p": 0.5}], seed=2)(x)
    flipped = [torch.equal(o, x[0].flip(-1)) for o in flips]
    kept = [torch.equal(o, x[0]) for o in flips]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_flip_p_1_is_a_mirror() -> None:
    x = _batch()
    assert torch.equal(build_augmentation([{"name": "flip", "p": 1.0}])(x), x.flip(-1))
    assert torch.equal(
        build_augmentation([{"name": "flip", "direction": "vertical", "p": 1.0}])(x), x.flip(-2)
    )


def test_rotation_matches_torchvision_rotate() -> None:
    x = _batch(6)
    angles = torch.tensor([-40.0, -7.5, 0.0, 13.0, 90.0, 33.3], dtype=torch.float64)
    for fill in (0.0, 0.25):
        ref = torch.stack(
            [
                F.rotate(im, float(a), interpolation=InterpolationMode.BILINEAR, fill=[fill])
                for im, a in zip(x, angles)
            ]
        )
        ones, zeros = torch.ones(6, dtype=torch.float64), torch.zeros(6, 2, dtype=torch.float64)
        out = _affine_batch(x, -angles, ones, zeros, InterpolationMode.BILINEAR, fill)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_zoom_matches_torchvision_affine() -> None:
    x = _batch(5)
    scales = torch.tensor([0.6, 0.9, 1.0, 1.2, 1.7], dtype=torch.float64)
    ref = torch.stack(
        [
            F.affine(
                im,
                angle=0.0,
                translate=[0.0, 0.0],
                scale=float(s),
                shear=[0.0, 0.0],
                interpolation=InterpolationMode.BILINEAR,
                fill=[0.0],
            )
            for im, s in zip(x, scales)
        ]
    )
    out = _affine_batch(
        x,
        torch.zeros(5, dtype=torch.float64),
        scales,
        torch.zeros(5, 2, dtype=torch.float64),
        InterpolationMode.BILINEAR,
        0.0,
    )
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_integer_shift_moves_pixels_exactly() -> None:
    x = _batch(2)
    shifts = torch.tensor([[2.0, -1.0], [-3.0, 4.0]], dtype=torch.float64)
    out = _affine_batch(
        x,
        torch.zeros(2, dtype=torch.float64),
        torch.ones(2, dtype=torch.float64),
        shifts,
        InterpolationMode.NEAREST,
        0.0,
    )
    ref = torch.stack(
        [
            F.affine(
                im,
                angle=0.0,
                translate=[float(dx), float(dy)],
                scale=1.0,
                shear=[0.0, 0.0],
                interpolation=InterpolationMode.NEAREST,
                fill=[0.0],
            )
            for im, (dx, dy) in zip(x, shifts)
        ]
    )
    assert torch.equal(out, ref)
    # out[y, x] = in[y - dy, x - dx]: image 0 moves 2 right and 1 up.
    expected = torch.zeros_like(x[0])
    expected[:, :-1, 2:] = x[0, :, 1:, :-2]
    assert torch.equal(out[0], expected)


def test_shift_draws_whole_pixels_within_range() -> None:
    x = torch.zeros(64, 1, 10, 10)
    x[:, :, 5, 5] = 1.0
    out = build_augmentation([{"name": "shift", "fraction": [0.2, 0.0]}], seed=3)(x)
    rows, cols = [], []
    for o in out:
        ((r, c),) = o[0].nonzero().tolist()
        rows.append(r)
        cols.append(c)
    assert set(rows) == {5} and set(cols) <= set(range(3, 8)) and len(set(cols)) > 2


def test_noise_has_the_requested_moments_and_clip() -> None:
    x = torch.zeros(64, 1, 16, 16)
    out = build_augmentation([{"name": "noise", "std": 2.0, "mean": 0.5}], seed=0)(x)
    assert abs(float(out.mean()) - 0.5) < 0.05 and abs(float(out.std()) - 2.0) < 0.05
    clipped = build_augmentation([{"name": "noise", "std": 2.0, "clip": [0, 1]}], seed=0)(x)
    assert float(clipped.min()) == 0.0 and float(clipped.max()) == 1.0


def test_pipeline_composes_in_order_and_on_mnist_range() -> None:
    x = _batch() * 255
    spec = [
        {"name": "rotation", "degrees": 10},
        {"name": "zoom", "scale": [0.9, 1.1]},
        {"name": "shift", "fraction": 0.1},
        {"name": "flip", "p": 0.5},
        {"name": "noise", "std": 5.0},
    ]
    out = build_augmentation(spec, seed=0)(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.max()) > 200  # not squashed to [0, 1]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"name": "rotation", "degrees": -5}, "degrees"),
        ({"name": "rotation", "degrees": [10, -10]}, "degrees"),
        ({"name": "rotation", "degrees": "ten"}, "degrees"),
        ({"name": "rotation", "interpolation": "bicubic"}, "interpolation"),
        ({"name": "flip", "p": 1.5}, "p"),
        ({"name": "flip", "direction": "diagonal"}, "direction"),
        ({"name": "zoom", "scale": [0.0, 1.0]}, "scale"),
        ({"name": "zoom", "scale": [1.2, 1.1]}, "scale"),
        ({"name": "zoom", "scale": 1.1}, "scale"),
        ({"name": "shift", "fraction": 1.5}, "fraction"),
        ({"name": "shift", "fraction": [0.1, 0.2, 0.3]}, "fraction"),
        ({"name": "shift", "translate": 0.1}, r"unknown parameter\(s\) \['translate'\]"),
        ({"name": "noise", "std": -1.0}, "std"),
        ({"name": "noise", "std": float("nan")}, "std"),
        ({"name": "noise", "clip": [1, 0]}, "clip"),
        ({"name": "noise", "sigma": 1.0}, r"unknown parameter\(s\) \['sigma'\]"),
        ({"name": "cutout"}, "valid names: flip, noise, rotation, shift, zoom"),
        ({"degrees": 3}, "'name'"),
    ],
)
def test_invalid_specs_raise_naming_the_parameter(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_augmentation([spec])


def test_empty_spec_is_no_augmentation() -> None:
    assert build_augmentation(None) is None
    assert build_augmentation([]) is None
    with pytest.raises(ValueError, match="list"):
        build_augmentation({"name": "flip"})  # type: ignore[arg-type]


def test_names_as_plain_strings_use_defaults() -> None:
    aug = build_augmentation(["rotation", "flip"])
    assert [type(s).__name__ for s in aug.steps] == ["Rotation", "Flip"]


def test_pipeline_needs_an_image_batch() -> None:
    aug = build_augmentation(["flip"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        aug(torch.zeros(4, 64))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        aug(torch.zeros(4, 1, 8, 8, dtype=torch.uint8))


def test_pipeline_state_dict_resumes_the_same_draws() -> None:
    spec = [{"name": "rotation", "degrees": 20}, {"name": "noise", "std": 0.1}]
    x = _batch()
    a = build_augmentation(spec, seed=4)
    a(x)
    state = a.state_dict()
    expected = a(x)
    b = build_augmentation(spec, seed=99)
    b.load_state_dict(state)
    assert torch.equal(b(x), expected)
