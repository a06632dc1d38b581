"""Names and storage: a name stays inside the storage directory; storage that cannot take a run is refused
before anything starts; a disk that fills up mid-run stops it with its last good checkpoint, and it resumes.

The read-only and full file systems are real: a tmpfs mounted (read-only, or small) in a private mount
namespace (``unshare -rm``: a user namespace, so no privileges are needed where the kernel allows them), with
the real ``raynn`` command run inside it. The mounts vanish with the namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raynn.errors import ConfigError
from raynn.paths import MIN_FREE_BYTES, check_name, check_storage

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["run-1", "a.b_c", "A" * 255, "2024", "..a", "x."])
def test_a_name_is_one_path_component(name: str) -> None:
    assert check_name("--name", name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "/abs", "a b", "a\\b", "A" * 256, "é", "a\x00",
                                  5, None, ["a"]])
def test_anything_else_is_refused_naming_the_key(name: object) -> None:
    with pytest.raises(ConfigError, match=r"^--name: must be one path component") as info:
        check_name("--name", name)
    assert info.value.value == name


def test_storage_must_be_a_directory_or_lie_below_one(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert check_storage("storage", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not made
    with pytest.raises(ConfigError, match="must be a directory, but it is an existing file"):
        check_storage("storage", tmp_path / "afile")
    with pytest.raises(ConfigError, match="must be a directory, but it is below the file"):
        check_storage("storage", tmp_path / "afile" / "runs")


def _namespaces() -> bool:
    if shutil.which("unshare") is None or not Path("/proc/self/ns/mnt").exists():
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(not _namespaces(), reason="needs unshare -rm and tmpfs mounts in a user "
                                      "namespace (Linux with unprivileged user namespaces)")


DRIVER = """
import contextlib, io, subprocess, sys
from pathlib import Path
from raynn.cli import main

def run(name, *argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    for suffix, text in (("out", out.getvalue()), ("err", err.getvalue()), ("rc", str(code))):
        Path(f"{name}.{suffix}").write_text(text)

MNT = sys.argv[1]
def sh(command):
    subprocess.run(["sh", "-c", command], check=True, env={"MNT": MNT, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
"""


def _in_namespace(steps: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``steps`` (Python, after :data:`DRIVER`: ``run(name, *argv)`` runs ``raynn`` in this one interpreter,
    ``sh(command)`` a shell command) in a private mount namespace, ``MNT`` a fresh mount point."""
    (cwd / "mnt").mkdir()
    (cwd / "driver.py").write_text(DRIVER + steps)
    return subprocess.run(["unshare", "-rm", sys.executable, "driver.py", str(cwd / "mnt")], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


SPACE = {"base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
                  "train": {"epochs": 2}},
         "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}


@needs_namespaces
def test_storage_faults_read_only_and_full_at_start_and_a_disk_filling_up_mid_run(tmp_path: Path) -> None:
    """One interpreter in one namespace for all three (each new interpreter pays torch's and Ray Tune's
    imports again): a read-only or nearly full file system is refused before anything starts; a disk that
    fills up mid-run stops the run with one line naming its last good checkpoint, and the same command
    resumes from it once there is room."""
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    # Each checkpoint of this MLP is ~9 MB (weights and momentum): a 24 MiB disk takes two, not the third.
    config = {"data": {"name": "digits", "subset": 200}, "model": {"name": "mlp", "params": {"hidden": [1024, 1024]}},
              "train": {"epochs": 3, "batch_size": 100, "num_threads": 1}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    steps = """
sh('mount -t tmpfs -o size=64m,ro tmpfs "$MNT"')
run("train_ro", "train", "--storage", MNT + "/runs")
run("tune_ro", "tune", "space.yaml", "--storage", MNT + "/exp")
sh('umount "$MNT" && mount -t tmpfs -o size=1m tmpfs "$MNT"')
run("train_full", "train", "--storage", MNT)
Path("full.ls").write_text(" ".join(p.name for p in Path(MNT).iterdir()))
sh('umount "$MNT" && mount -t tmpfs -o size=24m tmpfs "$MNT"')
run("first", "train", "run.yaml", "--storage", MNT, "--name", "r1")
Path("first.ls").write_text(" ".join(sorted(p.name for p in Path(MNT, "r1").iterdir())))
sh('mount -o remount,size=64m "$MNT"')
run("second", "train", "run.yaml", "--storage", MNT, "--name", "r1", "--set", "train.epochs=4")
Path("second.ls").write_text(" ".join(sorted(p.name for p in Path(MNT, "r1").iterdir())))
"""
    proc = _in_namespace(steps, tmp_path)
    assert proc.returncode == 0, proc.stderr

    # ---- at the start: one line, exit 2, nothing written
    expected = {
        "train_ro": f"raynn: error: storage: must be a writable directory: it is on a read-only file system "
                    f"({str(tmp_path / 'mnt')!r}, where it would be made), got {str(tmp_path / 'mnt' / 'runs')!r}",
        "tune_ro": "raynn: error: --storage: must be a writable directory: it is on a read-only file system",
        "train_full": f"raynn: error: storage: must have at least {MIN_FREE_BYTES >> 20} MiB free for "
                      "checkpoints, but its file system has 1024 KiB",
    }
    for name, needle in expected.items():
        err = (tmp_path / f"{name}.err").read_text()
        assert (tmp_path / f"{name}.rc").read_text() == "2", err
        assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert (tmp_path / "full.ls").read_text() == ""

    # ---- mid-run: the third checkpoint does not fit
    first_err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text() == "1", first_err
    last_good = tmp_path / "mnt" / "r1" / "checkpoint_000002"
    lines = first_err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], first_err
    assert f"the last good checkpoint is {last_good}: make room and run again with name r1" in lines[0]
    # The partial copy of checkpoint 3 was removed; checkpoints 1 and 2 are whole.
    assert (tmp_path / "first.ls").read_text().split() == ["checkpoint_000001", "checkpoint_000002",
                                                           "progress.jsonl"]
    # ---- room again: the same command resumes at epoch 2
    second = (tmp_path / "second.out").read_text()
    assert (tmp_path / "second.rc").read_text() == "0", (tmp_path / "second.err").read_text()
    assert f"resumed from {last_good} at epoch 2" in second
    assert "epoch   3/4" in second and "epoch   4/4" in second and "epoch   1/4" not in second
    assert (tmp_path / "second.ls").read_text().split() == ["checkpoint_000003", "checkpoint_000004",
                                                            "progress.jsonl"]
