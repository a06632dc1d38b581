from __future__ import annotations

import json
import math

import pytest

from raynn.hpo import Decision, Mode, SuccessiveHalving


def _plan(sched: SuccessiveHalving) -> list[tuple[int, int, int]]:
    return [(row["round"], row["n"], row["r"]) for row in sched.plan()]


def test_plan_b64_n8() -> None:
    sched = SuccessiveHalving(64, 8)
    assert sched.plan() == [
        {"bracket": 0, "round": 0, "n": 8, "r": 4},
        {"bracket": 0, "round": 1, "n": 4, "r": 12},
    ]
    assert sched.planned_budget == 64 == sched.budget


def test_plan_b100_n5() -> None:
    assert _plan(SuccessiveHalving(100, 5)) == [(0, 5, 10), (1, 2, 35)]


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match=r"budget too small for one round.*budget=30, n_configs=16"):
        SuccessiveHalving(30, 16)
    with pytest.raises(ValueError, match="`n_configs >= 3` must hold"):
        SuccessiveHalving(64, 2)
    with pytest.raises(ValueError, match="`mode` must be one of 'min', 'max', but got mode='best'"):
        SuccessiveHalving(64, 8, mode="best")
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2"):
        SuccessiveHalving.from_eta(9, 1, 9, eta=1)
    with pytest.raises(ValueError, match=r"`r_min <= r_max` must hold"):
        SuccessiveHalving.from_eta(9, 10, 9)


def test_algorithm_7_2_walkthrough() -> None:
    """B = 64, N = 8, values 0..7 reversed: the better half by loss goes on, the last round stops."""
    sched = SuccessiveHalving(64, 8)
    ids = [f"c{i}" for i in range(8)]
    for tid in ids:
        assert sched.has_room()
        sched.on_trial_add(tid)
        assert sched.target(tid) == 4 and sched.rung_of(tid) == 0 and sched.bracket_of(tid) == 0
    assert not sched.has_room()
    with pytest.raises(ValueError, match="no room for trial 'c8'"):
        sched.on_trial_add("c8")
    losses = {tid: float(8 - i) for i, tid in enumerate(ids)}  # c7 best
    for tid in ids[:7]:
        assert sched.on_result(tid, 3, losses[tid]) is Decision.CONTINUE
        assert sched.on_result(tid, 4, losses[tid]) is Decision.PAUSE
        assert sched.choose_paused() is None and sched.pop_stops() == []
    # c7 completes the rung and is the best: promoted at once.
    assert sched.on_result("c7", 4, losses["c7"]) is Decision.CONTINUE
    assert sched.rung_of("c7") == 1 and sched.target("c7") == 12
    assert sorted(sched.pop_stops()) == ["c0", "c1", "c2", "c3"]
    resumed = [sched.choose_paused() for _ in range(4)]
    assert resumed == ["c6", "c5", "c4", None]  # best first
    for tid in ("c4", "c5", "c6", "c7"):
        assert sched.target(tid) == 12
        assert sched.on_result(tid, 11, losses[tid]) is Decision.CONTINUE
        assert sched.on_result(tid, 12, losses[tid] - 10) is Decision.STOP  # the last round stops
    assert sched.is_finished()
    assert sched.best() == "c7"
    assert sched.budget_spent == 64  # the resumed trials were charged 12 each, not 4 + 12


def test_eliminated_trigger_stops_and_mode_max() -> None:
    sched = SuccessiveHalving(27, 3, mode="max")  # one round of 3, target 9
    for tid in ("a", "b", "c"):
        sched.on_trial_add(tid)
    assert sched.on_result("a", 9, 0.9) is Decision.STOP  # the last round: nobody pauses
    assert sched.on_result("b", 9, 0.95) is Decision.STOP
    assert sched.on_result("c", 9, 0.1) is Decision.STOP
    assert sched.best() == "b" and sched.is_finished()


def test_eliminated_when_completing_the_rung() -> None:
    sched = SuccessiveHalving(64, 8)
    for i in range(8):
        sched.on_trial_add(f"c{i}")
    for i in range(7):
        assert sched.on_result(f"c{i}", 4, float(i)) is Decision.PAUSE
    assert sched.on_result("c7", 4, 100.0) is Decision.STOP
    assert sorted(sched.pop_stops()) == ["c4", "c5", "c6"]


def test_ties_break_by_arrival_and_nan_ranks_last() -> None:
    sched = SuccessiveHalving(64, 8)
    for i in range(8):
        sched.on_trial_add(f"c{i}")
    values = [math.nan, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0]
    for i, value in enumerate(values):
        sched.on_result(f"c{i}", 4, value)
    promoted = {f"c{i}" for i in range(8) if sched.rung_of(f"c{i}") == 1}
    assert promoted == {"c6", "c1", "c2", "c3"}
    assert "c0" in sched.pop_stops()


def test_overshooting_resource_counts_as_reaching_and_is_charged() -> None:
    sched = SuccessiveHalving(64, 8)
    sched.on_trial_add("a")
    assert sched.on_result("a", 5, 1.0) is Decision.PAUSE
    assert sched.budget_spent == 5


def test_search_exhausted_seals_and_halves_what_it_has() -> None:
    sched = SuccessiveHalving(64, 8)
    for i in range(5):
        sched.on_trial_add(f"c{i}")
    for i in range(5):
        assert sched.on_result(f"c{i}", 4, float(i)) is Decision.PAUSE
    sched.on_search_exhausted()
    assert not sched.has_room()
    assert [sched.choose_paused(), sched.choose_paused(), sched.choose_paused()] == ["c0", "c1", None]
    assert sorted(sched.pop_stops()) == ["c2", "c3", "c4"]
    assert sched.on_result("c1", 12, 0.0) is Decision.STOP
    assert not sched.is_finished()
    assert sched.on_result("c0", 12, 1.0) is Decision.STOP
    assert sched.is_finished() and sched.best() == "c1"


def test_removal_no_longer_counts_as_waiting() -> None:
    sched = SuccessiveHalving(64, 8)
    for i in range(8):
        sched.on_trial_add(f"c{i}")
    for i in range(6):
        sched.on_result(f"c{i}", 4, float(i))
    sched.on_trial_remove("c0")  # the best, paused: stopped by the user
    sched.on_trial_remove("c6")  # errored before reaching the target
    assert sched.choose_paused() is None
    sched.on_trial_remove("c7")  # the rung is complete now: 5 live, keep 2
    assert [sched.choose_paused(), sched.choose_paused(), sched.choose_paused()] == ["c1", "c2", None]
    assert sorted(sched.pop_stops()) == ["c3", "c4", "c5"]
    sched.on_trial_remove("c3")  # removing a stopped trial is a no-op
    sched.on_trial_remove("c1")
    assert sched.on_result("c2", 12, 3.0) is Decision.STOP
    assert sched.is_finished()


def test_a_rung_with_everyone_removed_ends_the_bracket() -> None:
    sched = SuccessiveHalving(27, 4)
    for i in range(4):
        sched.on_trial_add(f"c{i}")
        sched.on_trial_remove(f"c{i}")
    assert sched.is_finished() and sched.best() is None and sched.budget_spent == 0


def test_protocol_violations_raise() -> None:
    sched = SuccessiveHalving(64, 8)
    sched.on_trial_add("a")
    with pytest.raises(ValueError, match="trial 'a' was already added"):
        sched.on_trial_add("a")
    with pytest.raises(ValueError, match="unknown trial 'zz'"):
        sched.on_result("zz", 1, 0.0)
    with pytest.raises(ValueError, match="`resource` must be an integer >= 1"):
        sched.on_result("a", 0, 0.0)
    with pytest.raises(ValueError, match="`value` must be a real number"):
        sched.on_result("a", 1, "low")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`trial_id` must be a non-empty string"):
        sched.on_trial_add("")
    sched.on_result("a", 4, 1.0)
    with pytest.raises(ValueError, match="trial 'a' is waiting; only running trials report results"):
        sched.on_result("a", 5, 1.0)


def test_from_eta() -> None:
    sched = SuccessiveHalving.from_eta(9, 1, 9, eta=3)
    assert _plan(sched) == [(0, 9, 1), (1, 3, 3), (2, 1, 9)]
    assert sched.budget == 9 * 1 + 3 * 2 + 1 * 6
    for i in range(9):
        sched.on_trial_add(f"c{i}")
    for i in range(8):
        assert sched.on_result(f"c{i}", 1, float(i)) is Decision.PAUSE
    assert sched.on_result("c8", 1, 8.0) is Decision.STOP  # completes the rung, eliminated
    assert sorted(sched.pop_stops()) == [f"c{i}" for i in range(3, 8)]
    assert sched.choose_paused() == "c0" and sched.target("c0") == 3


def test_state_dict_round_trip_and_wrong_config() -> None:
    sched = SuccessiveHalving(64, 8)
    for i in range(8):
        sched.on_trial_add(f"c{i}")
    for i in range(7):
        sched.on_result(f"c{i}", 4, float(i))
    state = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    fresh = SuccessiveHalving(64, 8)
    fresh.load_state_dict(state)
    assert fresh.on_result("c7", 4, 9.0) is sched.on_result("c7", 4, 9.0) is Decision.STOP
    assert fresh.pop_stops() == sched.pop_stops()
    assert fresh.state_dict() == sched.state_dict()
    with pytest.raises(ValueError, match="saved by a scheduler built with other arguments"):
        SuccessiveHalving(100, 8).load_state_dict(state)
    with pytest.raises(ValueError, match="other arguments"):
        SuccessiveHalving(64, 8, mode=Mode.MAX).load_state_dict(state)
