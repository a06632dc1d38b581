"""A synthetic function trainable with a known learning curve, for testing the schedulers under Ray Tune.

Its metric at epoch ``e`` is ``loss = x + 1 / e`` for ``config["x"]``: at every resource the ranking of
configurations is the ranking of ``x``, so which trials a correct halving promotes is known in advance.

Test code, so it lives under ``tests/`` and not in the package. Ray workers do not have ``tests/`` on their
path: the module registers itself with Ray's cloudpickle to be pickled by value, so a trial runs the function
that the driver sent rather than importing this module.
"""

from __future__ import annotations

import json
import os
import tempfile
import sys
import time
from typing import Any

import ray.cloudpickle

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

__all__ = ["curve_loss", "curve_trainable"]


def curve_loss(x: float, epoch: int) -> float:
    """The known curve: ``x + 1 / epoch`` (decreasing in ``epoch``, ordered by ``x`` at every epoch)."""
    return x + 1.0 / epoch


def curve_trainable(config: dict[str, Any]) -> None:
    """Train "epochs" ``1..max_epoch`` of the curve, one ``ray.tune.report`` per epoch, with a checkpoint.

    Config keys: ``x`` (the curve's offset), ``max_epoch`` (default 100), ``sleep`` (seconds per epoch,
    default 0.05), ``log_dir`` (optional absolute directory: each reported epoch is appended to
    ``<log_dir>/<trial_id>.log`` as ``"<epoch> <start>"``, ``start`` being the checkpointed epoch this run of
    the function resumed from (0: from scratch), so a test can read the sequence a trial trained),
    ``resource_attr`` (default ``"epoch"``; None reports no resource at all), ``checkpoint_at`` (optional list
    of epochs at which to report a checkpoint, e.g. a scheduler's rungs; default every epoch), ``crash_after``
    (optional epoch: the trial's first run, as told by a marker file in ``log_dir``, kills its own process once
    that epoch's result has been taken in, as a lost node or an out-of-memory kill would).

    The epoch counter lives in the checkpoint: a trial that Tune paused and resumed, or that was restored
    with ``Tuner.restore``, continues after its last checkpointed epoch instead of starting again at 1.
    """
    from ray import tune

    x = float(config["x"])
    max_epoch = int(config.get("max_epoch", 100))
    sleep = float(config.get("sleep", 0.05))
    resource_attr = config.get("resource_attr", "epoch")
    log_dir = config.get("log_dir")
    checkpoint_at = None if config.get("checkpoint_at") is None else {int(e) for e in config["checkpoint_at"]}
    trial_id = tune.get_context().get_trial_id()

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            with open(os.path.join(directory, "state.json")) as f:
                start = int(json.load(f)["epoch"])

    crash_after = config.get("crash_after")
    for epoch in range(start + 1, max_epoch + 1):
        if crash_after is not None and epoch == int(crash_after) + 1 and log_dir:
            marker = os.path.join(log_dir, f"{trial_id}.crashed")
            if not os.path.exists(marker):
                open(marker, "w").close()
                time.sleep(1.0)  # the driver takes in the last result and its checkpoint
                os._exit(1)
        time.sleep(sleep)
        if log_dir:
            with open(os.path.join(log_dir, f"{trial_id}.log"), "a") as f:
                f.write(f"{epoch} {start}\n")
        metrics: dict[str, Any] = {"loss": curve_loss(x, epoch), "x": x}
        if resource_attr:
            metrics[resource_attr] = epoch
        if checkpoint_at is not None and epoch not in checkpoint_at:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump({"epoch": epoch}, f)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
