"""raynn/hpo/_common.py: the trial table every core keeps, its ranking key and the event checks (no Ray)."""

from __future__ import annotations

import math

import pytest

from raynn.hpo import Mode, TrialStatus
from raynn.hpo._common import Trial, TrialTable, check_result, check_trial_id, rank_key

RUNNING, WAITING, QUEUED, STOPPED, REMOVED = (TrialStatus.RUNNING, TrialStatus.WAITING, TrialStatus.QUEUED,
                                              TrialStatus.STOPPED, TrialStatus.REMOVED)


def test_counts_and_budget_follow_every_change() -> None:
    table = TrialTable()
    a, b = table.add("a", bracket=0), table.add("b", bracket=0)
    assert (a.arrival, b.arrival, len(table)) == (0, 1, 2)
    assert table.count(RUNNING) == 2 and table.count(WAITING, STOPPED) == 0
    table.reach(a, 3)
    table.reach(a, 2)  # a replayed, earlier result charges nothing
    table.reach(b, 1)
    assert table.spent == 4 and (a.resource, b.resource) == (3, 1)
    table.set_status(a, WAITING)
    table.set_status(b, STOPPED)
    assert table.count(RUNNING) == 0 and table.count(WAITING) == 1 and not table.all_terminal()
    table.set_status(a, REMOVED)
    assert table.all_terminal()


def test_the_promotion_queue_skips_removed_trials_and_peeking_takes_nothing() -> None:
    table = TrialTable()
    trials = [table.add(t, bracket=0) for t in "abc"]
    for trial in trials:
        table.set_status(trial, QUEUED)
        table.enqueue(trial)
    table.set_status(trials[0], REMOVED)  # removed while queued: left in the deque, skipped
    assert table.queued() == ["b", "c"] and table.first_queued() == "b" and table.first_queued() == "b"
    assert table.pop_queued() is trials[1]
    table.set_status(trials[1], RUNNING)  # the caller sets what it resumed
    assert table.queued() == ["c"] and table.pop_queued() is trials[2] and table.pop_queued() is None


def test_a_reload_rebuilds_the_counts() -> None:
    table = TrialTable()
    a = table.add("a", bracket=1)
    table.reach(a, 2)
    table.add("b", bracket=1)
    rows = table.rows()
    copy = TrialTable()
    copy.load(rows, queue=[])
    assert copy.spent == 2 and copy.count(RUNNING) == 2 and copy.rows() == rows
    assert Trial.from_json(rows[0]) == a


def test_the_ranking_key_puts_nan_last_and_breaks_ties_by_arrival() -> None:
    early, late = Trial("x", 0, 0, values=[0.5]), Trial("y", 1, 0, values=[0.5])
    nan = Trial("z", 2, 0, values=[math.nan])
    assert sorted([nan, late, early], key=lambda t: rank_key(t, 0, Mode.MIN)) == [early, late, nan]
    high = Trial("w", 3, 0, values=[0.9])
    assert sorted([early, high, nan], key=lambda t: rank_key(t, 0, Mode.MAX))[0] is high


@pytest.mark.parametrize(("resource", "value"), [(0, 1.0), (True, 1.0), (1.5, 1.0), (1, "0.5"), (1, None)])
def test_a_result_must_be_a_whole_resource_and_a_real_value(resource: object, value: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        check_result(resource, value)


def test_a_trial_id_is_a_non_empty_string() -> None:
    assert check_trial_id("t1") == "t1"
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="non-empty string"):
            check_trial_id(bad)
