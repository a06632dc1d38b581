"""Run configuration: YAML in, one checked config out.

The whole config is checked here, before anything is started (no Ray, no data loading beyond what a
check needs), by the Pydantic models of :mod:`raynn.config_model` (``raynn schema config`` prints their JSON
Schema). Every problem raises :class:`~raynn.errors.ConfigError` naming the key, the rule and the value.
:func:`check_config` gives the checked config as a plain nested ``dict`` so it travels to Ray workers and into
checkpoints as it is; :func:`parse_config` gives the typed model.

A config file only needs the keys it changes; everything else takes the defaults in :data:`DEFAULTS`::

    data: {name: digits, preprocess: standardize}
    model: {name: mlp, hidden: [128, 64], activation: relu}
    optimizer: {name: momentum, lr: 0.05}
    schedule: {name: cosine}
    train: {epochs: 20, batch_size: 64}
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from raynn.classpath import normalize_specs
from raynn.config_model import RunConfig
from raynn.errors import ConfigError
from raynn.paths import resolve_input_paths
from raynn.validation import config_error
from raynn.values import INT_MAX, SEED_MAX, is_finite_number, is_int, set_dotted
from raynn.yamlio import load_yaml_file, load_yaml_text

__all__ = ["DEFAULTS", "RunConfig", "load_config", "read_config", "check_config", "parse_config", "check_input_files",
           "check_user_parts", "apply_overrides", "parse_override",
           "set_dotted", "INT_MAX", "SEED_MAX", "is_finite_number", "is_int"]

DEFAULTS: dict[str, Any] = RunConfig.defaults()
"""Every key's default (:class:`raynn.config_model.RunConfig` declares them, with a description each)."""


def load_config(path: str | os.PathLike[str] | None, overrides: Iterable[str] = (),
                values: Mapping[str, Any] | None = None, code: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:func:`read_config` as the plain nested ``dict`` (what :func:`check_config` returns)."""
    return read_config(path, overrides, values, code).to_dict()


def read_config(path: str | os.PathLike[str] | None, overrides: Iterable[str] = (),
                values: Mapping[str, Any] | None = None, code: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config (or the defaults when ``path`` is None), apply ``key=value`` overrides, then
    ``values`` (dotted key -> value, taken as given: command-line flags such as ``--name``), merge ``code``
    (``--working-dir`` replaces ``code.working_dir``, ``--py-module`` adds to ``code.py_modules``), and check it."""
    raw: Any = {}
    if path is not None:
        raw = load_yaml_file(path, "config")
        if not isinstance(raw, dict):
            raise ConfigError("config", "must be a YAML mapping at the top level", type(raw).__name__)
        raw = resolve_input_paths(raw, Path(path).parent)
    raw = apply_overrides(raw, overrides)
    for key, value in (values or {}).items():
        set_dotted(raw, key, value)
    if code:
        raw["code"] = merge_code(raw.get("code"), code)
    return parse_config(raw)


def merge_code(section: Any, flags: Mapping[str, Any]) -> Any:
    """A ``code`` section with the command line's ``working_dir`` (replacing) and ``py_modules`` (added)."""
    if section is not None and not isinstance(section, dict):
        return section  # the check names it
    out = dict(section or {})
    if flags.get("working_dir") is not None:
        out["working_dir"] = flags["working_dir"]
    if flags.get("py_modules"):
        existing = out.get("py_modules") or []
        out["py_modules"] = (existing if isinstance(existing, list) else [existing]) + list(flags["py_modules"])
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optimizer.lr=0.1"`` -> (["optimizer", "lr"], 0.1); the value is parsed as YAML."""
    if not isinstance(text, str):
        raise ConfigError("--set", "must be a string key.subkey=value", text)
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part.strip() for part in key.split(".")):
        raise ConfigError("--set", "must look like key.subkey=value", text)
    return key.split("."), load_yaml_text(value, key) if value else None


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key.subkey=value`` of ``overrides`` set (values parsed as YAML)."""
    if isinstance(overrides, (str, bytes)):  # one string would be read as its characters
        raise ConfigError("overrides", "must be a list of key=value strings, not one string", overrides)
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        set_dotted(out, ".".join(path), value)
    return out


def parse_config(raw: Any) -> RunConfig:
    """Check every key of ``raw`` (a partial config: the rest takes the defaults). Returns the typed config.

    A ``class_path`` may be given as the class or function itself (the Python API): it is stored as its import
    path, so the config stays plain data for Ray workers and checkpoints.

    Raises:
        ConfigError: the first problem, naming the dotted key, the rule and the value.
    """
    if isinstance(raw, RunConfig):
        raw = raw.to_dict()
    raw = normalize_specs(raw) if isinstance(raw, dict) else raw
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc) from None


def check_config(raw: Any) -> dict[str, Any]:
    """:func:`parse_config` as the plain nested ``dict`` that travels to Ray workers and into checkpoints."""
    return parse_config(raw).to_dict()


def check_input_files(cfg: RunConfig | Mapping[str, Any]) -> None:
    """Read the files a checked config names (a pre-trained model, a teacher) the way the run will, once,
    where the run is set up: a file refused by ``torch.load(weights_only=True)`` (a pickled payload) or
    unreadable is a :class:`ConfigError` naming its key, before anything starts or is written.

    Not part of :func:`check_config`, which runs again in every trial and for every corner of a search space.
    """
    from raynn.training.checkpoint import CheckpointError, load_checkpoint, safe_load

    cfg = RunConfig.checked(cfg)
    init, dist = cfg.model.init, cfg.targets.distillation
    files = []
    if isinstance(init, dict) and init.get("name") == "pretrained" and isinstance(init.get("path"), str):
        files.append(("model.init.path", init["path"], safe_load))  # a state dict or a raynn checkpoint
    if dist is not None:
        files.append(("targets.distillation.teacher", dist.teacher, load_checkpoint))
    for key, path, load in files:
        try:
            load(path)
        except (CheckpointError, FileNotFoundError) as exc:
            reason = exc.reason if isinstance(exc, CheckpointError) else str(exc)
            raise ConfigError(key, f"must be a checkpoint raynn can load: it is {reason}", path) from None
    check_user_parts(cfg)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _sample_batch(cfg: RunConfig) -> tuple[Any, Any, int]:
    """Two training samples as a batch ``(x, y)`` and the number of classes, as the run will see them."""
    import torch

    dcfg = cfg.data
    if dcfg.class_path is None:
        from raynn.data import DATASETS

        info = DATASETS.entry(dcfg.name).obj
        return torch.zeros(2, *info.input_shape), torch.zeros(2, dtype=torch.int64), info.num_classes
    from torch.utils.data import default_collate

    from raynn.data.user import load_user_data

    try:
        data = load_user_data(dcfg, cfg.seed)
    except Exception as exc:  # the user's class raised: its own error, in one line
        raise ConfigError("data.class_path", f"must build a data set: {_why(exc)}", dcfg.class_path) from None
    if data.num_classes is None:
        raise ConfigError("data.num_classes", f"must be set: {dcfg.class_path} has no `classes` or `targets` "
                          "that tell it", None)
    if len(data.train) < 2:
        raise ConfigError("data.class_path", "must build a data set with at least 2 training samples",
                          dcfg.class_path)
    try:
        x, y = default_collate([data.train[0], data.train[1]])
    except Exception as exc:
        key = "data.transform" if dcfg.transform or dcfg.train_transform else "data.class_path"
        raise ConfigError(key, f"must give samples (input, label) that batch: {_why(exc)}",
                          getattr(dcfg, key.split(".")[1])) from None
    if not ((y >= 0) & (y < data.num_classes)).all():
        raise ConfigError("data.num_classes", f"must exceed every label, but a sample has label {int(y.max())}",
                          data.num_classes)
    return x, y, data.num_classes


def check_user_parts(cfg: RunConfig | Mapping[str, Any]) -> None:
    """Your own model, data set and loss (``class_path``) put together on one sample batch of two, where the
    run is set up and before anything starts: the data set builds and batches, the preprocessing and
    augmentation apply to its inputs, the model takes them and outputs ``(batch, classes)`` logits, the loss
    gives a scalar. Each failure is a :class:`ConfigError` naming the key and the cause (the user's own error)."""
    cfg = RunConfig.checked(cfg)
    if cfg.model.class_path is None and cfg.data.class_path is None and cfg.loss is None:
        return
    import torch

    from raynn.classpath import instantiate
    from raynn.data import build_preprocessor
    from raynn.nn import build_network

    x, y, num_classes = _sample_batch(cfg)
    dcfg = cfg.data
    if dcfg.augment and x.dim() != 4:
        raise ConfigError("data.augment", f"must be empty for inputs that are not images: it applies to image "
                          f"batches (N, C, H, W), but the data set's inputs have shape {tuple(x.shape[1:])}",
                          dcfg.augment)
    try:
        in_shape = tuple(build_preprocessor(dcfg.preprocess).output_shape(tuple(x.shape[1:])))
    except (ValueError, TypeError) as exc:
        raise ConfigError("data.preprocess", f"must apply to inputs of shape {tuple(x.shape[1:])}: {_why(exc)}",
                          dcfg.preprocess) from None
    key = "model.class_path" if cfg.model.class_path else "model.name"
    try:
        model = build_network(cfg, in_shape, num_classes)
    except Exception as exc:
        raise ConfigError(key, f"must build a model: {_why(exc)}", getattr(cfg.model, key.split(".")[1])) from None
    model.eval()
    x = x if in_shape == tuple(x.shape[1:]) else torch.zeros(2, *in_shape)  # shaped as after preprocessing
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        raise ConfigError(key, f"must take a batch of inputs of shape {tuple(x.shape)}: {_why(exc)}",
                          getattr(cfg.model, key.split(".")[1])) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(key, f"must output (batch, classes) = (2, {num_classes}) logits on a sample batch of 2, "
                          f"but output {got}", getattr(cfg.model, key.split(".")[1]))
    if cfg.loss is not None:
        try:
            value = instantiate(cfg.loss)(out, y)
        except Exception as exc:
            raise ConfigError("loss.class_path", f"must be called as loss(logits, labels): {_why(exc)}",
                              cfg.loss["class_path"]) from None
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ConfigError("loss.class_path", "must return a scalar tensor (reduce over the batch)",
                              cfg.loss["class_path"])
