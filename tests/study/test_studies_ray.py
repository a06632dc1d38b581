"""Every study end to end on the shared Ray session, in its smallest setting; the cheap claims checked.

The smallest settings shrink a study (one seed, two epochs, a narrow network) but keep every variant and
figure, so the whole path runs: file -> checked configs -> Ray tasks or Ray Train -> claims -> files.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml

from raynn.study import load_study, study, study_registry

pytestmark = [pytest.mark.ray]

TWO_EPOCHS = {"runs": {"seeds": [0], "base": {"train": {"epochs": 2}}}}
SMALLEST: dict[str, dict[str, Any]] = {
    "batch-size": TWO_EPOCHS,
    "lr-schedules": TWO_EPOCHS,
    "cyclic-lr": TWO_EPOCHS,
    "optimizers": TWO_EPOCHS,
    "normalization": {"runs": {"seeds": [0], "base": {"train": {"epochs": 2}, "model": {"params": {"hidden": [16, 16]}}}},
                      "analysis": {"n": 100}},
    "regularization": {"runs": {"seeds": [0], "base": {"train": {"epochs": 2}}}},
    "initialization": {"analysis": {"width": 16, "depth": 4, "batch": 32, "seeds": [0]}},
    "momentum": {"analysis": {"iterations": 20}},
    # One data-parallel run on 2 Ray Train workers (a worker group costs ~12 s to start), one epoch; without
    # the k = 1 reference the claims are "not measured" and the figures draw what there is.
    "large-batch": {"runs": {"base": {"train": {"epochs": 1}},
                             "generate": {"k": [2], "combos": [["linear", "gradual"]], "decay_epochs": [],
                                          "decay_factors": []}}},
}


def test_every_study_has_a_smallest_setting() -> None:
    assert set(SMALLEST) == set(study_registry().names())


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_study_runs_end_to_end_and_writes_its_outputs(name: str, ray_session: None, tmp_path: Path) -> None:
    report = study(name, patch=SMALLEST[name], out=tmp_path, progress=lambda _m: None)
    spec = report.results.study
    for fig in spec.figures:
        png = tmp_path / f"{fig.id}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "index.html").read_text()
    assert html.count("data:image/png;base64,") == len(spec.figures)
    summary = (tmp_path / "summary.md").read_text()
    for claim in spec.claims:
        assert claim.id in summary
        assert report.outcomes[claim.id].verdict in ("held", "did not hold", "not measured")
        assert "could not be checked" not in report.outcomes[claim.id].measured
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    epochs = [r for r in rows if r["row"] == "epoch"]
    assert len(epochs) == sum(len(r.history) for r in report.results.runs)
    for run in report.results.runs:
        assert len(run.history) == run.spec.config["train"]["epochs"]  # 2 epochs: too few for early stopping
        cfg = yaml.safe_load(next((tmp_path / "configs").glob(f"{run.spec.run_id}*.yaml")).read_text())
        assert cfg["seed"] == run.spec.seed
    if spec.analysis is not None:
        assert any(r["row"] == "analysis" for r in rows)
    if name == "large-batch":  # data-parallel on 2 Ray Train workers
        for run in report.results.runs:
            assert run.spec.workers == 2
            # 1,438 examples over 2 ranks: ceil(719 / per-worker batch) iterations; one process takes twice as many.
            per_worker = run.spec.config["train"]["batch_size"]
            assert run.history[-1]["step"] == -(-719 // per_worker)
            assert run.history[-1]["global_batch"] == 2 * per_worker == 16 * run.spec.params["k"]


def test_batch_size_orderings_over_seeds(ray_session: None, tmp_path: Path) -> None:
    """Fig. 7.3 at the quick setting as shipped: 3 seeds, orderings of the means over seeds."""
    report = study("batch-size", out=tmp_path, progress=lambda _m: None)
    assert report.outcomes["per-iteration"].held, report.outcomes["per-iteration"].measured
    assert report.outcomes["per-epoch"].held, report.outcomes["per-epoch"].measured


def test_large_batch_orderings_at_the_largest_k(ray_session: None, tmp_path: Path) -> None:
    """At k = 32 on digits, 3 seeds, in-process runs (--workers 1: the same arithmetic without the 12 s worker
    group start): keeping the reference rate loses to the linear rule with gradual warmup, and a constant
    warmup is no better than the gradual one (tolerance 0.5 points, as in the study file)."""
    patch = {"runs": {"seeds": [0, 1, 2], "generate": {
        "k": [1, 32], "combos": [["none", "none"], ["linear", "constant"], ["linear", "gradual"]]}}}
    assert len(load_study("large-batch", workers=1, patch=patch).runs) == 12
    report = study("large-batch", workers=1, patch=patch, out=tmp_path, progress=lambda _m: None)
    for run in report.results.runs:  # the same global batch on one worker: k * 16 examples per iteration
        assert run.spec.workers == 1 and run.history[-1]["global_batch"] == 16 * run.spec.params["k"]
    assert report.outcomes["scale-the-rate"].held, report.outcomes["scale-the-rate"].measured
    assert report.outcomes["constant-vs-gradual"].held, report.outcomes["constant-vs-gradual"].measured
