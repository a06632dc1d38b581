"""raynn.hpo.mfgp: the encoding, the copula, and the core's proposals (no Ray, no Optuna study)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from raynn.hpo.mfgp import Encoding, MFGPCore, Observation, _matern52, _NegLML, _pairwise_sum, copula

DISTS = {
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "batch": CategoricalDistribution([256, 16, 64]),  # numbers: ordered by value, not as listed
    "hidden": CategoricalDistribution(["[64]", "[128, 64]", "[256, 128]"]),  # JSON lists: ordered as listed
    "opt": CategoricalDistribution(["momentum", "nesterov", "adam"]),  # words: one-hot
    "layers": IntDistribution(1, 4),
}


def test_encoding_columns_and_round_trip() -> None:
    enc = Encoding(DISTS)
    assert [enc.kind(k) for k in DISTS] == ["range", "ordinal", "ordinal", "onehot", "range"]
    assert enc.width == 1 + 1 + 1 + 3 + 1
    params = {"lr": 0.01, "batch": 64, "hidden": "[256, 128]", "opt": "nesterov", "layers": 3}
    z = enc.encode(params)
    # log scale: 0.01 is 1/3 of the way from 1e-3 to 1; batch 64 is the middle of 16 < 64 < 256
    np.testing.assert_allclose(z, [1 / 3, 0.5, 1.0, 0.0, 1.0, 0.0, 2 / 3])
    decoded = enc.decode(z)
    assert decoded["batch"] == 64 and decoded["hidden"] == "[256, 128]" and decoded["layers"] == 3
    assert math.isclose(decoded["lr"], 0.01)


def test_snap_and_uniform_points_agree_with_decode_encode() -> None:
    enc = Encoding(DISTS)
    rng = np.random.default_rng(0)
    z = rng.random((50, enc.width))
    expected = np.stack([enc.encode(enc.decode(row)) for row in z])
    np.testing.assert_allclose(enc.snap(z), expected)
    u = rng.random((50, len(enc)))
    np.testing.assert_allclose(enc.uniform_points(u), np.stack([enc.encode(enc.from_uniform(r)) for r in u]))


def test_encode_remembers_rows_and_keeps_values_apart() -> None:
    enc = Encoding({"x": FloatDistribution(-1.0, 1.0), "n": CategoricalDistribution([1, 2])})
    z = enc.encode({"x": 0.5, "n": 2})
    assert enc.encode({"x": 0.5, "n": 2}) is z and not z.flags.writeable
    np.testing.assert_array_equal(enc.encode({"x": -0.5, "n": 1}), [0.25, 0.0])


@pytest.mark.parametrize("dims", [1, 3, 8, 9, 17])
def test_pairwise_sum_is_numpy_sum_to_the_bit(dims: int) -> None:
    a = np.random.default_rng(dims).random((7, 5, dims)) ** 3
    assert np.array_equal(_pairwise_sum(list(a.transpose(2, 0, 1))), a.sum(-1))


def test_matern52_is_scikit_learns_matern_to_the_bit() -> None:
    from sklearn.gaussian_process.kernels import Matern

    rng = np.random.default_rng(0)
    x, y, ls = rng.random((30, 4)), rng.random((7, 4)), rng.random(4) + 0.1
    fast, slow = _matern52()(length_scale=ls, nu=2.5), Matern(length_scale=ls, nu=2.5)
    assert np.array_equal(fast(x, y), slow(x, y)) and np.array_equal(fast(x), slow(x))
    assert np.array_equal(fast(x, eval_gradient=True)[1], slow(x, eval_gradient=True)[1])


@pytest.mark.parametrize("n", [3, 40])
def test_neg_lml_is_scikit_learns_objective_to_the_bit(n: int) -> None:
    from sklearn.gaussian_process import GaussianProcessRegressor

    core = MFGPCore(DISTS, 9, 0)  # 8 encoded columns + the fidelity: numpy's 8-way pairwise sum
    rng = np.random.default_rng(n)
    x, y = rng.random((n, core.encoding.width + 1)), rng.normal(size=n)
    gp = GaussianProcessRegressor(core._kernel(), optimizer=None).fit(x, y)
    objective = _NegLML(x, y)
    for _ in range(10):
        theta = rng.uniform(gp.kernel_.bounds[:, 0], gp.kernel_.bounds[:, 1])
        lml, grad = gp.log_marginal_likelihood(theta.copy(), eval_gradient=True, clone_kernel=False)
        value, gradient = objective(theta.copy())
        assert value == -lml and np.array_equal(gradient, -grad)


def test_encoding_rejects_other_distributions() -> None:
    with pytest.raises(ValueError, match="distributions"):
        Encoding({})


def test_copula_ranks_non_finite_last_without_swamping() -> None:
    y = copula(np.array([0.1, 0.2, math.inf, 1e30, math.nan]))
    # a diverged (inf, NaN) value is worse than every finite one, by a bounded amount
    assert y[0] < y[1] < y[3] < y[2] and y[2] == y[4]
    assert np.all(np.abs(y) < 2.0)
    # monotone and scale-free: the same ranks whatever the magnitudes
    np.testing.assert_allclose(copula(np.array([1.0, 2.0, 3.0])), copula(np.array([1e-3, 50.0, 1e9])))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"max_resource": 0}, "max_resource"), ({"random_fraction": 1.5}, "random_fraction"),
     ({"n_startup": 0}, "n_startup"), ({"refit_growth": 1.0}, "refit_growth")],
)
def test_core_checks_its_arguments(kwargs: dict, key: str) -> None:
    args = {"max_resource": 9} | kwargs
    with pytest.raises(ValueError, match=key):
        MFGPCore(DISTS, **args)


def _loss(p: dict, r: int) -> float:
    """A learning-curve-like function: best at lr = 0.03, batch 64; lower at larger r."""
    return (math.log10(p["lr"]) + 1.5) ** 2 + abs(math.log2(p["batch"] / 64)) * 0.1 + 1.0 / r


def test_start_is_space_filling_sobol() -> None:
    core = MFGPCore({"lr": FloatDistribution(1e-3, 1.0, log=True)}, 9, seed=3, n_startup=8)
    u = [core.encoding.encode(core.propose(n, [])) [0] for n in range(8)]
    # 8 scrambled Sobol points in 1-D: one in each eighth of [0, 1]
    assert sorted(int(v * 8) for v in u) == list(range(8))
    assert core.last_kind == "sobol"


def _run(core: MFGPCore, n: int) -> tuple[list[dict], list[Observation]]:
    obs: list[Observation] = []
    proposals = []
    for i in range(n):
        p = core.propose(i, obs)
        proposals.append(p)
        for r in (1, 3, 9):
            obs.append(Observation(p, r, _loss(p, r)))
    return proposals, obs


def test_model_proposals_beat_random_and_follow_the_seed() -> None:
    dists = {"lr": FloatDistribution(1e-4, 1.0, log=True), "batch": CategoricalDistribution([16, 64, 256])}
    core = MFGPCore(dists, 9, seed=0, random_fraction=0.0)
    proposals, obs = _run(core, 20)
    assert core.last_kind == "model"
    model_best = min(_loss(p, 9) for p in proposals[10:])
    rng = np.random.default_rng(0)
    random_best = min(_loss(core.encoding.from_uniform(rng.random(2)), 9) for _ in range(10))
    assert model_best < random_best and model_best < 0.115 + 0.01
    again, _ = _run(MFGPCore(dists, 9, seed=0, random_fraction=0.0), 20)
    assert again == proposals
    other, _ = _run(MFGPCore(dists, 9, seed=1, random_fraction=0.0), 20)
    assert other != proposals


def test_state_dict_continues_exactly() -> None:
    core = MFGPCore(DISTS, 9, seed=5)
    _, obs = _run_mixed(core, 12)
    state = core.state_dict()
    restored = MFGPCore(DISTS, 9, seed=5)
    restored.load_state_dict(state)
    assert restored.propose(12, obs) == core.propose(12, obs)


def _run_mixed(core: MFGPCore, n: int) -> tuple[list[dict], list[Observation]]:
    obs: list[Observation] = []
    out = []
    for i in range(n):
        p = core.propose(i, obs)
        out.append(p)
        obs.append(Observation(p, 1, _loss(p, 1)))
    return out, obs


def test_random_share_is_about_random_fraction() -> None:
    dists = {"lr": FloatDistribution(1e-4, 1.0, log=True), "batch": CategoricalDistribution([16, 64, 256])}
    core = MFGPCore(dists, 9, seed=0, random_fraction=0.5, n_startup=2)
    _, obs = _run(core, 6)
    kinds = []
    for n in range(6, 46):
        core.propose(n, obs)
        kinds.append(core.last_kind)
    assert 10 <= kinds.count("random") <= 30 and "model" in kinds


def test_pending_and_fully_trained_configurations_are_not_proposed_again() -> None:
    # 3 x 3 grid: after 7 configurations trained to the top, with one running, only one is left
    dists = {"a": CategoricalDistribution([1, 2, 3]), "b": CategoricalDistribution([10, 20, 30])}
    core = MFGPCore(dists, 3, seed=0, random_fraction=0.0, n_startup=1)
    grid = [{"a": a, "b": b} for a in (1, 2, 3) for b in (10, 20, 30)]
    obs = [Observation(p, 3, float(p["a"] + p["b"])) for p in grid[:7]]
    p = core.propose(7, obs, pending=[grid[7]])
    assert p == grid[8]


def test_diverged_and_failed_trials_count_as_bad() -> None:
    dists = {"lr": FloatDistribution(1e-3, 1.0, log=True)}
    core = MFGPCore(dists, 9, seed=0, random_fraction=0.0, n_startup=1)
    obs = [Observation({"lr": lr}, 9, (math.log10(lr) + 2) ** 2) for lr in (0.001, 0.003, 0.01, 0.03)]
    # large learning rates diverge or crash: the model must steer away from them
    obs += [Observation({"lr": 0.5}, 1, math.inf), Observation({"lr": 0.8}, 1, math.nan),
            Observation({"lr": 1.0}, 0, None)]
    for n in range(5):
        p = core.propose(10 + n, obs)
        assert p["lr"] < 0.2
        obs.append(Observation(p, 9, (math.log10(p["lr"]) + 2) ** 2))
