"""Driver for ``test_cluster.py``: starts its own Ray instance of exactly 2 CPUs and no GPU, then runs ``raynn``
commands against it, one after another, printing ``RC <exit status> <seconds>`` after each.

Usage: ``python _two_cpu_driver.py '[["tune", ...], ["train", ...]]'``.
"""

from __future__ import annotations

import json
import sys
import time

import ray

from raynn.cli import main

if __name__ == "__main__":
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=True, log_to_driver=True,
             runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_STATE_TRACKING": "1"}})  # as raynn.api.ensure_ray
    for argv in json.loads(sys.argv[1]):
        start = time.monotonic()
        rc = main(argv)
        print(f"RC {rc} {time.monotonic() - start:.1f}", flush=True)
    ray.shutdown()
