"""Scheduler overhead at 100 to 10,000 trials, without a Ray cluster (``bench_hpo.py --part overhead``).

Two drivers, both a deterministic fake trial stream (seeded ``numpy.random.Generator``; ``SLOTS`` trials train
at once, one unit per result, a metric that improves with the resource):

* cores: the pure :mod:`raynn.hpo` state machines, called as an adapter calls them: ``on_trial_add`` while
  ``has_room()``, ``on_result`` per unit, ``choose_paused`` whenever a slot is free, ``pop_stops`` after each
  call, ``on_search_exhausted`` after the last trial. Timed: ``on_result``, ``choose_paused`` and, at the end,
  ``state_dict()`` (median of 5 calls).
* adapters: raynn's Ray Tune schedulers and Ray's own ``ASHAScheduler`` / ``FIFOScheduler``, given what Tune
  gives them (``on_trial_add``, ``on_trial_result``, ``choose_trial_to_run``, ``on_trial_complete`` /
  ``on_trial_remove``) by a fake ``TuneController``: lightweight trial objects with Tune's statuses, and a
  real ``BasicVariantGenerator(max_concurrent=SLOTS)`` as the search algorithm whose live-trial set holds the
  concurrency slots (what ``TuneConfig(max_concurrent_trials=...)`` builds). Tune itself (actors, results,
  checkpoints) is not run: at 10,000 trials it would dominate and hide what the schedulers cost.

Run alone it prints one JSON line (``python scripts/_hpo_scale.py --sizes 100 1000``), so ``bench_hpo.py``
can run it on another checkout of raynn (``--before REV``) in a subprocess and print both side by side.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SIZES = (100, 1000, 10000)
SLOTS = 8
R, ETA = 27, 3


def _metric(rng: np.random.Generator, quality: float, r: int) -> float:
    return quality + 0.5 / r + 0.01 * float(rng.standard_normal())


# -- cores --------------------------------------------------------------------------------------------------


def core_makers() -> dict[str, Callable[[int], Any]]:
    from raynn.hpo import AsyncHalving, HyperBand, SuccessiveHalving

    return {
        # one bracket of n configurations: rounds n, n/3, n/9, n/27 at r = 1, 3, 9, 27
        f"SuccessiveHalving.from_eta(n, 1, {R}, {ETA})": lambda n: SuccessiveHalving.from_eta(n, 1, R, ETA),
        f"HyperBand({R}, {ETA})": lambda n: HyperBand(R, ETA),  # bands repeat until n trials were added
        f"AsyncHalving({R}, {ETA})": lambda n: AsyncHalving(R, ETA),
    }


def run_core(make: Callable[[int], Any], n: int, seed: int = 0) -> dict[str, float]:
    """Mean microseconds per on_result and per choose_paused over the whole stream, and per state_dict()."""
    sched = make(n)
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    t_result = t_choose = 0.0
    n_result = n_choose = 0
    running: list[str] = []
    resource: dict[str, int] = {}
    quality: dict[str, float] = {}
    created, exhausted = 0, False
    while True:
        while len(running) < SLOTS:
            start = clock()
            tid = sched.choose_paused()
            t_choose += clock() - start
            n_choose += 1
            if tid is None:
                if created < n and sched.has_room():
                    tid = f"t{created}"
                    created += 1
                    sched.on_trial_add(tid)
                    resource[tid], quality[tid] = 0, float(rng.random())
                else:
                    break
            running.append(tid)
        if not running:
            if exhausted:
                break
            exhausted = True
            sched.on_search_exhausted()
            sched.pop_stops()
            continue
        i = int(rng.integers(len(running)))
        tid = running[i]
        resource[tid] += 1
        value = _metric(rng, quality[tid], resource[tid])
        start = clock()
        decision = sched.on_result(tid, resource[tid], value)
        t_result += clock() - start
        n_result += 1
        if decision.value != "CONTINUE":
            running[i] = running[-1]
            running.pop()
        sched.pop_stops()
    times = []
    for _ in range(5):
        start = clock()
        sched.state_dict()
        times.append(clock() - start)
    t_state = sorted(times)[2]  # the median of 5
    return {
        "trials": created,
        "results": n_result,
        "us_result": t_result / max(1, n_result) * 1e6,
        "us_choose": t_choose / max(1, n_choose) * 1e6,
        "ms_state_dict": t_state * 1e3,
    }


# -- adapters -----------------------------------------------------------------------------------------------


class _Trial:
    """What a scheduler reads of a Tune ``Trial``: its id and status."""

    __slots__ = ("status", "trial_id")

    def __init__(self, trial_id: str) -> None:
        self.trial_id, self.status = trial_id, "PENDING"

    def set_status(self, status: str) -> None:
        self.status = status


class _Controller:
    """What a scheduler reads of Tune's ``TuneController``: the trials, the search algorithm, ``stop_trial``."""

    def __init__(self, scheduler: Any) -> None:
        from ray.tune.search import BasicVariantGenerator

        self.scheduler = scheduler
        self.trials: list[_Trial] = []
        self.search_alg = BasicVariantGenerator(max_concurrent=SLOTS)

    def get_trials(self) -> list[_Trial]:
        return self.trials

    def stop_trial(self, trial: _Trial) -> None:  # as TuneController.stop_trial for a PAUSED/PENDING trial
        if trial.status in ("PENDING", "PAUSED"):
            self.scheduler.on_trial_remove(self, trial)
        self.search_alg._live_trials.discard(trial.trial_id)
        trial.status = "TERMINATED"


def adapter_makers() -> dict[str, Callable[[], Any]]:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from raynn.tune.schedulers import AsyncHalving, HyperBand, SuccessiveHalving

    kw = {"metric": "loss", "mode": "min"}
    return {
        "Ray FIFOScheduler": lambda: FIFOScheduler(),
        f"Ray ASHAScheduler(max_t={R}, rf={ETA})": lambda: ASHAScheduler(
            time_attr="epoch", max_t=R, grace_period=1, reduction_factor=ETA, **kw
        ),
        f"raynn AsyncHalving({R}, {ETA})": lambda: AsyncHalving(R, ETA, **kw),
        f"raynn HyperBand({R}, {ETA})": lambda: HyperBand(R, ETA, **kw),
        "raynn SuccessiveHalving(81, 9)": lambda: SuccessiveHalving(81, 9, **kw),  # a band per 9 trials
    }


def run_adapter(make: Callable[[], Any], n: int, seed: int = 0) -> dict[str, float]:
    """Mean microseconds per on_trial_result and per choose_trial_to_run, Tune's calls made by a fake."""
    np.random.seed(seed)  # Ray's ASHAScheduler draws its bracket from numpy's global generator
    sched = make()
    ctrl = _Controller(sched)
    live = ctrl.search_alg._live_trials
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    t_result = t_choose = 0.0
    n_result = n_choose = 0
    running: list[_Trial] = []
    quality: dict[str, float] = {}
    epoch: dict[str, int] = {}
    created = 0
    while True:
        while created < n and len(live) < SLOTS:  # the search algorithm makes a trial while it has a slot
            trial = _Trial(f"t{created}")
            created += 1
            if created == n:
                ctrl.search_alg.set_finished()
            live.add(trial.trial_id)
            ctrl.trials.append(trial)
            quality[trial.trial_id], epoch[trial.trial_id] = float(rng.random()), 0
            sched.on_trial_add(ctrl, trial)
        # Tune asks once per step of its event loop, and again for as long as it gets a trial; the live-trial
        # limit keeps the trials started within SLOTS
        while True:
            start = clock()
            trial = sched.choose_trial_to_run(ctrl)
            t_choose += clock() - start
            n_choose += 1
            if trial is None:
                break
            trial.status = "RUNNING"
            running.append(trial)
        if not running:
            if created < n and len(live) < SLOTS:
                continue
            break
        i = int(rng.integers(len(running)))
        trial = running[i]
        tid = trial.trial_id
        epoch[tid] += 1
        result = {"epoch": epoch[tid], "loss": _metric(rng, quality[tid], epoch[tid])}
        start = clock()
        decision = sched.on_trial_result(ctrl, trial, result)
        t_result += clock() - start
        n_result += 1
        if decision == "CONTINUE" and epoch[tid] < R:
            continue
        running[i] = running[-1]
        running.pop()
        if decision == "PAUSE":
            trial.status = "PAUSED"
        else:  # STOP, or the trainable returned at R
            sched.on_trial_complete(ctrl, trial, result)
            live.discard(tid)
            trial.status = "TERMINATED"
    statuses: dict[str, int] = {}
    for trial in ctrl.trials:
        statuses[trial.status] = statuses.get(trial.status, 0) + 1
    return {
        "trials": created,
        "results": n_result,
        "us_result": t_result / max(1, n_result) * 1e6,
        "us_choose": t_choose / max(1, n_choose) * 1e6,
        "left": sum(v for k, v in statuses.items() if k != "TERMINATED"),
    }


def measure(sizes: list[int], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cores": {}, "adapters": {}}
    if what in ("all", "cores"):
        for name, make in core_makers().items():
            out["cores"][name] = {str(n): run_core(make, n) for n in sizes}
    if what in ("all", "adapters"):
        for name, make in adapter_makers().items():
            out["adapters"][name] = {str(n): run_adapter(make, n) for n in sizes}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--what", choices=("all", "cores", "adapters"), default="all")
    args = parser.parse_args()
    import raynn

    print(json.dumps({"raynn": raynn.__file__, **measure(args.sizes, args.what)}))


if __name__ == "__main__":
    main()
