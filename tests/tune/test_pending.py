"""PendingReport with fake trials and a fake clock: each waiting trial is reported once, with Ray's reason."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from raynn.tune.pending import PendingReport, startup_timeout_reason

RAY_REASON = ("The worker group startup timed out after 600.0 seconds waiting for 2 workers. Potential causes "
              "include: (1) temporary insufficient cluster resources while waiting for autoscaling")


@dataclass
class _Factory:
    required_resources: dict = field(default_factory=lambda: {"CPU": 1.0})


@dataclass
class _Trial:
    trial_id: str
    status: str
    error_file: str | None = None
    placement_group_factory: _Factory = field(default_factory=_Factory)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _report() -> tuple[PendingReport, _Clock, io.StringIO]:
    clock, out = _Clock(), io.StringIO()
    return PendingReport(60, clock=clock, free=lambda: "0/2 CPU free", out=out), clock, out


def test_startup_timeout_reason_is_ray_trains_sentence() -> None:
    text = f"Traceback (most recent call last):\n  ...\nray.train.ControllerError: {RAY_REASON}\n"
    assert startup_timeout_reason(text) == "The worker group startup timed out after 600.0 seconds waiting for 2 workers"
    assert startup_timeout_reason("ValueError: nan loss") is None


def test_a_trial_pending_past_the_limit_while_nothing_runs_is_reported_once() -> None:
    report, clock, out = _report()
    trials = [_Trial("a", "PENDING"), _Trial("b", "TERMINATED")]
    for clock.now in (0, 30, 60):
        report.on_step_end(0, trials)
    assert out.getvalue() == ""  # 60 s is not past a 60 s limit
    for clock.now in (61, 90, 3600):
        report.on_step_end(0, trials)
    assert out.getvalue() == ("raynn tune: trial a pending 61s: Ray cannot place 1 CPU (cluster: 0/2 CPU free); "
                              "free resources or add nodes\n")


def test_a_trial_waiting_behind_running_ones_is_not_stuck() -> None:
    report, clock, out = _report()
    trials = [_Trial("a", "PENDING"), _Trial("b", "RUNNING")]
    for clock.now in (0, 100, 1000):
        report.on_step_end(0, trials)
    assert out.getvalue() == ""


def test_a_startup_timeout_is_one_line_with_rays_reason(tmp_path: Path) -> None:
    report, _, out = _report()
    error = tmp_path / "error.txt"
    error.write_text(f"Traceback ...\nControllerError: Training failed due to controller error:\n{RAY_REASON}\n")
    trial = _Trial("a", "ERROR", error_file=str(error))
    report.on_trial_error(0, [trial], trial)
    report.on_trial_error(0, [trial], trial)
    lines = out.getvalue().splitlines()
    assert lines == ["raynn tune: trial a failed: The worker group startup timed out after 600.0 seconds waiting "
                     "for 2 workers (cluster: 0/2 CPU free); raise --pending-timeout if the autoscaler is adding "
                     "nodes, else lower --max-concurrent"]


def test_a_data_parallel_driver_waiting_is_not_reported_as_pending() -> None:
    report, clock, out = _report()
    trials = [_Trial("a", "PENDING", placement_group_factory=_Factory({"memory": 2.0**28}))]
    for clock.now in (0, 3600):
        report.on_step_end(0, trials)
    assert out.getvalue() == ""


def test_other_errors_are_left_to_tune(tmp_path: Path) -> None:
    report, _, out = _report()
    error = tmp_path / "error.txt"
    error.write_text("Traceback ...\nValueError: loss is nan\n")
    report.on_trial_error(0, [], _Trial("a", "ERROR", error_file=str(error)))
    assert out.getvalue() == ""
