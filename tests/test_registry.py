"""raynn.registry: names, aliases, and Registry.build's one rule for specs (a name or {name: ..., **options})."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from raynn.registry import Registry, split_spec, valid_kwargs

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Step:
    alpha0: float
    beta: float = 0.5


def scaled(in_shape: tuple[int, ...], num_classes: int, *, width: int = 4) -> tuple[int, ...]:
    return (*in_shape, num_classes, width)


def _registry(**kwargs: object) -> Registry[object]:
    registry: Registry[object] = Registry("thing", **kwargs)  # type: ignore[arg-type]
    registry.add("step", Step, "a dataclass", aliases=("stair",))
    registry.add("scaled", scaled, "a function")
    return registry


def test_registry_imports_nothing_of_raynn() -> None:
    code = "import sys, raynn.registry; print(sorted(m for m in sys.modules if m.startswith('raynn.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['raynn.errors', 'raynn.registry']"  # raynn/__init__ imports only errors


def test_names_are_sorted_aliases_resolve_but_are_not_listed() -> None:
    registry = _registry()
    assert registry.names() == ["scaled", "step"] and len(registry) == 2
    assert [entry.name for entry in registry] == ["scaled", "step"]
    assert registry.get("stair") is Step and registry.canonical("stair") == "step" and "stair" in registry
    assert 3 not in registry
    with pytest.raises(ValueError, match="^unknown thing 'stairs'; valid names: scaled, step$"):
        registry.get("stairs")
    with pytest.raises(ValueError, match="^unknown thing 3; valid names"):
        registry.get(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="thing 'stair' is already registered"):
        registry.add("stair", Step)


def test_build_takes_a_name_or_a_mapping_and_checks_its_options() -> None:
    registry = _registry(hidden=("in_shape", "num_classes"))
    assert registry.build({"name": "step", "alpha0": 0.1}) == Step(0.1)
    assert registry.build("scaled", (1, 8), 10) == (1, 8, 10, 4)
    assert registry.build({"name": "scaled", "width": 2}, (3,), num_classes=5) == (3, 5, 2)
    assert registry.options("scaled") == ["width"] and registry.options("step") == ["alpha0", "beta"]
    with pytest.raises(ValueError, match=r"^unknown option\(s\) \['gamma'\] for thing 'step'; valid options: "
                                         r"alpha0, beta$"):
        registry.build({"name": "step", "alpha0": 0.1, "gamma": 1})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['in_shape'\] for thing 'scaled'"):
        registry.build({"name": "scaled", "in_shape": (1,)}, (1,), 2)  # the caller's argument, never the spec's
    with pytest.raises(ValueError, match="^a thing spec must have a 'name' key, but got"):
        registry.build({"alpha0": 0.1})
    with pytest.raises(ValueError, match="^a thing spec must be a name or a mapping with 'name', but got 5$"):
        registry.build(5)  # type: ignore[arg-type]


def test_strict_registries_check_one_key_at_a_time_and_require_the_rest() -> None:
    registry = _registry(word="parameter", strict=True)
    with pytest.raises(ValueError, match="^unknown parameter 'x' for thing 'step'; valid parameters: alpha0, beta$"):
        registry.build({"name": "step", "x": 1, "y": 2})
    with pytest.raises(ValueError, match="^missing parameter 'alpha0' for thing 'step'"):
        registry.build({"name": "step", "beta": 1})


def test_options_hook_listed_wording_and_hints() -> None:
    @dataclass(frozen=True)
    class Info:
        fixed: str

        def options(self) -> list[str]:
            return ["lr"]

        def hint(self, name: str, unknown: list[str]) -> list[str]:
            return [f"{name!r} fixes {self.fixed}"] if self.fixed in unknown else []

        def __call__(self, lr: float) -> float:
            return lr

    registry: Registry[Info] = Registry("optimizer", word="hyperparameter", listed="valid", options=Info.options)
    registry.add("sgd", Info("momentum"))
    assert registry.build({"name": "sgd", "lr": 0.5}) == 0.5
    with pytest.raises(ValueError, match=r"^unknown hyperparameter\(s\) \['momentum'\] for optimizer 'sgd'; "
                                         r"valid: lr; 'sgd' fixes momentum$"):
        registry.build({"name": "sgd", "momentum": 0.9})


def test_split_spec_and_valid_kwargs() -> None:
    assert split_spec("he", "initializer") == ("he", {})
    spec = {"name": "xavier", "rho": 1}
    assert split_spec(spec, "initializer") == ("xavier", {"rho": 1}) and spec == {"name": "xavier", "rho": 1}
    with pytest.raises(ValueError, match="^an initializer spec must have a 'name' key"):
        split_spec({}, "initializer")
    assert valid_kwargs(Step) == ["alpha0", "beta"]
    assert valid_kwargs(scaled, hidden=("in_shape",)) == ["num_classes", "width"]
