"""What pausing and resuming a trial costs, for each trial runner raynn has.

A halving scheduler pauses trials at every rung and resumes the promoted ones, so this cost is paid many
times per experiment. For each runner (the in-process loop, and a 2-worker Ray Train ``TorchTrainer``), one
trial of a digits run is paused after its first epoch and resumed at once; the pause-and-resume cost is the gap
between the report before the pause and the first report after it, minus one ordinary epoch (the median gap
between later reports). Medians over ``--repeats`` trials. raynn's default runner (in-process for one worker
per trial) follows from this table. The in-process runner is measured as ``raynn tune`` runs it (actors reused,
a checkpoint at the rung where it pauses, the data kept prepared in the actor) and with ``reuse_actors=False``
(Tune's default for function trainables). Target (issue 9): at most 0.5 s for the in-process runner.

    python scripts/bench_pause.py [--repeats 3] [--no-train]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from ray import tune
from ray.tune.schedulers import FIFOScheduler

from raynn.api import ensure_ray
from raynn.tune.trial import run_trial

SPACE = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [64]}},
             "train": {"epochs": 5, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}},
}


class PauseOnce(FIFOScheduler):
    """Pauses every trial once, after its first epoch; records when each report arrived."""

    # As raynn's adapters: each result reaches the scheduler on its own, so its arrival time is the report's
    # (with buffering, Tune hands over results in batches and the gaps between them measure the batching).
    _supports_buffered_results = False

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, list[tuple[int, float]]] = {}
        self.paused: set[str] = set()

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        self.times.setdefault(trial.trial_id, []).append((int(result["epoch"]), time.monotonic()))
        if result["epoch"] == 1 and trial.trial_id not in self.paused:
            self.paused.add(trial.trial_id)
            return self.PAUSE
        return self.CONTINUE

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        # Resume a paused trial before starting a new one, so the gap measures the pause alone.
        for status in ("PAUSED", "PENDING"):
            for trial in tune_controller.get_trials():
                if trial.status == status:
                    return trial
        return None


def measure(workers: int, repeats: int, reuse: bool) -> tuple[float, float, float]:
    sched = PauseOnce()
    with tempfile.TemporaryDirectory() as storage:
        trainable = tune.with_parameters(run_trial, space=SPACE, overrides={"train.workers": workers,
                                                                            "storage": storage},
                                         rungs=[1], checkpoint_every=0)
        trainable = tune.with_resources(trainable, {"CPU": 1} if workers == 1 else {"CPU": 0.1})
        tune.Tuner(
            trainable, param_space={"optimizer.lr": tune.uniform(0.01, 0.1)},
            tune_config=tune.TuneConfig(scheduler=sched, num_samples=repeats, max_concurrent_trials=1,
                                        metric="val_loss", mode="min",
                                        reuse_actors=reuse),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        ).fit()
    costs, epoch_times, gaps = [], [], []
    for trial_id, reports in sched.times.items():
        seen = [e for e, _ in reports]
        if seen != list(range(1, len(seen) + 1)):  # a resume that retrained epochs would not be a resume
            raise SystemExit(f"trial {trial_id} reported epochs {seen}: it did not resume from its checkpoint")
        t = dict(reports)
        epoch = statistics.median(t[e + 1] - t[e] for e in range(2, max(t)))
        costs.append(t[2] - t[1] - epoch)
        gaps.append(t[2] - t[1])
        epoch_times.append(epoch)
    return statistics.median(costs), statistics.median(epoch_times), statistics.median(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-train", action="store_true", help="skip the Ray Train runner (slow to start)")
    args = parser.parse_args()
    ensure_ray(num_cpus=4)
    rows = [("in-process, actors reused (raynn tune)", *measure(1, args.repeats, True)),
            ("in-process, reuse_actors=False", *measure(1, args.repeats, False))]
    if not args.no_train:
        rows.append(("Ray Train TorchTrainer (2 workers)", *measure(2, args.repeats, False)))
    print(f"pause + resume of one trial after epoch 1 (digits MLP, median of {args.repeats} trials)")
    print(f"{'trial runner':<42}{'pause+resume s':>16}{'epoch s':>10}{'gap s':>8}")
    for name, cost, epoch, gap in rows:
        print(f"{name:<42}{cost:>16.2f}{epoch:>10.3f}{gap:>8.2f}")
    print("gap: between the reports of epochs 1 and 2 (the pause and resume plus one epoch); epoch: the median "
          "gap between later reports, as the driver sees them")
    verdict = "met" if rows[0][1] <= 0.5 else "NOT met"
    print(f"target: in-process pause + resume <= 0.5 s: {verdict} ({rows[0][1]:.2f} s)")
    if len(rows) > 2:
        print(f"ratio Ray Train / in-process (reused): {rows[2][1] / rows[0][1]:.1f}x")


if __name__ == "__main__":
    main()
