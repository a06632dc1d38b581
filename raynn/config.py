"""Run configuration: YAML in, one checked plain ``dict`` out.

The whole config is checked here, before anything is started (no Ray, no data loading beyond what a
check needs). Every problem raises :class:`~raynn.errors.ConfigError` naming the key, the rule and the value.
The checked config is a plain nested ``dict`` so it travels to Ray workers and into checkpoints as it is.

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
from typing import Any, Callable, Iterable, Mapping

from raynn.errors import ConfigError
from raynn.paths import check_name, resolve_input_paths
from raynn.storage import normalize
from raynn.values import INT_MAX, SEED_MAX, is_finite_number, is_int, set_dotted
from raynn.yamlio import load_yaml_file, load_yaml_text

__all__ = ["DEFAULTS", "load_config", "check_config", "check_input_files", "apply_overrides", "parse_override",
           "set_dotted", "INT_MAX", "SEED_MAX", "is_finite_number", "is_int"]

DEFAULTS: dict[str, Any] = {
    "name": None,
    "seed": 0,
    "storage": "runs",
    "data": {
        "name": "digits",
        "root": None,
        "val_fraction": 0.2,
        "subset": None,
        "preprocess": "standardize",
        "augment": [],
    },
    "model": {
        "name": "mlp",
        "activation": "relu",
        "norm": "none",
        "dropout": 0.0,
        "init": "auto",
        "bias": 0.0,
        "params": {},
    },
    "targets": {
        "label_smoothing": 0.0,
        "distillation": None,
    },
    "optimizer": {
        "name": "momentum",
        "lr": 0.05,
        "params": {},
        "weight_decay": 0.0,
        "penalty": None,
        "clip": None,
    },
    "schedule": None,
    "scaling": {
        "rule": "linear",
        "reference_batch": 64,
        "warmup_epochs": "auto",
    },
    "train": {
        "epochs": 20,
        "batch_size": 64,
        "workers": 1,
        "gpus_per_worker": 0,
        "early_stopping": None,
        "max_failures": 3,
        "num_threads": None,
        # Seconds Ray Train may wait for its worker group to be placed before the run fails with Ray's reason.
        "pending_timeout": 600,
    },
}


def load_config(path: str | os.PathLike[str] | None, overrides: Iterable[str] = (),
                values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML run config (or the defaults when ``path`` is None), apply ``key=value`` overrides, then
    ``values`` (dotted key -> value, taken as given: command-line flags such as ``--name``), and check it."""
    raw: Any = {}
    if path is not None:
        raw = load_yaml_file(path, "config")
        if not isinstance(raw, dict):
            raise ConfigError("config", "must be a YAML mapping at the top level", type(raw).__name__)
        raw = resolve_input_paths(raw, Path(path).parent)
    raw = apply_overrides(raw, overrides)
    for key, value in (values or {}).items():
        set_dotted(raw, key, value)
    return check_config(raw)


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


def check_config(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge ``raw`` over :data:`DEFAULTS` and check every key. Returns the checked config."""
    cfg = _merge(DEFAULTS, raw, "")
    _Checker(cfg).run()
    return cfg


def check_input_files(cfg: dict[str, Any]) -> None:
    """Read the files a checked config names (a pre-trained model, a teacher) the way the run will, once,
    where the run is set up: a file refused by ``torch.load(weights_only=True)`` (a pickled payload) or
    unreadable is a :class:`ConfigError` naming its key, before anything starts or is written.

    Not part of :func:`check_config`, which runs again in every trial and for every corner of a search space.
    """
    from raynn.training.checkpoint import CheckpointError, load_checkpoint, safe_load

    init, dist = cfg["model"]["init"], cfg["targets"]["distillation"]
    files = []
    if isinstance(init, dict) and init.get("name") == "pretrained" and isinstance(init.get("path"), str):
        files.append(("model.init.path", init["path"], safe_load))  # a state dict or a raynn checkpoint
    if dist is not None:
        files.append(("targets.distillation.teacher", dist["teacher"], load_checkpoint))
    for key, path, load in files:
        try:
            load(path)
        except (CheckpointError, FileNotFoundError) as exc:
            reason = exc.reason if isinstance(exc, CheckpointError) else str(exc)
            raise ConfigError(key, f"must be a checkpoint raynn can load: it is {reason}", path) from None


# ----------------------------------------------------------------------------------------------------------------
# Merging: unknown keys are errors; sub-specs (a name plus its parameters) are taken whole.

_SPEC_KEYS = {"schedule", "targets.distillation", "optimizer.penalty", "optimizer.clip", "train.early_stopping",
              "model.params", "optimizer.params", "data.augment", "data.preprocess", "model.init"}


def _merge(defaults: dict[str, Any], raw: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(prefix.rstrip(".") or "config", "must be a mapping", raw)
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        key = prefix + str(unknown[0])
        raise ConfigError(key, f"is not a known key; valid keys here: {', '.join(sorted(defaults))}", raw[unknown[0]])
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        full = prefix + key
        if key not in raw:
            out[key] = copy.deepcopy(default)
        elif isinstance(default, dict) and full not in _SPEC_KEYS:
            out[key] = _merge(default, raw[key], full + ".")
        else:
            out[key] = copy.deepcopy(raw[key])
    return out


# ----------------------------------------------------------------------------------------------------------------
# Checking.


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


class _Checker:
    """Checks a merged config in place, filling in derived defaults (``model.init: auto``)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg

    # primitive rules ------------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        node: Any = self.cfg
        for part in key.split("."):
            node = node[part]
        return node

    def int_(self, key: str, low: int | None = None, *, high: int = INT_MAX, optional: bool = False) -> None:
        v = self.get(key)
        if v is None and optional:
            return
        if not is_int(v):
            raise ConfigError(key, "must be an integer", v)
        if low is not None and v < low:
            raise ConfigError(key, f"must be >= {low}", v)
        if v > high:
            raise ConfigError(key, f"must be <= {high}", v)

    def float_(self, key: str, rule: str, ok: Callable[[float], bool], *, optional: bool = False) -> None:
        v = self.get(key)
        if v is None and optional:
            return
        if not is_finite_number(v):
            raise ConfigError(key, "must be a finite number", v)
        if not ok(float(v)):
            raise ConfigError(key, rule, v)

    def str_(self, key: str, *, optional: bool = False) -> None:
        v = self.get(key)
        if v is None and optional:
            return
        if not isinstance(v, str) or not v:
            raise ConfigError(key, "must be a non-empty string", v)
        if "\x00" in v:
            raise ConfigError(key, "must not contain NUL characters", v)

    def choice(self, key: str, choices: Iterable[str]) -> None:
        v = self.get(key)
        choices = list(choices)
        if v not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}", v)

    def spec(self, key: str, build: Callable[[Any], Any]) -> Any:
        """Check a sub-spec by building it; its ValueError/TypeError becomes a ConfigError naming ``key``."""
        v = self.get(key)
        try:
            return build(v)
        except ConfigError:
            raise
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise ConfigError(key, _first_line(exc), v) from None

    # sections -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        if self.get("name") is not None:
            check_name("name", self.get("name"))
        self.int_("seed", 0, high=SEED_MAX)
        self.str_("storage")
        self.cfg["storage"] = normalize("storage", self.cfg["storage"])  # a URI stays one (raynn.storage)
        self.data()
        self.model()
        self.targets()
        self.optimizer()
        self.train()
        self.scaling()
        self.schedule()

    def data(self) -> None:
        from raynn.data import AUGMENTATIONS, DATASETS, build_augmentation, build_preprocessor

        self.choice("data.name", DATASETS.names())
        self.str_("data.root", optional=True)
        root = self.get("data.root")
        if root is not None:
            if not Path(root).is_dir():
                raise ConfigError("data.root", "must be an existing directory", root)
            # Ray workers run in their own directories: a relative path must mean the same thing there.
            self.cfg["data"]["root"] = str(Path(root).resolve())
        if root is None and DATASETS.get(self.get("data.name")).needs_root:
            raise ConfigError("data.root", f"must be set for data set {self.get('data.name')!r}", root)
        self.float_("data.val_fraction", "must be in (0, 1)", lambda v: 0 < v < 1)
        self.int_("data.subset", 10, optional=True)
        self.spec("data.preprocess", build_preprocessor)
        augment = self.get("data.augment")
        if not isinstance(augment, list):
            raise ConfigError("data.augment", f"must be a list of {{name: ...}} specs ({', '.join(AUGMENTATIONS.names())})", augment)
        self.spec("data.augment", build_augmentation)

    def model(self) -> None:
        from raynn.nn import ACTIVATIONS, INITIALIZERS, MODELS, NORMS

        self.choice("model.name", MODELS.names())
        self.choice("model.activation", ACTIVATIONS.names())
        self.choice("model.norm", NORMS.names())
        self.float_("model.dropout", "must be in [0, 1)", lambda v: 0 <= v < 1)
        self.float_("model.bias", "must be a finite number", lambda v: True)
        if not isinstance(self.get("model.params"), dict):
            raise ConfigError("model.params", "must be a mapping of model parameters", self.get("model.params"))
        init = self.get("model.init")
        if init == "auto":
            # Table 7.2: He for ReLU, Xavier for the sigmoid-type activations.
            init = {"name": "he" if self.get("model.activation") == "relu" else "xavier"}
            self.cfg["model"]["init"] = init
        if isinstance(init, str):
            init = self.cfg["model"]["init"] = {"name": init}
        if not isinstance(init, dict) or "name" not in init:
            raise ConfigError("model.init", f"must be a name or a {{name: ...}} spec ({', '.join(INITIALIZERS.names())})", init)
        self.spec("model.init", lambda s: INITIALIZERS.get(s["name"]))
        if init["name"] == "pretrained" and isinstance(init.get("path"), str):
            if not Path(init["path"]).exists():
                raise ConfigError("model.init.path", "must be the path of an existing raynn checkpoint", init["path"])
            init["path"] = str(Path(init["path"]).resolve())
        self._check_model_builds()

    def _check_model_builds(self) -> None:
        from raynn.data import DATASETS, build_preprocessor
        from raynn.nn import build_initializer, build_model, model_spec

        shape = DATASETS.entry(self.get("data.name")).obj.input_shape
        pre = build_preprocessor(self.get("data.preprocess"))
        in_shape = pre.output_shape(shape)
        m = self.cfg["model"]

        def build(_: Any) -> Any:
            model = build_model(model_spec(self.cfg), in_shape, num_classes=10)
            build_initializer(m["init"])
            return model

        self.spec("model", build)

    def targets(self) -> None:
        self.float_("targets.label_smoothing", "must be in [0, 1)", lambda v: 0 <= v < 1)
        dist = self.get("targets.distillation")
        if dist is None:
            return
        if not isinstance(dist, dict):
            raise ConfigError("targets.distillation", "must be a mapping {teacher, temperature, alpha}", dist)
        unknown = sorted(set(dist) - {"teacher", "temperature", "alpha"})
        if unknown:
            raise ConfigError(f"targets.distillation.{unknown[0]}", "is not a known key; valid: alpha, teacher, temperature", dist[unknown[0]])
        dist.setdefault("temperature", 4.0)
        dist.setdefault("alpha", 0.5)
        teacher = dist.get("teacher")
        if not isinstance(teacher, str) or not Path(teacher).exists():
            raise ConfigError("targets.distillation.teacher", "must be the path of an existing raynn checkpoint", teacher)
        dist["teacher"] = str(Path(teacher).resolve())
        self.float_("targets.distillation.temperature", "must be > 0", lambda v: v > 0)
        self.float_("targets.distillation.alpha", "must be in [0, 1]", lambda v: 0 <= v <= 1)

    def optimizer(self) -> None:
        from raynn.optim import CLIPPERS, OPTIMIZERS, build_clipper, build_optimizer

        self.choice("optimizer.name", OPTIMIZERS.names())
        self.float_("optimizer.lr", "must be > 0", lambda v: v > 0)
        self.float_("optimizer.weight_decay", "must be in [0, 1)", lambda v: 0 <= v < 1)
        params = self.get("optimizer.params")
        if not isinstance(params, dict):
            raise ConfigError("optimizer.params", "must be a mapping of optimizer hyperparameters", params)
        probe = [self._probe_param()]
        self.spec("optimizer.params", lambda p: build_optimizer(probe, self.get("optimizer.name"), self.get("optimizer.lr"), **p))
        penalty = self.get("optimizer.penalty")
        if penalty is not None:
            if not isinstance(penalty, dict) or set(penalty) - {"p", "lambda"}:
                raise ConfigError("optimizer.penalty", "must be a mapping {p, lambda}", penalty)
            penalty.setdefault("p", 2)
            penalty.setdefault("lambda", 0.0)
            self.float_("optimizer.penalty.p", "must be >= 1", lambda v: v >= 1)
            self.float_("optimizer.penalty.lambda", "must be >= 0", lambda v: v >= 0)
        clip = self.get("optimizer.clip")
        if clip is not None:
            if isinstance(clip, str):
                clip = self.cfg["optimizer"]["clip"] = {"name": clip}
            if not isinstance(clip, dict) or "name" not in clip:
                raise ConfigError("optimizer.clip", f"must be a {{name: ...}} spec ({', '.join(CLIPPERS.names())})", clip)
            self.spec("optimizer.clip", build_clipper)

    @staticmethod
    def _probe_param() -> Any:
        import torch

        return torch.nn.Parameter(torch.zeros(1))

    def train(self) -> None:
        self.int_("train.epochs", 1)
        self.int_("train.batch_size", 1)
        self.int_("train.workers", 1)
        self.float_("train.gpus_per_worker", "must be >= 0", lambda v: v >= 0)
        self.int_("train.max_failures", 0)
        self.float_("train.pending_timeout", "must be > 0 (seconds)", lambda v: v > 0)
        self.int_("train.num_threads", 1, optional=True)
        es = self.get("train.early_stopping")
        if es is None:
            return
        if not isinstance(es, dict):
            raise ConfigError("train.early_stopping", "must be a mapping {patience, min_delta, metric, warmup}", es)
        valid = {"patience", "min_delta", "metric", "warmup"}
        unknown = sorted(set(es) - valid)
        if unknown:
            raise ConfigError(f"train.early_stopping.{unknown[0]}", f"is not a known key; valid: {', '.join(sorted(valid))}", es[unknown[0]])
        es.setdefault("patience", 5)
        es.setdefault("min_delta", 0.0)
        es.setdefault("metric", "val_loss")
        es.setdefault("warmup", 0)
        self.int_("train.early_stopping.patience", 1)
        self.int_("train.early_stopping.warmup", 0)
        self.float_("train.early_stopping.min_delta", "must be >= 0", lambda v: v >= 0)
        from raynn.early_stopping import METRICS

        self.choice("train.early_stopping.metric", METRICS.names())

    def scaling(self) -> None:
        from raynn.scaling import SCALING_RULES

        self.choice("scaling.rule", SCALING_RULES.names())
        self.int_("scaling.reference_batch", 1)
        w = self.get("scaling.warmup_epochs")
        if w != "auto" and not (is_finite_number(w) and w >= 0):
            raise ConfigError("scaling.warmup_epochs", "must be 'auto' or a number of epochs >= 0", w)

    def schedule(self) -> None:
        from raynn.schedules import SCHEDULES

        spec = self.get("schedule")
        if spec is None:
            return
        if isinstance(spec, str):
            spec = self.cfg["schedule"] = {"name": spec}
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError("schedule", f"must be a name or a {{name: ...}} spec ({', '.join(SCHEDULES.names())})", spec)
        if spec["name"] == "warmup":
            raise ConfigError("schedule.name", "must not be 'warmup': set scaling.warmup_epochs instead", "warmup")
        self.choice("schedule.name", SCHEDULES.names())
        from raynn.scaling import build_lr_schedule

        # A nominal run length is enough to check the parameters; the real one is known once data is loaded.
        self.spec("schedule", lambda _: build_lr_schedule(self.cfg, iters_per_epoch=10))

