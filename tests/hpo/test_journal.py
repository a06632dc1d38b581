"""raynn/hpo/journal.py: a core's journal entries, applied to a snapshot, give its state_dict after every event."""

from __future__ import annotations

import copy
import json
import random

import pytest

from raynn.hpo import AsyncHalving, HyperBand, SuccessiveHalving
from raynn.hpo.journal import apply_journal


@pytest.mark.parametrize(
    "make",
    [lambda: HyperBand(9, 3, max_bands=2), lambda: AsyncHalving(9, 3, max_trials=40),
     lambda: SuccessiveHalving(48, 8)],
    ids=["hyperband", "asha", "sh"],
)
def test_snapshot_plus_journal_is_the_state_after_every_event(make) -> None:  # noqa: ANN001
    rng = random.Random(3)
    core = make()
    snapshot, entries = None, []
    running: list[str] = []
    n = 0
    for step in range(600):
        if step == 40:  # a snapshot mid-run; the journal starts from it
            snapshot = json.loads(json.dumps(core.state_dict()))
            core.journal()
        if core.has_room() and len(running) < 3:
            core.on_trial_add(tid := f"t{n}")
            n, running = n + 1, running + [tid]
        elif running:
            tid = running.pop(rng.randrange(len(running)))
            if rng.random() < 0.05:
                core.on_trial_remove(tid)  # completed, errored or stopped by the user
            else:
                decision = core.on_result(tid, core.target(tid), rng.random())
                if decision.value == "CONTINUE":
                    running.append(tid)
        else:
            core.on_search_exhausted()
        resumed = core.choose_paused()
        if resumed is not None:
            running.append(resumed)
        core.pop_stops()
        if snapshot is not None:
            entries.append(json.loads(json.dumps(core.journal())))
            state = copy.deepcopy(snapshot)
            for entry in entries:
                apply_journal(state, entry)
            state.pop("_index", None)
            assert state == core.state_dict(), step
    assert core.budget_spent > 0 and len(entries) > 100
