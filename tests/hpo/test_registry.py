"""raynn/hpo/registry.py: a scheduler is its core and one registry entry (no Ray session)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import raynn
from raynn.errors import ConfigError
from raynn.hpo import SCHEDULERS, SchedulerOptions

_PACKAGE = Path(raynn.__file__).parent
_NAMES = {*SCHEDULERS.names(), "successive_halving"}


def test_every_entry_names_its_options_its_adapter_and_its_samples() -> None:
    for entry in SCHEDULERS:
        info = entry.obj
        assert issubclass(info.options, SchedulerOptions) and info.options.model_config["extra"] == "forbid"
        assert info.adapter.count(".") >= 2 and callable(info.samples) and callable(info.resource)
        assert info.options.blame in ("eta", "budget")


def test_options_are_picked_from_what_a_run_offers_and_checked_in_one_line() -> None:
    offered = {"budget": 48, "num_configs": None, "max_resource": 9, "eta": 3, "metric": "loss", "mode": "min"}
    assert SCHEDULERS.get("sh").options.pick(offered) == {"budget": 48, "metric": "loss", "mode": "min"}
    assert SCHEDULERS.get("fifo").options.pick(offered) == {}
    with pytest.raises(ConfigError) as info:
        SCHEDULERS.get("hyperband").options.check("hyperband", {"max_resource": 9, "eta": "3"})
    assert str(info.value) == "eta: must be an integer for scheduler 'hyperband', got '3'"


def test_no_module_branches_on_a_scheduler_name_outside_the_registry() -> None:
    found = []
    for path in sorted(_PACKAGE.rglob("*.py")):
        if path == _PACKAGE / "hpo" / "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                constants = [c for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant)]
                names = [c.value for c in constants if isinstance(c.value, str) and c.value in _NAMES]
                found += [f"{path.relative_to(_PACKAGE.parent)}:{node.lineno}: {n!r}" for n in names]
    assert found == [], "\n".join(found)


def test_an_option_error_names_the_option_alone_and_a_scheduler_without_options_says_so() -> None:
    with pytest.raises(ConfigError) as info:
        SCHEDULERS.get("asha").options.check("asha", {"max_resource": 9, "mode": 5})
    assert info.value.key == "mode" and "for scheduler 'asha'" in info.value.rule  # not the union member tried
    with pytest.raises(ConfigError) as info:
        SCHEDULERS.get("fifo").options.check("fifo", {"metric": "loss"})
    assert str(info.value) == "metric: is not a known option of scheduler 'fifo'; it takes no options, got 'loss'"
