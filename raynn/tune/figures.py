"""The figures of a tuning run (learning curves, rungs, best against spent), shared by the outputs and
``raynn report``: plain data in, one PNG out (matplotlib Agg); the helpers that decide what is drawn
(:func:`ledger_rungs`, :func:`rung_reached`, :func:`rung_path`) are tested without drawing.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Any, Mapping, Sequence

from raynn.hpo.ledger import Ledger

__all__ = ["ledger_rungs", "rung_reached", "rung_path", "plot_curves", "plot_rungs", "plot_best_vs_spent"]

Curve = Sequence[Sequence[float]]  # [(epoch, value), ...], as TuneResult.curves or summary.json hold it


def _plain(text: str) -> str:
    """A user's name as literal text: matplotlib reads ``$...$`` as math and fails on what it cannot parse."""
    return str(text).replace("$", r"\$")


def ledger_rungs(ledger: Ledger) -> list[int]:
    """The resource levels ``r`` of every round of every bracket in a scheduler's ledger (FIFO: none)."""
    return sorted({int(r.r) for bracket in ledger.brackets for r in bracket.rounds})


def rung_reached(curve: Curve, rungs: Sequence[int]) -> int:
    """The highest rung at or below the trial's furthest epoch (no rungs: that epoch; below them all: 0)."""
    furthest = max(int(e) for e, _ in curve)
    if not rungs:
        return furthest
    return max((r for r in rungs if r <= furthest), default=0)


def rung_path(curve: Curve, rungs: Sequence[int]) -> list[tuple[int, float]]:
    """The trial's value at each rung it reached, in order (with no rungs: at every epoch it reported)."""
    values = {int(e): float(v) for e, v in curve}
    levels = sorted(rungs) if rungs else sorted(values)
    return [(r, values[r]) for r in levels if r in values]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scale_y(ax: Any, values: Sequence[float]) -> None:
    """A log y axis when the values are positive and span a decade: one bad trial must not flatten all."""
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) >= 10:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # minor ticks labelled at 2 and 5 times a power of ten only, so the labels never overlap
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""))


def _save(fig: Any, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def plot_curves(curves: Mapping[str, Curve], metric: str, path: str | Path, *, best_trial: str | None = None,
                rungs: Sequence[int] = ()) -> None:
    """Every trial's learning curve, coloured by the rung it reached; the best trial drawn thick.

    Args:
        curves: ``{trial_id: [(epoch, value), ...]}``.
        metric: The metric's name, for the y axis.
        path: The PNG to write.
        best_trial: The trial to draw thick.
        rungs: The scheduler's rungs (:func:`ledger_rungs`); with none, colours follow the furthest epoch.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curves = {t: c for t, c in curves.items() if c}
    reached = {t: rung_reached(c, rungs) for t, c in curves.items()}
    levels = sorted(set(reached.values())) or [1]
    # viridis without its pale yellow end, which vanishes on white
    colours = {r: plt.get_cmap("viridis")(0.85 * i / max(1, len(levels) - 1)) for i, r in enumerate(levels)}
    for trial_id, curve in curves.items():
        ax.plot([e for e, _ in curve], [v for _, v in curve], color=colours[reached[trial_id]],
                lw=2.6 if trial_id == best_trial else 0.9, alpha=0.9, marker="." if len(curve) < 30 else None)
    for r, colour in colours.items():
        ax.plot([], [], color=colour, label=f"reached r={r}" if rungs else f"reached epoch {r}")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    _scale_y(ax, [float(v) for c in curves.values() for _, v in c])
    ax.set_xlabel("epoch (resource)")
    ax.set_ylabel(_plain(metric))
    ax.set_title(f"learning curves of {len(curves)} trials by rung reached (thick: best)")
    if curves:
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_rungs(curves: Mapping[str, Curve], metric: str, path: str | Path, *, best_trial: str | None = None,
               rungs: Sequence[int] = (), trial_rungs: Mapping[str, Sequence[int]] | None = None) -> None:
    """The rung diagram: each trial's value at each rung it reached; arrows are promotions ``r_i -> r_(i+1)``.

    A trial whose path ends below the top rung was stopped there and ends in a cross; one that reached the top
    rung ends in a dot. The best trial is red.

    Args: as :func:`plot_curves`, and ``trial_rungs``: each trial's own rungs, those of its bracket (a
        HyperBand bracket s < s_max starts above the first rung); a trial not in it is drawn at ``rungs``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    own = trial_rungs or {}
    paths = {t: rung_path(c, own.get(t) or rungs) for t, c in curves.items() if c}
    paths = {t: p for t, p in paths.items() if p}
    top = max(rungs) if rungs else max((p[-1][0] for p in paths.values()), default=1)
    order = sorted(paths, key=lambda t: t == best_trial)  # the best drawn last, on top
    for trial_id in order:
        points = paths[trial_id]
        best = trial_id == best_trial
        colour = "tab:red" if best else ("tab:blue" if points[-1][0] == top else "0.45")
        for (r0, v0), (r1, v1) in pairwise(points):
            ax.annotate("", xy=(r1, v1), xytext=(r0, v0),
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 2.0 if best else 0.8,
                                    "shrinkA": 4, "shrinkB": 4, "mutation_scale": 10})
        xs, ys = [r for r, _ in points], [v for _, v in points]
        ax.scatter(xs, ys, s=36 if best else 18, color=colour, zorder=3)
        stopped = points[-1][0] < top
        ax.scatter(xs[-1:], ys[-1:], marker="x" if stopped else "o", s=70 if stopped else 40, color=colour,
                   zorder=4, linewidths=1.6)
    ticks = sorted(rungs) if rungs else sorted({r for p in paths.values() for r, _ in p})
    if len(ticks) > 1 and ticks[0] > 0 and ticks[-1] / ticks[0] >= 3:  # geometric rungs: equal spacing
        ax.set_xscale("log")
        ax.set_xlim(ticks[0] / 1.3, ticks[-1] * 1.3)
    elif ticks:
        ax.set_xlim(ticks[0] - 0.5, ticks[-1] + 0.5)
    if ticks:
        ax.set_xticks(ticks, [str(r) for r in ticks])
        ax.minorticks_off()
    ax.scatter([], [], marker="x", color="0.45", label="stopped below the top rung")
    ax.scatter([], [], marker="o", color="tab:blue", label="reached the top rung")
    ax.scatter([], [], marker="o", color="tab:red", label="best trial")
    ax.legend(fontsize=8)
    _scale_y(ax, [v for p in paths.values() for _, v in p])
    ax.set_xlabel("rung r (epochs)")
    ax.set_ylabel(f"{_plain(metric)} at the rung")
    ax.set_title(f"rung diagram of {len(paths)} trials (arrows: promotions)")
    _save(fig, path)


def plot_best_vs_spent(points: Sequence[tuple[float, float]], metric: str, path: str | Path, *,
                       budget: float | None = None) -> None:
    """The best value seen so far against the cumulative resource spent (the search's anytime performance).

    Args:
        points: ``(spent, best so far)`` after each result, in order.
        metric: The metric's name.
        path: The PNG to write.
        budget: The planned budget, drawn as a dashed line when given.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    points = [(s, b) for s, b in points if b is not None and math.isfinite(b)]
    if points:
        ax.step([s for s, _ in points], [b for _, b in points], where="post", color="tab:green", lw=1.8)
        ax.scatter([points[-1][0]], [points[-1][1]], color="tab:green", zorder=3)
        _scale_y(ax, [b for _, b in points])
    if budget:
        ax.axvline(budget, color="0.4", ls="--", lw=1, label=f"budget {budget:g}")
        ax.legend(fontsize=8)
    ax.set_xlabel("cumulative resource spent (epochs)")
    ax.set_ylabel(f"best {_plain(metric)} so far")
    ax.set_title("best value so far against resource spent")
    _save(fig, path)
