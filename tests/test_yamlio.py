"""raynn.yamlio: the one YAML loader for configs, spaces and studies; every refusal is one ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from raynn.errors import ConfigError
from raynn.yamlio import MAX_FILE_BYTES, MAX_NODES, load_yaml_file, load_yaml_text


def test_plain_documents_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("\ufeffoptimizer: {lr: 0.1}\nlist: [1, two]\n", encoding="utf-8")  # a BOM is allowed
    assert load_yaml_file(path, "config") == {"optimizer": {"lr": 0.1}, "list": [1, "two"]}
    assert load_yaml_text("[1, 2]", "x") == [1, 2] and load_yaml_text("", "x") is None


@pytest.mark.parametrize(("text", "rule"), [
    ("a: 1\na: 2\n", "a"),  # a repeated key is an error, not the last one silently winning
    ("a: [1\n", "must be valid YAML"),
    ("a: &x [*x]\n", "recursive"),
    ("a: !!python/object:os.system [ls]\n", "must be valid YAML"),
])
def test_malformed_text_is_one_config_error_naming_the_key(text: str, rule: str) -> None:
    with pytest.raises(ConfigError, match=rule) as info:
        load_yaml_text(text, "optimizer.lr")
    assert info.value.key == "optimizer.lr"


def test_a_billion_laughs_is_refused_by_node_count() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(5))
    with pytest.raises(ConfigError, match=f"at most {MAX_NODES} YAML nodes"):
        load_yaml_text(text, "config")


def test_files_that_are_not_yaml_text(tmp_path: Path) -> None:
    cases = {"dir": None, "missing.yaml": None, "binary.yaml": b"\xff\xfe", "nul.yaml": b"a: 1\x00",
             "empty.yaml": b"", "big.yaml": b"#" * (MAX_FILE_BYTES + 1)}
    rules = {"dir": "not a directory", "missing.yaml": "existing YAML file", "binary.yaml": "UTF-8",
             "nul.yaml": "not binary", "empty.yaml": "must not be empty", "big.yaml": "at most"}
    (tmp_path / "dir").mkdir()
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError, match=rules[name]) as info:
            load_yaml_file(tmp_path / name, "config")
        assert info.value.key == "config" and info.value.value == str(tmp_path / name)
    assert load_yaml_file(tmp_path / "empty.yaml", "config", empty_ok=True) is None
