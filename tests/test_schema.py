"""``raynn schema``: the JSON Schemas editors read, the shipped copies under ``schemas/``, and every shipped
YAML file pointing at its schema, valid under it and loaded by raynn."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raynn.cli import main
from raynn.config import load_config
from raynn.hpo import load_space
from raynn.schema import SCHEMA_KINDS, json_schema, schema_text

REPO = Path(__file__).resolve().parents[1]
HEADER = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")
# The raynn YAML files the repository ships (study files have their own format; cluster files are Ray's).
SHIPPED = sorted([*REPO.glob("examples/**/*.yaml"), *REPO.glob("search_spaces/*.yaml")])


def _kind(path: Path) -> str:
    return "space" if path.parent.name == "search_spaces" or path.name == "space.yaml" else "config"


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_the_shipped_schema_is_what_raynn_schema_prints(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", kind]) == 0
    printed = capsys.readouterr().out
    assert printed == schema_text(kind)
    assert (REPO / "schemas" / f"{kind}.schema.json").read_text() == printed, (
        f"schemas/{kind}.schema.json is stale: run `raynn schema {kind} --output schemas/{kind}.schema.json`")


def test_output_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--output", str(tmp_path / "c.json")]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads((tmp_path / "c.json").read_text()) == json_schema("config")
    assert main(["schema", "space", "--output", str(tmp_path / "none" / "s.json")]) == 2
    assert capsys.readouterr().err.startswith("raynn: error: --output: must be a file raynn can write")


def test_the_schemas_are_valid_json_schemas() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for kind in SCHEMA_KINDS:
        jsonschema.Draft202012Validator.check_schema(json_schema(kind))


def test_the_schema_refuses_what_raynn_refuses() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    config = jsonschema.Draft202012Validator(json_schema("config"))
    assert config.is_valid({"optimizer": {"name": "adam", "lr": 0.01}, "train": {"compile": {"mode": "default"}}})
    for bad in ({"trian": {"epochs": 3}}, {"optimizer": {"learning_rate": 0.1}}, {"train": {"epochs": 0}},
                {"optimizer": {"name": "lbfgs"}}, {"model": {"dropout": 1.0}}, {"train": {"precision": "fp8"}}):
        assert not config.is_valid(bad), bad
    space = jsonschema.Draft202012Validator(json_schema("space"))
    assert space.is_valid({"base": {"train": {"epochs": 3}},
                           "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}})
    for bad in ({"space": {"optimizer.lr": {"type": "uniform"}}}, {"base": {"trian": {}}, "space": {}},
                {"space": {"optimizer.lr": {"type": "float", "low": 0.01}}}):
        assert not space.is_valid(bad), bad


def test_every_shipped_yaml_names_its_schema() -> None:
    assert len(SHIPPED) >= 6
    for path in SHIPPED:
        first = path.read_text().splitlines()[0]
        match = HEADER.match(first)
        assert match, f"{path}: first line must be the yaml-language-server header, got {first!r}"
        target = (path.parent / match.group(1)).resolve()
        assert target == REPO / "schemas" / f"{_kind(path)}.schema.json", (path, target)


@pytest.fixture
def own_imports_undone() -> Iterator[None]:
    """Loading ``examples/custom`` imports its package ``shapes`` from that folder: undone afterwards, so a later
    test in this process that needs ``shapes`` to be unimportable (a checkpoint whose code is gone) sees what a
    fresh process would."""
    path = list(sys.path)
    yield
    sys.path[:] = path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(REPO / "examples")):
            del sys.modules[name]


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(REPO)) for p in SHIPPED])
def test_every_shipped_yaml_is_valid_under_its_schema_and_loads(path: Path, own_imports_undone: None) -> None:
    import jsonschema
    import yaml

    kind = _kind(path)
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema(kind))
    if kind == "space":
        from raynn.config import check_config

        load_space(path, check=check_config)
    else:
        load_config(path)
