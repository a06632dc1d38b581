"""The fault-injection hook (raynn/faults.py) on its own: a real process paused at a moment, then let go."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raynn.faults import MARKER_ENV, PAUSE_ENV, fault_point, forwarded_env

SCRIPT = "from raynn.faults import fault_point; fault_point('checkpoint', 3, 'trial-x'); print('went on')"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (PAUSE_ENV, MARKER_ENV)}
    return {**env, **extra}


def test_unset_it_does_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(PAUSE_ENV, raising=False)
    monkeypatch.setenv(MARKER_ENV, str(tmp_path / "m"))
    fault_point("checkpoint", 3)
    monkeypatch.setenv(PAUSE_ENV, "checkpoint:2")  # another epoch
    fault_point("checkpoint", 3)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("wanted", ["checkpoint", "checkpoint:3"])
def test_the_process_at_the_moment_writes_its_pid_and_waits_for_the_marker_to_go(tmp_path: Path,
                                                                                 wanted: str) -> None:
    marker = tmp_path / "marker"
    env = _env(**{PAUSE_ENV: wanted, MARKER_ENV: str(marker)})
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text().endswith("\n")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        assert marker.read_text() == f"{proc.pid} trial-x\n"
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting
        # A second process at the same moment finds the fault taken and goes on.
        second = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.stdout == "went on\n"
        marker.unlink()
        assert proc.wait(timeout=30) == 0 and proc.stdout.read() == "went on\n"
    finally:
        proc.kill()


def test_the_variables_are_forwarded_to_ray_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PAUSE_ENV, "snapshot")
    monkeypatch.setenv(MARKER_ENV, "/tmp/x")
    assert forwarded_env() == {PAUSE_ENV: "snapshot", MARKER_ENV: "/tmp/x"}
    monkeypatch.delenv(PAUSE_ENV)
    monkeypatch.delenv(MARKER_ENV)
    assert forwarded_env() == {}
