"""The data behind ``scripts/bench_search.py``: the held-out split no method sees, and the recorded P3 table."""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections import Counter
from pathlib import Path

import torch

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

import _digits_holdout as holdout  # noqa: E402


def _images(part: holdout.Digits) -> Counter[bytes]:
    return Counter(x.numpy().tobytes() + bytes([int(y)]) for x, y in zip(part.x, part.y))


def test_the_held_out_part_and_the_search_part_split_digits_once_and_always_the_same() -> None:
    from raynn.data.datasets import load_digits

    search, held = holdout.search_part(), holdout.held_out()
    digits = load_digits()
    assert (len(search), len(held)) == (1438, 359)  # round(1797 * 0.2) held out
    assert _images(search) + _images(held) == _images(holdout.Digits(digits.x, digits.y))  # a partition
    assert torch.equal(holdout.held_out().x, held.x)  # the same images on every call
    assert torch.equal(torch.bincount(held.y), torch.tensor([36, 36, 35, 37, 36, 36, 36, 36, 35, 36]))  # stratified


def test_the_p3_table_has_a_curve_and_three_held_out_scores_per_configuration() -> None:
    doc = json.load(gzip.open(SCRIPTS / "data" / "search_table_digits.json.gz", "rt"))
    rows, R = doc["rows"], doc["R"]
    assert doc["space"]["base"]["data"]["class_path"] == "_digits_holdout.search_part"
    assert len(rows) == 324 and len({json.dumps(r["params"], sort_keys=True) for r in rows}) == 324
    for row in rows:
        curve = row["val_loss"]
        assert len(curve) == R or (row["diverged"] and 1 <= len(curve) < R + 1), row
        assert all(v is None or math.isfinite(v) for v in curve[:-1]), row  # only the last may have diverged
        assert len(row["held_out_loss"]) == len(row["held_out_acc"]) == len(doc["retrain_seeds"]) == 3
        for loss, acc in zip(row["held_out_loss"], row["held_out_acc"]):
            assert (loss is None) == (acc is None) and (loss is None or (loss > 0 and 0 <= acc <= 1)), row
