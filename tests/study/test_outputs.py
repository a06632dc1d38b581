"""raynn.study.outputs: results.csv, the run configs, summary.md and index.html of a finished study."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from raynn.study.claims import Outcome
from raynn.study.outputs import result_rows, write_configs, write_html, write_results_csv, write_summary
from raynn.study.results import RunResult, StudyResults
from raynn.study.spec import ClaimSpec, RunSpec, Study


def _results() -> StudyResults:
    phase = {"name": "x", "storage": "/runs", "seed": 0, "optimizer": {"lr": 0.1}}
    runs = []
    for seed, losses in ((0, [1.0, 0.5]), (1, [0.8, 0.3])):
        spec = RunSpec(f"lr-{seed}", "lr 0.1", seed, {"optimizer.lr": 0.1}, (phase, {**phase, "seed": 9}))
        history = [{"epoch": i + 1, "train_loss": v, "val_loss": v, "val_accuracy": 1 - v} for i, v in enumerate(losses)]
        runs.append(RunResult(spec, history, [2.0, 1.0] if seed == 0 else [], seconds=2.0))
    claim = ClaimSpec("c1", "the loss goes <down>", "loss_decreases")
    study = Study("demo", Path("demo.yaml"), "Demo", "4.4", "A demo.", False, (claim,), tuple(r.spec for r in runs),
                  None, (), {})
    return StudyResults(study, runs)


def test_rows_are_one_per_epoch_and_iteration(tmp_path: Path) -> None:
    res = _results()
    rows = result_rows(res)
    assert [(r["run"], r["row"]) for r in rows] == [("lr-0", "epoch"), ("lr-0", "epoch"), ("lr-0", "iteration"),
                                                   ("lr-0", "iteration"), ("lr-1", "epoch"), ("lr-1", "epoch")]
    assert rows[0]["param:optimizer.lr"] == 0.1 and rows[3]["iteration"] == 2 and rows[3]["train_loss"] == 1.0
    write_results_csv(res, tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 6 and table[2]["epoch"] == "" and table[5]["val_loss"] == "0.3"


def test_configs_are_ready_for_raynn_train_one_file_per_phase(tmp_path: Path) -> None:
    write_configs(_results(), tmp_path / "configs")
    files = sorted(p.name for p in (tmp_path / "configs").iterdir())
    assert files == ["lr-0.phase1.yaml", "lr-0.phase2.yaml", "lr-1.phase1.yaml", "lr-1.phase2.yaml"]
    second = yaml.safe_load((tmp_path / "configs" / "lr-0.phase2.yaml").read_text())
    assert second == {"seed": 9, "optimizer": {"lr": 0.1}}  # name and storage belong to the study's run


def test_summary_and_html_state_each_claim_and_the_runs(tmp_path: Path) -> None:
    res = _results()
    outcomes = {"c1": Outcome(True, "0.65 -> 0.4")}
    write_summary(res, outcomes, {}, "raynn study demo", tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text()
    assert "## Claims: 1 of 1 held" in text and "| c1 | the loss goes <down> | yes | 0.65 -> 0.4 |" in text
    assert "| lr 0.1 | 0, 1 | 2 | 0.4 ± 0.1 | 0.4 ± 0.1 | 0.6 ± 0.1 | 2.0 |" in text
    page = write_html(res, outcomes, {}, "raynn study demo", tmp_path).read_text()
    assert "the loss goes &lt;down&gt;" in page and "<td class='ok'>held</td>" in page
