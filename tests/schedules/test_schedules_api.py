"""The protocol every registered schedule follows, run over the whole registry (``build`` and ``build_spec``
of each; the factory's own checks are in test_factory.py)."""

from __future__ import annotations

import dataclasses
import math
import pickle
from typing import Any

import pytest

from raynn.schedules import SCHEDULES, Schedule, build, build_spec, names

# One valid parameter set per registered name, chosen so the rate stays > 0 on k in range(500)
# (cosine and the warmup's cosine end after iteration 500). A new schedule fails
# test_every_schedule_has_an_example until it gets one here, and is then covered by every test below.
EXAMPLES: dict[str, dict[str, Any]] = {
    "piecewise_constant": {"alpha0": 0.1, "boundaries": [100, 300], "factors": [0.5, 0.1]},
    "inverse_time": {"alpha0": 0.1, "beta": 0.01},
    "exponential": {"alpha0": 0.1, "beta": 0.99},
    "natural_exponential": {"alpha0": 0.1, "beta": 0.01},
    "cosine": {"alpha0": 0.1, "max_iter": 1000},
    "warmup": {"alpha0": 0.1, "warmup_iters": 10, "after": {"name": "cosine", "max_iter": 1000}},
    "triangular": {"alpha_min": 0.001, "alpha_max": 0.1, "delta_t": 50, "decay": 0.9},
    "sgdr": {
        "alpha_min": 0.001,
        "alpha_max": 0.1,
        "t0": 1.5,
        "kappa": 2.0,
        "iters_per_epoch": 20,
        "decay": 0.9,
    },
}

NAMES = names()


def _int_params() -> list[tuple[str, str]]:
    return [
        (name, f.name)
        for name in NAMES
        for f in dataclasses.fields(SCHEDULES.get(name))
        if f.init and f.type == "int"
    ]


def _real_params() -> list[tuple[str, str]]:
    return [
        (name, f.name)
        for name in NAMES
        for f in dataclasses.fields(SCHEDULES.get(name))
        if f.init and f.type == "float"
    ]


def _required_params() -> list[tuple[str, str]]:
    return [
        (name, f.name)
        for name in NAMES
        for f in dataclasses.fields(SCHEDULES.get(name))
        if f.init and f.default is dataclasses.MISSING
    ]


def test_every_schedule_has_an_example() -> None:
    assert sorted(EXAMPLES) == NAMES


def test_the_chapter_schedules_are_registered() -> None:
    assert NAMES == [
        "cosine",
        "exponential",
        "inverse_time",
        "natural_exponential",
        "piecewise_constant",
        "sgdr",
        "triangular",
        "warmup",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_names_its_class_and_has_a_summary(name: str) -> None:
    entry = SCHEDULES.entry(name)
    assert issubclass(entry.obj, Schedule)
    assert entry.obj.name == name
    assert entry.summary
    assert entry.obj.__doc__ and "Args:" in entry.obj.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_returns_positive_finite_floats(name: str) -> None:
    lr = build(name, **EXAMPLES[name])
    for k in range(500):
        value = lr(k)
        assert type(value) is float, (k, value)
        assert math.isfinite(value) and value > 0, (k, value)


@pytest.mark.parametrize("name", NAMES)
def test_is_a_pure_function_of_k(name: str) -> None:
    ks = list(range(500))
    forward = [build(name, **EXAMPLES[name])(k) for k in ks]
    lr = build(name, **EXAMPLES[name])
    backward = [lr(k) for k in reversed(ks)][::-1]
    assert backward == forward
    assert [lr(k) for k in ks] == forward


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [-1, -100])
def test_rejects_negative_k(name: str, k: int) -> None:
    lr = build(name, **EXAMPLES[name])
    with pytest.raises(ValueError, match=rf"`k` must be an int >= 0, but got k={k}"):
        lr(k)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1.0, True, "1"])
def test_rejects_a_non_int_k(name: str, k: object) -> None:
    lr = build(name, **EXAMPLES[name])
    with pytest.raises(ValueError, match="`k` must be an int"):
        lr(k)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_accepts_numpy_ints_for_k(name: str) -> None:
    np = pytest.importorskip("numpy")
    lr = build(name, **EXAMPLES[name])
    value = lr(np.int64(7))
    assert type(value) is float and value == lr(7)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_an_unknown_parameter_by_name(name: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown parameter 'gamma_typo' for schedule '{name}'"):
        build(name, **EXAMPLES[name], gamma_typo=1)


@pytest.mark.parametrize(("name", "param"), _required_params())
def test_rejects_a_missing_parameter_by_name(name: str, param: str) -> None:
    params = {key: value for key, value in EXAMPLES[name].items() if key != param}
    with pytest.raises(ValueError, match=rf"missing parameter '{param}' for schedule '{name}'"):
        build(name, **params)


@pytest.mark.parametrize(("name", "param"), _int_params())
@pytest.mark.parametrize("bad", [True, 10.0, "10", None])
def test_int_parameters_reject_bools_floats_and_strings(name: str, param: str, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"`{param}` must be an int, but got {param}="):
        build(name, **{**EXAMPLES[name], param: bad})


@pytest.mark.parametrize(("name", "param"), _int_params())
@pytest.mark.parametrize("bad", [0, -3])
def test_int_parameters_must_be_positive(name: str, param: str, bad: int) -> None:
    with pytest.raises(ValueError, match=rf"`{param} > 0` must hold, but got {param}={bad}"):
        build(name, **{**EXAMPLES[name], param: bad})


@pytest.mark.parametrize(("name", "param"), _real_params())
@pytest.mark.parametrize("bad", [True, "1e-3", math.nan, math.inf, None])
def test_real_parameters_reject_bools_strings_and_non_finite(name: str, param: str, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"`{param}` must be a finite real number, but got {param}="):
        build(name, **{**EXAMPLES[name], param: bad})


@pytest.mark.parametrize("name", NAMES)
def test_build_equals_build_spec(name: str) -> None:
    a = build(name, **EXAMPLES[name])
    b = build_spec({"name": name, **EXAMPLES[name]})
    assert a == b
    assert [a(k) for k in range(0, 500, 7)] == [b(k) for k in range(0, 500, 7)]


@pytest.mark.parametrize("name", NAMES)
def test_is_frozen_picklable_and_hashable(name: str) -> None:
    lr = build(name, **EXAMPLES[name])
    with pytest.raises(dataclasses.FrozenInstanceError):
        lr.alpha0 = 1.0  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(lr))
    assert again == lr
    assert [again(k) for k in range(0, 500, 11)] == [lr(k) for k in range(0, 500, 11)]
    assert hash(again) == hash(lr)
