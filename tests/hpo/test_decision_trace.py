"""Every core decides exactly as it did before its bookkeeping was rewritten for 10,000 trials (issue 9).

A seeded stream of 300 trials (slots, removals, tied and NaN metrics, the end of the search) drives each
core through its public protocol; every call and every answer goes into a trace. The traces were recorded
from the cores as they were at commit f4184a7 (before the sorted rungs, per-status counts and lazy queues)
with::

    git stash -u  # or: git checkout f4184a7 -- raynn/hpo
    .venv/bin/python tests/hpo/test_decision_trace.py --record
    git checkout - -- raynn/hpo  # back to the new cores

which writes ``tests/hpo/data/decision_traces.json``: per case the number of events, the SHA-256 of each
block of 250 events (so a failure names the first block that differs) and of the final ``state_dict``.
The same stream is run a second time with a ``state_dict`` -> JSON -> fresh object round trip halfway; it
must give the same trace, so the indexes rebuilt by ``load_state_dict`` agree with the live ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raynn.hpo import AsyncHalving, Decision, HalvingScheduler, HyperBand, SuccessiveHalving, TrialStatus

FIXTURE = Path(__file__).parent / "data" / "decision_traces.json"
BLOCK = 250
N_TRIALS = 300

CASES: dict[str, tuple[Callable[[], HalvingScheduler], int]] = {
    # name: (core, slots)
    "sh_B7200_N300": (lambda: SuccessiveHalving(7200, 300), 8),
    "sh_eta3_n300_max": (lambda: SuccessiveHalving.from_eta(300, 1, 27, 3, mode="max"), 5),
    "hyperband_R27_eta3": (lambda: HyperBand(27, 3), 8),
    "hyperband_R16_eta2_rmin2_max_3bands": (lambda: HyperBand(16, 2, 2, mode="max", max_bands=3), 3),
    "asha_R27_eta3": (lambda: AsyncHalving(27, 3), 8),
    "asha_R16_eta2_rmin2_max_250": (lambda: AsyncHalving(16, 2, 2, mode="max", max_trials=250), 1),
}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:16]


def drive(
    make: Callable[[], HalvingScheduler],
    slots: int,
    seed: int,
    roundtrip_at: int | None = None,
    check: Callable[[HalvingScheduler], None] | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Run the stream; return (trace, final state_dict). Only calls the protocol the old cores had."""
    sched = make()
    rng = np.random.default_rng(seed)
    trace: list[Any] = []
    running: list[str] = []
    paused: list[str] = []
    resource: dict[str, int] = {}
    quality: dict[str, float] = {}
    created, exhausted, step = 0, False, 0

    def stops() -> None:
        for tid in sched.pop_stops():
            trace.append(["stop", tid])
            paused.remove(tid)

    while True:
        while len(running) < slots:  # fill the free slots: promoted trials first, then new ones
            tid = sched.choose_paused()
            if tid is not None:
                trace.append(["resume", tid, sched.rung_of(tid), sched.target(tid)])
                paused.remove(tid)
                running.append(tid)
            elif created < N_TRIALS and sched.has_room():
                tid = f"t{created}"
                created += 1
                sched.on_trial_add(tid)
                resource[tid], quality[tid] = 0, float(rng.random())
                trace.append(["add", tid, sched.bracket_of(tid), sched.target(tid)])
                running.append(tid)
            else:
                break
        if not running:
            if exhausted:
                break
            exhausted = True
            sched.on_search_exhausted()
            trace.append(["exhausted"])
            stops()
            continue
        step += 1
        if roundtrip_at is not None and step == roundtrip_at:
            state = json.loads(json.dumps(sched.state_dict()))
            sched = make()
            sched.load_state_dict(state)
        tid = running[int(rng.integers(len(running)))]
        if rng.random() < 0.01:  # the trial errors
            running.remove(tid)
            sched.on_trial_remove(tid)
            trace.append(["error", tid])
        else:
            resource[tid] += 1
            r = resource[tid]
            # rounded: many ties (broken by arrival); a few NaN (ranked last)
            value = round(quality[tid] + 0.5 / r + 0.01 * float(rng.standard_normal()), 2)
            if rng.random() < 0.02:
                value = math.nan
            decision = sched.on_result(tid, r, value)
            assert isinstance(decision, Decision)
            trace.append(["result", tid, r, decision.value, sched.rung_of(tid)])
            if decision is not Decision.CONTINUE:
                running.remove(tid)
                if decision is Decision.PAUSE:
                    paused.append(tid)
        stops()
        if paused and rng.random() < 0.005:  # the user stops a paused trial
            victim = paused.pop(int(rng.integers(len(paused))))
            sched.on_trial_remove(victim)
            trace.append(["user_stop", victim])
            stops()
        if step % 50 == 0:
            if check is not None:
                check(sched)
            trace.append(["query", sched.budget_spent, sched.is_finished(), sched.best(), sched.has_room()])
    trace.append(["end", sched.budget_spent, sched.is_finished(), sched.best(), sched.choose_paused()])
    return trace, sched.state_dict()


def summarise(trace: list[Any], state: dict[str, Any]) -> dict[str, Any]:
    blocks = [_digest(trace[i : i + BLOCK]) for i in range(0, len(trace), BLOCK)]
    return {"events": len(trace), "blocks": blocks, "state": _digest(state)}


def _seed(name: str) -> int:
    return list(CASES).index(name) + 9


def record() -> None:
    out = {
        "made_by": "tests/hpo/test_decision_trace.py --record, run on the cores of commit f4184a7",
        "cases": {name: summarise(*drive(make, slots, _seed(name))) for name, (make, slots) in CASES.items()},
    }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {FIXTURE}")


def _check(name: str, trace: list[Any], state: dict[str, Any]) -> None:
    expected = json.loads(FIXTURE.read_text())["cases"][name]
    got = summarise(trace, state)
    for i, (old, new) in enumerate(zip(expected["blocks"], got["blocks"], strict=False)):
        if old != new:
            pytest.fail(
                f"{name}: decisions differ from the recorded ones in events {i * BLOCK}.."
                f"{(i + 1) * BLOCK - 1}; new events there: {trace[i * BLOCK : (i + 1) * BLOCK]}"
            )
    assert got["events"] == expected["events"]
    assert got["state"] == expected["state"], "same decisions, but the final state_dict differs"


@pytest.mark.parametrize("name", list(CASES))
def test_decisions_match_the_recorded_trace(name: str) -> None:
    make, slots = CASES[name]
    trace, state = drive(make, slots, _seed(name))
    assert (
        len({e[1] for e in trace if e[0] == "add"}) == N_TRIALS or name.endswith("_250") or "3bands" in name
    )
    assert any(e[0] == "resume" for e in trace) and any(e[0] == "stop" or e[3:4] == ["STOP"] for e in trace)
    _check(name, trace, state)


@pytest.mark.parametrize("name", list(CASES))
def test_roundtrip_midway_keeps_the_trace(name: str) -> None:
    make, slots = CASES[name]
    full, _ = drive(make, slots, _seed(name))
    steps = sum(1 for e in full if e[0] in ("result", "error"))
    trace, state = drive(make, slots, _seed(name), roundtrip_at=steps // 2)
    _check(name, trace, state)


@pytest.mark.parametrize("name", list(CASES))
def test_status_agrees_with_the_state_dict(name: str) -> None:
    """``status(trial_id)`` (O(1)) says what the saved rows say, as the strings state files always held."""
    seen: set[TrialStatus] = set()

    def check(sched: HalvingScheduler) -> None:
        for row in sched.state_dict()["trials"]:
            status = sched.status(row[0])
            assert isinstance(status, TrialStatus) and isinstance(row[4], str)
            assert status.value == row[4] and status is TrialStatus(row[4])
            assert status.terminal == (row[4] in ("stopped", "removed"))
            seen.add(status)

    make, slots = CASES[name]
    drive(make, slots, _seed(name), check=check)
    assert {TrialStatus.RUNNING, TrialStatus.WAITING, TrialStatus.STOPPED} <= seen
    with pytest.raises(ValueError, match="unknown trial 'nope'"):
        make().status("nope")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit("usage: test_decision_trace.py --record  (see the module docstring)")
