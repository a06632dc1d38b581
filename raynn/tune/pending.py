"""Trials that wait for resources, reported once in the tuning view with the reason Ray gives: a trial's own
process Tune cannot place, or a data-parallel trial's workers Ray Train cannot place within
``train.pending_timeout``.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from ray.tune import Callback

__all__ = ["PendingReport", "startup_timeout_reason"]

_STARTUP_TIMEOUT = re.compile(r"The worker group startup timed out after [\d.]+ seconds waiting for \d+ workers")


def startup_timeout_reason(error_text: str) -> str | None:
    """Ray Train's reason from a trial's error text, when the trial failed waiting for its workers."""
    match = _STARTUP_TIMEOUT.search(error_text)
    return match.group(0) if match else None


class PendingReport(Callback):
    """Prints one line per trial that waits past ``limit`` seconds (see the module docstring).

    Args:
        limit: ``--pending-timeout`` in seconds.
        free: What the cluster has free and in all, as text (Ray's ``available_resources``); injectable for tests.
    """

    def __init__(self, limit: float, *, clock: Callable[[], float] = time.monotonic,
                 free: Callable[[], str] | None = None, out: TextIO | None = None) -> None:
        self.limit, self.clock, self.free = limit, clock, free or _free_resources
        self.out = out
        self.since: dict[str, float] = {}
        self.told_pending: set[str] = set()
        self.told_failed: set[str] = set()

    def _say(self, line: str) -> None:
        print(line, file=self.out or sys.stderr, flush=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = self.clock()
        for trial in trials:
            if trial.status == "PENDING":
                self.since.setdefault(trial.trial_id, now)
            else:
                self.since.pop(trial.trial_id, None)
        if any(t.status == "RUNNING" for t in trials):
            return  # pending trials wait their turn behind running ones: not stuck
        for trial in trials:
            since = self.since.get(trial.trial_id)
            if since is None or now - since <= self.limit or trial.trial_id in self.told_pending:
                continue
            wanted = {k: v for k, v in trial.placement_group_factory.required_resources.items()
                      if k in ("CPU", "GPU")}
            if not wanted:
                continue  # a data-parallel trial's driver reserves no CPU or GPU: its wait is Ray Train's, below
            self.told_pending.add(trial.trial_id)
            self._say(f"raynn tune: trial {trial.trial_id} pending {now - since:.0f}s: Ray cannot place "
                      f"{_resources(wanted)} (cluster: {self.free()}); free resources or add nodes")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        path = getattr(trial, "error_file", None)
        text = Path(path).read_text(errors="replace") if path and Path(path).is_file() else ""
        reason = startup_timeout_reason(text)
        if reason and trial.trial_id not in self.told_failed:
            self.told_failed.add(trial.trial_id)
            self._say(f"raynn tune: trial {trial.trial_id} failed: {reason} (cluster: {self.free()}); raise "
                      f"--pending-timeout if the autoscaler is adding nodes, else lower --max-concurrent")


def _resources(resources: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in sorted(resources.items()))


def _free_resources() -> str:
    import ray

    free, total = ray.available_resources(), ray.cluster_resources()
    return ", ".join(f"{free.get(k, 0):g}/{total[k]:g} {k} free" for k in ("CPU", "GPU") if k in total)
