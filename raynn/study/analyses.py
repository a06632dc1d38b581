"""Measurements that need no training run: each a pure function of its parameters and seeds.

* ``schedules`` (Figs. 7.4, 7.5): every learning-rate schedule of 4.4.2 evaluated over one run length.
* ``momentum`` (Fig. 7.6): gradient descent, heavy-ball momentum and Nesterov on an ill-conditioned 2-D
  quadratic, with raynn's own optimizers (torch's SGD; its Nesterov keeps the look-ahead point
  ``theta + rho Delta theta`` of the chapter's recurrence as its parameter, Bengio et al. 2012).
* ``initialization`` (Table 7.2, 4.3): per-layer variance of activations and back-propagated gradients
  through a deep MLP built and initialized by raynn, for each initializer / activation pairing.
* ``normalization`` (Figs. 7.9, 7.10): gradient descent on a two-feature least-squares loss before and after
  standardization; raw, standardized and PCA-whitened data, transformed by raynn's preprocessors.

Each analysis returns an :class:`Analysis`: ``rows`` (written to ``results.csv``) and ``data`` (what the
figures and claim checks read). Nothing here imports Ray.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from raynn.study.registries import ANALYSES
from raynn.values import is_finite_number

__all__ = ["ANALYSES", "Analysis", "AnalysisInfo", "run_analysis"]


@dataclass
class Analysis:
    """What an analysis measured: flat rows for ``results.csv`` and structured data for figures and checks."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisInfo:
    """An analysis: ``run(spec) -> Analysis`` and ``check(spec)``, which raises ``ValueError`` on bad input."""

    run: Callable[[Mapping[str, Any]], Analysis]
    check: Callable[[Mapping[str, Any]], None]




def _analysis(
    name: str, check: Callable[[Mapping[str, Any]], None], summary: str
) -> Callable[[Callable[[Mapping[str, Any]], Analysis]], Callable[[Mapping[str, Any]], Analysis]]:
    """Register the decorated ``run`` with ``check`` as analysis ``name``, as ``CLAIMS.register`` does a claim."""

    def decorate(run: Callable[[Mapping[str, Any]], Analysis]) -> Callable[[Mapping[str, Any]], Analysis]:
        ANALYSES.add(name, AnalysisInfo(run, check), summary)
        return run

    return decorate


def run_analysis(spec: Mapping[str, Any]) -> Analysis:
    return ANALYSES.get(spec["name"]).run(spec)


def _keys(spec: Mapping[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(spec) - valid - {"name"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} for analysis {spec['name']!r}; valid keys: {', '.join(sorted(valid))}")


def _int_at_least(spec: Mapping[str, Any], key: str, least: int) -> None:
    value = spec.get(key)
    if not (isinstance(value, int) and value >= least):
        raise ValueError(f"`{key} >= {least}` must hold, but got {key}={value!r}")


def _positive(spec: Mapping[str, Any], key: str) -> None:
    value = spec.get(key)
    if not (is_finite_number(value) and value > 0):
        raise ValueError(f"`{key} > 0` must hold, but got {key}={value!r}")


def _positive_pair(spec: Mapping[str, Any], key: str) -> None:
    value = spec.get(key)
    numbers = isinstance(value, list) and all(is_finite_number(v) and v > 0 for v in value)
    if not (numbers and len(value) == 2):
        raise ValueError(f"`{key}` must be two numbers > 0, but got {key}={value!r}")


def _seeds(spec: Mapping[str, Any]) -> list[int]:
    seeds = spec.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"`seeds` must be a non-empty list of ints >= 0, but got seeds={seeds!r}")
    return seeds


# ----------------------------------------------------------------------------------------------------------------
# Schedules (Figs. 7.4, 7.5).


def _check_schedules(spec: Mapping[str, Any]) -> None:
    from raynn.schedules import build_spec

    _keys(spec, {"iterations", "schedules", "iters_per_epoch"})
    _int_at_least(spec, "iterations", 2)
    items = spec.get("schedules")
    if not isinstance(items, list) or not items:
        raise ValueError(f"`schedules` must be a non-empty list of {{label, spec}}, but got {items!r}")
    for item in items:
        if not isinstance(item, dict) or set(item) != {"label", "spec"}:
            raise ValueError(f"each schedule must be {{label, spec}}, but got {item!r}")
        build_spec(item["spec"])


@_analysis("schedules", _check_schedules, "every schedule of 4.4.2 evaluated at k = 0 .. iterations-1")
def _schedules(spec: Mapping[str, Any]) -> Analysis:
    from raynn.schedules import build_spec

    out = Analysis()
    ks = list(range(spec["iterations"]))
    curves = {}
    for item in spec["schedules"]:
        lr = build_spec(item["spec"])
        values = [lr(k) for k in ks]
        curves[item["label"]] = {"spec": dict(item["spec"]), "k": ks, "lr": values}
        out.rows += [{"analysis": "schedules", "label": item["label"], "k": k, "lr": v} for k, v in zip(ks, values)]
    out.data = {"curves": curves, "iterations": spec["iterations"]}
    return out



# ----------------------------------------------------------------------------------------------------------------
# Momentum and Nesterov on an ill-conditioned quadratic (Fig. 7.6).


def _check_momentum(spec: Mapping[str, Any]) -> None:
    _keys(spec, {"curvatures", "start", "lr", "momentum", "iterations", "tolerance", "methods"})
    _positive_pair(spec, "curvatures")
    _positive(spec, "lr")
    _int_at_least(spec, "iterations", 1)


def quadratic(theta: torch.Tensor, curvatures: torch.Tensor) -> torch.Tensor:
    """``f(theta) = 1/2 sum_i a_i theta_i^2``: its Hessian ``diag(a)`` has condition number ``max a / min a``."""
    return 0.5 * (curvatures * theta * theta).sum()


@_analysis("momentum", _check_momentum, "sgd / momentum / nesterov paths on f = 1/2 (a1 x1^2 + a2 x2^2)")
def _momentum(spec: Mapping[str, Any]) -> Analysis:
    from raynn.optim import build_optimizer

    a = torch.tensor(spec["curvatures"], dtype=torch.float64)
    start = spec.get("start", [-8.0, 2.0])
    rho = float(spec.get("momentum", 0.9))
    methods = spec.get("methods", ["sgd", "momentum", "nesterov"])
    tol = float(spec.get("tolerance", 1e-3))
    out = Analysis()
    paths: dict[str, Any] = {}
    for method in methods:
        theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        hyper = {} if method == "sgd" else {"momentum": rho}
        opt = build_optimizer([theta], method, float(spec["lr"]), **hyper)
        xs, fs = [theta.detach().clone().tolist()], [quadratic(theta.detach(), a).item()]
        for _ in range(spec["iterations"]):
            opt.zero_grad()
            loss = quadratic(theta, a)
            loss.backward()
            opt.step()
            xs.append(theta.detach().clone().tolist())
            fs.append(quadratic(theta.detach(), a).item())
        f0 = fs[0]
        reached = next((i for i, f in enumerate(fs) if f <= tol * f0), None)
        steep = int(np.argmax(spec["curvatures"]))
        signs = np.sign([x[steep] for x in xs])
        flips = int(np.sum(signs[1:] * signs[:-1] < 0))
        # Oscillation on the steep axis: the distance travelled along it (total variation); sign changes alone
        # also count the harmless flips at |theta2| ~ 1e-9 after a method has converged.
        travel = float(np.sum(np.abs(np.diff([x[steep] for x in xs]))))
        paths[method] = {"path": xs, "f": fs, "iters_to_tol": reached, "sign_changes_steep": flips,
                         "travel_steep": travel,
                         "overshoot_steep": max(abs(x[steep]) for x in xs[1:]) if len(xs) > 1 else 0.0}
        out.rows += [{"analysis": "momentum", "label": method, "iteration": i, "theta1": x[0], "theta2": x[1], "f": f}
                     for i, (x, f) in enumerate(zip(xs, fs))]
    out.data = {"paths": paths, "curvatures": list(spec["curvatures"]), "lr": spec["lr"], "momentum": rho,
                "tolerance": tol, "condition": max(spec["curvatures"]) / min(spec["curvatures"])}
    return out



# ----------------------------------------------------------------------------------------------------------------
# Initialization (Table 7.2, 4.3.3).


def _check_init(spec: Mapping[str, Any]) -> None:
    from raynn.nn import ACTIVATIONS, build_initializer

    _keys(spec, {"width", "depth", "batch", "pairings", "seeds"})
    for key in ("width", "depth", "batch"):
        _int_at_least(spec, key, 1)
    pairings = spec.get("pairings")
    if not isinstance(pairings, list) or not pairings:
        raise ValueError(f"`pairings` must be a non-empty list of {{label, init, activation}}, but got {pairings!r}")
    for p in pairings:
        if not isinstance(p, dict) or set(p) - {"label", "init", "activation", "expect"} or "init" not in p:
            raise ValueError(f"each pairing must be {{label, init, activation, expect}}, but got {p!r}")
        if p.get("expect", "shown") not in ("kept", "lost", "shown"):
            raise ValueError(f"`expect` must be kept, lost or shown, but got {p.get('expect')!r}")
        ACTIVATIONS.get(p["activation"])
        build_initializer(p["init"])
    _seeds(spec)


def layer_variances(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per hidden layer ``l``: ``Var(a^(l))`` of the activations and ``Var(dL/dz^(l))`` of the gradients.

    ``z^(l) = W^(l) a^(l-1) + b^(l)`` is the net input (a ``Linear`` output), ``a^(l) = f(z^(l))``; the loss is
    the mean cross-entropy of the output against ``y``.
    """
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][:-1]
    acts = [m for m in model.modules() if type(m).__module__.startswith("torch.nn.modules.activation")]
    zs: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []

    def keep_z(_m: Any, _i: Any, z: torch.Tensor) -> None:  # a hook that returned a value would replace z
        z.retain_grad()
        zs.append(z)

    def keep_a(_m: Any, _i: Any, a: torch.Tensor) -> None:
        outs.append(a.detach())

    hooks = [m.register_forward_hook(keep_z) for m in linears]
    hooks += [m.register_forward_hook(keep_a) for m in acts]
    try:
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
    finally:
        for h in hooks:
            h.remove()
    act_var = [float(o.var()) for o in outs]
    # The loss is a mean over the batch: scale by N so that the variance does not depend on the batch size.
    grad_var = [float((z.grad * len(x)).var()) for z in zs]
    return act_var, grad_var


@_analysis("initialization", _check_init,
           "per-layer Var(a) and Var(dL/dz) of a deep MLP for each initializer / activation pairing")
def _init(spec: Mapping[str, Any]) -> Analysis:
    from raynn.nn import build_initializer, build_model

    width, depth, batch = spec["width"], spec["depth"], spec["batch"]
    out = Analysis()
    result: dict[str, Any] = {}
    for p in spec["pairings"]:
        label = p.get("label", f"{p['init']} + {p['activation']}")
        acts, grads = [], []
        for seed in _seeds(spec):
            gen = torch.Generator().manual_seed(seed)
            model = build_model({"name": "mlp", "hidden": [width] * depth, "activation": p["activation"]}, (width,), 10)
            build_initializer(p["init"])(model, activation=p["activation"], bias=0.0, generator=gen)
            x = torch.randn(batch, width, generator=gen)
            y = torch.randint(0, 10, (batch,), generator=gen)
            a, g = layer_variances(model, x, y)
            acts.append(a)
            grads.append(g)
            out.rows += [{"analysis": "initialization", "label": label, "seed": seed, "layer": i + 1,
                          "activation_var": av, "grad_var": gv} for i, (av, gv) in enumerate(zip(a, g))]
        result[label] = {"init": p["init"], "activation": p["activation"], "expect": p.get("expect", "shown"),
                         "activation_var": np.mean(acts, axis=0).tolist(), "grad_var": np.mean(grads, axis=0).tolist()}
    out.data = {"pairings": result, "width": width, "depth": depth, "batch": batch, "seeds": _seeds(spec)}
    return out



# ----------------------------------------------------------------------------------------------------------------
# Normalization of the data (Figs. 7.9, 7.10).


def _check_norm(spec: Mapping[str, Any]) -> None:
    _keys(spec, {"n", "scales", "covariance", "mean", "tolerance", "max_iterations", "seeds"})
    _positive_pair(spec, "scales")
    cov = spec.get("covariance")
    if not (isinstance(cov, list) and np.shape(cov) == (2, 2)):
        raise ValueError(f"`covariance` must be a 2x2 list, but got covariance={cov!r}")
    if np.any(np.linalg.eigvalsh(np.asarray(cov, dtype=float)) <= 0):
        raise ValueError(f"`covariance` must be positive definite, but got covariance={cov!r}")
    _int_at_least(spec, "n", 10)


def gd_least_squares(x: np.ndarray, y: np.ndarray, tol: float, max_iter: int) -> dict[str, Any]:
    """Gradient descent on ``L(w) = 1/(2N) ||X w - y||^2`` with the step ``1 / lambda_max`` of its Hessian.

    The step ``1/lambda_max(X^T X / N)`` is the largest that is stable along every direction; the number of
    steps to shrink ``L - L*`` by ``tol`` grows with the condition number ``lambda_max / lambda_min``.
    """
    n = len(x)
    h = x.T @ x / n
    eig = np.linalg.eigvalsh(h)
    w_star = np.linalg.solve(h, x.T @ y / n)

    def loss(w: np.ndarray) -> float:
        r = x @ w - y
        return float(r @ r / (2 * n))

    l_star = loss(w_star)
    step = 1.0 / eig[-1]
    w = np.zeros(2)
    path = [w.copy()]
    gap0 = loss(w) - l_star
    reached = None
    for i in range(1, max_iter + 1):
        w = w - step * (x.T @ (x @ w - y) / n)
        path.append(w.copy())
        if reached is None and loss(w) - l_star <= tol * gap0:
            reached = i
            break
    return {"path": np.array(path).tolist(), "w_star": w_star.tolist(), "condition": float(eig[-1] / eig[0]),
            "steps_to_tol": reached, "step": float(step), "hessian": h.tolist(), "l_star": l_star}


@_analysis("normalization", _check_norm,
           "gradient descent before/after standardization; raw, standardized and PCA-whitened data")
def _norm(spec: Mapping[str, Any]) -> Analysis:
    from raynn.data import build_preprocessor

    out = Analysis()
    seed = _seeds(spec)[0]
    rng = np.random.default_rng(seed)
    n = spec["n"]
    tol = float(spec.get("tolerance", 1e-3))
    max_iter = int(spec.get("max_iterations", 5000))
    # Fig. 7.9: two independent features on different scales, y linear in them plus noise.
    scales = np.asarray(spec["scales"], dtype=float)
    x_raw = rng.normal(size=(n, 2)) * scales + np.asarray(spec.get("mean", [0.0, 0.0]))
    w_true = np.array([1.0, -1.0]) / scales
    y = x_raw @ w_true + 0.1 * rng.normal(size=n)
    y = y - y.mean()
    std = build_preprocessor("standardize")
    x_std = std.fit_transform(torch.tensor(x_raw)).numpy()
    xr = x_raw - x_raw.mean(axis=0)  # both fits without intercept: centre the raw features too
    before = gd_least_squares(xr, y, tol, max_iter)
    after = gd_least_squares(x_std, y, tol, max_iter)
    out.data["gradient"] = {"raw": {**before, "x": xr.tolist()}, "standardized": {**after, "x": x_std.tolist()},
                            "y": y.tolist(), "tolerance": tol, "max_iterations": max_iter}
    for name, res in (("raw", before), ("standardized", after)):
        out.rows += [{"analysis": "normalization-gd", "label": name, "iteration": i, "w1": w[0], "w2": w[1]}
                     for i, w in enumerate(res["path"])]
    # Fig. 7.10: correlated data, standardized and PCA-whitened by raynn's preprocessors.
    cov = np.asarray(spec["covariance"], dtype=float)
    mean = np.asarray(spec.get("mean", [0.0, 0.0]), dtype=float)
    data = rng.multivariate_normal(mean, cov, size=n)
    t = torch.tensor(data)
    variants = {"raw": data,
                "standardized": build_preprocessor("standardize").fit_transform(t).numpy(),
                "PCA-whitened": build_preprocessor({"name": "pca_whiten", "eps": 0.0}).fit_transform(t).numpy()}
    stats = {}
    for name, arr in variants.items():
        c = np.cov(arr, rowvar=False, bias=True)
        stats[name] = {"mean": arr.mean(axis=0).tolist(), "cov": c.tolist(),
                       "corr": float(c[0, 1] / math.sqrt(c[0, 0] * c[1, 1]))}
        out.rows += [{"analysis": "normalization-data", "label": name, "x1": float(p[0]), "x2": float(p[1])}
                     for p in arr[:200]]
    out.data["whitening"] = {"points": {k: v.tolist() for k, v in variants.items()}, "stats": stats}
    return out

