from __future__ import annotations

import io

import pytest
import torch

from raynn.data.datasets import load, split
from raynn.data.preprocess import (
    PREPROCESSORS,
    PCAWhiten,
    Standardize,
    build_preprocessor,
    restore_preprocessor,
)


def _images(rows: list[list[float]]) -> torch.Tensor:
    """Rows of features as a batch of 1x1xD images."""
    x = torch.tensor(rows, dtype=torch.float32)
    return x.reshape(len(rows), 1, 1, -1)


def _correlated(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g, dtype=torch.float64) + 2 * torch.eye(d, dtype=torch.float64)
    z = torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing + 5.0
    return z.to(torch.float32).reshape(n, 1, 1, d)


# x0 runs 0..4, x1 10..30, x2 is constant 5.
TRAIN = _images([[0, 10, 5], [2, 30, 5], [4, 20, 5]])


def test_minmax_maps_min_to_0_and_max_to_1() -> None:
    p = build_preprocessor("minmax").fit(TRAIN)
    out = p.transform(TRAIN)
    assert out.shape == TRAIN.shape and out.dtype == torch.float32
    assert out.reshape(3, 3).tolist() == [[0.0, 0.0, 0.0], [0.5, 1.0, 0.0], [1.0, 0.5, 0.0]]
    assert "constant" in p.describe() and "[2]" in p.describe()


def test_minmax_symmetric_maps_onto_minus_one_one() -> None:
    p = build_preprocessor("minmax_symmetric").fit(TRAIN)
    out = p.transform(TRAIN).reshape(3, 3)
    assert out.tolist() == [[-1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_minmax_uses_training_statistics_on_validation_data() -> None:
    p = build_preprocessor("minmax").fit(TRAIN)
    val = _images([[6, 0, 9]])
    # (6 - 0) / 4, (0 - 10) / 20; the feature constant on train stays 0.
    assert p.transform(val).reshape(3).tolist() == [1.5, -0.5, 0.0]


def test_standardize_hand_example_drops_constant_feature() -> None:
    train = _images([[1, 7, 0], [3, 7, 4]])
    p = Standardize().fit(train)
    assert p.dropped == [1] and p.kept == [0, 2]
    # x0: mean 2, std 1; x2: mean 2, std 2 (population std, divisor N).
    assert p.transform(train).tolist() == [[-1.0, -1.0], [1.0, 1.0]]
    assert p.transform(_images([[4, 100, 8]])).tolist() == [[2.0, 3.0]]  # train's mean/std, not val's
    assert p.output_shape((1, 1, 3)) == (2,)
    assert "dropped 1" in p.describe() and "[1]" in p.describe()


def test_standardize_gives_mean_0_std_1_on_kept_features() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, 3, 3, generator=g) * torch.arange(1, 19, dtype=torch.float32).reshape(2, 3, 3) + 3
    x[:, 0, 1, 1] = 4.0
    x[:, 1, 2, 0] = -2.0
    p = build_preprocessor({"name": "standardize"}).fit(x)
    assert p.dropped == [4, 15]  # flattened (c * 9 + h * 3 + w)
    out = p.transform(x)
    assert out.shape == (200, 16) == (200, *p.output_shape((2, 3, 3)))
    torch.testing.assert_close(out.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(0, correction=0), torch.ones(16), atol=1e-5, rtol=0)


def test_standardize_without_dropping_keeps_shape_and_zeroes_constants() -> None:
    train = _images([[1, 7, 0], [3, 7, 4]])
    p = Standardize(drop_constant=False).fit(train)
    assert p.dropped == []
    out = p.transform(train)
    assert out.shape == train.shape and p.output_shape((1, 1, 3)) == (1, 1, 3)
    assert out.reshape(2, 3).tolist() == [[-1.0, 0.0, -1.0], [1.0, 0.0, 1.0]]


def test_standardize_all_constant_is_an_error() -> None:
    with pytest.raises(ValueError, match="all 3 features are constant"):
        Standardize().fit(_images([[1, 2, 3], [1, 2, 3]]))


def test_standardize_on_digits_drops_exactly_the_train_constant_pixels() -> None:
    train, val = split(load("digits"), 0.2, seed=0)
    p = build_preprocessor("standardize").fit(train.x)
    flat = train.x.reshape(len(train), -1)
    constant = (flat.amax(0) == flat.amin(0)).nonzero().flatten().tolist()
    assert p.dropped == constant and len(constant) > 0
    assert p.transform(val.x).shape == (len(val), 64 - len(constant))


def test_pca_whitening_gives_identity_covariance() -> None:
    x = _correlated(2000, 5, seed=1)
    flat = x.reshape(2000, 5).double()
    assert torch.cov(flat.T).sub(torch.diag(torch.cov(flat.T).diagonal())).abs().max() > 0.5  # correlated
    p = PCAWhiten().fit(x)
    z = p.transform(x).double()
    assert z.shape == (2000, 5) and p.output_shape((1, 1, 5)) == (5,)
    torch.testing.assert_close(z.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-4, rtol=0)
    cov = z.T @ (z - z.mean(0)) / len(z)
    torch.testing.assert_close(cov, torch.eye(5, dtype=torch.float64), atol=1e-4, rtol=0)


def test_pca_components_are_orthonormal_and_sorted() -> None:
    x = _correlated(500, 4, seed=2)
    p = PCAWhiten(n_components=2).fit(x)
    u = p.components
    torch.testing.assert_close(u @ u.T, torch.eye(2, dtype=torch.float64), atol=1e-10, rtol=0)
    assert p.eigenvalues[0] >= p.eigenvalues[1]
    all_eigenvalues = torch.linalg.eigvalsh(torch.cov(x.reshape(500, 4).double().T, correction=0))
    torch.testing.assert_close(p.eigenvalues, all_eigenvalues.flip(0)[:2])
    z = p.transform(x)
    assert z.shape == (500, 2) and p.output_shape((1, 1, 4)) == (2,)
    torch.testing.assert_close(
        torch.cov(z.double().T, correction=0), torch.eye(2, dtype=torch.float64), atol=1e-4, rtol=0
    )


def test_pca_first_component_of_a_line() -> None:
    # Points spread along y = x with a little spread across it: the first axis is (1, 1)/sqrt(2).
    t = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    e = torch.tensor([0.1, -0.1, 0.0, -0.1, 0.1])
    x = torch.stack([t + e, t - e], dim=1).reshape(5, 1, 1, 2)
    p = PCAWhiten(eps=0.0).fit(x)
    torch.testing.assert_close(p.components[0], torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5)
    # eigenvalues: var(t) * 2 = 4, var(e) * 2 = 0.016 (population variances 2 and 0.008).
    torch.testing.assert_close(p.eigenvalues, torch.tensor([4.0, 0.016], dtype=torch.float64))


def test_pca_keeps_only_directions_with_variance_by_default() -> None:
    # x1 = 2 x0 and x2 is constant: the covariance has rank 1.
    x = _images([[1, 2, 5], [2, 4, 5], [3, 6, 5]])
    p = PCAWhiten(eps=0.0).fit(x)
    assert p.output_shape((1, 1, 3)) == (1,) and len(p.eigenvalues) == 1
    z = p.transform(x).double()
    assert z.shape == (3, 1)
    torch.testing.assert_close(z.var(correction=0), torch.tensor(1.0, dtype=torch.float64))
    assert "1 of 3" in p.describe()


def test_pca_zero_eigenvalue_kept_on_request_needs_eps() -> None:
    x = _images([[1, 2, 5], [2, 4, 5], [3, 6, 5]])
    with pytest.raises(ValueError, match="eps"):
        PCAWhiten(n_components=3, eps=0.0).fit(x)
    z = PCAWhiten(n_components=3, eps=1e-5).fit(x).transform(x)
    assert z.shape == (3, 3) and torch.isfinite(z).all()


def test_pca_on_digits_drops_the_constant_pixel_directions() -> None:
    train, _ = split(load("digits"), 0.2, seed=0)
    p = PCAWhiten().fit(train.x)
    n_constant = len(Standardize().fit(train.x).dropped)
    assert p.output_shape((1, 8, 8)) == (64 - n_constant,)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"name": "pca_whiten", "n_components": 0}, "n_components"),
        ({"name": "pca_whiten", "n_components": 2.5}, "n_components"),
        ({"name": "pca_whiten", "eps": -1.0}, "eps"),
        ({"name": "standardize", "drop_constant": "yes"}, "drop_constant"),
        ({"name": "minmax", "low": 0}, r"unknown parameter\(s\) \['low'\]"),
        ({"name": "zscore"}, "valid names: minmax, minmax_symmetric, none, pca_whiten, standardize"),
        ({"n_components": 3}, "'name'"),
    ],
)
def test_build_preprocessor_rejects_bad_specs(spec: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_preprocessor(spec)


def test_pca_more_components_than_features() -> None:
    with pytest.raises(ValueError, match="n_components <= D"):
        PCAWhiten(n_components=4).fit(TRAIN)


@pytest.mark.parametrize("name", PREPROCESSORS.names())
def test_state_dict_round_trip_through_a_checkpoint(name: str) -> None:
    x = _correlated(50, 6, seed=3)
    x[:, 0, 0, 2] = 1.0
    p = build_preprocessor(name).fit(x[:40])
    buffer = io.BytesIO()
    torch.save({"preprocessor": p.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["preprocessor"]
    q = restore_preprocessor(state)
    assert type(q) is type(p)
    assert torch.equal(q.transform(x[40:]), p.transform(x[40:]))
    assert q.output_shape((1, 1, 6)) == p.output_shape((1, 1, 6))
    assert q.describe() == p.describe()


@pytest.mark.parametrize("name", PREPROCESSORS.names())
def test_transform_uses_train_statistics_only(name: str) -> None:
    x = _correlated(60, 4, seed=4)
    train, val = x[:40], x[40:] * 3 + 1
    p = build_preprocessor(name).fit(train)
    before = p.transform(val)
    p_again = build_preprocessor(name).fit(train)
    p_again.transform(val * 10)  # transforming other data must not refit anything
    assert torch.equal(p_again.transform(val), before)
    # Fitting on train + val changes the statistics (except for the identity).
    p_both = build_preprocessor(name).fit(torch.cat([train, val]))
    assert torch.equal(p_both.transform(val), before) == (name == "none")


@pytest.mark.parametrize("name", sorted(set(PREPROCESSORS.names()) - {"none"}))
def test_transform_before_fit_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="fit"):
        build_preprocessor(name).transform(TRAIN)


@pytest.mark.parametrize("name", PREPROCESSORS.names())
def test_output_shape_matches_transform(name: str) -> None:
    x = _correlated(30, 6, seed=5).reshape(30, 1, 2, 3)
    p = build_preprocessor(name).fit(x)
    assert tuple(p.transform(x).shape[1:]) == p.output_shape((1, 2, 3))


def test_transform_checks_the_fitted_shape() -> None:
    p = build_preprocessor("minmax").fit(TRAIN)
    with pytest.raises(ValueError, match=r"fitted shape \(1, 1, 3\)"):
        p.transform(torch.zeros(2, 1, 1, 4))


def test_load_state_dict_checks_the_name() -> None:
    state = build_preprocessor("minmax").fit(TRAIN).state_dict()
    with pytest.raises(ValueError, match="'minmax', not 'standardize'"):
        Standardize().load_state_dict(state)


def test_output_shape_before_fit_assumes_nothing_dropped() -> None:
    # Config checks build the model before any data is loaded.
    assert build_preprocessor("standardize").output_shape((1, 8, 8)) == (64,)
    assert build_preprocessor("pca_whiten").output_shape((1, 8, 8)) == (64,)
    assert build_preprocessor({"name": "pca_whiten", "n_components": 10}).output_shape((1, 8, 8)) == (10,)
    assert build_preprocessor("minmax").output_shape((1, 8, 8)) == (1, 8, 8)
