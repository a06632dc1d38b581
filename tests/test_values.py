"""raynn.values: the value rules and the dotted-key setter that the run config and raynn.hpo share."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from raynn.errors import ConfigError
import numpy as np

from raynn.values import (INT_MAX, SEED_MAX, check_flag, check_int, check_number, is_finite_number, is_int,
                          is_integral, is_real, set_dotted, value_error, value_error_of)


def test_limits_are_torch_index_and_numpy_seed_bounds() -> None:
    assert INT_MAX == 2_147_483_647 and SEED_MAX == 4_294_967_295


@pytest.mark.parametrize(("value", "int_", "finite"), [
    (3, True, True), (True, False, False), (2.5, False, True), (math.nan, False, False), (math.inf, False, False),
    (10**400, True, False), ("3", False, False), (None, False, False),
])
def test_is_int_and_is_finite_number(value: object, int_: bool, finite: bool) -> None:
    assert is_int(value) is int_ and is_finite_number(value) is finite


@pytest.mark.parametrize(("value", "integral", "real", "finite_real"), [
    (3, True, True, True), (np.int64(3), True, True, True), (True, False, False, False),
    (np.float32(2.5), False, True, True), (math.inf, False, True, False), (10**400, True, True, False),
    ("3", False, False, False),
])
def test_is_integral_and_is_real_take_numpy_scalars(value: object, integral: bool, real: bool,
                                                    finite_real: bool) -> None:
    assert is_integral(value) is integral and is_real(value) is real and is_real(value, finite=True) is finite_real


def test_check_int_words_its_rule_from_the_bounds_and_raises_what_it_is_told() -> None:
    assert check_int("eta", 3, 2) == 3 and check_int("n", None, 1, optional=True) is None
    with pytest.raises(ConfigError, match=r"^`eta` must be an integer >= 2, but got eta=1$"):
        check_int("eta", 1, 2)
    with pytest.raises(ConfigError, match=r"^`seed` must be an integer in \[0, 9\], but got seed=True$"):
        check_int("seed", True, 0, 9)
    with pytest.raises(ConfigError, match=r"^`n` must be None or an integer >= 1, but got n=2.0$"):
        check_int("n", 2.0, 1, optional=True)
    with pytest.raises(ValueError, match=r"^`k` must be an int, but got k="):  # NumPy's integer is not an int
        check_int("k", np.int64(3), rule="must be an int", error=value_error)
    assert check_int("k", np.int64(3), integral=True) == 3
    with pytest.raises(ConfigError) as info:
        check_int("--workers", 0, 1, error=ConfigError)
    assert str(info.value) == "--workers: must be an integer >= 1, got 0"


def test_check_number_and_check_flag() -> None:
    assert check_number("lr", 0.1, "must be > 0", lambda v: v > 0) == 0.1
    for bad in (math.nan, True, "0.1", 10**400, -1.0):
        with pytest.raises(ConfigError, match="`lr` must be > 0, but got lr="):
            check_number("lr", bad, "must be > 0", lambda v: v > 0)
    assert check_number("m", math.inf, "must be >= 0", lambda v: v >= 0, real=True, finite=False) == math.inf
    with pytest.raises(ValueError, match=r"^step: `gamma` must be a finite real number, but got gamma=nan$"):
        check_number("gamma", math.nan, "must be a finite real number", real=True, error=value_error_of("step"))
    assert check_flag("log", False) is False
    with pytest.raises(ConfigError, match=r"^`log` must be True or False, but got log=1$"):
        check_flag("log", 1)
    assert type(value_error("x", "must be", 1)) is ValueError


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
