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

from raynn.classpath import check_spec, is_spec, normalize_specs
from raynn.errors import ConfigError
from raynn.paths import check_name, resolve_input_paths
from raynn.storage import normalize
from raynn.values import INT_MAX, SEED_MAX, is_finite_number, is_int, set_dotted
from raynn.yamlio import load_yaml_file, load_yaml_text

__all__ = ["DEFAULTS", "load_config", "check_config", "check_input_files", "check_user_parts", "apply_overrides",
           "parse_override",
           "set_dotted", "INT_MAX", "SEED_MAX", "is_finite_number", "is_int"]

DEFAULTS: dict[str, Any] = {
    "name": None,
    "seed": 0,
    "storage": "runs",
    "data": {
        "name": "digits",
        "root": None,
        # Your own data set instead of a built-in one (raynn.data.user): a class or function and its arguments.
        "class_path": None,
        "init_args": {},
        "transform": None,
        "train_transform": None,
        "batch_keys": None,
        "num_classes": None,
        "num_workers": 0,
        "pin_memory": None,
        "persistent_workers": False,
        "val_fraction": 0.2,
        "subset": None,
        "preprocess": "standardize",
        "augment": [],
    },
    "model": {
        "name": "mlp",
        # Your own model instead of a built-in one: any importable nn.Module class or factory function.
        "class_path": None,
        "init_args": {},
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
    # Your own loss, called as loss(logits, labels); None: cross-entropy with label smoothing / distillation.
    "loss": None,
    # Your code, shipped to every node by Ray's runtime_env (raynn.code).
    "code": {
        "working_dir": None,
        "py_modules": [],
        "excludes": [],
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
        # GPU-class training (raynn.training.precision): autocast dtype, micro-batches per update, device.
        "precision": "fp32",
        "accumulate": 1,
        "device": "auto",
        "channels_last": False,
        "compile": False,
    },
}


def load_config(path: str | os.PathLike[str] | None, overrides: Iterable[str] = (),
                values: Mapping[str, Any] | None = None, code: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
    return check_config(raw)


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


def check_config(raw: dict[str, Any]) -> dict[str, Any]:
    """Merge ``raw`` over :data:`DEFAULTS` and check every key. Returns the checked config.

    A ``class_path`` may be given as the class or function itself (the Python API): it is stored as its import
    path, so the config stays plain data for Ray workers and checkpoints.
    """
    raw = normalize_specs(raw) if isinstance(raw, dict) else raw
    _check_exclusive(raw)
    cfg = _merge(DEFAULTS, raw, "")
    if cfg["model"]["class_path"] is not None:
        cfg["model"]["name"] = None
    if cfg["data"]["class_path"] is not None:
        cfg["data"]["name"] = None
        if "preprocess" not in raw["data"]:  # a user's transforms usually normalize already
            cfg["data"]["preprocess"] = "none"
    _Checker(cfg).run()
    return cfg


# Keys that apply only to raynn's built-in models / data sets, or only to the user's own (class_path).
_BUILTIN_ONLY = {"model": ("name", "norm", "dropout", "params"), "data": ("name", "root")}
_USER_ONLY = {"model": ("init_args",),
              "data": ("init_args", "transform", "train_transform", "batch_keys", "num_classes", "num_workers",
                       "pin_memory", "persistent_workers")}


def _check_exclusive(raw: Any) -> None:
    """``name`` (a built-in) and ``class_path`` (your own) exclude each other, and so do their options."""
    if not isinstance(raw, dict):
        return
    for section in ("model", "data"):
        node = raw.get(section)
        if not isinstance(node, dict):
            continue
        # A checked config holds every key: only values other than the default (None for name) say "set".
        unset = {**DEFAULTS[section], "name": None}
        if node.get("class_path") is not None:
            for key in _BUILTIN_ONLY[section]:
                if key in node and node[key] != unset[key]:
                    rule = ("must not be set together with {s}.class_path (name picks a built-in {s}, class_path "
                            "your own)" if key == "name" else
                            "must not be set with {s}.class_path: it applies to raynn's built-in {s}s ({s}.name)")
                    raise ConfigError(f"{section}.{key}", rule.format(s=section), node[key])
        else:
            for key in _USER_ONLY[section]:
                if key in node and node[key] != unset[key]:
                    raise ConfigError(f"{section}.{key}", f"must not be set without {section}.class_path: it "
                                      f"applies to your own {section}, not to the built-in {section}.name", node[key])


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
    check_user_parts(cfg)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _sample_batch(cfg: dict[str, Any]) -> tuple[Any, Any, int]:
    """Two training samples as a batch ``(x, y)`` and the number of classes, as the run will see them."""
    import torch

    dcfg = cfg["data"]
    if dcfg["class_path"] is None:
        from raynn.data import DATASETS

        info = DATASETS.entry(dcfg["name"]).obj
        return torch.zeros(2, *info.input_shape), torch.zeros(2, dtype=torch.int64), info.num_classes
    from torch.utils.data import default_collate

    from raynn.data.user import load_user_data

    try:
        data = load_user_data(dcfg, cfg["seed"])
    except Exception as exc:  # the user's class raised: its own error, in one line
        raise ConfigError("data.class_path", f"must build a data set: {_why(exc)}", dcfg["class_path"]) from None
    if data.num_classes is None:
        raise ConfigError("data.num_classes", f"must be set: {dcfg['class_path']} has no `classes` or `targets` "
                          "that tell it", None)
    if len(data.train) < 2:
        raise ConfigError("data.class_path", "must build a data set with at least 2 training samples",
                          dcfg["class_path"])
    try:
        x, y = default_collate([data.train[0], data.train[1]])
    except Exception as exc:
        key = "data.transform" if dcfg["transform"] or dcfg["train_transform"] else "data.class_path"
        raise ConfigError(key, f"must give samples (input, label) that batch: {_why(exc)}", dcfg[key.split(".")[1]]) from None
    if not ((y >= 0) & (y < data.num_classes)).all():
        raise ConfigError("data.num_classes", f"must exceed every label, but a sample has label {int(y.max())}",
                          data.num_classes)
    return x, y, data.num_classes


def check_user_parts(cfg: dict[str, Any]) -> None:
    """Your own model, data set and loss (``class_path``) put together on one sample batch of two, where the
    run is set up and before anything starts: the data set builds and batches, the preprocessing and
    augmentation apply to its inputs, the model takes them and outputs ``(batch, classes)`` logits, the loss
    gives a scalar. Each failure is a :class:`ConfigError` naming the key and the cause (the user's own error)."""
    if cfg["model"]["class_path"] is None and cfg["data"]["class_path"] is None and cfg["loss"] is None:
        return
    import torch

    from raynn.classpath import instantiate
    from raynn.data import build_preprocessor
    from raynn.nn import build_network

    x, y, num_classes = _sample_batch(cfg)
    dcfg = cfg["data"]
    if dcfg["augment"] and x.dim() != 4:
        raise ConfigError("data.augment", f"must be empty for inputs that are not images: it applies to image "
                          f"batches (N, C, H, W), but the data set's inputs have shape {tuple(x.shape[1:])}",
                          dcfg["augment"])
    try:
        in_shape = tuple(build_preprocessor(dcfg["preprocess"]).output_shape(tuple(x.shape[1:])))
    except (ValueError, TypeError) as exc:
        raise ConfigError("data.preprocess", f"must apply to inputs of shape {tuple(x.shape[1:])}: {_why(exc)}",
                          dcfg["preprocess"]) from None
    key = "model.class_path" if cfg["model"]["class_path"] else "model.name"
    try:
        model = build_network(cfg, in_shape, num_classes)
    except Exception as exc:
        raise ConfigError(key, f"must build a model: {_why(exc)}", cfg["model"][key.split(".")[1]]) from None
    model.eval()
    x = x if in_shape == tuple(x.shape[1:]) else torch.zeros(2, *in_shape)  # shaped as after preprocessing
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        raise ConfigError(key, f"must take a batch of inputs of shape {tuple(x.shape)}: {_why(exc)}",
                          cfg["model"][key.split(".")[1]]) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(key, f"must output (batch, classes) = (2, {num_classes}) logits on a sample batch of 2, "
                          f"but output {got}", cfg["model"][key.split(".")[1]])
    if cfg["loss"] is not None:
        try:
            value = instantiate(cfg["loss"])(out, y)
        except Exception as exc:
            raise ConfigError("loss.class_path", f"must be called as loss(logits, labels): {_why(exc)}",
                              cfg["loss"]["class_path"]) from None
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ConfigError("loss.class_path", "must return a scalar tensor (reduce over the batch)",
                              cfg["loss"]["class_path"])


# ----------------------------------------------------------------------------------------------------------------
# Merging: unknown keys are errors; sub-specs (a name plus its parameters) are taken whole.

_SPEC_KEYS = {"schedule", "targets.distillation", "optimizer.penalty", "optimizer.clip", "train.early_stopping",
              "train.compile",
              "model.params", "optimizer.params", "data.augment", "data.preprocess", "model.init",
              "model.init_args", "data.init_args", "data.transform", "data.train_transform", "loss"}


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
        self.code()  # first: it puts the user's code on this process's import path
        self.data()
        self.model()
        self.targets()
        self.loss()
        self.optimizer()
        self.train()
        self.scaling()
        self.schedule()

    def data(self) -> None:
        from raynn.data import AUGMENTATIONS, build_augmentation, build_preprocessor

        if self.get("data.class_path") is not None:
            self.user_data()
        else:
            self.builtin_data()
        self.float_("data.val_fraction", "must be in (0, 1)", lambda v: 0 < v < 1)
        self.int_("data.subset", 10, optional=True)
        self.spec("data.preprocess", build_preprocessor)
        augment = self.get("data.augment")
        if not isinstance(augment, list):
            raise ConfigError("data.augment", f"must be a list of {{name: ...}} specs ({', '.join(AUGMENTATIONS.names())})", augment)
        self.spec("data.augment", build_augmentation)

    def user_data(self) -> None:
        d = self.cfg["data"]
        check_spec("data", {"class_path": d["class_path"], "init_args": d["init_args"]})
        root = d["init_args"].get("root")
        if isinstance(root, str):  # torchvision's convention: the files a data set reads are under `root`
            if not Path(root).exists():
                raise ConfigError("data.init_args.root", "must be an existing directory or file", root)
            d["init_args"]["root"] = str(Path(root).resolve())
        for key in ("transform", "train_transform"):
            value = d[key]
            specs = value if isinstance(value, list) else [value]
            if value is not None and not all(is_spec(v) for v in specs):
                raise ConfigError(f"data.{key}", "must be a {class_path, init_args} spec or a list of them "
                                  "(torchvision.transforms.v2 or your own)", value)
            for i, spec in enumerate(specs if value is not None else []):
                check_spec(f"data.{key}" + (f".{i}" if isinstance(value, list) else ""), spec)
        keys = d["batch_keys"]
        if keys is not None and (not isinstance(keys, list) or len(keys) != 2
                                 or not all(isinstance(k, str) and k for k in keys)):
            raise ConfigError("data.batch_keys", "must be [input_key, label_key] for samples that are mappings",
                              keys)
        self.int_("data.num_classes", 1, optional=True)
        self.int_("data.num_workers", 0)
        if d["pin_memory"] is not None and not isinstance(d["pin_memory"], bool):
            raise ConfigError("data.pin_memory", "must be true, false or null (pinned when training on a GPU)",
                              d["pin_memory"])
        if not isinstance(d["persistent_workers"], bool):
            raise ConfigError("data.persistent_workers", "must be true or false", d["persistent_workers"])
        if d["persistent_workers"] and d["num_workers"] == 0:
            raise ConfigError("data.persistent_workers", "needs data.num_workers >= 1 (loader processes to keep)",
                              True)

    def builtin_data(self) -> None:
        from raynn.data import DATASETS

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

    def model(self) -> None:
        from raynn.nn import ACTIVATIONS, INITIALIZERS, MODELS, NORMS

        m = self.cfg["model"]
        user = m["class_path"] is not None
        if user:
            check_spec("model", {"class_path": m["class_path"], "init_args": m["init_args"]}, fill=("num_classes",))
        else:
            self.choice("model.name", MODELS.names())
            self.choice("model.norm", NORMS.names())
            self.float_("model.dropout", "must be in [0, 1)", lambda v: 0 <= v < 1)
            if not isinstance(self.get("model.params"), dict):
                raise ConfigError("model.params", "must be a mapping of model parameters", self.get("model.params"))
        self.choice("model.activation", ACTIVATIONS.names())
        self.float_("model.bias", "must be a finite number", lambda v: True)
        init = self.get("model.init")
        if init == "auto":
            # Table 7.2: He for ReLU, Xavier for the sigmoid-type activations; your own model keeps its own.
            init = {"name": "default" if user else "he" if self.get("model.activation") == "relu" else "xavier"}
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
        if not user and self.get("data.class_path") is None:
            self._check_model_builds()  # your own model is built on a sample batch where the run is set up

    def code(self) -> None:
        from raynn.code import check_code

        self.cfg["code"] = check_code(self.cfg["code"])

    def loss(self) -> None:
        spec = self.get("loss")
        if spec is None:
            return
        check_spec("loss", spec)
        if self.get("targets.label_smoothing") > 0:
            raise ConfigError("targets.label_smoothing", "must be 0 with loss.class_path: it applies to the default "
                              "cross-entropy loss (give your loss its own smoothing argument)",
                              self.get("targets.label_smoothing"))
        if self.get("targets.distillation") is not None:
            raise ConfigError("targets.distillation", "must be null with loss.class_path: it applies to the "
                              "default cross-entropy loss", self.get("targets.distillation"))

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
        self.choice("train.precision", ("fp32", "bf16", "fp16"))
        self.int_("train.accumulate", 1)
        self.choice("train.device", ("auto", "cpu", "cuda"))
        if not isinstance(self.get("train.channels_last"), bool):
            raise ConfigError("train.channels_last", "must be true or false", self.get("train.channels_last"))
        comp = self.get("train.compile")
        if not isinstance(comp, bool) and not (isinstance(comp, dict) and set(comp) <= {"backend", "mode"}
                                               and all(isinstance(v, str) and v for v in comp.values())):
            raise ConfigError("train.compile", "must be true, false or {backend, mode} (torch.compile's arguments)",
                              comp)
        if self.get("train.device") == "cuda" and not self.get("train.gpus_per_worker") and self.get("train.workers") > 1:
            raise ConfigError("train.device", "must not be cuda with train.gpus_per_worker 0 on Ray Train workers "
                              "(they would hold no GPU)", "cuda")
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

