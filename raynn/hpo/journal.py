"""Replaying a core's journal: :meth:`TableCore.journal` entries applied to its ``state_dict``.

A core's ``state_dict`` costs O(trials); a journal entry costs O(what one event changed): the trials it touched
(their whole rows), the brackets those trials are in (synchronous halving), the results appended to each rung
(ASHA), and the short lists (promotion queue, stops). Applying the entries in order to the snapshot they follow
gives the ``state_dict`` at the last entry (tests/hpo/test_journal.py checks it event by event). The Ray adapter's
state file is a snapshot plus such a journal (:mod:`raynn.tune.persistence`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_journal"]


def apply_journal(state: dict[str, Any], entry: dict[str, Any]) -> None:
    """Apply one :meth:`TableCore.journal` entry to a core's ``state_dict``, in place."""
    rows = state["trials"]
    index = state.setdefault("_index", {row[0]: i for i, row in enumerate(rows)})
    for row in sorted(entry["trials"], key=lambda r: r[1]):  # new trials in arrival order
        i = index.get(row[0])
        if i is None:
            index[row[0]] = len(rows)
            rows.append(row)
        else:
            rows[i] = row
    for b, bracket in sorted((int(k), v) for k, v in entry.get("brackets", {}).items()):
        if b < len(state["brackets"]):
            state["brackets"][b] = bracket
        else:
            state["brackets"].append(bracket)
    for k, tail in enumerate(entry.get("members_tail", [])):
        state["members"][k].extend(tail)
    for key in ("filling", "queue", "stops", "exhausted"):
        if key in entry:
            state[key] = entry[key]
