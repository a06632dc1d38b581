"""raynn/hpo/_sync.py: the synchronous halving machine by itself, over a hand-made plan (no Ray).

``SuccessiveHalving`` and ``HyperBand`` only build its plan; their own files check the seed's plans. Here a
plan of two brackets, ``s = 1`` (3 configurations at r = 1, then the best one to r = 3) and ``s = 0`` (2 at
r = 3), with halving 3, shows what the machine itself does: it fills brackets in plan order and repeats the plan
as a new band, decides a rung only when every member has reached it or was removed, keeps
``max(1, floor(m / halving))``, seals a short bracket at the end of the search, and keeps the books.
"""

from __future__ import annotations

import pytest

from raynn.hpo import Decision, TrialStatus
from raynn.hpo._sync import SyncHalving
from raynn.hpo.budget import BracketPlan, Round

PLAN = [BracketPlan(1, (Round(3, 1), Round(1, 3))), BracketPlan(0, (Round(2, 3),))]


def _machine(max_bands: int | None = None) -> SyncHalving:
    return SyncHalving(PLAN, halving=3, mode="min", max_bands=max_bands)


def test_brackets_fill_in_plan_order_and_the_plan_repeats_as_a_band() -> None:
    sched = _machine()
    for i in range(7):
        sched.on_trial_add(f"t{i}")
    assert [sched.bracket_of(f"t{i}") for i in range(7)] == [0, 0, 0, 1, 1, 2, 2]
    assert sched.rungs_of("t0") == [1, 3] and sched.rungs_of("t3") == [3] and sched.rungs_of("t5") == [1, 3]
    assert sched.planned_trials == 5 and sched.planned_budget == 3 * 1 + 1 * 2 + 2 * 3
    assert [b.band for b in sched.ledger().brackets] == [0, 0, 1]
    limited = _machine(max_bands=1)
    for i in range(5):
        limited.on_trial_add(f"t{i}")
    assert not limited.has_room()
    with pytest.raises(ValueError, match="no room"):
        limited.on_trial_add("t5")


def test_a_rung_waits_for_every_member_then_keeps_the_best_third_at_least_one() -> None:
    sched = _machine()
    for trial in ("a", "b", "c"):
        sched.on_trial_add(trial)
    assert sched.on_result("b", 1, 0.2) is Decision.PAUSE
    assert sched.on_result("a", 1, 0.5) is Decision.PAUSE
    assert sched.status("a") is TrialStatus.WAITING and sched.next_paused() is None  # c has not reported
    assert sched.on_result("c", 1, 0.1) is Decision.CONTINUE  # the last result decides: c is the best
    assert sorted(sched.pop_stops()) == ["a", "b"]
    assert sched.target("c") == 3 and sched.rung_of("c") == 1
    assert sched.on_result("c", 3, 0.05) is Decision.STOP  # the last round
    assert sched.best() == "c" and sched.budget_spent == 1 + 1 + 3


def test_a_removed_member_does_not_hold_its_rung_and_a_waiting_winner_is_queued() -> None:
    sched = _machine()
    for trial in ("a", "b", "c"):
        sched.on_trial_add(trial)
    sched.on_result("a", 1, 0.1)
    sched.on_result("b", 1, 0.2)
    sched.on_trial_remove("c")  # errored before rung 0: the rung is decided without it
    assert sched.queued() == ["a"] and sched.next_paused() == "a" and sched.pop_stops() == ["b"]
    assert sched.choose_paused() == "a" and sched.status("a") is TrialStatus.RUNNING and sched.queued() == []


def test_the_end_of_the_search_seals_a_short_bracket_and_halves_what_it_has() -> None:
    sched = _machine()
    sched.on_trial_add("a")
    sched.on_trial_add("b")
    assert sched.has_room()
    sched.on_result("a", 1, 0.3)
    sched.on_result("b", 1, 0.4)
    assert sched.pop_stops() == [] and sched.next_paused() is None  # rung 0 waits for a third member
    sched.on_search_exhausted()
    assert not sched.has_room() and sched.queued() == ["a"] and sched.pop_stops() == ["b"]
    ledger = sched.ledger()
    assert ledger.brackets[0].sealed and ledger.planned == 3 * 1 + 1 * 2
    assert [(r.entered, r.reached, r.decided) for r in ledger.brackets[0].rounds] == [(2, 2, True), (1, 0, False)]


def test_the_state_round_trips_with_the_pending_counts_rebuilt() -> None:
    sched = _machine()
    for trial in ("a", "b", "c"):
        sched.on_trial_add(trial)
    sched.on_result("a", 1, 0.3)
    copy = _machine()
    copy.load_state_dict(sched.state_dict())
    assert copy.state_dict() == sched.state_dict()
    copy.on_result("b", 1, 0.2)
    # the copy decides the rung when its last member reports, as the original would: c, the worst, stops at once
    assert copy.on_result("c", 1, 0.9) is Decision.STOP
    assert copy.queued() == ["b"] and copy.pop_stops() == ["a"]
