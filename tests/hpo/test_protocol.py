"""One protocol test over every scheduler core (Syne Tune style): a simulated cluster, no Ray, seconds.

A deterministic cluster with ``slots`` workers and random learning curves (seeded ``numpy.random.Generator``)
drives each core through add / result / pause / resume / remove / exhausted and checks every decision.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from raynn.hpo import (SCHEDULERS, AsyncHalving, Decision, HalvingScheduler, HyperBand, Mode, SuccessiveHalving,
                       TrialStatus)


@dataclass(frozen=True)
class Case:
    name: str
    registry_name: str
    make: Callable[[], HalvingScheduler]
    max_new: int  # configurations the search produces before it is exhausted


CASES = [
    Case("sh_B64_N8", "successive_halving", lambda: SuccessiveHalving(64, 8), max_new=8),
    Case(
        "sh_B100_N5_max_sealed",
        "successive_halving",
        lambda: SuccessiveHalving(100, 5, mode="max"),
        max_new=4,
    ),
    Case("sh_B200_N16_more_than_N", "successive_halving", lambda: SuccessiveHalving(200, 16), max_new=20),
    Case("sh_eta_n9_r1_9", "successive_halving", lambda: SuccessiveHalving.from_eta(9, 1, 9, 3), max_new=9),
    Case("hyperband_R9_eta3", "hyperband", lambda: HyperBand(9, 3), max_new=40),
    Case("hyperband_R12_eta2_rmin3_max", "hyperband", lambda: HyperBand(12, 2, 3, mode="max"), max_new=23),
    Case("hyperband_one_band", "hyperband", lambda: HyperBand(9, 3, max_bands=1), max_new=100),
    Case("asha_R9_eta3_max_trials", "asha", lambda: AsyncHalving(9, 3, max_trials=30), max_new=40),
    Case("asha_R16_eta2_rmin2_max", "asha", lambda: AsyncHalving(16, 2, 2, mode="max"), max_new=25),
]


@dataclass
class Cluster:
    """A fake cluster: a running trial trains one unit per ``duration`` ticks and reports after each unit."""

    sched: HalvingScheduler
    slots: int
    rng: np.random.Generator
    max_new: int
    removals: bool
    state: dict[str, str] = field(default_factory=dict)  # running / paused / stopped / removed
    resource: dict[str, int] = field(default_factory=dict)
    curve: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)
    reached: dict[str, list[float]] = field(default_factory=dict)  # metric at each rung reached
    removed_waiting: set[tuple[str, int]] = field(default_factory=set)
    asha_rungs: dict[int, list[str]] = field(default_factory=dict)  # rung -> trials in order of reaching
    heap: list[tuple[int, int, str]] = field(default_factory=list)
    log: list[tuple[object, ...]] = field(default_factory=list)
    now: int = 0
    seq: int = 0
    created: int = 0
    steps: int = 0
    exhausted: bool = False

    # -- helpers --------------------------------------------------------------------------------------------

    def key(self, tid: str, rung: int) -> tuple[float, int]:
        value = self.reached[tid][rung]
        return (value if self.sched.mode is Mode.MIN else -value, int(tid[1:]))

    def last_target(self, tid: str) -> int:
        labels = list(dict.fromkeys(row["bracket"] for row in self.sched.plan()))
        label = labels[self.sched.bracket_of(tid) % len(labels)]
        return max(row["r"] for row in self.sched.plan() if row["bracket"] == label)

    def schedule(self, tid: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.now + self.curve[tid][3], self.seq, tid))

    def running(self) -> int:
        return sum(s == "running" for s in self.state.values())

    def sync_stops(self) -> None:
        for tid in self.sched.pop_stops():
            assert self.state[tid] == "paused", (tid, self.state[tid])
            self.state[tid] = "stopped"
            self.log.append(("stopped", tid))

    def check_budget(self) -> None:
        assert self.sched.budget_spent == sum(self.resource.values())
        if isinstance(self.sched, SuccessiveHalving):
            assert self.sched.budget_spent <= self.sched.budget

    def check_promotion(self, tid: str, rung: int) -> None:
        """ASHA: a trial leaves rung k only from its top floor(n_k/eta) (max(1, .) once the search ends)."""
        if not isinstance(self.sched, AsyncHalving):
            return
        ranked = sorted(self.asha_rungs[rung], key=lambda t: self.key(t, rung))
        top = len(ranked) // self.sched.eta
        if not self.sched.has_room():
            top = max(1, top)
        assert tid in ranked[:top], (tid, rung, ranked, top)

    # -- the event loop -------------------------------------------------------------------------------------

    def fill(self) -> None:
        while self.running() < self.slots:
            peek, queued = self.sched.next_paused(), self.sched.queued()
            assert self.sched.next_paused() == peek, "naming the next trial hands nothing out"
            assert all(self.state[t] == "paused" and self.sched.status(t) is TrialStatus.QUEUED for t in queued)
            tid = self.sched.choose_paused()
            assert tid == peek, "choose_paused hands out the trial next_paused named"
            assert not queued or tid == queued[0], "promoted trials are handed out in order"
            if tid is not None:
                assert self.state[tid] == "paused", "only a paused trial may be resumed"
                rung = self.sched.rung_of(tid)
                assert rung == len(self.reached[tid]), "a resumed trial was promoted one rung up"
                assert self.sched.target(tid) > self.resource[tid], "it resumes from its own resource"
                self.check_promotion(tid, rung - 1)
                self.state[tid] = "running"
                self.log.append(("resume", tid, self.resource[tid], self.sched.target(tid)))
                self.schedule(tid)
            elif self.created < self.max_new and self.sched.has_room():
                tid = f"t{self.created}"
                self.created += 1
                self.sched.on_trial_add(tid)
                self.state[tid], self.resource[tid], self.reached[tid] = "running", 0, []
                a, b, c = self.rng.uniform(0.1, 1.0), self.rng.uniform(0.5, 2.0), self.rng.uniform(0.05, 1.0)
                self.curve[tid] = (a, b, c, int(self.rng.integers(1, 4)))
                assert self.sched.rung_of(tid) == 0
                self.log.append(("add", tid, self.sched.target(tid)))
                self.schedule(tid)
                if self.created == self.max_new and self.slots == 2:  # told with the last configuration
                    self.exhaust()
            elif self.created == self.max_new and not self.exhausted:  # told when asked for one more
                self.exhaust()
            else:
                return

    def exhaust(self) -> None:
        self.exhausted = True
        self.sched.on_search_exhausted()
        self.log.append(("exhausted",))
        self.sync_stops()

    def step(self) -> None:
        self.now, _, tid = heapq.heappop(self.heap)
        assert self.state[tid] == "running"
        if self.removals and self.rng.random() < 0.03:  # the trial errors
            self.state[tid] = "removed"
            self.sched.on_trial_remove(tid)
            self.log.append(("error", tid))
            self.sync_stops()
            return
        self.resource[tid] += 1
        r = self.resource[tid]
        a, b, c, _ = self.curve[tid]
        loss = a + b / (1.0 + c * r) + 0.02 * self.rng.standard_normal()
        value = loss if self.sched.mode is Mode.MIN else -loss
        target, rung = self.sched.target(tid), self.sched.rung_of(tid)
        decision = self.sched.on_result(tid, r, value)
        assert isinstance(decision, Decision)
        self.log.append(("result", tid, r, decision, self.sched.target(tid)))
        if r < target:
            assert decision is Decision.CONTINUE and self.sched.rung_of(tid) == rung
        else:
            self.reached[tid].append(value)
            assert len(self.reached[tid]) == rung + 1
            if isinstance(self.sched, AsyncHalving):
                self.asha_rungs.setdefault(rung, []).append(tid)
            if target == self.last_target(tid):
                assert decision is Decision.STOP
            elif decision is Decision.CONTINUE:
                assert self.sched.rung_of(tid) == rung + 1 and self.sched.target(tid) > r
                self.check_promotion(tid, rung)
            elif decision is Decision.PAUSE:
                assert self.sched.rung_of(tid) == rung
        if decision is Decision.CONTINUE:
            self.schedule(tid)
        else:
            self.state[tid] = "paused" if decision is Decision.PAUSE else "stopped"
        self.sync_stops()
        paused = sorted((t for t, s in self.state.items() if s == "paused"), key=lambda t: int(t[1:]))
        if self.removals and paused and self.rng.random() < 0.05:  # the user stops a paused trial
            victim = paused[int(self.rng.integers(len(paused)))]
            if self.sched.rung_of(victim) == len(self.reached[victim]) - 1:  # not promoted yet
                self.removed_waiting.add((victim, len(self.reached[victim]) - 1))
            self.state[victim] = "removed"
            self.sched.on_trial_remove(victim)
            self.log.append(("user_stop", victim))
            self.sync_stops()

    def run(self, until: int | None = None) -> None:
        while until is None or self.steps < until:
            self.fill()
            if not self.heap:
                return
            self.step()
            self.steps += 1
            self.check_budget()

    # -- final checks ---------------------------------------------------------------------------------------

    def check_end(self) -> None:
        assert "paused" not in self.state.values(), "no trial may be left paused"
        assert "running" not in self.state.values()
        assert self.sched.is_finished()
        assert self.sched.choose_paused() is None and self.sched.pop_stops() == []
        assert not self.sched.has_room() or self.created < self.max_new
        best = self.sched.best()
        assert (best is None) == (not any(self.reached.values()))
        if best is not None:
            assert self.reached[best]
            if isinstance(self.sched, AsyncHalving):  # one ladder of rungs: the best is at the deepest rung
                assert len(self.reached[best]) == max(len(v) for v in self.reached.values())
        if isinstance(self.sched, AsyncHalving):
            self.check_asha_rungs()
        else:
            self.check_sync_rungs()

    def check_sync_rungs(self) -> None:
        """Each decided rung keeps exactly the best max(1, floor(m / h)) of its m live configurations."""
        halving = self.sched.halving
        rows = self.sched.plan()
        labels = list(dict.fromkeys(row["bracket"] for row in rows))
        groups: dict[tuple[int, int], list[str]] = {}
        for tid, values in self.reached.items():
            for rung in range(len(values)):
                groups.setdefault((self.sched.bracket_of(tid), rung), []).append(tid)
        for (bracket, rung), members in groups.items():
            label = labels[bracket % len(labels)]
            sizes = [row["n"] for row in rows if row["bracket"] == label]
            if rung == len(sizes) - 1:
                continue
            live = [t for t in members if (t, rung) not in self.removed_waiting]
            live.sort(key=lambda t: self.key(t, rung))
            expected = set(live[: max(1, len(live) // halving)]) if live else set()
            survivors = {t for t in members if self.sched.rung_of(t) > rung}
            assert survivors == expected, (bracket, rung, survivors, expected)
            # Without removals, a bracket filled with n_0 configurations follows the plan exactly.
            if not self.removals and len(groups.get((bracket, 0), [])) == sizes[0]:
                assert len(members) == sizes[rung] and len(survivors) == sizes[rung + 1]

    def check_asha_rungs(self) -> None:
        """At the end, every trial in the top floor(n_k / eta) of rung k was promoted (unless removed)."""
        assert isinstance(self.sched, AsyncHalving)
        for rung, members in self.asha_rungs.items():
            if rung == len(self.sched.rungs) - 1:
                continue
            ranked = sorted(members, key=lambda t: self.key(t, rung))
            for tid in ranked[: max(1, len(ranked) // self.sched.eta)]:
                assert self.sched.rung_of(tid) > rung or (tid, rung) in self.removed_waiting, (rung, tid)


def test_cases_cover_the_registry() -> None:
    # fifo has no core; curve is a stopping rule (tests/hpo/test_curve_stopping.py), not a halving core
    cores = {entry.name for entry in SCHEDULERS
             if entry.obj.core is not None and issubclass(entry.obj.core, HalvingScheduler)}
    assert {SCHEDULERS.canonical(case.registry_name) for case in CASES} == cores


@pytest.mark.parametrize("removals", [False, True], ids=["no_removals", "removals"])
@pytest.mark.parametrize("slots", [1, 2, 4])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_protocol(case: Case, slots: int, removals: bool) -> None:
    seed = 1000 * slots + 7 * CASES.index(case) + removals

    def cluster() -> Cluster:
        return Cluster(case.make(), slots, np.random.default_rng(seed), case.max_new, removals)

    reference = cluster()
    reference.run()
    reference.check_end()
    assert reference.steps > 10

    # A state_dict -> JSON -> fresh object round trip taken mid-run gives identical subsequent decisions.
    resumed = cluster()
    resumed.run(until=reference.steps // 2)
    assert resumed.log == reference.log[: len(resumed.log)]
    saved = json.dumps(resumed.sched.state_dict(), allow_nan=False)
    fresh = case.make()
    fresh.load_state_dict(json.loads(saved))
    assert json.dumps(fresh.state_dict(), allow_nan=False) == saved
    resumed.sched = fresh
    resumed.run()
    resumed.check_end()
    assert resumed.log == reference.log
