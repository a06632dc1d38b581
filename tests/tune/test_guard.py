"""Storage that fills up mid-run under ``raynn tune`` (raynn/tune/guard.py), on a real small file system.

In a private mount namespace (``unshare -rm``, as tests/test_paths.py) a 64 MiB tmpfs holds the experiment; the
driver starts its own Ray there (the shared session's workers would not see the mount). Once a trial has reported,
a ballast file leaves less than 16 MiB free: the driver stops with one line naming the storage and the command to
resume, exit 1, Tune's state files whole. With the ballast removed, ``--resume`` finishes the same experiment:
every trial at its rung, none from scratch, the budget as planned. Before that resume the test cuts Tune's newest
snapshot short, as a disk that fills within one step of Tune's loop does: ``--resume`` puts back the last whole
copy the guard kept (``.raynn-last-state``) and says so in one warning line.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from raynn.paths import MIN_FREE_BYTES
from raynn.tune.guard import (LAST_STATE, StorageGuard, newest_tune_state, restore_last_state,
                              unreadable_tune_state)
from raynn_testing.checks import check_resumed_band

SPACE = {"base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [32]}},
                  "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
         "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True}}}

STEPS = """
import json, os, pickle, subprocess, sys, time
from pathlib import Path

MNT, PY = sys.argv[1], sys.executable
subprocess.run(["sh", "-c", f'mount -t tmpfs -o size=64m tmpfs "{MNT}"'], check=True)
exp = Path(MNT, "full")

def tune(name, *argv):
    with open(f"{name}.log", "w") as log:
        return subprocess.Popen([PY, "-m", "raynn.cli", "tune", *argv, "--storage", MNT, "--name", "full"],
                                stdout=subprocess.DEVNULL, stderr=log)

first = tune("first", "space.yaml", "--scheduler", "hyperband", "--searcher", "random", "--max-concurrent", "2",
             "--seed", "3")
deadline = time.monotonic() + 240
while not (exp / "events.jsonl").exists() or '"event": "result"' not in (exp / "events.jsonl").read_text():
    if first.poll() is not None or time.monotonic() > deadline:
        sys.exit("no result before the fault")
    time.sleep(0.05)
# The disk fills up: less than MIN_FREE free.
free = os.statvfs(MNT).f_bavail * os.statvfs(MNT).f_frsize
try:
    with open(Path(MNT, "ballast"), "wb") as f:
        f.write(b"\\0" * (free - MIN_FREE // 2))
except OSError:  # the driver wrote meanwhile: full is full enough
    pass
Path("first.rc").write_text(str(first.wait(timeout=240)))
state = {}
for path in sorted(p for p in exp.iterdir() if "state" in p.name and p.suffix in (".json", ".pkl")):
    data = path.read_bytes()
    state[path.name] = "json" if data.startswith(b"{") and json.loads(data) else type(pickle.loads(data)).__name__
Path("first.state").write_text(json.dumps(state))
Path("first.summary").write_text(str((exp / "summary.json").exists()))
# A disk that fills within one step of Tune's loop cuts Tune's upload of its snapshot short: as here.
newest = max(exp.glob("experiment_state-*.json"))
newest.write_bytes(newest.read_bytes()[:100])
Path("cut").write_text(newest.name)
os.remove(Path(MNT, "ballast"))
second = tune("second", "--resume")
Path("second.rc").write_text(str(second.wait(timeout=300)))
if (exp / "summary.json").exists():
    Path("summary.json").write_bytes((exp / "summary.json").read_bytes())
"""


def _namespaces() -> bool:
    if shutil.which("unshare") is None or not Path("/proc/self/ns/mnt").exists():
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not _namespaces(), reason="needs unshare -rm and tmpfs mounts in a user namespace")
def test_a_disk_filling_up_stops_the_experiment_resumably(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    (tmp_path / "mnt").mkdir()
    (tmp_path / "steps.py").write_text(f"MIN_FREE = {MIN_FREE_BYTES}\n" + STEPS)
    proc = subprocess.run(["unshare", "-rm", sys.executable, "steps.py", str(tmp_path / "mnt")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    err = (tmp_path / "first.log").read_text()
    lines = [line for line in err.splitlines() if line.startswith("raynn: error:")]
    assert (tmp_path / "first.rc").read_text() == "1", err[-3000:]
    assert len(lines) == 1, err[-3000:]
    assert "less than the 16 MiB a run needs" in lines[0]
    assert f"raynn tune --resume --name full --storage {tmp_path / 'mnt'}" in lines[0]
    assert "raynn/cli.py" not in err, err[-3000:]  # no traceback of raynn's
    state = json.loads((tmp_path / "first.state").read_text())
    # Every state file of Tune's read back whole (an unreadable one would have failed steps.py).
    assert any(name.startswith("experiment_state-") for name in state), state
    assert (tmp_path / "first.summary").read_text() == "False"

    assert (tmp_path / "second.rc").read_text() == "0", (tmp_path / "second.log").read_text()[-3000:]
    # Tune's newest snapshot, cut short, was replaced by the guard's last whole copy, with one warning line
    warnings = [line for line in (tmp_path / "second.log").read_text().splitlines() if "raynn: warning:" in line]
    cut = (tmp_path / "cut").read_text()
    assert len(warnings) == 1 and cut in warnings[0] and "last whole copy of Tune's state" in warnings[0], warnings
    check_resumed_band(json.loads((tmp_path / "summary.json").read_text()), replays=1)


# -- the last whole copy of Tune's state, without Ray (the functions of raynn/tune/guard.py) ----------------


def _snapshot(directory: Path, stamp: str, trials: int) -> None:
    """Tune's state files of one snapshot, as its driver staging directory holds them."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"experiment_state-{stamp}.json").write_text(json.dumps({"trial_data": list(range(trials))}))
    (directory / f"search_gen_state-{stamp}.json").write_text(json.dumps({"made": trials}))
    (directory / f"callback-states-{stamp}.pkl").write_bytes(pickle.dumps([{"owner": trials}]))
    (directory / "tuner.pkl").write_bytes(pickle.dumps({"tuner": 1}))


def test_an_unreadable_state_file_is_found_among_the_newest_of_each_kind(tmp_path: Path) -> None:
    _snapshot(tmp_path, "2026-01-01_00-00-00", 3)
    assert unreadable_tune_state(tmp_path) is None
    (tmp_path / "experiment_state-2025-01-01_00-00-00.json").write_text("{")  # older: Tune does not read it
    assert unreadable_tune_state(tmp_path) is None
    cut = tmp_path / "callback-states-2026-01-01_00-00-00.pkl"
    cut.write_bytes(cut.read_bytes()[:5])
    assert unreadable_tune_state(tmp_path) == cut


def test_the_guard_copies_each_new_snapshot_whole_and_keeps_the_last_copy_when_a_copy_fails(tmp_path: Path) -> None:
    staging, exp = tmp_path / "staging", tmp_path / "exp"
    exp.mkdir()
    guard = StorageGuard(exp, "raynn tune --resume")
    _snapshot(staging, "s1", 3)
    guard._keep_last_state(staging)
    last = exp / LAST_STATE
    assert sorted(p.name for p in last.iterdir()) == sorted(p.name for p in staging.iterdir())
    assert json.loads((last / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1, 2]}

    _snapshot(staging, "s1", 5)  # Tune's next snapshot of the same driver: same names, newer content
    (exp / f"{LAST_STATE}.tmp").write_text("")  # the copy cannot be made (as on a full disk)
    guard._keep_last_state(staging)
    assert json.loads((last / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1, 2]}
    (exp / f"{LAST_STATE}.tmp").unlink()
    guard._keep_last_state(staging)  # the snapshot not copied yet is copied at the next step
    assert json.loads((last / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1, 2, 3, 4]}
    assert sorted(p.name for p in exp.iterdir()) == [LAST_STATE]  # no .tmp or .old left behind


def test_resume_puts_the_last_whole_copy_back_and_sets_a_newer_cut_file_aside(tmp_path: Path) -> None:
    _snapshot(tmp_path, "s1", 3)
    _snapshot(tmp_path / LAST_STATE, "s1", 2)
    (tmp_path / "experiment_state-s1.json").write_text('{"trial_da')  # cut short
    (tmp_path / "experiment_state-s2.json").write_text('{"tri')  # a later driver's, cut before any copy
    (tmp_path / "search_gen_state-s2.json").write_text('{"made": 9}')  # its whole file of another kind
    names = restore_last_state(tmp_path)
    assert "experiment_state-s1.json" in names and unreadable_tune_state(tmp_path) is None
    assert json.loads((tmp_path / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1]}
    assert (tmp_path / "experiment_state-s2.json.unreadable").exists()
    # Tune reads the newest of each kind: the later driver's whole file is set aside too, so the files Tune
    # reads are the copy's, which belong together
    assert (tmp_path / "search_gen_state-s2.json.after-last-copy").exists()
    assert [p.name for p in newest_tune_state(tmp_path)] == [p.name for p in newest_tune_state(tmp_path / LAST_STATE)]
    shutil.rmtree(tmp_path / LAST_STATE)
    (tmp_path / "experiment_state-s1.json").write_text("{")
    assert restore_last_state(tmp_path) == [] and unreadable_tune_state(tmp_path) is not None  # no copy: refused


def test_the_guard_copies_only_after_tune_wrote_a_snapshot_and_keeps_tunes_callback_state(tmp_path: Path) -> None:
    staging, exp = tmp_path / "staging", tmp_path / "exp"
    exp.mkdir()
    _snapshot(staging, "s1", 3)
    trials = [SimpleNamespace(storage=SimpleNamespace(experiment_driver_staging_path=str(staging)))]
    guard = StorageGuard(exp, "raynn tune --resume", min_free=0)
    guard.on_step_begin(0, trials)
    assert not (exp / LAST_STATE).exists()  # no snapshot written since the guard started: nothing read
    assert guard.get_state() is None  # Tune writes a snapshot; the guard adds nothing to it
    guard.on_step_begin(1, trials)
    assert json.loads((exp / LAST_STATE / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1, 2]}
    _snapshot(staging, "s1", 4)
    guard.on_step_begin(2, trials)  # no new snapshot announced: the copy stays as it was
    assert json.loads((exp / LAST_STATE / "experiment_state-s1.json").read_text()) == {"trial_data": [0, 1, 2]}


class _Syncer:
    """Tune's syncer as the guard sees it: an upload in flight until ``wait()`` returns."""

    def __init__(self) -> None:
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1


def test_with_a_storage_uri_each_snapshot_carries_raynns_files_into_tunes_staging(tmp_path: Path) -> None:
    import sqlite3

    staging, work = tmp_path / "staging", tmp_path / "work"
    (work / "tensorboard" / "t1").mkdir(parents=True)
    (work / "tensorboard" / "t1" / "events.out").write_text("tb")
    (work / "events.jsonl").write_text('{"event": "result"}\n')
    with sqlite3.connect(work / "optuna.db") as db:
        db.execute("create table trials (id)")
        db.execute("insert into trials values (1)")
    db.close()
    syncer = _Syncer()
    storage = SimpleNamespace(experiment_driver_staging_path=str(staging), syncer=syncer)
    guard = StorageGuard(work, "raynn tune --resume", min_free=0,
                         mirror=("events.jsonl", "optuna.db", "tensorboard", "missing.json"))
    assert guard.get_state() is None and not staging.exists()  # before any trial: no staging directory known
    guard.on_step_begin(0, [SimpleNamespace(storage=storage)])
    assert guard.get_state() is None  # Tune writes a snapshot; Tune's callback state is left as it was
    assert syncer.waits == 1  # Tune's previous upload finished before any file was replaced
    assert (staging / "events.jsonl").read_text() == '{"event": "result"}\n'
    assert (staging / "tensorboard" / "t1" / "events.out").read_text() == "tb"
    with sqlite3.connect(staging / "optuna.db") as copy:
        assert copy.execute("select id from trials").fetchall() == [(1,)]
    copy.close()
    assert not list(staging.glob("**/*.raynn-tmp")) and not (staging / "missing.json").exists()
