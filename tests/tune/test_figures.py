"""The figures of a tuning run (:mod:`raynn.tune.figures`): the pure helpers that decide what is drawn, the y
axis rule, and that every plot writes a PNG whatever the data and the metric's name. No Ray."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from raynn.hpo.ledger import BracketLedger, Ledger, RoundLedger
from raynn.tune.figures import (
    _plain,
    _scale_y,
    ledger_rungs,
    plot_best_vs_spent,
    plot_curves,
    plot_rungs,
    rung_path,
    rung_reached,
)


def _rounds(*rs: int) -> tuple[RoundLedger, ...]:
    return tuple(RoundLedger(i, r, None, 0, 0, 0, False) for i, r in enumerate(rs))


def test_ledger_rungs_of_every_scheduler() -> None:
    hyperband = Ledger(12, 0, (BracketLedger(0, 1, 6, 0, False, _rounds(1, 3)),
                               BracketLedger(0, 0, 6, 0, False, _rounds(3))))
    asha = Ledger(None, 0, (BracketLedger(0, 0, None, 0, False, _rounds(1, 3, 9)),))
    assert ledger_rungs(hyperband) == [1, 3]
    assert ledger_rungs(asha) == [1, 3, 9]
    assert ledger_rungs(Ledger(None, 6, (), "FIFOScheduler")) == []


@pytest.mark.parametrize(
    ("curve", "rungs", "reached", "path"),
    [
        ([(1, 0.9)], [1, 3], 1, [(1, 0.9)]),  # stopped at rung 1
        ([(1, 0.5), (2, 0.4), (3, 0.3)], [1, 3], 3, [(1, 0.5), (3, 0.3)]),  # promoted 1 -> 3
        ([(1, 0.5), (2, 0.4)], [1, 3], 1, [(1, 0.5)]),  # failed between rungs: reached 1
        ([(1, 0.5), (2, 0.4)], [3, 9], 0, []),  # below the first rung
        ([(1, 0.5), (2, 0.4)], [], 2, [(1, 0.5), (2, 0.4)]),  # FIFO: every epoch
    ],
)
def test_rung_reached_and_rung_path(curve: list[tuple[int, float]], rungs: list[int], reached: int,
                                    path: list[tuple[int, float]]) -> None:
    assert rung_reached(curve, rungs) == reached
    assert rung_path(curve, rungs) == path


def test_ledger_rungs_of_a_summary_reads_missing_parts_as_empty_and_casts_r() -> None:
    assert ledger_rungs(Ledger.from_json({})) == []
    assert ledger_rungs(Ledger.from_json({"brackets": None})) == []
    ledger = {"brackets": [{"rounds": None}, {"rounds": [{"r": 9.0}, {"r": "3"}]}]}
    assert ledger_rungs(Ledger.from_json(ledger)) == [3, 9]


def test_rung_helpers_take_epochs_as_numbers_and_rungs_in_any_order() -> None:
    # summary.json may hold epochs as floats; the ledger's rungs need not be sorted.
    curve = [(1.0, 0.5), (2.0, 0.4), (3.0, 0.3), (4.0, 0.2)]
    assert rung_reached(curve, [9, 3, 1]) == 3
    assert rung_path(curve, [9, 3, 1]) == [(1, 0.5), (3, 0.3)]
    assert rung_reached(curve, []) == 4


def test_plain_escapes_every_dollar_and_nothing_else() -> None:
    assert _plain("val_loss") == "val_loss"
    assert _plain("$a$ b $") == r"\$a\$ b \$"
    assert _plain(3) == "3"  # type: ignore[arg-type]


def _axes() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plt.close(fig)
    return ax


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([0.2, 0.5, 1.9], "linear"),  # less than a decade
        ([0.1, 1.0], "log"),  # exactly a decade
        ([0.02, 0.5, 3.0, math.inf, math.nan], "log"),  # the non-finite values are left out
        ([0.0, 1.0, 100.0], "linear"),  # a zero has no logarithm
        ([-1.0, 100.0], "linear"),
        ([], "linear"),
    ],
)
def test_the_y_axis_goes_log_when_positive_values_span_a_decade(values: list[float], scale: str) -> None:
    ax = _axes()
    _scale_y(ax, values)
    assert ax.get_yscale() == scale


def test_log_axis_labels_minor_ticks_at_two_and_five_only() -> None:
    ax = _axes()
    _scale_y(ax, [0.01, 1.0])
    minor = ax.yaxis.get_minor_formatter()
    assert [minor(v, 0) for v in (0.02, 0.03, 0.05, 0.2, 0.7, 5.0)] == ["0.02", "", "0.05", "0.2", "", "5"]
    assert ax.yaxis.get_major_formatter()(0.1, 0) == "0.1"


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_plot_writes_a_png_even_for_a_metric_name_matplotlib_would_read_as_math(tmp_path: Path) -> None:
    metric = r"loss $\frac{$"  # unescaped, matplotlib's mathtext fails on it when the figure is drawn
    curves = {"a": [(1, 0.9), (2, 0.5), (3, 0.2)], "b": [(1, 1.2)], "empty": []}
    plot_curves(curves, metric, tmp_path / "curves.png", best_trial="a", rungs=[1, 3])
    plot_rungs(curves, metric, tmp_path / "rungs.png", best_trial="a", rungs=[1, 3], trial_rungs={"b": [1]})
    best: list[Any] = [(1, 1.2), (2, None), (3, math.nan), (4, 0.2)]  # no best yet, then a diverged trial
    plot_best_vs_spent(best, metric, tmp_path / "best.png", budget=9)
    assert all(_is_png(tmp_path / name) for name in ("curves.png", "rungs.png", "best.png"))


def test_plots_of_nothing_still_write_a_png(tmp_path: Path) -> None:
    # A run whose trials all failed before reporting: the report still shows (empty) figures.
    plot_curves({}, "val_loss", tmp_path / "curves.png")
    plot_rungs({"a": []}, "val_loss", tmp_path / "rungs.png")
    plot_best_vs_spent([], "val_loss", tmp_path / "best.png")
    assert all(_is_png(tmp_path / name) for name in ("curves.png", "rungs.png", "best.png"))
