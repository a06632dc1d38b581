"""A fault-injection hook for tests: stop a process at a named moment so that a test can kill it exactly there.

A driver killed "while Tune writes its snapshot" or "during a rung decision" cannot be timed from outside: those
moments last milliseconds. With ``RAYNN_FAULT_PAUSE=<moment>`` in the environment, the process that reaches
:func:`fault_point` with that name writes its pid to the file named by ``RAYNN_FAULT_MARKER`` and waits while
that file exists; the test kills it (or the driver) by pid, or deletes the file to let it go on. The first
process to reach the moment creates the file; any later one, in any process, finds it taken and goes on, so
one run pauses once. The trial moments take an epoch: ``RAYNN_FAULT_PAUSE=epoch:2`` pauses the first trial
about to report its epoch 2. Unset (always, outside tests), :func:`fault_point` returns at once.

``raynn tune`` forwards both variables to the trial processes (:func:`forwarded_env`), since Ray starts workers
with the raylet's environment, not the driver's.

Moments (the call sites):

==================  ==============================================================================================
``result``          the driver took a trial's result (trials running) -- ``raynn.tune.search``
``rung-decision``   a synchronous halving rung was decided in memory, before Tune hears of it -- ``raynn.hpo._sync``
``epoch``           a trial (or a Ray Train worker) trained an epoch and is about to report it --
                    ``raynn.tune.trial``, ``raynn.training.distributed``
``checkpoint``      a trial's checkpoint is written, not yet persisted to its trial directory -- ``raynn.tune.trial``
``snapshot``        Tune is writing its experiment snapshot (state JSON written, searcher state next) --
                    ``raynn.tune.search``
``searcher-told``   the searcher told Optuna a trial's completion -- ``raynn.tune.search``
==================  ==============================================================================================
"""

from __future__ import annotations

import os
import time

__all__ = ["MARKER_ENV", "MOMENTS", "PAUSE_ENV", "fault_point", "forwarded_env"]

PAUSE_ENV = "RAYNN_FAULT_PAUSE"
MARKER_ENV = "RAYNN_FAULT_MARKER"
MOMENTS = ("result", "rung-decision", "epoch", "checkpoint", "snapshot", "searcher-told")


def fault_point(moment: str, epoch: int | None = None, label: str = "") -> None:
    """Pause here if ``RAYNN_FAULT_PAUSE`` is ``moment``, or ``moment:epoch`` for a trial's moment at that epoch
    (see the module docstring); otherwise nothing. The marker reads ``"<pid> <label>\\n"`` (a trial: its id)."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or wanted not in (moment, f"{moment}:{epoch}") or not os.environ.get(MARKER_ENV):
        return
    marker = os.environ[MARKER_ENV]
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process (or an earlier pass) took this fault: go on
        return
    os.write(fd, f"{os.getpid()} {label}\n".encode())
    os.close(fd)
    # Let go when the test removes the marker; a test that kills us never gets here.
    while os.path.exists(marker):
        time.sleep(0.05)
    # Once released, this moment never pauses again in this process.
    os.environ.pop(PAUSE_ENV, None)


def forwarded_env() -> dict[str, str]:
    """The fault variables set in this process, for the environment of the processes Ray starts for it."""
    return {k: os.environ[k] for k in (PAUSE_ENV, MARKER_ENV) if k in os.environ}
