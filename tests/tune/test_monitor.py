"""raynn's Ray metrics and TensorBoard logs of a tuning run.

The bookkeeping is checked with fake trials and no Ray; then once in a real ``ray.tune.Tuner`` (HyperBand,
shared Ray session) against what Ray serves on the node's Prometheus endpoint and what TensorBoard reads back.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from raynn.hpo.ledger import Ledger
from raynn.tune.monitor import STATES, MetricsExporter, TensorBoardLogger


@dataclass
class _Trial:
    trial_id: str
    status: str = "PENDING"
    config: dict[str, Any] = field(default_factory=dict)
    last_result: dict[str, Any] = field(default_factory=dict)


class _Planned:
    """A scheduler as the exporter sees raynn's adapters: rungs 1, 3, 9 and a budget ledger."""

    budget_spent = 0

    def rungs(self) -> list[int]:
        return [1, 3, 9]

    def ledger(self) -> Ledger:
        return Ledger(27, self.budget_spent, ())


def _result(exporter: MetricsExporter, trial: _Trial, epoch: int, loss: float, sps: float) -> None:
    exporter.on_trial_result(0, [], trial, {"epoch": epoch, "loss": loss, "samples_per_s": sps})


def test_exporter_counts_states_rungs_budget_best_and_throughput() -> None:
    scheduler = _Planned()
    exporter = MetricsExporter(scheduler, "loss", "min", "exp-a", refresh_s=1e-9)
    a, b = _Trial("a"), _Trial("b")
    exporter.setup()
    assert exporter.series() == {
        "raynn_trials": dict.fromkeys(STATES, 0.0),
        "raynn_trials_at_rung": {"0": 0.0, "1": 0.0, "3": 0.0, "9": 0.0},
        "raynn_budget_spent": {"": 0.0},
        "raynn_budget": {"": 27.0},
        "raynn_trial_samples_per_second": {},
    }
    exporter.on_step_end(1, [a, b])
    assert exporter.series()["raynn_trials"]["PENDING"] == 2
    for trial in (a, b):
        exporter.on_trial_start(2, [a, b], trial)
        trial.status = "RUNNING"
    _result(exporter, a, 1, 2.0, 100.0)
    _result(exporter, a, 2, 1.5, 110.0)
    _result(exporter, b, 1, 3.0, 50.0)
    series = exporter.series()
    assert series["raynn_trials"] == {**dict.fromkeys(STATES, 0.0), "RUNNING": 2.0}
    assert series["raynn_trials_at_rung"] == {"0": 0.0, "1": 2.0, "3": 0.0, "9": 0.0}  # epoch 2: still rung 1
    assert series["raynn_best_metric"] == {"loss": 1.5}
    assert series["raynn_trial_samples_per_second"] == {"a": 110.0, "b": 50.0}
    assert series["raynn_budget_spent"] == {"": 0.0}  # the scheduler's figure, read at each refresh

    a.status, scheduler.budget_spent = "PAUSED", 3  # Tune has no pause hook: seen at the next refresh
    exporter.on_step_end(3, [a, b])
    series = exporter.series()
    assert series["raynn_trials"] == {**dict.fromkeys(STATES, 0.0), "RUNNING": 1.0, "PAUSED": 1.0}
    assert series["raynn_trial_samples_per_second"] == {"b": 50.0}  # only running trials
    assert series["raynn_budget_spent"] == {"": 3.0}

    exporter.on_trial_complete(4, [a, b], b)
    a.status = "RUNNING"
    exporter.on_trial_start(4, [a, b], a)
    _result(exporter, a, 3, 0.5, 120.0)
    _result(exporter, a, 4, 0.7, 130.0)  # worse, but at a larger epoch: the incumbent is this value
    series = exporter.series()
    assert series["raynn_trials"] == {**dict.fromkeys(STATES, 0.0), "RUNNING": 1.0, "TERMINATED": 1.0}
    assert series["raynn_trials_at_rung"] == {"0": 0.0, "1": 1.0, "3": 1.0, "9": 0.0}
    assert series["raynn_best_metric"] == {"loss": 0.7}
    assert series["raynn_trial_samples_per_second"] == {"a": 130.0}


def test_exporter_without_a_plan_counts_epochs_and_sets_emptied_levels_to_zero() -> None:
    exporter = MetricsExporter(object(), "acc", "max", "exp-b", budget=10)
    a = _Trial("a", status="RUNNING", last_result={"epoch": 2})  # as Tuner.restore hands it back
    exporter.on_trial_start(0, [a], a)
    exporter.on_trial_result(0, [a], a, {"epoch": 3, "acc": 0.5})
    exporter.on_trial_result(0, [a], a, {"epoch": 4, "acc": 0.7})
    series = exporter.series()
    assert series["raynn_trials_at_rung"] == {"0": 0.0, "2": 0.0, "3": 0.0, "4": 1.0}
    assert series["raynn_budget_spent"] == {"": 4.0}  # no scheduler figure: the furthest epochs summed
    assert series["raynn_budget"] == {"": 10.0}
    assert series["raynn_best_metric"] == {"acc": 0.7}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mode": "up"}, "`mode` must be one of 'min', 'max'"),
        ({"experiment": ""}, "`experiment` must be a non-empty string"),
        ({"budget": 0}, "`budget` must be None or an integer >= 1, but got budget=0"),
        ({"refresh_s": 5.0}, "`0 < refresh_s <= 1` must hold"),
    ],
)
def test_exporter_arguments_are_checked(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        MetricsExporter(**{"scheduler": None, "metric": "loss", "mode": "min", "experiment": "e", **kwargs})


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_logger_steps_are_epochs_across_pause_and_recovery(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path, flush_secs=1)
    trial = _Trial("t1", status="RUNNING", config={"lr": 0.1, "model": {"hidden": [32, 16], "act": "relu"}})

    def report(epoch: int, loss: float) -> None:
        result = {"epoch": epoch, "loss": loss, "extra": {"grad_norm": 2.0 * epoch}, "node_id": "n1",
                  "training_iteration": 7, "time_total_s": 1.0, "done": False, "config": trial.config}
        logger.on_trial_result(0, [trial], trial, result)

    report(1, 1.0)
    report(2, 0.5)
    trial.status = "PAUSED"
    logger.on_step_end(1, [trial])  # paused: its writer is closed
    trial.status = "RUNNING"
    report(3, 0.4)
    report(4, 0.3)
    logger.on_trial_recover(2, [trial], trial)
    report(3, 0.35)  # restarted from the epoch-2 checkpoint: TensorBoard drops the old 3 and 4
    logger.on_trial_complete(3, [trial], trial)

    run = logger.log_dir("t1")
    assert run == tmp_path / "tensorboard" / "t1"
    scalars = _scalars(run)
    assert set(scalars) == {"loss", "extra/grad_norm"}
    assert scalars["loss"] == [(1, 1.0), (2, 0.5), (3, pytest.approx(0.35))]
    assert [step for step, _ in scalars["extra/grad_norm"]] == [1, 2, 3]
    events = EventAccumulator(str(run))
    events.Reload()
    start = HParamsPluginData.FromString(events.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["lr"].number_value == 0.1 and hparams["model/act"].string_value == "relu"
    assert hparams["model/hidden"].string_value == "[32, 16]"
    assert '"hidden"' in events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()


def test_tensorboard_logger_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("`flush_secs > 0` must hold, but got flush_secs=0")):
        TensorBoardLogger(tmp_path, flush_secs=0)
    with pytest.raises(ValueError, match=re.escape("`step_key` must be a non-empty string")):
        TensorBoardLogger(tmp_path, step_key="")


# -- under Ray -----------------------------------------------------------------------------------------------


def _trainable(log_dir: str) -> Callable[[dict[str, Any]], None]:
    """``loss = x + 1 / epoch``, ``samples_per_s = 1000 x + epoch``; each epoch appended to a log per trial.

    A closure, so that Ray pickles it by value (workers cannot import test modules).
    """

    def train(config: dict[str, Any]) -> None:
        import json
        import os
        import tempfile

        from ray import tune

        x, start = float(config["x"]), 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory, open(os.path.join(directory, "state.json")) as f:
                start = json.load(f)["epoch"]
        log = os.path.join(log_dir, f"{tune.get_context().get_trial_id()}.log")
        for epoch in range(start + 1, config["max_epoch"] + 1):
            with open(log, "a") as f:
                f.write(f"{epoch}\n")
            metrics = {"epoch": epoch, "loss": x + 1 / epoch, "samples_per_s": 1000 * x + epoch, "node": "n"}
            with tempfile.TemporaryDirectory() as directory:
                with open(os.path.join(directory, "state.json"), "w") as f:
                    json.dump({"epoch": epoch}, f)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    return train


def _scrape(url: str, experiment: str) -> dict[str, dict[str, float]]:
    """The endpoint's ``ray_raynn_*`` series of ``experiment``, as ``{gauge: {label value: value}}``."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, dict[str, float]] = {}
    for name, labels, value in re.findall(r"^ray_(raynn_\w+)\{(.*)\} (\S+)$", text, flags=re.M):
        tags = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        if tags.get("experiment") == experiment:
            key = next((tags[k] for k in ("state", "rung", "metric", "trial_id") if k in tags), "")
            out.setdefault(name, {})[key] = float(value)
    return out


@pytest.mark.ray
def test_metrics_endpoint_and_tensorboard_of_a_real_hyperband_run(ray_session: None, tmp_path: Path) -> None:
    import ray
    from ray import tune

    from raynn.tune import HyperBand

    experiment = f"monitor-{uuid.uuid4().hex[:8]}"
    exp_dir = tmp_path / experiment
    logs = tmp_path / "logs"
    logs.mkdir()
    xs = [0.5, 0.1, 0.3, 0.2, 0.4]  # HyperBand R=3, eta=3: 3 trials at 1 epoch (the best to 3), 2 at 3
    scheduler = HyperBand(max_resource=3, eta=3)
    exporter = MetricsExporter(scheduler, "loss", "min", experiment)
    tuner = tune.Tuner(
        _trainable(str(logs)),
        param_space={"x": tune.grid_search(xs), "max_epoch": 3},
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="loss", mode="min", max_concurrent_trials=4),
        run_config=tune.RunConfig(name=experiment, storage_path=str(tmp_path), verbose=0,
                                  callbacks=[exporter, TensorBoardLogger(exp_dir)]),
    )
    grid = tuner.fit()
    assert grid.num_errors == 0 and grid.num_terminated == len(xs)

    x_of = {r.metrics["trial_id"]: r.config["x"] for r in grid}
    epochs = {t: [int(e) for e in (logs / f"{t}.log").read_text().split()] for t in x_of}
    assert sorted(max(e) for e in epochs.values()) == [1, 1, 3, 3, 3]
    ledger = scheduler.ledger()
    assert ledger.spent == ledger.planned == 11  # 3 x 1 + 1 x 2 + 2 x 3
    expected = {
        "raynn_trials": {**dict.fromkeys(STATES, 0.0), "TERMINATED": float(len(xs))},
        "raynn_trials_at_rung": {"0": 0.0, "1": 2.0, "3": 3.0},
        "raynn_budget_spent": {"": float(ledger.spent)},
        "raynn_budget": {"": float(ledger.planned)},
        # the incumbent: the best value at the largest epoch reached (3)
        "raynn_best_metric": {"loss": pytest.approx(min(x_of[t] + 1 / 3 for t in x_of if max(epochs[t]) == 3))},
    }

    # The driver exports every metrics_report_interval_ms; wait for the final values, with a deadline.
    node = next(n for n in ray.nodes() if n["NodeID"] == ray.get_runtime_context().get_node_id())
    url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    interval = ray._config.metrics_report_interval_ms() / 1000
    deadline = time.monotonic() + 2 * interval + 10
    while True:
        scraped = _scrape(url, experiment)
        done = all(scraped.get(name) == values for name, values in expected.items())
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for name, values in expected.items():
        assert scraped.get(name) == values, (name, scraped)
    # Only running trials keep a samples/s series, and Ray drops a series two report intervals after its last
    # set: whichever trials' series are still there must hold the trial's last reported value.
    for trial_id, value in scraped.get("raynn_trial_samples_per_second", {}).items():
        assert value == 1000 * x_of[trial_id] + max(epochs[trial_id])

    for trial_id, x in x_of.items():
        scalars = _scalars(exp_dir / "tensorboard" / trial_id)
        assert set(scalars) == {"loss", "samples_per_s"}
        assert [step for step, _ in scalars["loss"]] == epochs[trial_id]
        assert [v for _, v in scalars["loss"]] == pytest.approx([x + 1 / e for e in epochs[trial_id]])
        sps = [v for _, v in scalars["samples_per_s"]]
        assert sps == pytest.approx([1000 * x + e for e in epochs[trial_id]])
    assert Counter(len(e) for e in epochs.values()) == {1: 2, 3: 3}
