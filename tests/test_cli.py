"""The ``raynn`` command (:mod:`raynn.cli`): its parser, its one-line errors (exit 2) and its dispatch, without Ray.

The table of bad input over every entry point is ``tests/test_bad_input.py``; ``raynn train`` / ``raynn tune``
on Ray are tested with the training loop and the tuner (``tests/training``, ``tests/tune``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raynn.cli import _float, _int, _parser, main
from raynn.study import studies_dir


def test_list_names_every_study(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["study", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("batch-size", "large-batch", "momentum", "initialization"):
        assert name in out
    assert main(["list"]) == 0
    assert "study:" in capsys.readouterr().out


def test_unknown_study_and_unknown_key_exit_2_in_one_line_before_ray(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    doc = yaml.safe_load((studies_dir() / "momentum.yaml").read_text())
    doc["analysis"]["curvature"] = doc["analysis"].pop("curvatures")
    doc["figurs"] = doc.pop("figures")
    bad.write_text(yaml.safe_dump(doc))
    # One interpreter for both cases: each costs an import of torch.
    probe = ("import sys, ray; from raynn.cli import main; codes = [main(['study', 'nosuch']), "
             f"main(['study', {str(bad)!r}])]; print(codes, ray.is_initialized())")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.strip() == "[2, 2] False", proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("raynn: error: study: must be one of ") and "'nosuch'" in lines[0]
    assert lines[1].startswith("raynn: error: study.figurs: is not a known key")


# ---- the parser


def _exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``main(argv)`` exits 2 from argparse; the one line it wrote to stderr (nothing on stdout)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_missing_or_unknown_command_is_one_line_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    line = _exit_2([], capsys)
    assert line.startswith("raynn: error: the following") and "command" in line and line.endswith("(see raynn --help)")
    line = _exit_2(["trian"], capsys)
    assert "invalid choice: 'trian'" in line
    for command in ("train", "tune", "report", "study", "list"):
        assert repr(command) in line


def test_an_unknown_option_or_a_missing_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse collects options no subcommand knows at the top level; raynn has the subcommand answer.
    assert _exit_2(["train", "--epochs", "3"], capsys) == (
        "raynn: error: raynn train: unrecognized arguments: --epochs (see raynn train --help)")
    assert _exit_2(["report"], capsys) == ("raynn: error: raynn report: the following arguments are required: "
                                           "EXPERIMENT_DIR (see raynn report --help)")


@pytest.mark.parametrize(
    ("convert", "text", "rule"),
    [
        (_int, "2.5", "must be an integer"),
        (_int, "two", "must be an integer"),
        (_float, "one", "must be a number"),
        (_float, "", "must be a number"),
    ],
)
def test_number_arguments_say_the_rule_and_the_text(convert: object, text: str, rule: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{rule}, got {text!r}$"):
        convert(text)  # type: ignore[operator]


def test_number_arguments_convert() -> None:
    assert _int("-3") == -3 and type(_int("7")) is int
    assert _float("1e-3") == 0.001 and _float("inf") == float("inf")  # range checks are the options' own


def test_a_bad_number_flag_is_one_line_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = _exit_2(["tune", "space.yaml", "--eta", "three"], capsys)
    assert line == ("raynn: error: raynn tune: argument --eta: must be an integer, got 'three' "
                    "(see raynn tune --help)")


def test_tune_flags_are_the_experiment_settings_and_default_to_not_given() -> None:
    from raynn.tune.options import SETTINGS

    args = _parser().parse_args(["tune", "space.yaml"])
    # None is "not given": --resume refuses a given setting, and run_tune fills in its own defaults.
    assert {key: getattr(args, key) for key in SETTINGS} == dict.fromkeys(SETTINGS)
    assert (args.space, args.resume, args.storage, args.verbose) == ("space.yaml", False, "experiments", False)
    given = _parser().parse_args(["tune", "s.yaml", "--num-samples", "9", "--gpus-per-worker", "0.5",
                                  "--checkpoint-every", "0", "--mode", "max"])
    assert (given.num_samples, given.gpus_per_worker, given.checkpoint_every, given.mode) == (9, 0.5, 0, "max")


def test_train_flags_parse_to_their_types() -> None:
    args = _parser().parse_args(["train", "run.yaml", "--set", "optimizer.lr=0.1", "--set", "train.epochs=2",
                                 "--workers", "2", "--pending-timeout", "30"])
    assert args.config == "run.yaml"
    assert args.overrides == ["optimizer.lr=0.1", "train.epochs=2"]  # in order: a later --set wins
    assert (args.workers, args.pending_timeout, args.address) == (2, 30.0, None)
    assert _parser().parse_args(["train"]).config is None  # the built-in digits run


# ---- dispatch: checks before anything starts


@pytest.mark.parametrize(("extra", "flag"), [(["space.yaml"], "SPACE"), (["--eta", "3"], "--eta"),
                                             (["--num-samples", "4"], "--num-samples")])
def test_tune_resume_refuses_a_setting_in_one_line(extra: list[str], flag: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", "--resume", *extra, "--name", "exp", "--storage", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"raynn: error: {flag}: is not taken with --resume"), err
    assert list(tmp_path.iterdir()) == []


def test_study_needs_a_name_unless_it_lists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynn: error: NAME: is required: one of ") and "momentum" in err
