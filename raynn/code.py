"""Your code on every node: the ``code`` section (``working_dir``, ``py_modules``, ``excludes``), as Ray ships it.

raynn writes nothing of its own for this: the section becomes the Ray job's ``runtime_env`` (Ray uploads the
directory and the modules once and every Tune actor and Ray Train worker of the job inherits them), and the
same directories go on this process's import path, so the driver checks and an in-process run import the
same code. Inside ``ray job submit --working-dir ...`` the job's own ``working_dir`` (and ``py_modules``) are
used and raynn sets no conflicting one.

``working_dir`` is a directory whose contents are importable (``userpkg/`` inside it imports as ``userpkg``);
each of ``py_modules`` is a package directory (imported by its name) or a ``.whl``; ``excludes`` are
gitignore-style patterns relative to ``working_dir``. :func:`digest` fingerprints the files, so that
``raynn tune --resume`` can say when the code changed since the experiment started.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from raynn.errors import ConfigError
from raynn.validation import unknown_key

__all__ = ["check_code", "code_flags", "digest", "job_runtime_env", "probe_cuda", "probe_nodes", "runtime_env",
           "sys_path_entries"]

_SKIP_DIRS = {"__pycache__", ".git", ".venv", ".pytest_cache", ".mypy_cache"}
_HASH_MAX_BYTES = 8 << 20  # larger files count by size and modification time


def _path(key: str, value: Any, *, file_ok: bool) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(key, "must be a non-empty path", value)
    path = Path(value).expanduser().resolve()
    if not (path.is_dir() or (file_ok and path.is_file() and path.suffix in (".whl", ".zip"))):
        what = "an existing directory" + (" (a package) or a .whl / .zip file" if file_ok else "")
        raise ConfigError(key, f"must be {what}", value)
    return str(path)


def check_code(code: Any, key: str = "code") -> dict[str, Any]:
    """The checked ``code`` section, paths made absolute and put on this process's import path.

    Raises:
        ConfigError: a path that does not exist, a value of the wrong type.
    """
    if not isinstance(code, Mapping):
        raise ConfigError(key, "must be a mapping {working_dir, py_modules, excludes}", code)
    valid = ("excludes", "py_modules", "working_dir")
    unknown = sorted(set(code) - set(valid))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", unknown_key(valid), code[unknown[0]])
    out: dict[str, Any] = {"working_dir": None, "py_modules": [], "excludes": []}
    if code.get("working_dir") is not None:
        out["working_dir"] = _path(f"{key}.working_dir", code["working_dir"], file_ok=False)
    for name in ("py_modules", "excludes"):
        value = code.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{key}.{name}", "must be a list of non-empty strings", value)
    out["py_modules"] = [_path(f"{key}.py_modules.{i}", v, file_ok=True) for i, v in enumerate(code.get("py_modules") or [])]
    out["excludes"] = list(code.get("excludes") or [])
    for entry in sys_path_entries(out):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    return out


def code_flags(working_dir: str | None, py_modules: list[str] | None) -> dict[str, Any]:
    """The ``code`` keys that ``--working-dir`` and ``--py-module`` set (relative to the current directory)."""
    out: dict[str, Any] = {}
    if working_dir is not None:
        out["working_dir"] = str(Path(working_dir).resolve())
    if py_modules:
        out["py_modules"] = [str(Path(p).resolve()) for p in py_modules]
    return out


def sys_path_entries(code: Mapping[str, Any]) -> list[str]:
    """Where this process imports the code from: the working directory, each package's parent directory."""
    entries = [code["working_dir"]] if code.get("working_dir") else []
    for module in code.get("py_modules") or []:
        entries.append(module if module.endswith((".whl", ".zip")) else str(Path(module).parent))
    return list(dict.fromkeys(entries))


def job_runtime_env() -> dict[str, Any]:
    """The runtime env of the Ray job this driver runs in (``ray job submit``), or {} outside a job."""
    from raynn._ray_private import job_config_json

    text = job_config_json()
    if not text:
        return {}
    try:
        return dict(json.loads(text).get("runtime_env") or {})
    except (ValueError, AttributeError):
        return {}


def runtime_env(code: Mapping[str, Any], job: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``runtime_env`` fields of ``code`` for ``ray.init``: those the job (``job``, see
    :func:`job_runtime_env`) does not already set, since Ray refuses a driver that sets the same field."""
    job = job or {}
    env: dict[str, Any] = {}
    if code.get("working_dir") and "working_dir" not in job:
        env["working_dir"] = code["working_dir"]
        if code.get("excludes"):
            env["excludes"] = list(code["excludes"])
    if code.get("py_modules") and "py_modules" not in job:
        env["py_modules"] = list(code["py_modules"])
        if code.get("excludes") and "excludes" not in env:
            env["excludes"] = list(code["excludes"])
    return env


def _excluded(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.strip("/")
        if fnmatch.fnmatch(rel, pat) or any(fnmatch.fnmatch(p, pat) for p in parts):
            return True
    return False


def _files(root: Path, excludes: list[str]) -> Iterator[tuple[str, Path]]:
    if root.is_file():
        yield root.name, root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if not name.endswith(".pyc") and not _excluded(rel, excludes):
                yield rel, path


def digest(code: Mapping[str, Any]) -> str | None:
    """A fingerprint of the files ``code`` ships (None when it ships nothing): the same files with the same
    contents give the same value."""
    roots = ([("working_dir", code["working_dir"])] if code.get("working_dir") else []) + [
        (f"py_modules/{Path(m).name}", m) for m in code.get("py_modules") or []]
    if not roots:
        return None
    h = hashlib.sha256()
    for label, root in roots:
        for rel, path in _files(Path(root), list(code.get("excludes") or [])):
            h.update(f"{label}/{rel}\0".encode())
            try:
                st = path.stat()
                if st.st_size > _HASH_MAX_BYTES:
                    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
                else:
                    h.update(path.read_bytes())
            except OSError:
                h.update(b"<unreadable>")
    return h.hexdigest()[:16]


def probe_nodes(class_paths: Mapping[str, str], timeout: float = 300.0) -> None:
    """Import every ``class_paths`` value (``key -> import path``) in a task on each alive node of the connected
    Ray cluster, before any trial trains; the first node that cannot is a :class:`ConfigError` naming the node.

    The tasks run in the job's runtime env, as the trials and Ray Train workers will.
    """
    if not class_paths:
        return
    import ray

    from raynn.classpath import import_object

    @ray.remote(num_cpus=0, max_retries=0)
    def probe(paths: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        errors = []
        for key, path in paths:
            try:
                import_object(path)
            except ValueError as exc:
                errors.append((key, path, str(exc)))
        return errors

    for where, ref in _on_each_node(probe, sorted(class_paths.items())):
        try:
            errors = ray.get(ref, timeout=timeout)
        except Exception as exc:  # the runtime env could not be set up there (an upload too large, a bad wheel)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError("code", f"could not be set up on {where}: {first}", None,
                              message=f"code: {where} could not set up the job's code: {first}") from None
        if errors:
            key, path, reason = errors[0]
            reason = reason.removeprefix(f"cannot import {path}: ")
            raise ConfigError(key, f"must import on every node; {where} cannot: {reason}", path,
                              message=f"{key}: {where} cannot import {path} ({reason}); ship your code with "
                                      "--working-dir / --py-module (code.working_dir / code.py_modules)")


def _on_each_node(task: Any, *args: Any, gpu_nodes_only: bool = False) -> Iterator[tuple[str, Any]]:
    """Start the remote function ``task(*args)`` pinned to each alive node of the connected cluster (those that
    offer GPUs with ``gpu_nodes_only``), all at once; yield ``(where, its object ref)`` node by node, ``where``
    naming the node (address and ID) for a message."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes()
             if n.get("Alive") and (not gpu_nodes_only or n.get("Resources", {}).get("GPU", 0) > 0)]
    pinned = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)) for n in nodes]
    refs = [(fn.remote(*args), n) for fn, n in zip(pinned, nodes)]
    for ref, node in refs:
        yield f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:8]})", ref


def probe_cuda(timeout: float = 120.0) -> None:
    """On each alive node that offers GPUs, check that torch finds a CUDA device, before any trial or worker
    holds one: a CPU-only torch build on a GPU node would otherwise train on its CPU without a word. The first
    node that cannot is a :class:`ConfigError` naming it (``train.device: cpu`` skips this)."""
    import ray

    @ray.remote(num_cpus=0, num_gpus=0.001, max_retries=0)
    def cuda() -> tuple[bool, str]:
        import torch

        return torch.cuda.is_available(), torch.__version__

    for where, ref in _on_each_node(cuda, gpu_nodes_only=True):
        available, version = ray.get(ref, timeout=timeout)
        if not available:
            raise ConfigError("train.device", f"must be cpu: {where} offers GPUs but its torch {version} finds no "
                              "CUDA device (a CPU-only torch build?); install a CUDA build of torch there or set "
                              "train.device: cpu", "auto",
                              message=f"train.device: {where} offers GPUs but its torch {version} finds no CUDA "
                                      "device (a CPU-only torch build?); install a CUDA build of torch there, or "
                                      "train on its CPUs with train.device: cpu")
