"""raynn.code: the code section, the runtime_env it becomes (beside a job's own), and its fingerprint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from raynn.code import check_code, code_flags, digest, runtime_env, sys_path_entries
from raynn.config import load_config, merge_code
from raynn.errors import ConfigError


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "nets.py").write_text("X = 1\n")
    (root / "data.bin").write_bytes(b"\0" * 10)
    return root


def test_check_code_makes_paths_absolute_puts_them_on_the_path_and_names_bad_ones(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    code = check_code({"working_dir": str(project), "py_modules": [str(project / "pkg")], "excludes": ["*.bin"]})
    assert code == {"working_dir": str(project), "py_modules": [str(project / "pkg")], "excludes": ["*.bin"]}
    assert sys_path_entries(code) == [str(project)]
    assert str(project) in sys.path
    for bad, key in [({"working_dir": str(tmp_path / "nope")}, "code.working_dir"),
                     ({"py_modules": [str(tmp_path / "nope")]}, "code.py_modules.0"),
                     ({"py_modules": "pkg"}, "code.py_modules"), ({"workdir": "."}, "code.workdir"),
                     ([], "code")]:
        with pytest.raises(ConfigError) as info:
            check_code(bad)
        assert info.value.key == key and ("must" in info.value.rule or "is not a known key" in info.value.rule)


def test_runtime_env_leaves_what_the_job_sets_to_the_job(tmp_path: Path) -> None:
    code = {"working_dir": "/w", "py_modules": ["/m/pkg"], "excludes": ["big/"]}
    assert runtime_env(code) == {"working_dir": "/w", "py_modules": ["/m/pkg"], "excludes": ["big/"]}
    assert runtime_env(code, {"working_dir": "gcs://_ray_pkg_x.zip"}) == {"py_modules": ["/m/pkg"],
                                                                       "excludes": ["big/"]}
    assert runtime_env(code, {"working_dir": "a", "py_modules": ["b"]}) == {}
    assert runtime_env({"working_dir": None, "py_modules": [], "excludes": []}) == {}


def test_flags_replace_the_working_dir_and_add_modules(tmp_path: Path) -> None:
    flags = code_flags("w", ["m1", "m2"])
    assert flags == {"working_dir": str(Path("w").resolve()), "py_modules": [str(Path("m1").resolve()),
                                                                            str(Path("m2").resolve())]}
    merged = merge_code({"working_dir": "/old", "py_modules": ["/a"], "excludes": ["x"]}, flags)
    assert merged["working_dir"] == flags["working_dir"] and merged["py_modules"] == ["/a", *flags["py_modules"]]
    assert merged["excludes"] == ["x"]


def test_a_config_file_reads_its_code_paths_next_to_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "proj")
    (project / "run.yaml").write_text("code: {working_dir: ., py_modules: [pkg]}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(project / "run.yaml")
    assert cfg["code"]["working_dir"] == str(project) and cfg["code"]["py_modules"] == [str(project / "pkg")]


def test_digest_changes_with_the_code_and_not_with_excluded_or_cached_files(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    code = {"working_dir": str(project), "py_modules": [], "excludes": ["*.bin"]}
    first = digest(code)
    assert first is not None and digest(code) == first
    (project / "data.bin").write_bytes(b"\1" * 10)  # excluded
    (project / "pkg" / "__pycache__").mkdir()
    (project / "pkg" / "__pycache__" / "nets.cpython-311.pyc").write_bytes(b"x")
    assert digest(code) == first
    (project / "pkg" / "nets.py").write_text("X = 2\n")
    assert digest(code) != first
    assert digest({"working_dir": None, "py_modules": [], "excludes": []}) is None


def test_resuming_with_changed_code_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from raynn.tune.options import TuneOptions
    from raynn.tune.run import _say_if_code_changed

    project = _project(tmp_path / "proj")
    code = {"working_dir": str(project), "py_modules": [], "excludes": []}
    started = digest(code)  # what raynn_tune.json keeps
    _say_if_code_changed(started, digest(code))
    assert capsys.readouterr().err == ""
    (project / "pkg" / "nets.py").write_text("X = 3\n")
    _say_if_code_changed(started, digest(code))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "changed since it started" in err[0]
    # --resume ships the saved code again, or the code at --working-dir when a new head keeps it elsewhere
    saved = {"space": {"space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}}, "code": code,
             "scheduler": "fifo", "searcher": "random", "budget": None, "num_samples": 2, "workers_per_trial": 1,
             "gpus_per_worker": 0, "max_concurrent": 1, "metric": "val_loss", "mode": "min", "eta": 3, "seed": 0}
    again = TuneOptions(None, resume=True, name="exp").with_saved(saved)
    assert again.working_dir == str(project)
    moved = TuneOptions(None, resume=True, name="exp", working_dir=str(tmp_path)).with_saved(saved)
    assert moved.working_dir == str(tmp_path)
