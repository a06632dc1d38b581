"""Paths a user types: where a relative input path points, what a run or experiment name may be, and whether
the storage directory can take what a run will write (a leaf module, imported by configs and search spaces)."""

from __future__ import annotations

import copy
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Any

from raynn.errors import ConfigError
from raynn.storage import Uri, check_uri, is_uri, normalize

__all__ = ["INPUT_PATHS", "MIN_FREE_BYTES", "NAME_RULE", "check_name", "check_storage", "is_name",
           "resolve_input_paths"]

# Keys naming files a run reads. A relative one in a YAML file means "next to this file", wherever raynn is
# started from; one given in Python or with --set means "from the current directory" (check_config).
# `storage` is where runs are written, and stays relative to the current directory, as Ray's storage_path.
INPUT_PATHS = ("data.root", "data.init_args.root", "model.init.path", "targets.distillation.teacher",
               "code.working_dir")
LIST_INPUT_PATHS = ("code.py_modules",)  # lists of such paths


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
    for key in LIST_INPUT_PATHS:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        values = node.get(leaf) if isinstance(node, dict) else None
        if isinstance(values, list):
            node[leaf] = [os.path.normpath(os.path.join(os.path.abspath(base_dir), v))
                          if isinstance(v, str) and v and not os.path.isabs(os.path.expanduser(v)) else v
                          for v in values]
    return out


_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
NAME_RULE = "must be one path component of letters, digits, '.', '_' or '-' (not '.' or '..')"
"""A run, trial or experiment name becomes a directory under the storage directory: it must stay inside it."""


def is_name(value: Any) -> bool:
    """Whether ``value`` is a valid name (see :data:`NAME_RULE`)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None and value not in (".", "..")


def check_name(key: str, value: Any) -> str:
    """``value`` if it is a valid name (see :data:`NAME_RULE`), else a :class:`ConfigError` naming ``key``."""
    if not is_name(value):
        raise ConfigError(key, NAME_RULE, value)
    return value


MIN_FREE_BYTES = 16 << 20
"""Free space a run's storage must have at the start: a few checkpoints of a small model and the logs.
Less means the first checkpoint would fail after the first epoch was paid for."""


def check_storage(key: str, path: str | os.PathLike[str]) -> Path | Uri:
    """The absolute storage directory ``path``, checked before anything starts: it (or the nearest existing
    directory above it, where it will be made) must be a writable directory with :data:`MIN_FREE_BYTES` free.
    A storage URI (``s3://bucket/prefix?...``) is checked by :func:`raynn.storage.check_uri` instead (scheme,
    credentials, a probe object written and deleted); a bucket has no free space to check.

    A run that cannot write learns it at its first checkpoint, after an epoch of work; this says so up front.
    Nothing is created. ``os.access`` sees read-only mounts (EROFS) as well as permissions.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path) or "\x00" in str(path):
        raise ConfigError(key, "must be the path of a directory", path)
    if is_uri(str(path)):
        return check_uri(key, str(path))
    normalize(key, path)  # "s3:bucket" is a URI without its "//", never a local folder named "s3:"
    target = Path(path).resolve()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "an existing file" if probe == target else f"below the file {str(probe)!r}"
        raise ConfigError(key, f"must be a directory, but it is {what}", str(path))
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = "on a read-only file system" if _read_only(probe) else "not writable by this user"
        where = "" if probe == target else f" ({str(probe)!r}, where it would be made)"
        raise ConfigError(key, f"must be a writable directory: it is {reason}{where}", str(path))
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_BYTES:
        raise ConfigError(key, f"must have at least {MIN_FREE_BYTES >> 20} MiB free for checkpoints, but its "
                          f"file system has {free >> 10} KiB", str(path))
    return target


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return exc.errno == errno.EROFS
