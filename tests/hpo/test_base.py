from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raynn.hpo import (SCHEDULERS, Decision, HalvingProtocol, HalvingQueries, HalvingScheduler,
                       LearningCurveStopping, Mode)

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


def test_the_event_protocol_is_apart_from_the_reporting_queries() -> None:
    # the events an adapter translates (Syne Tune's on_trial_add / on_trial_result / on_trial_complete /
    # suggest) and the state they build; nothing that only reports
    assert HalvingProtocol.__abstractmethods__ == {
        "has_room", "on_trial_add", "on_result", "choose_paused", "pop_stops", "on_trial_remove",
        "on_search_exhausted", "state_dict", "load_state_dict"}
    assert not HalvingProtocol.__abstractmethods__ & HalvingQueries.__abstractmethods__
    assert HalvingScheduler.__abstractmethods__ == (HalvingProtocol.__abstractmethods__
                                                    | HalvingQueries.__abstractmethods__)
    for entry in SCHEDULERS:
        core = entry.obj.core
        if core is not None and core is not LearningCurveStopping:
            assert issubclass(core, HalvingProtocol) and issubclass(core, HalvingQueries)


def test_registry_lists_every_core() -> None:
    assert SCHEDULERS.names() == ["asha", "curve", "fifo", "hyperband", "sh"]
    for entry in SCHEDULERS:
        assert (entry.obj.core is None) == (entry.name == "fifo") and entry.summary
        # every core is a halving scheduler, but the learning-curve stopping rule (a stop-only rule)
        assert (entry.obj.core is None or issubclass(entry.obj.core, HalvingScheduler)
                or entry.obj.core is LearningCurveStopping)
    # the name the core registry had before the scheduler registries were merged
    assert SCHEDULERS.get("successive_halving") is SCHEDULERS.get("sh")
    with pytest.raises(ValueError, match="unknown scheduler 'hyper_band'; valid names: asha, curve, fifo, hyperband, sh$"):
        SCHEDULERS.get("hyper_band")


def test_importing_raynn_hpo_never_imports_ray_torch_or_the_run_config() -> None:
    # A fresh interpreter: this one has imported them all already.
    code = ("import sys, raynn.hpo; "
            "print(' '.join(m for m in ('ray', 'torch', 'raynn.config') if m in sys.modules))")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"raynn.hpo imported {result.stdout.strip()}"
