"""Building schedules by name (:mod:`raynn.schedules._factory`): ``names``, ``build``, ``build_spec``."""

from __future__ import annotations

import pytest

from raynn.schedules import build, build_spec


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
