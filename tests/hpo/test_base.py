from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raynn.hpo import SCHEDULERS, Decision, HalvingScheduler, Mode

REPO = Path(__file__).resolve().parents[2]


def test_decision_values_are_ray_tune_strings() -> None:
    assert [d.value for d in Decision] == ["CONTINUE", "PAUSE", "STOP"]


def test_mode_parse_at_the_edge() -> None:
    assert Mode.parse("min") is Mode.MIN
    assert Mode.parse("MAX") is Mode.MAX
    assert Mode.parse(Mode.MAX) is Mode.MAX
    for bad in ("best", None, 1):
        with pytest.raises(ValueError, match=r"`mode` must be one of 'min', 'max', but got mode="):
            Mode.parse(bad)  # type: ignore[arg-type]


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        HalvingScheduler()  # type: ignore[abstract]


def test_registry_lists_every_core() -> None:
    assert SCHEDULERS.names() == ["asha", "hyperband", "successive_halving"]
    for entry in SCHEDULERS:
        assert issubclass(entry.obj, HalvingScheduler) and entry.summary
    with pytest.raises(ValueError, match="unknown halving core 'hyper_band'; valid names: asha, hyperband"):
        SCHEDULERS.get("hyper_band")


def test_importing_raynn_hpo_never_imports_ray() -> None:
    code = "import sys, raynn.hpo; sys.exit(1 if 'ray' in sys.modules else 0)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"raynn.hpo imported ray (or failed): {result.stderr}"
