"""Driver process for ``test_restore.py``, on an existing Ray cluster.

``python _restore_driver.py run ADDRESS STORAGE NAME LOG_DIR``: runs the Tuner, its scheduler's
``snapshot_callback()`` in the RunConfig (the one way a plain Tuner's scheduler survives a restore), until the
test interrupts it.
``python _restore_driver.py restore ADDRESS STORAGE NAME OUT``: ``Tuner.restore`` of that experiment, run to
the end; writes each trial's id, ``x`` and status to the JSON file ``OUT``. A process of its own, so that a
restored run that never ends is killed by the test's timeout instead of hanging the suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray import tune

from raynn.tune import SuccessiveHalving

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, where raynn_testing lives
from raynn_testing.trainables import curve_trainable  # noqa: E402

XS = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]


def run(storage: str, name: str, log_dir: str) -> None:
    scheduler = SuccessiveHalving(budget=48, num_configs=8)  # targets 3, 9
    tuner = tune.Tuner(
        curve_trainable,
        param_space={"x": tune.grid_search(XS), "log_dir": log_dir, "max_epoch": 20, "sleep": 0.05},
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            metric="loss",
            mode="min",
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(name=name, storage_path=storage, callbacks=[scheduler.snapshot_callback()],
                                  verbose=0),
    )
    tuner.fit()


def restore(storage: str, name: str, out: str) -> None:
    grid = tune.Tuner.restore(str(Path(storage) / name), trainable=curve_trainable, resume_unfinished=True).fit()
    trials = [
        {"trial_id": r.metrics["trial_id"], "x": r.config["x"], "error": r.error is not None} for r in grid
    ]
    Path(out).write_text(json.dumps({"trials": trials, "terminated": grid.num_terminated}))


if __name__ == "__main__":
    mode, address, *args = sys.argv[1:]
    ray.init(address=address, log_to_driver=False)
    {"run": run, "restore": restore}[mode](*args)
