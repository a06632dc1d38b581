"""Storage that fills up mid-run under ``raynn tune`` (raynn/tune/guard.py), on a real small file system.

In a private mount namespace (``unshare -rm``, as tests/test_paths.py) a 64 MiB tmpfs holds the experiment; the
driver starts its own Ray there (the shared session's workers would not see the mount). Once a trial has reported,
a ballast file leaves less than 16 MiB free: the driver stops with one line naming the storage and the command to
resume, exit 1, Tune's state files whole. With the ballast removed, ``--resume`` finishes the same experiment:
every trial at its rung, none from scratch, the budget as planned.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raynn.paths import MIN_FREE_BYTES

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
    summary = json.loads((tmp_path / "summary.json").read_text())
    curves = {trial: [epoch for epoch, _ in curve] for trial, curve in summary["curves"].items()}
    assert sorted(max(epochs) for epochs in curves.values()) == [1, 1, 3, 3, 3], curves
    for trial, epochs in curves.items():
        assert set(epochs) == set(range(1, max(epochs) + 1)), (trial, epochs)
        assert len(epochs) - max(epochs) <= 1, (trial, epochs)
    assert summary["ledger"]["budget_spent"] == 1 + 1 + 3 + 3 + 3
