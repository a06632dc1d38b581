"""One Gaussian process over configuration and fidelity (the core of ``optuna-mfgp``; no Ray, no Optuna study).

Multi-fidelity Bayesian optimization as in MOBSTER (Klein, Tiao, Lienart, Archambeau & Seeger, 2020,
"Model-based Asynchronous Hyperparameter and Neural Architecture Search", arXiv:2003.10865): every value any
trial reported at any resource ``r`` -- trials a halving scheduler stopped included -- is one observation
``((x, phi(r)), y)`` of a single GP with an ARD Matern-5/2 kernel over the encoded configuration ``x`` and the
fidelity ``phi(r) = log(r) / log(R)`` (``R`` the largest resource). Proposals maximise the expected improvement
at ``phi = 1``, the largest resource.

What keeps the model useful on real training:

* **Values through a Gaussian copula** (Salinas, Shen & Perrone, 2020, "A Quantile-based Approach for
  Hyperparameter Transfer Learning", ICML): ``y = Phi^-1(rank / (n + 1))``. A diverged (non-finite) value and a
  failed trial take the worst rank: bad, but no worse than the worst finite value, so they never flatten the
  rest as a huge standardised loss would.
* **A random share** (SMAC3's random interleaving, Hutter et al., 2011): with probability ``random_fraction``
  a proposal is drawn uniformly, so a wrong model cannot trap the search.
* **A space-filling start**: the first ``n_startup`` proposals are a scrambled Sobol sequence (scipy), not
  independent draws.
* **Ordered choices stay ordered**: a categorical whose choices are all numbers (batch sizes), or all JSON lists
  of numbers (layer widths, listed small to large), is one ordinal input; other categoricals are one-hot.
* **Pending trials**: running trials enter the model at ``phi = 1`` with the posterior mean as their value
  (the "kriging believer", Ginsbourger et al., 2010) and are never proposed again, so parallel slots differ.

The GP is scikit-learn's :class:`~sklearn.gaussian_process.GaussianProcessRegressor`. Its kernel
hyperparameters are refitted (marginal likelihood, L-BFGS from the last fit) when the data grew by
``refit_growth`` since the last fit, and otherwise reused: that keeps a suggestion with 300 observations
well under 100 ms. The last fit is part of :meth:`MFGPCore.state_dict`, so a restored core proposes exactly
what the original would have.

Parameters are Optuna distributions (``optuna.distributions``, which carry no study): both adapters, the raynn
:class:`~raynn.hpo.searchers.Searcher` and the :class:`~raynn.hpo.optuna_mfgp.MultiFidelityGPSampler`, speak them.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from raynn.errors import argument_error
from raynn.values import check_int, check_number, is_real

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["FIT_POINTS", "Encoding", "MFGPCore", "Observation", "copula"]

FIT_POINTS = 150
"""Observations the kernel hyperparameters are fitted on, at most (the posterior conditions on all)."""


@dataclass(frozen=True)
class Observation:
    """One reported value: ``params`` reached ``resource`` units with ``value`` (lower is better; NaN/inf:
    diverged); ``value=None`` with ``resource=0``: the trial failed before it reported."""

    params: Mapping[str, Any]
    resource: int
    value: float | None


# ------------------------------------------------------------------------------------------------------------
# The encoding of a configuration as a point of the unit cube.


def _ordinal_order(choices: Sequence[Any]) -> list[int] | None:
    """The choices' positions when they are ordered (numbers by value; JSON lists of numbers as listed)."""
    if all(is_real(c) for c in choices):
        return [int(i) for i in np.argsort(np.argsort(np.asarray(choices, dtype=float), kind="stable"))]
    if all(isinstance(c, str) for c in choices):
        try:
            parsed = [json.loads(c) for c in choices]
        except ValueError:
            return None
        if all(
            isinstance(p, list) and p and all(is_real(v) for v in p) for p in parsed
        ):
            return list(range(len(choices)))
    return None


class Encoding:
    """Configuration <-> point of ``[0, 1]^D``: one column per float/int/ordinal key, one per choice otherwise.

    Floats and ints are linear or (``log``) logarithmic in their bounds; ``step`` is honoured on decoding.
    :meth:`from_uniform` maps a point of ``[0, 1]^d`` (one coordinate per key) to a valid configuration:
    what the Sobol start and the random share draw.

    Args:
        distributions: Key -> ``optuna.distributions`` Float/Int/Categorical distribution, in key order.
    """

    def __init__(self, distributions: Mapping[str, BaseDistribution]) -> None:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if not isinstance(distributions, Mapping) or not distributions:
            raise argument_error("distributions", "must be a non-empty mapping key -> Optuna distribution",
                                 distributions)
        self.keys = list(distributions)
        self.distributions = dict(distributions)
        self._kinds: list[tuple[str, Any]] = []  # (kind, extra) per key
        self.columns: list[slice] = []
        width = 0
        for key, dist in self.distributions.items():
            if isinstance(dist, (FloatDistribution, IntDistribution)):
                kind, extra, cols = "range", None, 1
            elif isinstance(dist, CategoricalDistribution):
                order = _ordinal_order(dist.choices)
                if order is not None and len(dist.choices) > 1:
                    kind, extra, cols = "ordinal", order, 1
                else:
                    kind, extra, cols = "onehot", None, len(dist.choices)
            else:
                raise argument_error(f"distributions[{key!r}]", "must be a Float, Int or Categorical "
                                     "Optuna distribution", dist)
            self._kinds.append((kind, extra))
            self.columns.append(slice(width, width + cols))
            width += cols
        self.width = width
        self._encoded: dict[tuple[str, ...], np.ndarray] = {}  # encode's rows, keyed by the values' repr

    def __len__(self) -> int:
        return len(self.keys)

    def kind(self, key: str) -> str:
        """``"range"``, ``"ordinal"`` or ``"onehot"``."""
        return self._kinds[self.keys.index(key)][0]

    # value <-> unit ------------------------------------------------------------------------------------------
    @staticmethod
    def _range_unit(dist: Any, value: float) -> float:
        if dist.low == dist.high:
            return 0.5
        if dist.log:
            return (math.log(value) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
        return (value - dist.low) / (dist.high - dist.low)

    @staticmethod
    def _range_value(dist: Any, u: float) -> Any:
        from optuna.distributions import IntDistribution

        u = min(1.0, max(0.0, float(u)))
        if dist.log:
            v = math.exp(math.log(dist.low) + u * (math.log(dist.high) - math.log(dist.low)))
        else:
            v = dist.low + u * (dist.high - dist.low)
        step = dist.step
        if isinstance(dist, IntDistribution):
            step = step or 1
            v = dist.low + round((v - dist.low) / step) * step
            return int(min(dist.high, max(dist.low, v)))
        if step is not None:
            v = dist.low + round((v - dist.low) / step) * step
        return float(min(dist.high, max(dist.low, v)))

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """The point of ``[0, 1]^D`` of a configuration (remembered: a trial's row is asked for at every
        resource it reported and at every proposal; a read-only array)."""
        key = tuple(repr(params[k]) for k in self.keys)  # repr: 1, 1.0, True and -0.0, 0.0 stay apart
        z = self._encoded.get(key)
        if z is None:
            if len(self._encoded) >= 100_000:
                self._encoded.clear()
            z = self._encoded[key] = self._encode(params)
            z.flags.writeable = False
        return z

    def _encode(self, params: Mapping[str, Any]) -> np.ndarray:
        z = np.zeros(self.width)
        for key, (kind, order), cols in zip(self.keys, self._kinds, self.columns):
            dist, value = self.distributions[key], params[key]
            if kind == "range":
                z[cols] = self._range_unit(dist, float(value))
            else:
                i = dist.to_internal_repr(value)
                if kind == "ordinal":
                    z[cols] = order[int(i)] / (len(order) - 1)
                else:
                    z[cols.start + int(i)] = 1.0
        return z

    def decode(self, z: np.ndarray) -> dict[str, Any]:
        """The configuration nearest to a point: snapped to steps, ordinal positions and the largest one-hot."""
        params: dict[str, Any] = {}
        for key, (kind, order), cols in zip(self.keys, self._kinds, self.columns):
            dist = self.distributions[key]
            if kind == "range":
                params[key] = self._range_value(dist, z[cols][0])
            elif kind == "ordinal":
                position = int(round(min(1.0, max(0.0, float(z[cols][0]))) * (len(order) - 1)))
                params[key] = dist.choices[order.index(position)]
            else:
                params[key] = dist.choices[int(np.argmax(z[cols]))]
        return params

    def from_uniform(self, u: np.ndarray) -> dict[str, Any]:
        """A valid configuration from ``u`` in ``[0, 1)^d`` (one coordinate per key): a uniform ``u`` gives
        uniform choices, and uniform (log-uniform for ``log``) floats and ints."""
        params: dict[str, Any] = {}
        for key, (kind, order), ui in zip(self.keys, self._kinds, u):
            dist = self.distributions[key]
            if kind == "range":
                from optuna.distributions import IntDistribution

                if isinstance(dist, IntDistribution) or dist.step is not None:
                    # every admissible value equally likely (as a grid), in log space for log ints
                    step = dist.step or 1
                    n = int(round((dist.high - dist.low) / step)) + 1
                    if dist.log:
                        params[key] = self._range_value(dist, float(ui))
                    else:
                        k = min(n - 1, int(ui * n))
                        v = dist.low + k * step
                        params[key] = int(v) if isinstance(dist, IntDistribution) else float(v)
                else:
                    params[key] = self._range_value(dist, float(ui))
            else:
                params[key] = dist.choices[min(len(dist.choices) - 1, int(ui * len(dist.choices)))]
        return params

    def snap(self, z: np.ndarray) -> np.ndarray:
        """Points (rows of ``z``) moved onto admissible configurations: ``encode(decode(row))`` per row, at once."""
        out = np.array(z, dtype=float, copy=True)
        for (kind, order), cols, key in zip(self._kinds, self.columns, self.keys):
            if kind == "range":
                out[:, cols] = self._snap_range(self.distributions[key], np.clip(out[:, cols], 0.0, 1.0))
            elif kind == "ordinal":
                k = len(order) - 1
                out[:, cols] = np.round(np.clip(out[:, cols], 0.0, 1.0) * k) / k
            else:
                block = out[:, cols]
                out[:, cols] = np.eye(block.shape[1])[np.argmax(block, axis=1)]
        return out

    @staticmethod
    def _snap_range(dist: Any, u: np.ndarray) -> np.ndarray:
        from optuna.distributions import IntDistribution

        step = dist.step if not isinstance(dist, IntDistribution) else (dist.step or 1)
        if step is None or dist.low == dist.high:
            return u if dist.low != dist.high else np.full_like(u, 0.5)
        if dist.log:
            v = np.exp(math.log(dist.low) + u * (math.log(dist.high) - math.log(dist.low)))
        else:
            v = dist.low + u * (dist.high - dist.low)
        v = np.clip(dist.low + np.round((v - dist.low) / step) * step, dist.low, dist.high)
        if dist.log:
            return (np.log(v) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
        return (v - dist.low) / (dist.high - dist.low)

    def uniform_points(self, u: np.ndarray) -> np.ndarray:
        """``encode(from_uniform(row))`` for each row of ``u`` (``(m, d)``), at once."""
        out = np.zeros((len(u), self.width))
        for j, ((kind, order), cols, key) in enumerate(zip(self._kinds, self.columns, self.keys)):
            dist = self.distributions[key]
            if kind == "range":
                from optuna.distributions import IntDistribution

                step = dist.step if not isinstance(dist, IntDistribution) else (dist.step or 1)
                if step is not None and not dist.log and dist.high > dist.low:
                    n = int(round((dist.high - dist.low) / step)) + 1  # as from_uniform: each value alike
                    out[:, cols.start] = np.minimum(n - 1, (u[:, j] * n).astype(int)) / (n - 1)
                else:
                    out[:, cols] = self._snap_range(dist, u[:, j : j + 1])
            else:
                k = len(dist.choices)
                index = np.minimum(k - 1, (u[:, j] * k).astype(int))
                if kind == "ordinal":
                    out[:, cols.start] = np.asarray(order)[index] / (k - 1)
                else:
                    out[np.arange(len(u)), cols.start + index] = 1.0
        return out


# ------------------------------------------------------------------------------------------------------------
# The model.


def copula(values: np.ndarray) -> np.ndarray:
    """``Phi^-1(rank / (n + 1))`` of each value (ties share their mean rank); non-finite values rank last."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=float)
    keyed = np.where(np.isfinite(v), v, np.inf)
    ranks = rankdata(keyed, method="average")
    return ndtri(ranks / (len(v) + 1))


def _lbfgs(obj_func: Any, initial_theta: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, float]:
    """scikit-learn's default optimizer (L-BFGS-B on the log marginal likelihood), at most 50 iterations: the
    fit starts from the last one, so a few iterations suffice and a suggestion stays cheap."""
    from scipy.optimize import minimize

    res = minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds,
                   options={"maxiter": 50})
    return res.x, float(res.fun)


def _pairwise_sum(parts: Sequence[np.ndarray]) -> np.ndarray:
    """``np.sum`` over a contiguous axis of ``len(parts)`` elements, in numpy's (pairwise) order of additions,
    of whole arrays at once: ``_pairwise_sum(list(a.transpose(2, 0, 1)))`` is ``a.sum(-1)`` to the bit."""
    n = len(parts)
    if n < 8:
        res = np.zeros_like(parts[0])
        for part in parts:
            res = res + part
        return res
    r = list(parts[:8])
    i = 8
    while i < n - n % 8:
        r = [r[j] + parts[i + j] for j in range(8)]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for part in parts[i:]:
        res = res + part
    return res


_PAIRWISE_EXACT: dict[int, bool] = {}


def _pairwise_exact(dims: int) -> bool:
    """Whether this numpy's ``sum`` over a last axis of ``dims`` elements adds as :func:`_pairwise_sum`."""
    if dims not in _PAIRWISE_EXACT:
        a = np.random.default_rng(dims).random((16, 16, dims)) ** 3
        _PAIRWISE_EXACT[dims] = bool(np.array_equal(_pairwise_sum(list(a.transpose(2, 0, 1))), a.sum(-1)))
    return _PAIRWISE_EXACT[dims]


class _NegLML:
    """scikit-learn's ``obj_func`` (minus the log marginal likelihood and its gradient) for
    ``C * Matern(ARD, nu=2.5) + White`` on ``(x, y)``, with scikit-learn's floating-point operations, so every
    value is the same to the bit (``tests/hpo/test_mfgp.py`` compares them).

    Cheaper: the squared coordinate differences are computed once, and the length-scale gradient is computed
    one dimension per ``(n, n)`` plane (long contiguous loops) instead of through ``(n, n, 1)`` broadcasts,
    the kernel objects' parameter copies and ``np.dstack``.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = np.atleast_2d(x)
        self.y = y[:, np.newaxis] if y.ndim == 1 else y
        n, dims = self.x.shape
        xt = self.x.T
        self.sq = np.ascontiguousarray((xt[:, :, np.newaxis] - xt[:, np.newaxis, :]) ** 2)  # (dims, n, n)
        self.log_2pi_term = n / 2 * np.log(2 * np.pi)
        # Buffers written at every evaluation: fresh megabyte arrays cost more in page faults than in flops.
        self.work = np.empty((dims, n, n))
        self.grad = np.empty((n, n, dims + 2))

    def kernel(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``K`` and ``dK/dtheta`` (``(n, n, len(theta))``, a buffer reused by the next call) as
        ``Sum(Product(C, Matern), White)`` computes them."""
        from scipy.spatial.distance import pdist, squareform

        n, dims = self.x.shape
        c, ls, noise = np.exp(theta[0]), np.exp(theta[1 : 1 + dims]), np.exp(theta[1 + dims])
        ls = np.squeeze(ls).astype(float).reshape(dims)
        m = pdist(self.x / ls, metric="euclidean") * math.sqrt(5)
        m = squareform((1.0 + m + m**2 / 3.0) * np.exp(-m))
        np.fill_diagonal(m, 1)
        grad, d = self.grad, self.work
        np.multiply(c, m, out=grad[:, :, 0])
        np.divide(self.sq, (ls**2)[:, np.newaxis, np.newaxis], out=d)
        if _pairwise_exact(dims):
            tmp = np.sqrt(5 * _pairwise_sum(list(d)))
        else:
            tmp = np.sqrt(5 * np.ascontiguousarray(d.transpose(1, 2, 0)).sum(-1))
        np.multiply(5.0 / 3.0, d, out=d)  # 5/3 * D * (tmp + 1) * exp(-tmp) * c, left to right
        np.multiply(d, tmp + 1, out=d)
        np.multiply(d, np.exp(-tmp), out=d)
        np.multiply(d, c, out=d)
        grad[:, :, 1 : 1 + dims] = d.transpose(1, 2, 0)
        eye = np.eye(n)
        np.multiply(noise, eye, out=grad[:, :, 1 + dims])
        return np.full((n, n), c) * m + noise * eye, grad

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        from scipy.linalg import cho_solve, cholesky

        k, k_gradient = self.kernel(theta)
        k[np.diag_indices_from(k)] += 1e-10  # GaussianProcessRegressor's alpha
        try:
            low = cholesky(k, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return -(-np.inf), -np.zeros_like(theta)
        alpha = cho_solve((low, True), self.y, check_finite=False)
        lml_dims = -0.5 * np.einsum("ik,ik->k", self.y, alpha)
        lml_dims -= np.log(np.diag(low)).sum()
        lml_dims -= self.log_2pi_term
        inner = np.einsum("ik,jk->ijk", alpha, alpha)
        inner -= cho_solve((low, True), np.eye(k.shape[0]), check_finite=False)[..., np.newaxis]
        grad_dims = 0.5 * np.einsum("ijl,jik->kl", inner, k_gradient)
        return -lml_dims.sum(axis=-1), -grad_dims.sum(axis=-1)


def _near_any(points: np.ndarray, others: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Which rows of ``points`` lie within ``tol`` (max norm) of a row of ``others``: one column at a time,
    without the ``(len(points), len(others), width)`` array."""
    near = np.ones((len(points), len(others)), dtype=bool)
    for k in range(points.shape[1]):
        near &= np.abs(points[:, k, np.newaxis] - others[np.newaxis, :, k]) < tol
    return near.any(axis=1)


_MATERN: list[Any] = []


def _matern52() -> Any:
    """scikit-learn's ``Matern`` kernel class with a cheaper ``k(X, Y)`` for ``nu = 2.5``: the same
    operations, so the same values to the bit, with two temporaries instead of six (the candidates' kernel
    is about 1,000 x 300, and a fresh array of that size costs more in page faults than in arithmetic)."""
    if not _MATERN:
        from scipy.spatial.distance import cdist, pdist, squareform
        from sklearn.gaussian_process.kernels import Matern

        class Matern52(Matern):
            def __call__(self, X: Any, Y: Any = None, eval_gradient: bool = False) -> Any:  # noqa: N803
                if eval_gradient or self.nu != 2.5:
                    return super().__call__(X, Y, eval_gradient)
                X = np.atleast_2d(X)  # noqa: N806
                ls = np.squeeze(self.length_scale).astype(float)
                k = pdist(X / ls) if Y is None else cdist(X / ls, Y / ls)  # metric="euclidean", the default
                k *= math.sqrt(5)
                square = np.square(k)  # K ** 2
                square /= 3.0
                out = 1.0 + k
                out += square
                np.exp(np.negative(k, out=k), out=k)
                out *= k  # (1 + K + K ** 2 / 3) * exp(-K)
                if Y is None:
                    out = squareform(out)
                    np.fill_diagonal(out, 1)
                return out

        _MATERN.append(Matern52)
    return _MATERN[0]


_CONTROLLER: list[Any] = []


def _controller() -> Any:
    """One ``threadpoolctl.ThreadpoolController`` for every proposal: building one scans the loaded libraries
    (milliseconds). Made after scipy's and scikit-learn's linear algebra are loaded, so it limits them."""
    if not _CONTROLLER:
        import scipy.linalg  # noqa: F401
        import sklearn.gaussian_process  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    from scipy.special import ndtr

    sigma = np.maximum(sigma, 1e-9)
    z = (best - mu) / sigma
    return sigma * (z * ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))


class MFGPCore:
    """Proposes configurations from :class:`Observation` s of every trial at every resource (see the module).

    Every proposal draws from ``numpy.random.default_rng([seed, n])``, ``n`` the number of proposals made so
    far (the caller passes it), so a sequence of proposals is a function of the seed and the data only.

    Args:
        distributions: Key -> Optuna distribution (see :class:`Encoding`).
        max_resource: ``R``, the resource proposals are for (the largest rung); >= 1.
        seed: Seed of the proposals.
        n_startup: Proposals from the Sobol sequence before the model is used; None: ``max(5, d + 1)``.
        random_fraction: Share of later proposals drawn uniformly at random, in ``[0, 1]``.
        n_candidates: Random candidates scored by the acquisition per proposal (plus as many near the best).
        refit_growth: Refit the kernel hyperparameters when the observations grew by this factor since the last
            fit (> 1).
    """

    def __init__(
        self,
        distributions: Mapping[str, BaseDistribution],
        max_resource: int,
        seed: int = 0,
        n_startup: int | None = None,
        random_fraction: float = 0.2,
        n_candidates: int = 512,
        refit_growth: float = 1.2,
    ) -> None:
        self.encoding = Encoding(distributions)
        check_int("max_resource", max_resource, 1)
        check_int("n_startup", n_startup, 1, optional=True)
        if n_startup is None:
            n_startup = max(5, len(self.encoding) + 1)
        check_number("random_fraction", random_fraction, "must be a number in [0, 1]",
                     lambda v: 0.0 <= float(v) <= 1.0, real=True, finite=False)
        check_int("n_candidates", n_candidates, 1)
        check_number("refit_growth", refit_growth, "must be a number > 1", lambda v: v > 1.0, real=True,
                     finite=False)
        self.max_resource = max_resource
        self.seed = int(seed)
        self.n_startup = n_startup
        self.random_fraction = float(random_fraction)
        self.n_candidates = n_candidates
        self.refit_growth = float(refit_growth)
        self._theta: list[float] | None = None  # log kernel hyperparameters of the last fit
        self._fit_n = 0  # observations at the last fit
        self.last_kind = ""  # how the last proposal was made: "sobol", "random" or "model"

    # state ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"theta": self._theta, "fit_n": self._fit_n}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        theta = state.get("theta")
        self._theta = None if theta is None else [float(t) for t in theta]
        self._fit_n = int(state.get("fit_n", 0))

    # inputs -----------------------------------------------------------------------------------------------
    def fidelity(self, resource: int) -> float:
        """``phi(r) = log(r) / log(R)``, clipped to [0, 1]; 1 when ``R = 1``."""
        if self.max_resource == 1:
            return 1.0
        return min(1.0, max(0.0, math.log(max(resource, 1)) / math.log(self.max_resource)))

    def _data(self, observations: Sequence[Observation]) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty((len(observations), self.encoding.width + 1))
        values = []
        for i, obs in enumerate(observations):
            x[i, :-1] = self.encoding.encode(obs.params)
            x[i, -1] = self.fidelity(obs.resource)
            values.append(math.inf if obs.value is None or not math.isfinite(obs.value) else obs.value)
        return x, copula(np.asarray(values))

    def _kernel(self) -> Any:
        from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel

        dims = self.encoding.width + 1
        return ConstantKernel(1.0, (1e-2, 1e2)) * _matern52()(
            length_scale=np.full(dims, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(0.1, (1e-4, 1.0))

    def _fit(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        kernel = self._kernel()
        if self._theta is not None:
            kernel = kernel.clone_with_theta(np.asarray(self._theta))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self._theta is None or len(y) >= self.refit_growth * self._fit_n:
                # The hyperparameters from at most FIT_POINTS observations (a seeded subset): the cost of a
                # refit stays bounded however long the search runs; the posterior uses every observation.
                keep = np.arange(len(y))
                if len(y) > FIT_POINTS:
                    keep = np.sort(np.random.default_rng([self.seed, len(y)]).choice(len(y), FIT_POINTS,
                                                                                     replace=False))
                objective = _NegLML(x[keep], y[keep])  # scikit-learn's obj_func, bit for bit, cheaper

                def optimizer(obj_func: Any, initial_theta: np.ndarray, bounds: np.ndarray) -> Any:
                    return _lbfgs(objective, initial_theta, bounds)

                fitted = GaussianProcessRegressor(kernel, optimizer=optimizer, normalize_y=False)
                fitted.fit(x[keep], y[keep])
                kernel = fitted.kernel_
                self._theta = [float(t) for t in kernel.theta]
                self._fit_n = len(y)
            gp = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=False)
            gp.fit(x, y)
        return gp

    # proposals ----------------------------------------------------------------------------------------------
    def _sobol(self, n: int) -> np.ndarray:
        from scipy.stats import qmc

        sobol = qmc.Sobol(len(self.encoding), scramble=True, seed=np.random.default_rng([self.seed, 7]))
        if n > 0:
            sobol.fast_forward(n)
        return sobol.random(1)[0]

    def propose(
        self,
        n: int,
        observations: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """The ``n``-th proposal (0-based) given every observation so far and the running trials' parameters.

        Linear algebra runs on one thread (``threadpoolctl``): the GP is small, and BLAS threads fighting the
        trials for the cores cost more than they save.
        """
        with _controller().limit(limits=1):
            return self._propose(n, observations, pending)

    def _propose(
        self, n: int, observations: Sequence[Observation], pending: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, n])
        coin = rng.random()
        if n < self.n_startup or len(observations) < 2:
            self.last_kind = "sobol"
            return self.encoding.from_uniform(self._sobol(n))
        if coin < self.random_fraction:
            self.last_kind = "random"
            return self.encoding.from_uniform(rng.random(len(self.encoding)))
        self.last_kind = "model"
        x, y = self._data(observations)
        gp = self._fit(x, y)
        # The incumbent: the best posterior mean at phi = 1 among the configurations seen.
        seen = np.unique(x[:, :-1], axis=0)
        seen_top = np.hstack([seen, np.ones((len(seen), 1))])
        seen_mu = gp.predict(seen_top)
        best = float(seen_mu.min())
        pend = np.asarray([self.encoding.encode(p) for p in pending]).reshape(-1, self.encoding.width)
        if len(pend):
            pend_top = np.hstack([pend, np.ones((len(pend), 1))])
            believed = gp.predict(pend_top)
            from sklearn.gaussian_process import GaussianProcessRegressor

            gp = GaussianProcessRegressor(gp.kernel_, optimizer=None, normalize_y=False)
            gp.fit(np.vstack([x, pend_top]), np.concatenate([y, believed]))
            seen_mu = gp.predict(seen_top)  # the believed values moved the means
        cand = self._candidates(rng, seen_top[:, :-1], seen_mu)
        # Never again a running configuration, nor one already trained to the top resource.
        done_top = x[x[:, -1] >= 1.0 - 1e-12, :-1]
        banned = np.vstack([pend, done_top]) if len(pend) or len(done_top) else np.zeros((0, cand.shape[1]))
        if len(banned):
            same = _near_any(cand, banned)
            if same.all():
                self.last_kind = "random"
                return self.encoding.from_uniform(rng.random(len(self.encoding)))
            cand = cand[~same]
        mu, sigma = gp.predict(np.hstack([cand, np.ones((len(cand), 1))]), return_std=True)
        ei = _expected_improvement(mu, sigma, best)
        return self.encoding.decode(cand[int(np.argmax(ei))])

    def _candidates(self, rng: np.random.Generator, seen: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Uniform candidates and perturbations of the 5 configurations of best mean ``mu`` at ``phi = 1``."""
        d = len(self.encoding)
        uniform = self.encoding.uniform_points(rng.random((self.n_candidates, d)))
        elite = seen[np.argsort(mu)[:5]]
        per = max(1, self.n_candidates // len(elite))
        local = np.repeat(elite, per, axis=0) + rng.normal(0.0, 0.15, (len(elite) * per, elite.shape[1]))
        # one-hot blocks: with probability 0.3 a random choice, else the elite's own
        for key, cols in zip(self.encoding.keys, self.encoding.columns):
            if self.encoding.kind(key) == "onehot":
                k = cols.stop - cols.start
                block = np.repeat(elite[:, cols], per, axis=0)
                flip = rng.random(len(block)) < 0.3
                block[flip] = np.eye(k)[rng.integers(0, k, flip.sum())]
                local[:, cols] = block
        local = np.clip(local, 0.0, 1.0)
        return np.unique(np.vstack([uniform, self.encoding.snap(local)]), axis=0)
