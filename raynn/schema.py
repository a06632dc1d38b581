"""JSON Schemas of raynn's YAML files, for editors: ``raynn schema config`` and ``raynn schema space``.

Both come from the Pydantic models that check the files (:class:`raynn.config_model.RunConfig`,
:class:`raynn.hpo.spaces.SpaceFile`), so the schema an editor checks against is the check ``raynn train`` and
``raynn tune`` run (less what only a run can tell: that a file exists, that a ``class_path`` imports). A
YAML file points its editor at one with a first line such as::

    # yaml-language-server: $schema=../schemas/config.schema.json

The repository ships both under ``schemas/``; ``tests/test_schema.py`` checks they equal what this prints.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SCHEMA_KINDS", "json_schema", "schema_text"]

SCHEMA_KINDS = ("config", "space")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _config() -> dict[str, Any]:
    from raynn.config_model import RunConfig

    return {"$schema": _DIALECT, **RunConfig.model_json_schema(), "title": "raynn run config"}


def _space() -> dict[str, Any]:
    """The space file's schema, its ``base`` a partial run config (every run-config key has a default)."""
    from raynn.hpo.spaces import SpaceFile

    run = _config()
    space = SpaceFile.model_json_schema()
    defs = {**run.pop("$defs"), **space.pop("$defs", {})}
    del run["$schema"]
    defs["RunConfig"] = run
    base = space["properties"]["base"]
    base.pop("anyOf", None)
    base["anyOf"] = [{"$ref": "#/$defs/RunConfig"}, {"type": "null"}]
    return {"$schema": _DIALECT, **space, "title": "raynn search space", "$defs": defs}


def json_schema(kind: str = "config") -> dict[str, Any]:
    """The JSON Schema of a run config (``config``) or a search-space file (``space``)."""
    from raynn.errors import ConfigError

    if kind not in SCHEMA_KINDS:
        raise ConfigError("KIND", f"must be one of {', '.join(SCHEMA_KINDS)}", kind)
    return _config() if kind == "config" else _space()


def schema_text(kind: str = "config") -> str:
    """:func:`json_schema` as the text ``raynn schema`` prints and ``schemas/`` holds."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"
