"""raynn/_ray_private.py: the one place raynn reaches into Ray's private modules and fields (Ray 2.60; no Ray
session).

If Ray renames a field these read, this file fails first, and says which; if a private use of Ray appears in
any other module of raynn, :func:`test_no_other_module_reaches_into_rays_private_parts` fails and names it."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher, SearchGenerator

import raynn
from raynn._ray_private import concurrency_slots, forget_decisions, local_tuner, take_limiter_slot


class _Searcher(Searcher):
    def suggest(self, trial_id: str) -> dict[str, Any]:
        return {}


def test_the_generators_live_set_is_its_own_not_a_copy() -> None:
    generator = BasicVariantGenerator(max_concurrent=3)
    limit, live, limiter = concurrency_slots(generator)
    assert (limit, limiter) == (3, None) and live is generator._live_trials


def test_a_limiter_is_found_through_the_wrappers_and_its_counter_moves_with_the_set() -> None:
    limiter = ConcurrencyLimiter(_Searcher(metric="m", mode="min"), max_concurrent=2)
    limit, live, found = concurrency_slots(SearchGenerator(limiter))
    assert (limit, found) == (2, limiter) and live is limiter.live_trials
    take_limiter_slot(limiter, +1)
    assert limiter.num_unfinished_live_trials == 1


def test_the_restored_tuners_internal() -> None:
    internal = object()
    assert local_tuner(SimpleNamespace(_local_tuner=internal)) is internal


def test_decisions_held_for_a_trial_being_added_are_dropped_through_tunes_wrapper() -> None:
    import inspect

    from ray.tune.execution.tune_controller import TrialRunnerWrapper, TuneController, _FakeRayTrialExecutor

    # the fields forget_decisions edits are still the controller's (a rename in Ray fails here first)
    source = inspect.getsource(TuneController.__init__)
    assert "self._cached_trial_decisions = {}" in source and "self._queued_trial_decisions = {}" in source
    controller = SimpleNamespace(
        _cached_trial_decisions={"a": "PAUSE", "b": "CONTINUE"}, _queued_trial_decisions={"a": "PAUSE"}
    )
    wrapper = TrialRunnerWrapper(controller, trial_executor=_FakeRayTrialExecutor(controller))  # type: ignore[arg-type]
    forget_decisions(wrapper, "a")
    assert controller._cached_trial_decisions == {"b": "CONTINUE"} and controller._queued_trial_decisions == {}
    forget_decisions(controller, "b")  # the controller itself works too
    assert controller._cached_trial_decisions == {}


_PACKAGE = Path(raynn.__file__).parent
_THE_MODULE = _PACKAGE / "_ray_private.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_names_of_ray() -> set[str]:
    """The private fields of Ray's objects that ``_ray_private.py`` touches (attributes and ``getattr`` names)."""
    names = set()
    for node in ast.walk(ast.parse(_THE_MODULE.read_text())):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_private(node.value):
            names.add(node.value)
    return names


def private_ray_uses(tree: ast.AST, fields: set[str]) -> list[tuple[int, str]]:
    """(line, what) for each private use of Ray in ``tree``: an import of a private Ray module or name, an
    attribute of ``ray`` starting with ``_``, or one of Ray's private ``fields`` read or named."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "ray" and any(map(_is_private, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray":
            parts = node.module.split(".") + [a.name for a in node.names]  # type: ignore[union-attr]
            if any(map(_is_private, parts)):
                found.append((node.lineno, ".".join(parts)))
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if node.attr in fields or (isinstance(base, ast.Name) and base.id == "ray"):
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Constant) and node.value in fields:
            found.append((node.lineno, str(node.value)))
    return found


def test_the_check_finds_each_kind_of_private_use() -> None:
    source = """
import ray._private.state
from ray._private import services
from ray.train.v2._internal.constants import X
from ray.experimental.internal_kv import _internal_kv_get
ray._private.state.state.get_cluster_config()
tuner._local_tuner
getattr(controller, "_cached_trial_decisions")
from ray.tune import Tuner
self._live = tuner.trials
"""
    uses = private_ray_uses(ast.parse(source), {"_local_tuner", "_cached_trial_decisions"})
    assert {line for line, _ in uses} == {2, 3, 4, 5, 6, 7, 8}


def test_no_other_module_reaches_into_rays_private_parts() -> None:
    fields = _private_names_of_ray()
    assert {"_local_tuner", "_live_trials", "_cached_trial_decisions"} <= fields
    found = [f"{path.relative_to(_PACKAGE.parent)}:{line}: {what}"
             for path in sorted(_PACKAGE.rglob("*.py")) if path != _THE_MODULE
             for line, what in private_ray_uses(ast.parse(path.read_text()), fields)]
    assert found == [], "private uses of Ray outside raynn/_ray_private.py:\n" + "\n".join(found)
