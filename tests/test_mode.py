"""raynn/mode.py: the one Mode, shared by the halving cores and early stopping."""

from __future__ import annotations

import json

import pytest

import raynn.early_stopping
import raynn.hpo.base
from raynn.mode import Mode


def test_one_mode_for_cores_and_early_stopping() -> None:
    assert raynn.hpo.base.Mode is Mode is raynn.early_stopping.Mode


@pytest.mark.parametrize(("given", "expected"), [("min", Mode.MIN), ("MAX", Mode.MAX), (Mode.MIN, Mode.MIN)])
def test_parse_accepts_the_enum_and_its_strings(given: object, expected: Mode) -> None:
    assert Mode.parse(given) is expected  # type: ignore[arg-type]


def test_parse_names_the_key_the_rule_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"mode.*'min', 'max'.*down"):
        Mode.parse("down")


def test_a_mode_is_written_as_its_string() -> None:
    assert json.dumps({"mode": Mode.MAX}) == '{"mode": "max"}'
