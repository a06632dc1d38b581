from __future__ import annotations

import json

import pytest

from raynn.hpo import Decision, HyperBand


def _rows(sched: HyperBand) -> list[tuple[int, int, int, int]]:
    return [(row["bracket"], row["round"], row["n"], row["r"]) for row in sched.plan()]


def test_plan_is_li_et_al_table_1() -> None:
    sched = HyperBand(81, eta=3)
    assert sched.s_max == 4 and sched.bracket_budget == 5 * 81
    assert _rows(sched) == [
        (4, 0, 81, 1), (4, 1, 27, 3), (4, 2, 9, 9), (4, 3, 3, 27), (4, 4, 1, 81),
        (3, 0, 34, 3), (3, 1, 11, 9), (3, 2, 3, 27), (3, 3, 1, 81),
        (2, 0, 15, 9), (2, 1, 5, 27), (2, 2, 1, 81),
        (1, 0, 8, 27), (1, 1, 2, 81),
        (0, 0, 5, 81),
    ]  # fmt: skip


def test_r243_eta3() -> None:
    sched = HyperBand(243, eta=3)
    assert sched.s_max == 5 and sched.bracket_budget == 6 * 243
    firsts = [(b, n, r) for b, i, n, r in _rows(sched) if i == 0]
    assert firsts == [(5, 243, 1), (4, 98, 3), (3, 41, 9), (2, 18, 27), (1, 9, 81), (0, 6, 243)]
    assert all(r == 243 for b, i, n, r in _rows(sched) if i == b)  # every bracket ends at R


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="`eta` must be an integer >= 2, but got eta=1"):
        HyperBand(81, eta=1)
    with pytest.raises(ValueError, match=r"`r_min <= max_resource` must hold"):
        HyperBand(9, 3, min_resource=10)
    with pytest.raises(ValueError, match="`max_bands` must be None or an integer >= 1, but got max_bands=0"):
        HyperBand(9, 3, max_bands=0)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        HyperBand(9, 3, mode="up")


def test_brackets_fill_in_order_then_a_new_band() -> None:
    # R = 9, eta = 3: s = 2: (9, 1), (3, 3), (1, 9); s = 1: (5, 3), (1, 9); s = 0: (3, 9). A band: 17 trials.
    sched = HyperBand(9, 3)
    for i in range(17 + 9 + 1):
        sched.on_trial_add(f"t{i}")
    brackets = [sched.bracket_of(f"t{i}") for i in range(27)]
    assert brackets == [0] * 9 + [1] * 5 + [2] * 3 + [3] * 9 + [4]
    targets = [sched.target(f"t{i}") for i in range(27)]
    assert targets == [1] * 9 + [3] * 5 + [9] * 3 + [1] * 9 + [3]
    assert sched.has_room()


def test_brackets_halve_independently() -> None:
    sched = HyperBand(9, 3)
    for i in range(17):
        sched.on_trial_add(f"t{i}")
    # Bracket s = 1 (t9..t13) completes its first rung while bracket s = 2 has not reported at all.
    for i in range(9, 13):
        assert sched.on_result(f"t{i}", 3, float(i)) is Decision.PAUSE
    assert sched.on_result("t13", 3, 13.0) is Decision.STOP
    assert sched.choose_paused() == "t9" and sched.target("t9") == 9
    assert sorted(sched.pop_stops()) == ["t10", "t11", "t12"]
    # Bracket s = 0 has a single round: trials stop at R.
    assert sched.on_result("t14", 9, 0.1) is Decision.STOP
    # Bracket s = 2 keeps floor(9 / 3) = 3 after rung 0.
    for i in range(8):
        assert sched.on_result(f"t{i}", 1, float(-i)) is Decision.PAUSE
    assert sched.on_result("t8", 1, -8.0) is Decision.CONTINUE
    assert [sched.choose_paused(), sched.choose_paused(), sched.choose_paused()] == ["t7", "t6", None]
    assert len(sched.pop_stops()) == 6


def test_one_band_then_finished() -> None:
    sched = HyperBand(3, 3, max_bands=1)  # s_max = 1: s = 1: (3, 1), (1, 3); s = 0: (2, 3)
    assert _rows(sched) == [(1, 0, 3, 1), (1, 1, 1, 3), (0, 0, 2, 3)]
    for i in range(5):
        sched.on_trial_add(f"t{i}")
    assert not sched.has_room()
    sched.on_result("t0", 1, 0.3)
    sched.on_result("t1", 1, 0.1)
    assert sched.on_result("t2", 1, 0.2) is Decision.STOP
    assert sched.choose_paused() == "t1" and sched.pop_stops() == ["t0"]
    for tid in ("t1", "t3", "t4"):
        assert sched.on_result(tid, 3, 0.05 if tid == "t4" else 0.5) is Decision.STOP
    assert sched.is_finished() and sched.best() == "t4"
    assert sched.budget_spent == 1 + 1 + 3 + 3 + 3  # t1 was charged 3 once, not 1 + 3


def test_search_exhausted_seals_the_filling_bracket() -> None:
    sched = HyperBand(9, 3)
    for i in range(11):  # bracket 0 full (9), bracket 1 has 2 of 5
        sched.on_trial_add(f"t{i}")
    sched.on_result("t9", 3, 1.0)
    sched.on_result("t10", 3, 2.0)
    sched.on_search_exhausted()
    assert not sched.has_room()
    assert sched.choose_paused() == "t9" and sched.pop_stops() == ["t10"]
    with pytest.raises(ValueError, match="no room"):
        sched.on_trial_add("late")


def test_state_dict_round_trip() -> None:
    sched = HyperBand(9, 3, mode="max")
    for i in range(12):
        sched.on_trial_add(f"t{i}")
    for i in range(5):
        sched.on_result(f"t{i}", 1, float(i))
    state = json.loads(json.dumps(sched.state_dict()))
    fresh = HyperBand(9, 3, mode="max")
    fresh.load_state_dict(state)
    assert fresh.has_room() and fresh.bracket_of("t11") == 1 and fresh.target("t11") == 3
    for tid in ("t5", "t6", "t7", "t8"):
        assert fresh.on_result(tid, 1, 0.0) is sched.on_result(tid, 1, 0.0)
    assert fresh.choose_paused() == sched.choose_paused() == "t4"
    with pytest.raises(ValueError, match="other arguments"):
        HyperBand(9, 3).load_state_dict(state)
