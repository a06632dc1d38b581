"""``raynn.study(name)`` (:mod:`raynn.study.api`): its input checks, the reproducing command, the captions' parts,
and one analysis-only study end to end, which needs no Ray (the studies with runs: ``test_studies_ray.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raynn.errors import ConfigError
from raynn.study import load_study, studies_dir, study
from raynn.study.api import StudyReport, _data_name, _seeds, command_line

QUICK_MOMENTUM = {"analysis": {"iterations": 20}}


def test_command_line_names_a_shipped_study_and_only_the_options_given() -> None:
    spec = load_study("momentum")
    assert command_line(spec, None, None, None) == "raynn study momentum"
    assert command_line(spec, 2, 0.5, "127.0.0.1:6379") == (
        "raynn study momentum --workers 2 --gpus-per-worker 0.5 --address 127.0.0.1:6379")
    assert command_line(spec, None, 1.0, None) == "raynn study momentum --gpus-per-worker 1"
    assert command_line(load_study("momentum", full=True), None, None, None) == "raynn study momentum --full"


def test_command_line_of_a_study_file_elsewhere_is_its_path(tmp_path: Path) -> None:
    copy = tmp_path / "my-momentum.yaml"
    shutil.copy(studies_dir() / "momentum.yaml", copy)
    assert command_line(load_study(copy), 1, None, None) == f"raynn study {copy} --workers 1"


def test_seeds_caption() -> None:
    assert _seeds([]) == "deterministic (no random numbers)"
    assert _seeds([0]) == "seeds 0"
    assert _seeds([0, 1, 2]) == "seeds 0, 1, 2"


def test_data_caption_from_the_first_run_or_synthetic() -> None:
    assert _data_name(load_study("momentum")) == "synthetic data (no training runs)"
    spec = load_study("batch-size", patch={"runs": {"base": {"data": {"subset": 300, "val_fraction": 0.25}}}})
    assert _data_name(spec) == "digits, subset 300, 25% held out for validation"


def test_an_unknown_study_is_a_config_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"study: must be one of .*momentum.*'nosuch'"):
        study("nosuch", out=tmp_path / "out", progress=lambda _m: None)
    assert not (tmp_path / "out").exists()


def test_a_bad_patch_is_a_config_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^study\.analysis: unknown key 'iteration' for analysis 'momentum'"):
        study("momentum", patch={"analysis": {"iteration": 20}}, out=tmp_path / "out", progress=lambda _m: None)
    with pytest.raises(ConfigError, match=r"iterations >= 1"):
        study("momentum", patch={"analysis": {"iterations": 0}}, out=tmp_path / "out", progress=lambda _m: None)
    assert not (tmp_path / "out").exists()


def test_an_analysis_study_runs_without_ray_into_studies_out(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    report = study("momentum", patch=QUICK_MOMENTUM, progress=lines.append)
    assert isinstance(report, StudyReport)
    assert report.out == Path("studies-out") / "momentum"  # the default folder, under the current directory
    assert report.html == report.out / "index.html" and report.html.is_file()
    assert sorted(p.name for p in report.out.iterdir()) == ["configs", "index.html", "paths.png", "results.csv",
                                                            "summary.md"]
    claims = [c.id for c in report.results.study.claims]
    assert sorted(report.outcomes) == sorted(claims)
    assert lines[0] == f"raynn study: momentum: 0 run(s) and an analysis; output in {report.out}"
    assert [line.split(":")[1].strip() for line in lines[1:]] == ["claim " + c for c in claims]
    assert "raynn study momentum" in (report.out / "summary.md").read_text()  # the caption's command
    assert report.results.runs == []
    import sys

    if "ray" in sys.modules:
        import ray

        assert not ray.is_initialized()
