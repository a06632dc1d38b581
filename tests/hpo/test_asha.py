from __future__ import annotations

import json

import pytest

from raynn.hpo import AsyncHalving, Decision


def test_rungs_and_plan() -> None:
    sched = AsyncHalving(10, eta=3, max_trials=27)
    assert sched.rungs == [1, 3, 9, 10]
    assert [(row["bracket"], row["round"], row["n"], row["r"]) for row in sched.plan()] == [
        (0, 0, 27, 1), (0, 1, 9, 3), (0, 2, 3, 9), (0, 3, 1, 10),
    ]  # fmt: skip
    assert AsyncHalving(16, 2, min_resource=2).rungs == [2, 4, 8, 16]
    assert AsyncHalving(9).plan()[0]["n"] is None


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2, but got eta=1"):
        AsyncHalving(9, eta=1)
    with pytest.raises(ValueError, match=r"`r_min <= r_max` must hold, but got \(r_min=10, r_max=9\)"):
        AsyncHalving(9, min_resource=10)
    with pytest.raises(
        ValueError, match="`max_trials` must be None or an integer >= 1, but got max_trials=0"
    ):
        AsyncHalving(9, max_trials=0)


def test_promotion_walkthrough() -> None:
    """Rungs 1, 3, 9, eta = 3: a trial is promoted from the top floor(n_k / 3) of its rung, top rung first."""
    sched = AsyncHalving(9, eta=3)
    for tid in "abc":
        sched.on_trial_add(tid)
    assert sched.on_result("a", 1, 3.0) is Decision.PAUSE  # n_0 = 1: top 0
    assert sched.on_result("b", 1, 1.0) is Decision.PAUSE
    assert sched.on_result("c", 1, 2.0) is Decision.PAUSE  # n_0 = 3: top 1 is b, not c
    assert sched.choose_paused() == "b" and sched.target("b") == 3 and sched.rung_of("b") == 1
    assert sched.choose_paused() is None  # b is promoted only once
    sched.on_trial_add("d")
    assert sched.on_result("d", 1, 0.5) is Decision.CONTINUE  # n_0 = 4: top 1 is d itself, promoted at once
    assert sched.on_result("b", 2, 1.0) is Decision.CONTINUE
    assert sched.on_result("b", 3, 1.0) is Decision.PAUSE
    assert sched.on_result("d", 3, 0.7) is Decision.PAUSE  # n_1 = 2: top 0
    for tid, value in (("e", 5.0), ("f", 6.0)):
        sched.on_trial_add(tid)
        assert sched.on_result(tid, 1, value) is Decision.PAUSE  # top 2 of rung 0 (d, b) already promoted
    sched.on_trial_add("g")
    assert sched.on_result("g", 1, 0.1) is Decision.CONTINUE  # n_0 = 7: top 2 = g, d
    sched.on_search_exhausted()
    assert not sched.has_room() and sched.pop_stops() == []  # g still runs: nothing is decided yet
    assert sched.on_result("g", 3, 0.2) is Decision.CONTINUE  # rung 1: top 1 of g, d, b is g
    assert sched.on_result("g", 9, 0.3) is Decision.STOP  # the last rung
    # Nothing runs or is promotable: every paused trial outside the top is stopped.
    assert sorted(sched.pop_stops()) == ["a", "b", "c", "d", "e", "f"]
    assert sched.choose_paused() is None and sched.is_finished() and sched.best() == "g"
    assert sched.budget_spent == 1 + 3 + 1 + 3 + 1 + 1 + 9


def test_a_higher_rung_goes_first() -> None:
    sched = AsyncHalving(9, eta=2)  # rungs 1, 2, 4, 8, 9
    for tid in "abcd":
        sched.on_trial_add(tid)
    assert sched.on_result("a", 1, 1.0) is Decision.PAUSE
    assert sched.on_result("b", 1, 2.0) is Decision.PAUSE
    assert sched.choose_paused() == "a"
    assert sched.on_result("a", 2, 1.0) is Decision.PAUSE  # rung 1: n_1 = 1, top 0
    assert sched.on_result("c", 1, 0.5) is Decision.CONTINUE  # rung 0: top 1 of 3 is c
    assert sched.on_result("c", 2, 3.0) is Decision.PAUSE  # rung 1: top 1 of 2 is a, now promotable
    # d is in the top 2 of rung 0, but a promotable trial of rung 1 goes first: d pauses.
    assert sched.on_result("d", 1, 0.1) is Decision.PAUSE
    assert sched.choose_paused() == "a" and sched.target("a") == 4
    assert sched.choose_paused() == "d" and sched.target("d") == 2
    assert sched.choose_paused() is None


def test_flush_promotes_the_best_of_a_small_rung() -> None:
    sched = AsyncHalving(9, eta=3, max_trials=2)
    sched.on_trial_add("a")
    sched.on_trial_add("b")
    assert not sched.has_room()
    with pytest.raises(ValueError, match="no room for trial 'c'"):
        sched.on_trial_add("c")
    assert sched.on_result("a", 1, 2.0) is Decision.PAUSE
    # The search is over and nothing else runs: the best of rung 0 goes on, a stops.
    assert sched.on_result("b", 1, 1.0) is Decision.CONTINUE
    assert sched.pop_stops() == ["a"]
    assert sched.on_result("b", 3, 1.0) is Decision.CONTINUE
    assert sched.on_result("b", 9, 1.0) is Decision.STOP
    assert sched.is_finished()


def test_flush_on_exhaustion_and_removal() -> None:
    sched = AsyncHalving(9, eta=3)
    for tid in "abc":
        sched.on_trial_add(tid)
    sched.on_result("a", 1, 2.0)
    sched.on_result("b", 1, 1.0)
    sched.on_search_exhausted()  # c still runs
    assert sched.pop_stops() == []
    sched.on_trial_remove("c")  # now nothing runs: b is queued, a stopped
    assert sched.pop_stops() == ["a"]
    assert sched.choose_paused() == "b" and sched.choose_paused() is None


def test_removed_results_keep_their_rank() -> None:
    sched = AsyncHalving(9, eta=3)
    for tid in "abc":
        sched.on_trial_add(tid)
    sched.on_result("a", 1, 1.0)
    sched.on_trial_remove("a")  # stopped by the user while paused
    sched.on_result("b", 1, 2.0)
    assert sched.on_result("c", 1, 3.0) is Decision.PAUSE
    assert sched.choose_paused() is None  # the top 1 of rung 0 is a, which is gone
    sched.on_trial_remove("a")  # idempotent


def test_mode_max_and_ties_by_arrival() -> None:
    sched = AsyncHalving(9, eta=3, mode="max")
    for tid in "abc":
        sched.on_trial_add(tid)
    sched.on_result("a", 1, 0.5)
    sched.on_result("b", 1, 0.5)
    sched.on_result("c", 1, 0.1)
    assert sched.choose_paused() == "a"


def test_protocol_violations_raise() -> None:
    sched = AsyncHalving(9)
    sched.on_trial_add("a")
    with pytest.raises(ValueError, match="trial 'a' was already added"):
        sched.on_trial_add("a")
    with pytest.raises(ValueError, match="unknown trial 'b'"):
        sched.target("b")
    sched.on_result("a", 1, 1.0)
    with pytest.raises(ValueError, match="trial 'a' is waiting"):
        sched.on_result("a", 2, 1.0)


def test_state_dict_round_trip() -> None:
    sched = AsyncHalving(9, eta=3, max_trials=10)
    for tid in "abcd":
        sched.on_trial_add(tid)
    for value, tid in enumerate("abc"):
        sched.on_result(tid, 1, float(value))
    state = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    fresh = AsyncHalving(9, eta=3, max_trials=10)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == sched.state_dict()
    assert fresh.choose_paused() == sched.choose_paused() == "a"
    assert fresh.on_result("d", 1, -1.0) is sched.on_result("d", 1, -1.0) is Decision.CONTINUE
    with pytest.raises(ValueError, match="other arguments"):
        AsyncHalving(9, eta=3).load_state_dict(state)
