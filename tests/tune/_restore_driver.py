"""Driver process for ``test_restore.py``: runs a Tuner on an existing Ray cluster until the test interrupts it.

Usage: ``python _restore_driver.py ADDRESS STORAGE NAME LOG_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import ray
from ray import tune

from raynn.tune import SuccessiveHalving

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, where raynn_testing lives
from raynn_testing.trainables import curve_trainable  # noqa: E402

XS = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]


def main(address: str, storage: str, name: str, log_dir: str) -> None:
    ray.init(address=address, log_to_driver=False)
    tuner = tune.Tuner(
        curve_trainable,
        param_space={"x": tune.grid_search(XS), "log_dir": log_dir, "max_epoch": 20, "sleep": 0.05},
        tune_config=tune.TuneConfig(
            scheduler=SuccessiveHalving(budget=48, num_configs=8),  # targets 3, 9
            metric="loss",
            mode="min",
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    tuner.fit()


if __name__ == "__main__":
    main(*sys.argv[1:5])
