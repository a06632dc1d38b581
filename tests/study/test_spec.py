"""Study files: every file in raynn/study/studies/ loads in both settings; bad input is one ConfigError naming the key."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
import yaml

from raynn.errors import ConfigError
from raynn.study.spec import expand_runs, load_study, merge_patch, studies_dir, study_registry

STUDIES = study_registry().names()


def test_the_issue_studies_are_all_there() -> None:
    assert set(STUDIES) == {"batch-size", "lr-schedules", "cyclic-lr", "momentum", "optimizers", "normalization",
                            "initialization", "regularization", "large-batch"}


def test_every_study_file_is_package_data() -> None:
    """An installed raynn has its studies: each file in studies_dir() is inside the raynn.study package and
    matched by a package-data glob in pyproject.toml (the wheel, built by setuptools, ships what these match)."""
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["raynn.study"]
    package = root / "raynn" / "study"
    files = sorted(studies_dir().glob("*"))
    assert {f.stem for f in files} == set(STUDIES)
    for f in files:
        rel = f.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), (rel, globs)


@pytest.mark.parametrize("name", STUDIES)
@pytest.mark.parametrize("full", [False, True])
def test_every_study_loads_and_checks_every_run(name: str, full: bool) -> None:
    study = load_study(name, full=full)
    assert study.claims and study.figures
    assert study.runs or study.analysis is not None
    ids = [r.run_id for r in study.runs]
    assert len(ids) == len(set(ids))
    for run in study.runs:
        for cfg in run.phases:
            assert cfg["seed"] == run.seed
            if full:
                assert cfg["data"]["name"] == "mnist"  # --full is MNIST, the chapter's data set


def test_large_batch_is_data_parallel_by_default_and_k_means_the_global_batch() -> None:
    for workers, want in ((None, 2), (1, 1), (4, 4)):
        study = load_study("large-batch", workers=workers)
        assert {r.workers for r in study.runs} == {want}
        for run in study.runs:  # global batch = per-worker batch x workers = k x reference batch (16)
            assert run.config["train"]["batch_size"] * want == 16 * run.params["k"]


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _minimal() -> dict:
    return {"title": "t", "claims": [{"id": "c", "text": "x", "check": "compare", "metric": "val_loss",
                                      "better": ["a"], "than": "b"}],
            "runs": {"base": {"train": {"epochs": 1}}, "variants": [{"label": "a", "set": {}},
                                                                   {"label": "b", "set": {"optimizer.lr": 0.1}}]},
            "figures": [{"kind": "curves", "claims": ["c"]}]}


def test_a_copied_study_file_loads_by_path(tmp_path: Path) -> None:
    study = load_study(_write(tmp_path, _minimal()))
    assert [r.label for r in study.runs] == ["a", "b"]
    assert study.runs[1].config["optimizer"]["lr"] == 0.1


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d.update(runz={}), "study.runz"),
        (lambda d: d["runs"].update(seed=[1]), "study.runs.seed"),
        (lambda d: d["runs"]["variants"][0].update(sett={}), "study.runs.variants[0].sett"),
        (lambda d: d["claims"][0].update(check="nope"), "study.claims[0].check"),
        (lambda d: d["figures"][0].update(kind="nope"), "study.figures[0].kind"),
        (lambda d: d["figures"][0].update(claims=["zz"]), "study.figures[0].claims"),
        (lambda d: d["runs"]["variants"][1]["set"].update({"optimizer.lr": -1}), "optimizer.lr"),
        (lambda d: d["runs"].update(seeds=[0, 0]), "study.runs.seeds"),
        (lambda d: d.update(full={"runs": {"bass": {}}}), "study.full.runs.bass"),
    ],
)
def test_bad_study_file_names_the_key(tmp_path: Path, edit, key: str) -> None:  # type: ignore[no-untyped-def]
    doc = _minimal()
    edit(doc)
    with pytest.raises(ConfigError) as info:
        load_study(_write(tmp_path, doc), full=True)
    assert key in str(info.value)


def test_unknown_study_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match="batch-size") as info:
        load_study("batchsize")
    assert info.value.key == "study"


def test_bad_workers_is_refused() -> None:
    with pytest.raises(ConfigError, match="--workers"):
        load_study("batch-size", workers=0)


@pytest.mark.parametrize("gpus", [True, -1, float("nan"), "1"])
def test_bad_gpus_per_worker_is_refused(gpus: object) -> None:  # YAML's true is not a GPU count
    with pytest.raises(ConfigError, match="--gpus-per-worker: must be a number >= 0"):
        load_study("batch-size", gpus_per_worker=gpus)


def test_a_generator_s_warmup_epochs_is_a_number_not_a_flag() -> None:
    with pytest.raises(ConfigError, match="study.runs.generate.warmup_epochs: must be a number > 0"):
        load_study("large-batch", patch={"runs": {"generate": {"warmup_epochs": True}}})


def test_merge_patch_merges_mappings_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge_patch(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_grid_times_variants_with_labels() -> None:
    points = expand_runs({"variants": [{"label": "x", "set": {"model.dropout": 0.1}}],
                          "grid": {"train.batch_size": [8, 16], "optimizer.lr": [0.1, 0.2]}})
    assert [p[0] for p in points] == ["x, batch_size 8, lr 0.1", "x, batch_size 8, lr 0.2",
                                      "x, batch_size 16, lr 0.1", "x, batch_size 16, lr 0.2"]
    assert points[3][2] == {"model.dropout": 0.1, "train.batch_size": 16, "optimizer.lr": 0.2}
    # The label template reads grid keys: the batch-size study's legend.
    study = load_study("batch-size")
    assert [r.label for r in study.runs if r.seed == 0] == ["batch 8", "batch 32", "batch 128"]


def test_raynn_study_is_callable_and_a_package() -> None:
    import raynn

    assert callable(raynn.study) and raynn.study.load_study is load_study
    with pytest.raises(ConfigError, match="must be one of"):
        raynn.study("no-such-study")


def test_a_study_file_is_read_by_the_one_safe_yaml_loader(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"title: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^study: must be UTF-8 text \(byte 7 is not\)"):
        load_study(binary)
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                                for p, c in zip("abcdef", "bcdefg")))
    with pytest.raises(ConfigError, match=r"^study: must expand to at most"):
        load_study(laughs)
    assert study_registry(tmp_path).get("binary") == binary  # listed, titled as not a valid study file
