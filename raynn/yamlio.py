"""The one YAML reader for user input: run configs, ``--set`` values and search spaces all go through here.

``yaml.safe_load`` alone constructs only plain data, but it still accepts three things a config never needs
and that cost a user a traceback or the machine its memory:

* bytes that are not UTF-8 (a ``UnicodeDecodeError`` deep inside the reader);
* anchors and aliases that expand into a huge document ("billion laughs": nine lines whose aliases stand for
  10^9 strings). PyYAML shares the aliased node, so loading is cheap, but the first ``deepcopy``, ``repr`` or
  ``json.dumps`` of the result walks every copy. The node graph is measured *before* anything is
  constructed: the size it would have with every alias written out, counted once per distinct node
  (memoized), so the check itself is linear in the file;
* a key given twice in one mapping (``lr: 0.1`` ... ``lr: 1``), of which PyYAML silently keeps the last.

And it reads ``1e-3`` as YAML 1.2 does, a float (YAML 1.1 makes it a string).

Every problem is a :class:`~raynn.errors.ConfigError` naming the input (``config``, ``search space``,
``--set optimizer.lr``), the rule and the file or text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from raynn.errors import ConfigError

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "load_yaml_file", "load_yaml_text"]

MAX_FILE_BYTES = 1 << 20
"""A config or search space is a few hundred bytes; 1 MiB leaves room for long categorical lists."""

MAX_NODES = 100_000
"""Nodes of the document with every alias expanded (a MNIST config has ~60)."""

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader (LibYAML's when PyYAML has it), refusing a mapping that repeats a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Only the mapping's own keys: a key merged in from ``<<: *base`` may be overridden on purpose.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found the key {key!r} twice in one mapping", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1e-3 and 1.0e5 as strings: its floats need a dot and a signed exponent. Configs
# are full of learning rates written 1e-3, so the exponent forms of YAML 1.2 are floats here.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))

_RECURSIVE = "must not hold an alias to a node that contains it (a recursive anchor)"


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes of ``root`` with every alias written out, or ``limit + 1`` as soon as that exceeds ``limit``.

    Iterative (a deep document must not hit Python's recursion limit here), memoized per node object, and a
    node met again while it is being measured is an alias to itself: a document that never ends."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = min(total, limit + 1)
            if total > limit:
                return limit + 1
            continue
        if key in open_nodes:
            raise ConfigError("", _RECURSIVE, None)
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise ConfigError("", _RECURSIVE, None)
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _load(text: str, key: str, shown: Any) -> Any:
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(key, "must not nest this deeply", shown) from None
        if node is None:
            return None
        try:
            size = _expanded_size(node, MAX_NODES)
        except ConfigError as exc:
            raise ConfigError(key, exc.rule, shown) from None
        if size > MAX_NODES:
            raise ConfigError(key, f"must expand to at most {MAX_NODES} YAML nodes (anchors and aliases "
                              "included; a billion-laughs document?)", shown)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(key, f"must be valid YAML ({_first_line(exc)})", shown) from None
    except RecursionError:
        raise ConfigError(key, "must not nest this deeply", shown) from None
    finally:
        loader.dispose()


def load_yaml_text(text: str, key: str) -> Any:
    """One YAML value typed by the user (a ``--set`` value); ``key`` names it in errors."""
    if len(text.encode("utf-8", "surrogateescape")) > MAX_FILE_BYTES:
        raise ConfigError(key, f"must be at most {MAX_FILE_BYTES} bytes", text[:40] + "...")
    shown = text if len(text) <= 80 else text[:60] + "..."
    if "\x00" in text:
        raise ConfigError(key, "must not contain NUL characters", shown)
    return _load(text, key, shown)


def load_yaml_file(path: str | os.PathLike[str], key: str, *, empty_ok: bool = False) -> Any:
    """The YAML document in the file ``path``; ``key`` names the input in errors (``config``).

    Raises:
        ConfigError: ``path`` is not a regular file, is larger than :data:`MAX_FILE_BYTES`, is not UTF-8, is
            empty (unless ``empty_ok``; then None), is not valid YAML, repeats a key in a mapping, or expands
            to more than :data:`MAX_NODES` nodes.
    """
    p = Path(path)
    shown = str(path)
    if p.is_dir():
        raise ConfigError(key, "must be a YAML file, not a directory", shown)
    if not p.is_file():
        raise ConfigError(key, "must be an existing YAML file", shown)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(key, f"must be a file of at most {MAX_FILE_BYTES} bytes (it has {size})", shown)
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(key, f"must be a readable file ({exc.strerror or _first_line(exc)})", shown) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(key, f"must be UTF-8 text (byte {exc.start} is not)", shown) from None
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark, as some editors write
        text = text[1:]
    if "\x00" in text:
        raise ConfigError(key, "must be YAML text, not binary (it holds NUL bytes)", shown)
    doc = _load(text, key, shown)
    if doc is None and not empty_ok:
        raise ConfigError(key, "must not be empty (it holds no YAML document)", shown)
    return doc
