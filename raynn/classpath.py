"""The user's own code named in a config: ``{class_path: pkg.module.Name, init_args: {...}}``.

The convention of LightningCLI (``class_path`` + ``init_args``) and Hydra's ``_target_``: any importable class
or function, its arguments checked against its signature before anything runs. The Python API may pass the
class or function itself where the string goes; :func:`object_path` turns it into the string every other
process imports (a checkpoint, a Tune trial, a Ray Train worker, another node). Nothing here imports Ray or
torch.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from raynn.errors import ConfigError
from raynn.validation import unknown_key

__all__ = ["CLASS_PATH_RULE", "check_spec", "class_paths", "import_object", "instantiate", "is_spec", "normalize_specs",
           "object_path", "takes"]

CLASS_PATH_RULE = "must be the import path of a class or function (package.module.Name)"
SPEC_KEYS = frozenset({"class_path", "init_args"})


def is_spec(value: Any) -> bool:
    """Whether ``value`` is a ``{class_path: ..., init_args: ...}`` mapping."""
    return isinstance(value, Mapping) and "class_path" in value


def import_object(path: str) -> Any:
    """The object ``path`` names: ``"torchvision.models.resnet18"``, ``"pkg.nets.WideNet"``.

    The longest importable module prefix is imported, the rest looked up as attributes.

    Raises:
        ValueError: one line with the import's own error (``No module named 'userpkg'``), or the missing name.
    """
    if not isinstance(path, str) or not path or any(not part.isidentifier() for part in path.split(".")):
        raise ValueError(CLASS_PATH_RULE)
    parts = path.split(".")
    if len(parts) < 2:
        raise ValueError(f"{CLASS_PATH_RULE}; a bare name has no module to import it from")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name) and i > 1:
                continue  # pkg.module.Class: try pkg.module as a module, then pkg with module an attribute
            raise ValueError(f"cannot import {path}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # the user's module raised while importing: its own error, in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ValueError(f"cannot import {path}: importing {module_name} raised {type(exc).__name__}: "
                             f"{first}") from None
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                raise ValueError(f"cannot import {path}: module {module_name} has no attribute {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise ValueError(f"cannot import {path}")  # pragma: no cover - the loop always returns or raises


def object_path(obj: Any) -> str:
    """The import path of a class or function, checked to import back to the same object.

    Raises:
        ValueError: for an object defined in ``__main__`` (a script or notebook) or inside a function, which
            other processes cannot import: what to do is in the message.
    """
    if isinstance(obj, str):
        return obj
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not callable(obj) or not isinstance(module, str) or not isinstance(qualname, str):
        raise ValueError(f"{CLASS_PATH_RULE} or the class or function itself, but got a {type(obj).__name__}")
    if module == "__main__" or "<locals>" in qualname:
        where = "in __main__ (a script or notebook)" if module == "__main__" else "inside a function"
        raise ValueError(f"must be importable by other processes, but {qualname} is defined {where}, which Ray "
                         "workers, other nodes and a checkpoint reader cannot import: move it into a module file "
                         "(mypkg/nets.py) and ship it with code.py_modules / --py-module (or code.working_dir / "
                         "--working-dir)")
    path = f"{module}.{qualname}"
    try:
        back = import_object(path)
    except ValueError:
        back = None
    if back is not obj:
        raise ValueError(f"must import back to the object given, but {path} does not; pass its import path as a "
                         "string")
    return path


def takes(fn: Any, name: str) -> bool:
    """Whether ``fn`` (a class: its ``__init__``) accepts the keyword argument ``name``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _check_args(fn: Any, path: str, init_args: Mapping[str, Any]) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    params = sig.parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        named = [n for n, p in params.items() if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                            inspect.Parameter.KEYWORD_ONLY)]
        unknown = sorted(set(init_args) - set(named))
        if unknown:
            raise ConfigError(f"init_args.{unknown[0]}", f"must be an argument of {path}, which takes: "
                              f"{', '.join(named) or '(none)'}", init_args[unknown[0]])


def check_spec(key: str, spec: Any, *, fill: tuple[str, ...] = ()) -> Any:
    """Check ``{class_path, init_args}`` at ``key``: the path imports, each ``init_args`` key is an argument
    of the class or function (recursively for nested specs), every required argument is given or in
    ``fill`` (what raynn passes itself, such as ``num_classes``). Returns the imported object.

    Raises:
        ConfigError: naming ``key.class_path`` or ``key.init_args.NAME``, the rule and the value.
    """
    if not isinstance(spec, Mapping) or "class_path" not in spec:
        raise ConfigError(key, "must be a mapping {class_path, init_args}", spec)
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", unknown_key(sorted(SPEC_KEYS)), spec[unknown[0]])
    path, init_args = spec["class_path"], spec.get("init_args") or {}
    try:
        obj = import_object(path)
    except ValueError as exc:
        raise ConfigError(f"{key}.class_path", f"must name an importable class or function: {exc}", path) from None
    if not callable(obj):
        raise ConfigError(f"{key}.class_path", f"{CLASS_PATH_RULE}; {path} is a {type(obj).__name__}", path)
    if not isinstance(init_args, Mapping):
        raise ConfigError(f"{key}.init_args", "must be a mapping of keyword arguments", init_args)
    try:
        _check_args(obj, path, init_args)
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key}", exc.rule, exc.value) from None
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        for name, p in sig.parameters.items():
            if (p.default is inspect.Parameter.empty and name not in init_args and name not in fill
                    and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)):
                raise ConfigError(f"{key}.init_args.{name}", f"must be given: {path} requires it", None)
    for name, value in init_args.items():
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if is_spec(item):
                where = f"{key}.init_args.{name}" + (f".{i}" if isinstance(value, list) else "")
                check_spec(where, item)
    return obj


def _build(value: Any) -> Any:
    if is_spec(value):
        return instantiate(value)
    if isinstance(value, list):
        return [_build(v) for v in value]
    return value


def instantiate(spec: Mapping[str, Any], **fill: Any) -> Any:
    """Call the class or function of a checked spec with its ``init_args`` (nested specs built first); each
    ``fill`` argument is passed only where the signature takes it and ``init_args`` does not set it."""
    obj = import_object(spec["class_path"])
    init_args = {name: _build(value) for name, value in (spec.get("init_args") or {}).items()}
    for name, value in fill.items():
        if name not in init_args and takes(obj, name):
            init_args[name] = value
    return obj(**init_args)


def normalize_specs(node: Any, key: str = "") -> Any:
    """A copy of a raw config with every ``class_path`` given as a class or function replaced by its import
    path (:func:`object_path`), so that the config travels as plain data. Raises :class:`ConfigError`."""
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            where = f"{key}.{k}" if key else str(k)
            if k == "class_path" and v is not None and not isinstance(v, str):
                try:
                    out[k] = object_path(v)
                except ValueError as exc:
                    raise ConfigError(where, str(exc), getattr(v, "__qualname__", v)) from None
            else:
                out[k] = normalize_specs(v, where)
        return out
    if isinstance(node, list):
        return [normalize_specs(v, f"{key}.{i}") for i, v in enumerate(node)]
    return node


def class_paths(node: Any, key: str = "") -> dict[str, str]:
    """``{dotted key of a class_path: import path}`` for every spec in a (checked) config."""
    out: dict[str, str] = {}
    if isinstance(node, Mapping):
        for k, v in node.items():
            where = f"{key}.{k}" if key else str(k)
            if k == "class_path" and isinstance(v, str):
                out[where] = v
            else:
                out.update(class_paths(v, where))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(class_paths(v, f"{key}.{i}"))
    return out
