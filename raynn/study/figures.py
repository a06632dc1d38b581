"""The figures of the studies: each a function of the results, drawn with matplotlib's Agg backend.

Every figure carries, above the plot, the chapter's claim and the verdict with its numbers (so the claim
stands beside what was measured), and below it a caption with the data, the seeds and the command that made
it. Axes are labelled with their units. Nothing here imports Ray.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raynn.registry import Registry
from raynn.study.claims import Outcome, large_batch_table
from raynn.study.results import StudyResults
from raynn.study.spec import FigureSpec

__all__ = ["AXIS_LABELS", "FIGURES", "draw_figure", "draws_analysis"]

Draw = Callable[[StudyResults, FigureSpec, Any], None]
FIGURES: Registry[Draw] = Registry("figure kind")

AXIS_LABELS = {
    "iteration": "iteration k (mini-batch updates)",
    "epoch": "epoch (passes over the training set)",
    "train_loss": "training loss (cross-entropy, nats)",
    "val_loss": "validation loss (cross-entropy, nats)",
    "val_accuracy": "validation accuracy (fraction)",
    "val_error": "validation error (%)",
    "lr": "learning rate α_k",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _claim_lines(results: StudyResults, spec: FigureSpec, outcomes: Mapping[str, Outcome], chars: int) -> list[str]:
    lines = []
    claims = {c.id: c for c in results.study.claims}
    for cid in spec.claims:
        claim, outcome = claims[cid], outcomes.get(cid)
        lines += textwrap.wrap(f"Chapter ({results.study.section}): {claim.text}", chars)
        if outcome is not None:
            verdict = outcome.verdict.upper()
            lines += textwrap.wrap(f"Measured: {verdict}. {outcome.measured}", chars, subsequent_indent="    ")
    return lines


def draw_figure(results: StudyResults, spec: FigureSpec, outcomes: Mapping[str, Outcome], caption: str,
                path: str | Path) -> None:
    """Draw figure ``spec`` into ``path`` (PNG) with the claims above and ``caption`` below."""
    plt = _pyplot()
    draw = FIGURES.get(spec.kind)
    ncols = draw.ncols(results, spec) if callable(draw.ncols) else int(draw.ncols)  # type: ignore[attr-defined]
    width = float(getattr(draw, "width", max(8.0, 4.6 * ncols)))
    chars = int(width / 0.075)  # 8-point monospace is 0.067 inch a character; keep a margin
    top = _claim_lines(results, spec, outcomes, chars)
    bottom = textwrap.wrap(caption, int(chars * 1.15))
    line = 0.14  # inches per line of 8-point text (1.2 x 8 points)
    plot_h = 4.0
    height = plot_h + line * (len(top) + len(bottom) + 2) + 0.4
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    fig.suptitle(spec.title, y=1 - 0.08 / height, fontsize=11, va="top")
    fig.text(0.01, 1 - (0.35) / height, "\n".join(top), ha="left", va="top", fontsize=8, family="monospace",
             color="#333333")
    fig.text(0.01, 0.05 / height, "\n".join(bottom), ha="left", va="bottom", fontsize=8, color="#555555")
    draw(results, spec, axes[0])
    fig.subplots_adjust(top=1 - (0.55 + line * len(top)) / height, bottom=(0.55 + line * len(bottom)) / height,
                        left=0.8 / width, right=1 - (float(getattr(draw, "right", 0.2)) / width), wspace=0.28)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _analysis(results: StudyResults) -> dict[str, Any]:
    if results.analysis is None:
        raise ValueError("this figure draws the study's analysis, and the study has none")
    return results.analysis.data


def _cols(n: int, analysis: bool = False) -> Callable[[Any], Any]:
    def deco(fn: Any) -> Any:
        fn.ncols = n
        fn.draws_analysis = analysis  # its caption describes the analysis, not the training runs
        return fn

    return deco


def draws_analysis(kind: str) -> bool:
    """Whether figure ``kind`` draws the study's analysis rather than its training runs."""
    return bool(getattr(FIGURES.get(kind), "draws_analysis", False))


def _legend(ax: Any) -> None:
    ax.legend(fontsize=7, loc="best", framealpha=0.8)


def _log_if_wide(ax: Any, values: Sequence[float]) -> None:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if finite and max(finite) / min(finite) > 20:
        ax.set_yscale("log")


# ----------------------------------------------------------------------------------------------------------------
# Training curves.


def _panels(spec: FigureSpec) -> list[dict[str, Any]]:
    return list(spec.params.get("panels") or [dict(spec.params)])


def _curves_cols(results: StudyResults, spec: FigureSpec) -> int:
    return len(_panels(spec))


def _curves(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    for ax, panel in zip(axes, _panels(spec)):
        x, metric = panel.get("x", "epoch"), panel.get("y", "train_loss")
        labels = panel.get("labels") or results.labels()
        everything, lengths = [], []
        for i, label in enumerate(labels):
            if x == "iteration":
                xs, mean, sd = results.iteration_curve(label, int(panel.get("window", 1)))
                metric = "train_loss"
            else:
                xs, mean, sd = results.epoch_curve(label, metric)
            color = f"C{i % 10}"
            lengths.append(len(xs))
            ax.plot(xs, mean, color=color, label=label, lw=1.2)
            if len(results.by_label(label)) > 1:
                ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.15, lw=0)
            everything += list(mean)
        if panel.get("log_y", True):
            _log_if_wide(ax, everything)
        if panel.get("log_x", x == "iteration" and max(lengths) > 10 * min(lengths)):
            ax.set_xscale("log")  # runs of 80 and of 5,000 iterations: both visible
        ax.set_xlabel(AXIS_LABELS.get(x, x))
        ylabel = AXIS_LABELS.get(metric, metric)
        if x == "iteration":
            ylabel = f"mini-batch training loss (nats, moving mean of {panel.get('window', 1)})"
        ax.set_ylabel(ylabel)
        if panel.get("title"):
            ax.set_title(panel["title"], fontsize=9)
        ax.grid(alpha=0.3)
        _legend(ax)


_curves.ncols = _curves_cols  # type: ignore[attr-defined]
FIGURES.add("curves", _curves, "training curves (mean ± sd over seeds) against iterations or epochs")


# ----------------------------------------------------------------------------------------------------------------
# Schedules.


def _symbols(spec: Mapping[str, Any]) -> str:
    names = {"alpha0": "α0", "beta": "β", "max_iter": "max_iter", "boundaries": "T_i", "factors": "β_i",
             "alpha_min": "α_min", "alpha_max": "α_max", "delta_t": "ΔT", "t0": "T_1", "kappa": "κ",
             "warmup_iters": "warm_up_iter", "decay": "decay", "iters_per_epoch": "iters/epoch"}
    parts = []
    for key, value in spec.items():
        if key in ("name", "after"):
            continue
        parts.append(f"{names.get(key, key)}={value if not isinstance(value, float) else f'{value:g}'}")
    if spec.get("after"):
        parts.append(f"then {spec['after'].get('name')}")
    return ", ".join(parts)


def _schedule_cols(results: StudyResults, spec: FigureSpec) -> int:
    return len(_panels(spec))


def _schedules(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    curves = _analysis(results)["curves"]
    for ax, panel in zip(axes, _panels(spec)):
        for label in panel.get("labels") or list(curves):
            c = curves[label]
            ax.plot(c["k"], c["lr"], lw=1.3, label=f"{label}: {_symbols(c['spec'])}")
        ax.set_xlabel("iteration k")
        ax.set_ylabel(AXIS_LABELS["lr"])
        if panel.get("title"):
            ax.set_title(panel["title"], fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


_schedules.ncols = _schedule_cols  # type: ignore[attr-defined]
_schedules.draws_analysis = True  # type: ignore[attr-defined]
_schedules.width = 11.5  # type: ignore[attr-defined]
_schedules.right = 4.3  # type: ignore[attr-defined]  # inches kept for the legend of formulas
FIGURES.add("schedules", _schedules, "learning rate alpha_k of each schedule against k, with the chapter's symbols")


# ----------------------------------------------------------------------------------------------------------------
# Momentum (Fig. 7.6).


@_cols(2, analysis=True)
def _momentum(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    d = _analysis(results)
    a1, a2 = d["curvatures"]
    paths = d["paths"]
    pts = np.array([p for m in paths.values() for p in m["path"]])
    span = max(np.abs(pts[:, 0]).max(), 1e-9) * 1.1, max(np.abs(pts[:, 1]).max(), 1e-9) * 1.1
    g1, g2 = np.meshgrid(np.linspace(-span[0], span[0], 200), np.linspace(-span[1], span[1], 200))
    f = 0.5 * (a1 * g1**2 + a2 * g2**2)
    ax = axes[0]
    ax.contour(g1, g2, f, levels=np.geomspace(max(f.max() * 1e-4, 1e-9), f.max(), 12), colors="#bbbbbb", linewidths=0.6)
    names = {"sgd": "gradient descent", "momentum": f"momentum (ρ={d['momentum']:g})", "nesterov": f"Nesterov (ρ={d['momentum']:g})"}
    for i, (method, m) in enumerate(paths.items()):
        p = np.array(m["path"])
        ax.plot(p[:, 0], p[:, 1], "-o", ms=2, lw=0.9, color=f"C{i}", label=names.get(method, method))
    ax.plot([0], [0], "k*", ms=8)
    ax.set_aspect("equal", adjustable="datalim")  # the true shape of the contours: a1 : a2 curvature
    ax.set_xlabel(f"θ1 (flat direction, curvature {a1:g})")
    ax.set_ylabel(f"θ2 (steep direction, curvature {a2:g})")
    ax.set_title(f"paths over the contours of f(θ) = ½(a1 θ1² + a2 θ2²), α={d['lr']:g}", fontsize=9)
    _legend(ax)
    ax = axes[1]
    for i, (method, m) in enumerate(paths.items()):
        ax.semilogy(np.maximum(m["f"], 1e-300), color=f"C{i}", label=names.get(method, method))
    ax.axhline(d["tolerance"] * paths[next(iter(paths))]["f"][0], color="k", ls=":", lw=0.8, label="tolerance")
    ax.set_xlabel(AXIS_LABELS["iteration"].replace("mini-batch ", ""))
    ax.set_ylabel("f(θ_k) (objective value)")
    ax.grid(alpha=0.3)
    _legend(ax)


FIGURES.add("momentum_paths", _momentum, "heavy ball and Nesterov paths over the quadratic's contours (Fig. 7.6)")


# ----------------------------------------------------------------------------------------------------------------
# Initialization (Table 7.2).


@_cols(2, analysis=True)
def _init(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    d = _analysis(results)
    for ax, key, ylabel in ((axes[0], "activation_var", "Var(a^(l)) of the activations"),
                            (axes[1], "grad_var", "Var(∂L/∂z^(l)) × N of the gradients")):
        for i, (label, p) in enumerate(d["pairings"].items()):
            values = np.maximum(np.asarray(p[key]), 1e-30)
            ax.semilogy(np.arange(1, len(values) + 1), values, marker="o", ms=3, color=f"C{i}",
                        ls={"kept": "-", "lost": "--"}.get(p["expect"], ":"),
                        label=f"{label} (claim: {p['expect']})" if p["expect"] != "shown" else f"{label} (shown)")
        ax.set_xlabel(f"hidden layer l (width {d['width']})")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        _legend(ax)


FIGURES.add("init_variance", _init, "per-layer activation and gradient variance for each initializer (Table 7.2)")


# ----------------------------------------------------------------------------------------------------------------
# Normalization (Figs. 7.9, 7.10).


def _lsq_contours(ax: Any, x: np.ndarray, y: np.ndarray, path: np.ndarray, w_star: Sequence[float], title: str) -> None:
    pts = np.vstack([path, [w_star], [[0, 0]]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = (hi - lo) * 0.25 + 1e-9
    g1, g2 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 150), np.linspace(lo[1] - pad[1], hi[1] + pad[1], 150))
    w = np.stack([g1.ravel(), g2.ravel()])
    r = x @ w - y[:, None]
    loss = (r * r).mean(axis=0).reshape(g1.shape) / 2
    ax.contour(g1, g2, loss, levels=np.quantile(loss, np.linspace(0.01, 0.9, 12)), colors="#bbbbbb", linewidths=0.6)
    ax.plot(path[:, 0], path[:, 1], "-o", ms=2, lw=0.9, color="C3", label=f"gradient descent ({len(path) - 1} steps)")
    ax.plot(*w_star, "k*", ms=8, label="minimum w*")
    ax.set_xlabel("w1 (weight of feature 1)")
    ax.set_ylabel("w2 (weight of feature 2)")
    ax.set_title(title, fontsize=9)
    _legend(ax)


@_cols(2, analysis=True)
def _norm_gradient(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    g = _analysis(results)["gradient"]
    y = np.asarray(g["y"])
    for ax, key in zip(axes, ("raw", "standardized")):
        r = g[key]
        _lsq_contours(ax, np.asarray(r["x"]), y, np.asarray(r["path"]), r["w_star"],
                      f"{key} features: condition number {r['condition']:.3g}, step 1/λ_max")


FIGURES.add("norm_gradient", _norm_gradient, "loss contours and gradient steps before/after standardization (Fig. 7.9)")


@_cols(3, analysis=True)
def _whitening(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    w = _analysis(results)["whitening"]
    for ax, (name, pts) in zip(axes, w["points"].items()):
        p = np.asarray(pts)
        ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.5)
        st = w["stats"][name]
        ax.set_title(f"{name}: corr {st['corr']:.2f}, var ({st['cov'][0][0]:.2f}, {st['cov'][1][1]:.2f})", fontsize=9)
        ax.set_xlabel("feature 1 (data units)" if name == "raw" else "feature 1 (standard units)")
        ax.set_ylabel("feature 2 (data units)" if name == "raw" else "feature 2 (standard units)")
        ax.axhline(0, color="#999999", lw=0.5)
        ax.axvline(0, color="#999999", lw=0.5)
        ax.set_aspect("equal", adjustable="datalim")


FIGURES.add("whitening", _whitening, "raw, standardized and PCA-whitened data side by side (Fig. 7.10)")


# ----------------------------------------------------------------------------------------------------------------
# Large batches (Goyal et al. 2017).


@_cols(1)
def _large_batch_error(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    ax = axes[0]
    table = large_batch_table(results)
    refs = [v for (k, _, _), v in table.items() if k == 1]
    combos = sorted({(r, w) for (k, r, w) in table if k > 1})
    for i, (rule, warm) in enumerate(combos):
        ks = sorted(k for (k, r, w) in table if (r, w) == (rule, warm))
        vals = [table[(k, rule, warm)] for k in ks]
        if refs:
            ks, vals = [1, *ks], [refs[0], *vals]
        ax.errorbar(ks, [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals], marker="o", ms=3, capsize=2,
                    lw=1, color=f"C{i}", label=f"{rule} rule, warmup {warm}")
    if refs:
        ref = float(np.mean(refs[0]))
        ax.axhspan(ref - 0.5, ref + 0.5, color="#999999", alpha=0.2, label="k = 1 (reference) ± 0.5 points")
        ax.axhline(ref, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k = global batch / reference batch")
    ax.set_ylabel("validation error at the last epoch (%)")
    ax.grid(alpha=0.3)
    _legend(ax)


FIGURES.add("large_batch_error", _large_batch_error, "validation error against k for each rule and warmup (Goyal Table 1)")


@_cols(1)
def _goyal_fig2(results: StudyResults, spec: FigureSpec, axes: Any) -> None:
    ax = axes[0]
    table = large_batch_table(results)
    kmax = int(spec.params.get("k") or max(k for k, _, _ in table))
    warmups = spec.params.get("warmups", ["gradual"])
    metric = spec.params.get("y", "train_loss")
    shown = ["k=1 (reference)"] + [f"k={kmax}, linear, warmup {w}" for w in warmups]
    curves = [(i, label, *results.epoch_curve(label, metric)) for i, label in enumerate(shown)
              if label in results.labels()]
    # A diverging large batch (loss ~1e9) beside the reference (~1e-3): on a linear axis every other curve is 0.
    _log_if_wide(ax, [float(v) for *_, mean, _ in curves for v in mean])
    log = ax.get_yscale() == "log"
    for i, label, xs, mean, sd in curves:
        ax.plot(xs, mean, color=f"C{i}", label=label)
        # On a log axis a band reaching 0 or below has no lower edge: drawn only where mean - sd > 0.
        ax.fill_between(xs, mean - sd, mean + sd, where=(mean - sd > 0) if log else None, color=f"C{i}",
                        alpha=0.15, lw=0)
    ax.set_xlabel(AXIS_LABELS["epoch"])
    ax.set_ylabel(AXIS_LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    _legend(ax)


FIGURES.add("goyal_fig2", _goyal_fig2, "training curves of the reference and the largest batch overlaid (Goyal Fig. 2)")
