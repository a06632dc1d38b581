"""A node of a 2-node cluster killed mid-experiment: its raylet and every process under it, by pid (issue 11).

``scripts/cluster/local_cluster.sh up 1 2`` starts a head (2 CPUs) and a second node (2 CPUs, resource
``node_1``) under ports of their own; ``raynn tune`` runs four trials at once on both, checkpointing every epoch
on storage both nodes share (one machine: a local path). Once a trial on the second node has reported its
second epoch, that node's raylet and its workers and agents are SIGKILLed. Tune retries the trials it lost
(``raynn.tune.run.TRIAL_MAX_FAILURES``) on the head, from their checkpoints: the experiment ends with every
trial at its last epoch, none started again from scratch.

Only one Ray instance may run Ray Train on the machine at a time; this test shuts the shared session down as
tests/test_multinode.py does, and like it runs under the machine's Ray lock in CI
(``flock /tmp/raynn-ray.lock``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "cluster"
# Neither Ray's defaults nor tests/test_multinode.py's, so neither collides with this cluster.
GCS_PORT, DASHBOARD_PORT, PORT_BASE = 26479, 28365, 24000
EPOCHS, TRIALS = 8, 4  # enough epochs that a trial is still running on the node when it is killed
SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": EPOCHS, "batch_size": 32, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True}},
}

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("bash") is None,
                       reason="local_cluster.sh down needs Linux's /proc, and the scripts need bash"),
]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(text[text.rindex(")") + 2:].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _node_raylet(resource: str) -> tuple[int, str]:
    """(pid, node id) of the raylet whose static resources name ``resource``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        resources = next((a.split("=", 1)[1].split(",")[::2] for a in args
                          if a.startswith("--static_resource_list=")), [])
        if args and args[0].endswith("raylet") and resource in resources:
            node_id = next(a.split("=", 1)[1] for a in args if a.startswith("--node_id="))
            return int(entry.name), node_id
    raise AssertionError(f"no raylet with resource {resource}")


def _furthest(events: list[dict[str, Any]], node_id: str) -> dict[str, int]:
    """Each trial that reported from ``node_id``: the furthest epoch it reported."""
    furthest: dict[str, int] = {}
    for e in events:
        if e.get("event") == "result" and e.get("node_id") == node_id:
            furthest[e["trial_id"]] = max(furthest.get(e["trial_id"], 0), e.get("epoch") or 0)
    return furthest


def _events(exp: Path) -> list[dict[str, Any]]:
    from raynn.tune.events import read_events

    path = exp / "events.jsonl"
    return read_events(path) if path.exists() else []


def test_a_killed_node_s_trials_resume_on_the_other_node(tmp_path: Path) -> None:
    import ray

    if ray.is_initialized():  # one Ray instance at a time; the ray_session fixture starts it again
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="raynn-nf-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYNN_LOCAL_CLUSTER")}
    env.update({"RAY": str(Path(sys.executable).parent / "ray"), "RAYNN_LOCAL_PORT": str(GCS_PORT),
                "RAYNN_LOCAL_DASHBOARD_PORT": str(DASHBOARD_PORT), "RAYNN_LOCAL_PORT_BASE": str(PORT_BASE),
                "RAYNN_LOCAL_TEMP_DIR": temp_dir, "RAY_AUTH_MODE": "token"})
    script = str(SCRIPTS / "local_cluster.sh")
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    exp = tmp_path / "out" / "node"
    log = tmp_path / "driver.log"
    try:
        up = subprocess.run([script, "up", "1", "2"], env=env, capture_output=True, text=True, timeout=180,
                            cwd=ROOT)
        assert up.returncode == 0, up.stderr
        raylet, node_id = _node_raylet("node_1")
        start = time.monotonic()
        with open(log, "w") as out:
            driver = subprocess.Popen(
                [sys.executable, "-m", "raynn.cli", "tune", "space.yaml", "--scheduler", "fifo", "--searcher",
                 "random", "--num-samples", str(TRIALS), "--max-concurrent", str(TRIALS), "--checkpoint-every",
                 "1", "--seed", "3", "--address", f"127.0.0.1:{GCS_PORT}", "--name", "node", "--storage", "out"],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        # Epoch 2 reported: Tune has registered the trial's epoch-1 checkpoint (it takes a checkpoint in after
        # the result that carries it; a trial killed in between would start again from scratch).
        while not any(e.get("event") == "result" and e.get("node_id") == node_id and e.get("epoch", 0) >= 2
                      for e in _events(exp)):
            assert driver.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, "no trial reported from the second node"
            time.sleep(0.1)
        # Each trial's furthest epoch on the node just before the kill: one past epoch 1 has its epoch-1
        # checkpoint registered and must resume from a checkpoint; one still at epoch 1 (a second trial on the
        # node may be) may rightly start again from scratch.
        at_kill = _furthest(_events(exp), node_id)
        # The node: its raylet and everything under it (workers running the trials, agents), SIGKILLed.
        tree, doomed, stack = _children(), [], [raylet]
        while stack:
            pid = stack.pop()
            doomed.append(pid)
            stack.extend(tree.get(pid, []))
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed_at = time.monotonic() - start
        rc = driver.wait(timeout=300)
        seconds = time.monotonic() - start
        assert rc == 0, log.read_text()[-4000:]
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
        shutil.rmtree(temp_dir, ignore_errors=True)

    results = [e for e in _events(exp) if e.get("event") == "result"]
    lost = sorted(trial for trial, epoch in at_kill.items() if epoch < EPOCHS)  # unfinished when the node died
    assert lost, ("no trial was running on the killed node", at_kill)
    summary = json.loads((exp / "summary.json").read_text())
    assert len(summary["curves"]) == TRIALS
    recomputed = 0
    for trial, curve in summary["curves"].items():
        epochs = [epoch for epoch, _ in curve]
        assert set(epochs) == set(range(1, EPOCHS + 1)), (trial, epochs)
        # From a checkpoint, not from scratch: at most the epoch in flight at the kill trained twice.
        assert len(epochs) - EPOCHS <= 1, (trial, epochs)
        if at_kill.get(trial, 0) >= 2:
            assert epochs.count(1) == 1, (trial, epochs)
        recomputed += len(epochs) - EPOCHS
    for trial in lost:  # the killed node's trials ended on the head (or finished on the node before it died)
        last = [e for e in results if e["trial_id"] == trial][-1]
        assert last["node_id"] != node_id or last["epoch"] == EPOCHS, (trial, last)
    print(f"\nnode killed at {killed_at:.0f} s: trials {lost} resumed on the head; epochs logged twice "
          f"{recomputed}; wall {seconds:.0f} s")
