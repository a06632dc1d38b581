"""raynn.study.figures: each figure kind draws from a study's results into a PNG, claims above, caption below."""

from __future__ import annotations

from pathlib import Path

import pytest

from raynn.study.claims import Outcome
from raynn.study.figures import FIGURES, draw_figure, draws_analysis
from raynn.study.results import RunResult, StudyResults
from raynn.study.spec import ClaimSpec, FigureSpec, RunSpec, Study


def _results() -> StudyResults:
    runs = []
    for label, seed, losses in (("sgd", 0, [2.0, 1.0, 0.5]), ("sgd", 1, [2.2, 1.1, 0.6]), ("adam", 0, [1.0, 0.4, 0.2])):
        spec = RunSpec(f"{label}-{seed}", label, seed, {}, ({},))
        history = [{"epoch": i + 1, "train_loss": v, "val_loss": v} for i, v in enumerate(losses)]
        runs.append(RunResult(spec, history, [v for v in losses for _ in range(4)]))
    claim = ClaimSpec("fast", "adam is faster", "loss_decreases")
    study = Study("demo", Path("demo.yaml"), "Demo", "4.4", "", False, (claim,), tuple(r.spec for r in runs), None,
                  (), {})
    return StudyResults(study, runs)


def test_curves_draw_a_png_per_panel(tmp_path: Path) -> None:
    spec = FigureSpec("f1", "curves", "Loss", ("fast",),
                      {"panels": [{"x": "epoch", "y": "val_loss"}, {"x": "iteration", "window": 2}]})
    path = tmp_path / "f1.png"
    draw_figure(_results(), spec, {"fast": Outcome(True, "0.2 < 0.55")}, "Validation and mini-batch loss.", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert FIGURES.get("curves").ncols(_results(), spec) == 2  # type: ignore[attr-defined]


def test_only_analysis_kinds_draw_the_analysis() -> None:
    assert not draws_analysis("curves") and draws_analysis("momentum_paths")
    with pytest.raises(ValueError, match="unknown figure kind 'pie'"):
        draws_analysis("pie")
