from __future__ import annotations

import math

import pytest

from raynn.early_stopping import EarlyStopping, Mode

# Validation error that first rises (epochs 1-3), then falls to its minimum at epoch 7, then plateaus.
BUMPY = [1.0, 1.2, 1.3, 1.25, 0.9, 0.7, 0.65, 0.6, 0.62, 0.61, 0.63, 0.605, 0.64]


def _first_stop(stopper: EarlyStopping, values: list[float]) -> int | None:
    for epoch, value in enumerate(values):
        if stopper.step(value):
            return epoch
    return None


def test_patience_rides_out_the_initial_bump_and_stops_after_the_plateau() -> None:
    stopper = EarlyStopping(patience=4)
    # three bad epochs at the bump (< patience), then the real plateau: epochs 8-11 bad
    assert _first_stop(stopper, BUMPY) == 11
    assert stopper.best == 0.6 and stopper.best_epoch == 7


def test_small_patience_alone_stops_at_the_bump_but_warmup_rides_it_out() -> None:
    assert _first_stop(EarlyStopping(patience=2), BUMPY) == 2
    stopper = EarlyStopping(patience=2, warmup=4)
    assert _first_stop(stopper, BUMPY) == 9
    assert stopper.best_epoch == 7


def test_warmup_tracks_the_best_value_but_never_stops() -> None:
    stopper = EarlyStopping(patience=1, warmup=3)
    assert [stopper.step(v) for v in [0.5, 0.9, 0.8]] == [False, False, False]
    assert stopper.best == 0.5 and stopper.best_epoch == 0 and stopper.num_bad_epochs == 0
    assert stopper.step(0.7)  # first counted epoch without improvement on 0.5


def test_min_delta_and_max_mode() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.05, mode="max")
    assert stopper.mode is Mode.MAX
    assert not stopper.step(0.80)
    assert not stopper.step(0.84)  # +0.04 is not an improvement
    assert stopper.step(0.849)
    assert stopper.best == 0.80 and stopper.best_epoch == 0
    assert stopper.step(0.99)  # stays stopped


def test_nan_never_improves() -> None:
    stopper = EarlyStopping(patience=2)
    assert [stopper.step(v) for v in [math.nan, 1.0, math.nan, math.nan]] == [False, False, False, True]
    assert stopper.best_epoch == 1


def test_state_dict_round_trip_resumes_identically() -> None:
    a = EarlyStopping(patience=3, warmup=2)
    for v in BUMPY[:6]:
        a.step(v)
    b = EarlyStopping(patience=3, warmup=2)
    b.load_state_dict(a.state_dict())
    assert [a.step(v) for v in BUMPY[6:]] == [b.step(v) for v in BUMPY[6:]]
    assert a.state_dict() == b.state_dict()
    with pytest.raises(ValueError, match="best_epoch"):
        b.load_state_dict({"best": 1.0})


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta >= 0"):
        EarlyStopping(patience=1, min_delta=-0.1)
    with pytest.raises(ValueError, match=r"`mode` must be one of \['min', 'max'\]"):
        EarlyStopping(patience=1, mode="down")
    with pytest.raises(ValueError, match="warmup"):
        EarlyStopping(patience=1, warmup=-1)
