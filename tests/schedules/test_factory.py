"""Building schedules by name (:mod:`raynn.schedules._factory`): ``names``, ``build``, ``build_spec``."""

from __future__ import annotations

from typing import Any

import pytest

from raynn.schedules import SCHEDULES, SGDR, Cosine, InverseTime, Triangular, build, build_spec, names
from raynn.schedules._factory import schedule_class


def test_build_spec_does_not_modify_the_spec() -> None:
    spec = {"name": "warmup", "alpha0": 0.1, "warmup_iters": 3, "after": {"name": "cosine", "max_iter": 9}}
    build_spec(spec)
    assert spec == {
        "name": "warmup",
        "alpha0": 0.1,
        "warmup_iters": 3,
        "after": {"name": "cosine", "max_iter": 9},
    }


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown schedule 'cosin'; valid names: cosine, exponential"):
        build("cosin", alpha0=0.1, max_iter=10)
    with pytest.raises(ValueError, match=r"unknown schedule 'step'; valid names: cosine"):
        build_spec({"name": "step", "alpha0": 0.1})


def test_build_spec_needs_a_mapping_with_a_name() -> None:
    with pytest.raises(ValueError, match=r"must have a 'name' key \(one of: cosine, "):
        build_spec({"alpha0": 0.1, "max_iter": 10})
    with pytest.raises(ValueError, match="must be a mapping"):
        build_spec("cosine")  # type: ignore[arg-type]


def test_names_are_the_registry_sorted() -> None:
    assert names() == sorted(SCHEDULES.names())
    assert names() == sorted(names()) and len(names()) == len(set(names()))


@pytest.mark.parametrize(
    ("name", "params", "cls"),
    [
        ("cosine", {"alpha0": 0.1, "max_iter": 10}, Cosine),
        ("inverse_time", {"alpha0": 0.1, "beta": 0.5}, InverseTime),
        ("triangular", {"alpha_min": 0.0, "alpha_max": 0.1, "delta_t": 5}, Triangular),
    ],
)
def test_build_makes_the_registered_class(name: str, params: dict[str, Any], cls: type) -> None:
    lr = build(name, **params)
    assert type(lr) is cls
    assert lr == cls(**params)
    assert type(build_spec({"name": name, **params})) is cls


def test_build_takes_the_name_only_by_position() -> None:
    # "name" is the spec's key for the schedule, never a parameter: build_spec pops it, build refuses it.
    with pytest.raises(ValueError, match=r"unknown parameter 'name' for schedule 'cosine'"):
        build("cosine", alpha0=0.1, max_iter=10, name="cosine")


def test_build_spec_checks_the_parameters_by_name() -> None:
    with pytest.raises(ValueError, match=r"missing parameter 'max_iter' for schedule 'cosine'"):
        build_spec({"name": "cosine", "alpha0": 0.1})
    with pytest.raises(ValueError, match=r"cosine: `max_iter > 0` must hold, but got max_iter=0"):
        build_spec({"name": "cosine", "alpha0": 0.1, "max_iter": 0})


def test_schedule_class_reads_the_name_and_nothing_else() -> None:
    assert schedule_class({"name": "sgdr"}) is SGDR  # the parameters are not checked here
    assert schedule_class({"name": "sgdr", "t0": -1}) is SGDR
    with pytest.raises(ValueError, match=r"unknown schedule 'SGDR'; valid names: cosine"):
        schedule_class({"name": "SGDR"})
    with pytest.raises(ValueError, match=r"must have a 'name' key \(one of: cosine, .*, warmup\)"):
        schedule_class({})
    with pytest.raises(ValueError, match=r"must be a mapping with a 'name' key, but got \['cosine'\]"):
        schedule_class(["cosine"])  # type: ignore[arg-type]


def test_an_unknown_name_lists_every_valid_name() -> None:
    with pytest.raises(ValueError) as exc:
        build("linear", alpha0=0.1)
    assert str(exc.value).endswith("valid names: " + ", ".join(names()))
