"""The Tune adapters driven by a deterministic fake of Tune's controller: no Ray cluster, a second or two.

:class:`FakeTune` does what ``TuneController`` does to a scheduler, in the same order each step: ask the
search algorithm for trials (a real ``BasicVariantGenerator``, whose ``max_concurrent`` counts paused
trials as Tune's does), finish pauses, ``choose_trial_to_run``, start *every* pending trial (Tune does not
ask the scheduler before starting a pending trial), let every running trial train one epoch and report. A
paused trial resumes from its checkpointed epoch. The trial with the smallest ``x`` has the best curve
``x + 1 / epoch`` at every epoch, so which trials a correct halving promotes is known in advance.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import BasicVariantGenerator

from raynn.errors import ConfigError
from raynn.hpo.ledger import Ledger
from raynn.tune import SCHEDULERS, AsyncHalving, HalvingAdapter, HyperBand, SuccessiveHalving, build_scheduler
from raynn.tune.schedulers import LearningCurveStopping
from raynn_testing.trainables import curve_loss

PENDING, RUNNING, PAUSED, TERMINATED = Trial.PENDING, Trial.RUNNING, Trial.PAUSED, Trial.TERMINATED


@dataclass(eq=False)
class FakeTrial:
    trial_id: str
    x: float
    status: str = PENDING
    epoch: int = 0  # the checkpointed epoch: a resumed trial continues after it
    pausing: bool = False
    history: list[int] = field(default_factory=list)
    storage: Any = None

    def set_status(self, status: str) -> None:
        self.status = status

    @property
    def run_metadata(self) -> Any:
        """Tune's run metadata: the last result, as a trial restored by ``Tuner.restore`` carries it."""
        return SimpleNamespace(last_result={"epoch": self.epoch} if self.epoch else {})

    @property
    def is_saving(self) -> bool:
        """Tune's ``Trial.is_saving``: a trial told to pause stays RUNNING while Tune saves it."""
        return self.pausing


class FakeTune:
    """The parts of ``TuneController`` a scheduler meets, stepped deterministically."""

    def __init__(
        self,
        scheduler: HalvingAdapter,
        xs: list[float],
        slots: int,
        max_epoch: int = 50,
        mode: str = "min",
    ) -> None:
        self.scheduler = scheduler
        self.search_alg = BasicVariantGenerator(max_concurrent=slots)
        self.todo = list(enumerate(xs))
        self.trials: list[FakeTrial] = []
        self.slots, self.max_epoch = slots, max_epoch
        self.max_running = 0
        self.steps = 0
        scheduler.set_search_properties("loss", mode)

    def get_trials(self) -> list[FakeTrial]:
        return self.trials

    def add(self, trial: FakeTrial) -> None:
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)

    def stop_trial(self, trial: FakeTrial) -> None:
        if trial.status == TERMINATED:
            return
        if trial.status in (PENDING, PAUSED):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, {})
        self.search_alg.on_trial_complete(trial.trial_id)
        trial.status, trial.pausing = TERMINATED, False

    def step(self) -> None:
        self.steps += 1
        live = self.search_alg._live_trials
        while not self.search_alg.is_finished() and (self.slots == 0 or len(live) < self.slots):
            if not self.todo:
                self.search_alg.set_finished()
                break
            i, x = self.todo.pop(0)
            live.add(f"t{i:02d}")
            self.add(FakeTrial(f"t{i:02d}", x))
        chosen = self.scheduler.choose_trial_to_run(self)
        if chosen is not None:
            assert chosen.status in (PENDING, PAUSED), (chosen.trial_id, chosen.status)
            chosen.status = PENDING
        for trial in self.trials:  # a pause that was asked for in the previous step completes now
            if trial.pausing:
                trial.pausing, trial.status = False, PAUSED
        for trial in self.trials:
            if trial.status == PENDING:
                trial.status = RUNNING
        running = [t for t in self.trials if t.status == RUNNING]
        self.max_running = max(self.max_running, len(running))
        for trial in running:
            if trial.pausing or trial.status != RUNNING:  # pausing, or stopped by another trial's result
                continue
            trial.epoch += 1
            trial.history.append(trial.epoch)
            result = {"epoch": trial.epoch, "loss": curve_loss(trial.x, trial.epoch)}
            decision = self.scheduler.on_trial_result(self, trial, result)
            if decision == "PAUSE":
                trial.pausing = True
            elif decision == "STOP" or trial.epoch >= self.max_epoch:
                self.stop_trial(trial)

    def finished(self) -> bool:
        return self.search_alg.is_finished() and all(t.status == TERMINATED for t in self.trials)

    def run(self, max_steps: int = 5000) -> None:
        while not self.finished():
            assert self.steps < max_steps, {t.trial_id: t.status for t in self.trials}
            self.step()

    def finals(self) -> dict[str, int]:
        return {t.trial_id: t.epoch for t in self.trials}


def _xs(n: int) -> list[float]:
    """A fixed shuffle of ``0..n-1`` (over ``n``): arrival order is not ranking order."""
    step = 5 if n % 5 else 7
    return [((i * step) % n) / n for i in range(n)]


def _expected(xs: list[float], brackets: list[tuple[list[tuple[int, int]], int]]) -> dict[str, int]:
    """Final epoch of each trial under correct synchronous halving, worked out from the known ranking.

    ``brackets``: the plan's brackets in filling order, each ``(rounds [(n_i, r_i)], halving)``, repeated.
    Arrival order fills them; a round with ``m`` trials keeps the best ``max(1, m // halving)``.
    """
    finals: dict[str, int] = {}
    ids = [f"t{i:02d}" for i in range(len(xs))]
    start, k = 0, 0
    while start < len(ids):
        rounds, halving = brackets[k % len(brackets)]
        group = ids[start : start + rounds[0][0]]
        start, k = start + len(group), k + 1
        alive = sorted(group, key=lambda t: xs[int(t[1:])])
        for i, (_, r) in enumerate(rounds):
            for t in alive:
                finals[t] = r
            alive = alive[: max(1, len(alive) // halving)]
    return finals


SH_48_8 = ([(8, 3), (4, 9)], 2)
HB_9_3 = [([(9, 1), (3, 3), (1, 9)], 3), ([(5, 3), (1, 9)], 3), ([(3, 9)], 3)]


@pytest.mark.parametrize("slots", [1, 2, 3, 0])
@pytest.mark.parametrize(
    ("make", "n", "plan"),
    [
        pytest.param(lambda: SuccessiveHalving(48, 8), 8, [SH_48_8], id="sh_one_band"),
        pytest.param(lambda: SuccessiveHalving(48, 8), 5, [SH_48_8], id="sh_fewer"),
        pytest.param(lambda: SuccessiveHalving(48, 8), 16, [SH_48_8], id="sh_two_bands"),
        pytest.param(lambda: SuccessiveHalving(48, 8), 11, [SH_48_8], id="sh_band_and_a_half"),
        pytest.param(lambda: HyperBand(9, 3), 9, HB_9_3, id="hb_one_bracket"),
        pytest.param(lambda: HyperBand(9, 3), 13, HB_9_3, id="hb_two_brackets"),
        pytest.param(lambda: HyperBand(9, 3), 20, HB_9_3, id="hb_a_band_and_more"),
    ],
)
def test_halving_promotes_the_best_with_any_number_of_slots(make: Any, n: int, plan: Any, slots: int) -> None:
    xs = _xs(n)
    tune = FakeTune(make(), xs, slots)
    tune.run()
    assert tune.finals() == _expected(xs, plan)
    for trial in tune.trials:  # resumed from its checkpoint: 1, 2, 3, ... never again from 1
        assert trial.history == list(range(1, trial.epoch + 1)), trial.trial_id
    if slots:
        assert tune.max_running <= slots


@pytest.mark.parametrize("slots", [1, 2, 3, 0])
@pytest.mark.parametrize("n", [1, 4, 9, 20])
def test_async_halving_pauses_promotes_and_ends(slots: int, n: int) -> None:
    xs = _xs(n)
    scheduler = AsyncHalving(9, 3)
    tune = FakeTune(scheduler, xs, slots)
    tune.run()
    assert set(tune.finals().values()) <= {1, 3, 9}
    best = min(tune.trials, key=lambda t: t.x)
    assert best.epoch == 9  # the best curve is promoted through every rung
    for trial in tune.trials:
        assert trial.history == list(range(1, trial.epoch + 1)), trial.trial_id
    ledger = scheduler.ledger()
    assert [row.reached for row in ledger.brackets[0].rounds] == [
        sum(t.epoch >= r for t in tune.trials) for r in (1, 3, 9)
    ]
    assert ledger.spent == scheduler.budget_spent == sum(tune.finals().values())
    if slots:
        assert tune.max_running <= slots


def test_async_halving_promotes_before_starting_new_trials() -> None:
    """With one slot, a promotable paused trial runs before the next new trial (ASHA's ``get_job``)."""
    xs = [0.5, 0.1, 0.9, 0.8, 0.7, 0.6]
    tune = FakeTune(AsyncHalving(9, 3), xs, slots=1)
    order: list[str] = []
    while not tune.finished():
        tune.step()
        for trial in tune.trials:
            if trial.status == RUNNING and (not order or order[-1] != trial.trial_id):
                order.append(trial.trial_id)
    # after three rung-0 results t01 (x=0.1) is in the top third: it is resumed before t03 starts
    assert order.index("t01", 2) < order.index("t03")


def test_missing_resource_attribute_stops_the_trial(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = SuccessiveHalving(48, 8, metric="loss", mode="min")
    tune = FakeTune(scheduler, [0.1], slots=1)
    tune.step()
    trial = tune.trials[0]
    with caplog.at_level(logging.ERROR, logger="raynn.tune.schedulers"):
        decision = scheduler.on_trial_result(tune, trial, {"training_iteration": 1, "loss": 0.3})
    assert decision == "STOP"
    assert "`epoch` (resource_attr)" in caplog.text and "training_iteration" not in caplog.text
    with caplog.at_level(logging.ERROR, logger="raynn.tune.schedulers"):
        assert scheduler.on_trial_result(tune, trial, {"epoch": 2.5, "loss": 0.3}) == "STOP"
        assert scheduler.on_trial_result(tune, trial, {"epoch": 2}) == "STOP"
    assert "epoch=2.5" in caplog.text and "metric `loss`" in caplog.text
    assert scheduler.on_trial_result(tune, trial, {"epoch": 0, "loss": 0.3}) == "CONTINUE"  # before training
    assert scheduler.on_trial_result(tune, trial, {"epoch": 1.0, "loss": 0.3}) == "CONTINUE"


def test_metric_and_mode_come_from_tune_config() -> None:
    scheduler = HyperBand(9)
    assert scheduler.set_search_properties("acc", "max")
    assert (scheduler.metric, scheduler.mode) == ("acc", "max")
    assert scheduler.set_search_properties("acc", "max")  # the same again is fine
    assert not scheduler.set_search_properties("loss", None)
    assert not HyperBand(9, metric="acc", mode="max").set_search_properties("acc", "min")
    with pytest.raises(ValueError, match="needs `metric` and `mode`"):
        HyperBand(9, metric="acc").set_search_properties(None, None)


def test_mode_max_promotes_the_largest() -> None:
    scheduler = SuccessiveHalving(48, 8)
    tune = FakeTune(scheduler, _xs(8), slots=2, mode="max")
    tune.run()
    assert scheduler.mode == "max"
    top = sorted(tune.trials, key=lambda t: -t.x)[:4]
    assert {t.trial_id for t in tune.trials if t.epoch == 9} == {t.trial_id for t in top}


def test_trials_beyond_max_bands_end_without_training() -> None:
    scheduler = HyperBand(3, 3, max_bands=1)  # one band: brackets of 3 and 2 trials
    tune = FakeTune(scheduler, _xs(8), slots=2)
    tune.run()
    assert [t.history == [] for t in tune.trials] == [False] * 5 + [True] * 3
    assert all(t.status == TERMINATED for t in tune.trials)


def test_ledger_and_plan_of_successive_halving() -> None:
    scheduler = SuccessiveHalving(48, 8)
    assert scheduler.plan() == [
        {"bracket": 0, "round": 0, "n": 8, "r": 3},
        {"bracket": 0, "round": 1, "n": 4, "r": 9},
    ]
    tune = FakeTune(scheduler, _xs(11), slots=2)
    tune.run()
    ledger = scheduler.ledger()
    assert ledger.scheduler == "SuccessiveHalving"
    assert ledger.planned == 96 and ledger.spent == scheduler.budget_spent == 48 + 3 * 3 + 6
    assert [(b.band, b.planned, b.spent) for b in ledger.brackets] == [(0, 48, 48), (1, 48, 15)]
    assert [(r.entered, r.reached) for r in ledger.brackets[1].rounds] == [(3, 3), (1, 1)]
    assert Ledger.from_json(json.loads(json.dumps(ledger.to_json()))) == ledger  # typed to the JSON edge


def test_hyperband_ledger_has_one_row_per_bracket() -> None:
    scheduler = HyperBand(9, 3)
    tune = FakeTune(scheduler, _xs(13), slots=3)
    tune.run()
    ledger = scheduler.ledger()
    assert [(b.band, b.bracket) for b in ledger.brackets] == [(0, 2), (0, 1)]
    assert [[r.entered for r in b.rounds] for b in ledger.brackets] == [[9, 3, 1], [4, 1]]
    assert ledger.spent == sum(tune.finals().values())


@pytest.mark.parametrize(
    "make", [lambda: SuccessiveHalving(48, 8), lambda: HyperBand(9, 3), lambda: AsyncHalving(9, max_trials=13)],
    ids=["sh", "hb", "asha"],
)
def test_a_restore_without_the_snapshot_callback_fails_with_one_clear_error(make: Any) -> None:
    """A plain ``Tuner`` restored without ``snapshot_callback()``: the fresh scheduler would decide rungs without
    the results its trials already reported, so Tune's first step after the restore raises."""
    first = FakeTune(make(), _xs(13), slots=2)
    for _ in range(12):
        first.step()
    restored = make()  # what Tune unpickles from tuner.pkl: the scheduler as it was constructed
    second = FakeTune(restored, [], slots=2)
    fresh = [t for t in first.trials if t.epoch == 0]
    for trial in fresh:  # no results yet: nothing to decide wrongly, taken as new
        trial.status = PENDING
        second.add(trial)
    assert set(restored.trial_rungs()) == {t.trial_id for t in fresh}
    for trial in first.trials:
        if trial.epoch > 0:  # Tune's restore swallows an error of on_trial_add: its next step raises it
            trial.status = PENDING
            second.add(trial)
    epochs = second.finals()
    with pytest.raises(RuntimeError, match=r"tune\.RunConfig\(callbacks=\[scheduler\.snapshot_callback\(\)\]\)"):
        second.step()
    assert second.finals() == epochs  # raised before any trial trained again


@pytest.mark.parametrize("slots", [1, 2])
@pytest.mark.parametrize("stop_after", [5, 20, 40])
@pytest.mark.parametrize(
    "make", [lambda: SuccessiveHalving(48, 8), lambda: HyperBand(9, 3), lambda: AsyncHalving(9, max_trials=13)],
    ids=["sh", "hb", "asha"],
)
def test_a_scheduler_restored_from_tunes_snapshot_continues(make: Any, stop_after: int, slots: int) -> None:
    """``snapshot_callback()``: Tune saves the callback's state with its experiment snapshot and calls
    ``set_state`` on restore before re-adding the trials it knew at that moment."""
    xs = _xs(13)
    reference = FakeTune(make(), xs, slots)
    reference.run()

    first_scheduler = make()
    callback = first_scheduler.snapshot_callback()
    first = FakeTune(first_scheduler, xs, slots)
    for _ in range(stop_after):
        first.step()
    snapshot = json.loads(json.dumps(callback.get_state()))  # what Tune pickles, as plain data

    restored = make()
    restored.snapshot_callback().set_state(snapshot)
    second = FakeTune(restored, [], slots)
    second.todo = first.todo
    second.search_alg._live_trials = set(first.search_alg._live_trials)
    second.search_alg._finished = first.search_alg._finished
    for trial in first.trials:
        if trial.status != TERMINATED:
            trial.status, trial.pausing = PENDING, False
        second.add(trial)
    assert restored.budget_spent == first_scheduler.budget_spent
    second.run()
    assert second.finals() == reference.finals()
    for trial in second.trials:
        assert trial.history == list(range(1, trial.epoch + 1)), trial.trial_id
    assert restored.ledger() == reference.scheduler.ledger()


def test_trial_rungs_are_those_of_each_trials_bracket() -> None:
    tune = FakeTune(HyperBand(9, 3), _xs(17), slots=2)
    tune.run()
    rungs = tune.scheduler.trial_rungs()
    assert sorted(map(tuple, rungs.values())) == [(1, 3, 9)] * 9 + [(3, 9)] * 5 + [(9,)] * 3
    assert AsyncHalving(9).rungs() == [1, 3, 9]


def test_state_dict_round_trip_and_config_check(tmp_path: Any) -> None:
    scheduler = HyperBand(9, 3)
    tune = FakeTune(scheduler, _xs(7), slots=2)
    for _ in range(6):
        tune.step()
    path = tmp_path / "sched.json"
    scheduler.save(str(path))
    copy = HyperBand(9, 3)
    copy.restore(str(path))
    assert copy.state_dict() == scheduler.state_dict()
    with pytest.raises(ValueError, match="built with other arguments"):
        HyperBand(9, 2).restore(str(path))
    with pytest.raises(ValueError, match="saved with mode='min', but this scheduler has mode='max'"):
        HyperBand(9, 3, mode="max").restore(str(path))


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n_configs >= 3"):
        SuccessiveHalving(48, 2)
    with pytest.raises(ValueError, match="max_bands"):
        SuccessiveHalving(48, 8, max_bands=0)
    with pytest.raises(ValueError, match="eta"):
        HyperBand(9, eta=1)
    with pytest.raises(ValueError, match="max_trials"):
        AsyncHalving(9, max_trials=0)
    with pytest.raises(ValueError, match="resource_attr"):
        AsyncHalving(9, resource_attr="")
    with pytest.raises(ValueError, match="mode"):
        HyperBand(9, mode="up")


def test_registry_builds_every_scheduler_the_cli_names() -> None:
    assert SCHEDULERS.names() == ["asha", "curve", "fifo", "hyperband", "sh"]
    args = {"budget": 48, "num_configs": 8, "max_resource": 9, "eta": 3, "metric": "loss", "mode": "min"}
    built = {entry.name: build_scheduler(entry.name, **entry.obj.options.pick(args)) for entry in SCHEDULERS}
    assert all(entry.summary for entry in SCHEDULERS)
    assert isinstance(built["sh"], SuccessiveHalving) and built["sh"].plan()[0]["n"] == 8
    assert isinstance(built["hyperband"], HyperBand) and isinstance(built["asha"], AsyncHalving)
    assert type(built["fifo"]).__name__ == "FIFOScheduler"
    assert isinstance(built["curve"], LearningCurveStopping) and built["curve"].rule.max_resource == 9
    with pytest.raises(ValueError, match="valid names"):
        SCHEDULERS.get("median")


def test_a_scheduler_refuses_an_option_it_does_not_take_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        build_scheduler("sh", budget=48, num_configs=8, eta=3)
    assert str(info.value) == ("eta: is not a known option of scheduler 'sh'; valid options here: budget, "
                               "num_configs, metric, mode, got 3")
    with pytest.raises(ConfigError, match="^budget: is required for scheduler 'sh', got "):
        build_scheduler("successive_halving", num_configs=8)
    assert type(build_scheduler("fifo")).__name__ == "FIFOScheduler"
    with pytest.raises(ConfigError, match="^metric: is not a known option of scheduler 'fifo'"):
        build_scheduler("fifo", metric="loss")


def test_curve_stopping_adapter_stops_what_the_rule_stops() -> None:
    sched = build_scheduler("curve", max_resource=9, metric="loss", mode="min")
    good, poor = FakeTrial("good", 0.0), FakeTrial("poor", 1.0)
    for r in range(1, 10):
        assert sched.on_trial_result(None, good, {"epoch": r, "loss": 0.1 + 0.5 / r}) == TrialScheduler.CONTINUE
    decisions = [sched.on_trial_result(None, poor, {"epoch": r, "loss": 0.6 + 1.0 / r}) for r in (1, 2)]
    assert decisions == [TrialScheduler.CONTINUE, TrialScheduler.STOP]  # grace is 2 results at R = 9
    # a result without the metric or the epoch is no evidence
    assert sched.on_trial_result(None, FakeTrial("x", 0.0), {"epoch": 3}) == TrialScheduler.CONTINUE
    assert sched.rule.stopped == ["poor"]
