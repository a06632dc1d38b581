"""Input paths in configs: where a relative one points (a leaf module, imported by configs and search spaces)."""

from __future__ import annotations

import copy
import os
from typing import Any

__all__ = ["INPUT_PATHS", "resolve_input_paths"]

# Keys naming files a run reads. A relative one in a YAML file means "next to this file", wherever raynn is
# started from; one given in Python or with --set means "from the current directory" (check_config).
# `storage` is where runs are written, and stays relative to the current directory, as Ray's storage_path.
INPUT_PATHS = ("data.root", "model.init.path", "targets.distillation.teacher")


def resolve_input_paths(raw: Any, base_dir: str | os.PathLike[str]) -> Any:
    """A copy of the raw (partial) config ``raw`` with each relative :data:`INPUT_PATHS` value made absolute
    against ``base_dir``; anything that is not a non-empty string is left for the checks to report."""
    if not isinstance(raw, dict):
        return raw
    out = copy.deepcopy(raw)
    for key in INPUT_PATHS:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(leaf) if isinstance(node, dict) else None
        if isinstance(value, str) and value and not os.path.isabs(value):
            node[leaf] = os.path.normpath(os.path.join(os.path.abspath(base_dir), value))
    return out
