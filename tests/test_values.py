"""raynn.values: the value rules and the dotted-key setter that the run config and raynn.hpo share."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from raynn.errors import ConfigError
from raynn.values import INT_MAX, SEED_MAX, is_finite_number, is_int, set_dotted


def test_limits_are_torch_index_and_numpy_seed_bounds() -> None:
    assert INT_MAX == 2_147_483_647 and SEED_MAX == 4_294_967_295


@pytest.mark.parametrize(("value", "int_", "finite"), [
    (3, True, True), (True, False, False), (2.5, False, True), (math.nan, False, False), (math.inf, False, False),
    (10**400, True, False), ("3", False, False), (None, False, False),
])
def test_is_int_and_is_finite_number(value: object, int_: bool, finite: bool) -> None:
    assert is_int(value) is int_ and is_finite_number(value) is finite


def test_set_dotted_makes_mappings_and_names_a_non_mapping_on_the_way() -> None:
    tree: dict = {"model": None}
    set_dotted(tree, "model.params.hidden", [8])
    set_dotted(tree, "seed", 1)
    assert tree == {"model": {"params": {"hidden": [8]}}, "seed": 1}
    with pytest.raises(ConfigError) as info:
        set_dotted(tree, "seed.x.y", 2)
    assert (info.value.key, info.value.value) == ("seed", 1) and "must be a mapping" in str(info.value)


def test_values_imports_only_errors() -> None:
    code = "import sys, raynn.values; print(sorted(m for m in sys.modules if m.startswith('raynn')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "['raynn', 'raynn.errors', 'raynn.values']", out.stderr
