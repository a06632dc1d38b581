"""The run config declared once: Pydantic v2 models with defaults, a description per key and raynn's checks.

:func:`raynn.config.check_config` validates a raw config with :class:`RunConfig`; ``raynn schema config``
prints :meth:`RunConfig.model_json_schema` for YAML editors. Every key that names something of a registry
(a model, a data set, an optimizer, a schedule, an initializer ...) is checked against that registry, and
every sub-spec (``model.init``, ``optimizer.clip``, ``schedule`` ...) by building it, so the rule and the
valid names come from one place. A check's failure is one line naming the dotted key, the rule and the value
(:func:`raynn.validation.config_error`).

The registries and the training stack are imported inside the checks, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, Optional

from pydantic import (AfterValidator, BeforeValidator, Field, ValidationError, ValidationInfo, WithJsonSchema, field_validator,
                      model_validator)

from raynn.classpath import check_spec, is_spec
from raynn.errors import ConfigError
from raynn.paths import check_name
from raynn.storage import normalize
from raynn.validation import Flag, Rule, Section, choice, config_error, integer, number, text
from raynn.values import SEED_MAX

__all__ = ["RunConfig"]


def _checked(info: ValidationInfo) -> bool:
    """Whether the input is a config checked before (:meth:`RunConfig.checked`): where it crosses to a Ray
    worker, a trial or a checkpoint reader, the types are checked again but not the files, imports and builds
    that the driver checked (a worker's paths are its runtime_env's)."""
    return bool(info.context and info.context.get("checked"))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _spec(key: str, build: Callable[[Any], Any], value: Any) -> None:
    """Check a sub-spec by building it; its ValueError/TypeError becomes a ConfigError naming ``key``."""
    try:
        build(value)
    except ConfigError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise ConfigError(key, _first_line(exc), value) from None


def _named(kinds: str) -> Any:
    """A ``{name: ..., **options}`` spec or just its name (the JSON Schema of such a key)."""
    return WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object", "required": ["name"]}],
                           "description": f"a name or a {{name: ...}} spec ({kinds})"})


def _registry(ref: str) -> Any:
    """The registry ``ref`` (``module:NAME``), imported when first needed: the registries import the training
    stack, which importing this module does not."""
    import importlib

    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _enum(ref: str, nullable: bool = False) -> Callable[[dict[str, Any]], None]:
    """The JSON Schema's ``enum`` of a key that names an entry of the registry ``ref``, read when the schema is
    made."""
    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = [*_registry(ref).names(), *([None] if nullable else [])]

    return extra


def _registered(ref: str) -> Any:
    """A key that names an entry of the registry ``ref``: checked against its names, which are its schema's
    ``enum``."""
    return Annotated[str, AfterValidator(lambda v: choice(v, _registry(ref).names())),
                     Field(json_schema_extra=_enum(ref))]


def _mapping_of(what: str) -> Any:
    """A mapping of ``what`` (a section's ``params``): anything else is the rule "must be a mapping of what"."""
    def check(v: Any) -> Any:
        if not isinstance(v, dict):
            raise Rule(f"must be a mapping of {what}")
        return v

    return Annotated[dict[str, Any], BeforeValidator(check)]


_SPEC_SCHEMA = {"type": "object", "required": ["class_path"],
                "properties": {"class_path": {"type": "string"}, "init_args": {"type": "object"}}}
_ClassPath = text(optional=True)


# ---- data ----------------------------------------------------------------------------------------------------

# Keys that apply only to raynn's built-in models / data sets, or only to the user's own (class_path).
_BUILTIN_ONLY = {"model": ("name", "norm", "dropout", "params"), "data": ("name", "root")}
_USER_ONLY = {"model": ("init_args",),
              "data": ("init_args", "transform", "train_transform", "batch_keys", "num_classes", "num_workers",
                       "pin_memory", "persistent_workers")}


def _exclusive(section: str, model: type[Section], node: dict[str, Any]) -> None:
    """``name`` (a built-in) and ``class_path`` (your own) exclude each other, and so do their options."""

    def is_set(key: str) -> bool:  # a checked config holds every key: only a value other than the default
        unset = None if key == "name" else model.model_fields[key].get_default(call_default_factory=True)
        return key in node and node[key] != unset

    if node.get("class_path") is not None:
        for key in _BUILTIN_ONLY[section]:
            if is_set(key):
                rule = ("must not be set together with {s}.class_path (name picks a built-in {s}, class_path "
                        "your own)" if key == "name" else
                        "must not be set with {s}.class_path: it applies to raynn's built-in {s}s ({s}.name)")
                raise ConfigError(f"{section}.{key}", rule.format(s=section), node[key])
    else:
        for key in _USER_ONLY[section]:
            if is_set(key):
                raise ConfigError(f"{section}.{key}", f"must not be set without {section}.class_path: it "
                                  f"applies to your own {section}, not to the built-in {section}.name", node[key])


class DataConfig(Section):
    """The data set: a built-in one (``name``) or your own (``class_path``), and how it is loaded."""

    name: Optional[str] = Field(
        "digits", json_schema_extra=_enum("raynn.data:DATASETS", True),
        description="A built-in data set (raynn list datasets).")
    root: Optional[str] = Field(None, description="Directory of a built-in data set's files.")
    class_path: _ClassPath = Field(None, description="Your own data set: an importable class or function.")
    init_args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of class_path.")
    transform: Annotated[Any, WithJsonSchema({"anyOf": [_SPEC_SCHEMA, {"type": "array", "items": _SPEC_SCHEMA},
                                                        {"type": "null"}]})] = Field(
        None, description="A {class_path, init_args} transform (or a list) applied to every sample.")
    train_transform: Annotated[Any, WithJsonSchema({"anyOf": [_SPEC_SCHEMA, {"type": "array",
                                                                             "items": _SPEC_SCHEMA},
                                                              {"type": "null"}]})] = Field(
        None, description="A transform applied to training samples only.")
    batch_keys: Optional[list[str]] = Field(None, description="[input_key, label_key] for samples that are "
                                                              "mappings.")
    num_classes: integer(1, optional=True) = Field(None, description="Classes of your data set, if it does "
                                                                     "not tell.")
    num_workers: integer(0) = Field(0, description="DataLoader worker processes.")
    pin_memory: Optional[bool] = Field(None, description="Pinned host memory (null: when training on a GPU).")
    persistent_workers: Flag = Field(False, description="Keep the loader processes between epochs.")
    val_fraction: number("must be in (0, 1)", lambda v: 0 < v < 1, gt=0, lt=1) = Field(
        0.2, description="Share of the training set held out for validation.")
    subset: integer(10, optional=True) = Field(None, description="Use only this many training samples.")
    preprocess: Annotated[Any, _named("raynn list preprocessors")] = Field(
        "standardize", description="Preprocessing fitted on the training set.")
    augment: Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": "object"}})] = Field(
        default_factory=list, description="Augmentations, a list of {name: ...} specs.")

    @model_validator(mode="before")
    @classmethod
    def _user_or_builtin(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        _exclusive("data", cls, raw)
        if raw.get("class_path") is not None:
            # a user's transforms usually normalize already
            raw = {"preprocess": "none", **raw, "name": None}
        return raw

    @field_validator("pin_memory", mode="before")
    @classmethod
    def _pin(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, bool):
            raise Rule("must be true, false or null (pinned when training on a GPU)")
        return v

    @field_validator("batch_keys", mode="before")
    @classmethod
    def _batch_keys(cls, v: Any) -> Any:
        if v is not None and (not isinstance(v, list) or len(v) != 2
                              or not all(isinstance(k, str) and k for k in v)):
            raise Rule("must be [input_key, label_key] for samples that are mappings")
        return v

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> DataConfig:
        from raynn.data import AUGMENTATIONS, build_augmentation, build_preprocessor

        if _checked(info):
            return self

        self._user() if self.class_path is not None else self._builtin()
        _spec("data.preprocess", build_preprocessor, self.preprocess)
        if not isinstance(self.augment, list):
            raise ConfigError("data.augment", f"must be a list of {{name: ...}} specs "
                              f"({', '.join(AUGMENTATIONS.names())})", self.augment)
        _spec("data.augment", build_augmentation, self.augment)
        return self

    def _user(self) -> None:
        check_spec("data", {"class_path": self.class_path, "init_args": self.init_args})
        root = self.init_args.get("root")
        if isinstance(root, str):  # torchvision's convention: the files a data set reads are under `root`
            if not Path(root).exists():
                raise ConfigError("data.init_args.root", "must be an existing directory or file", root)
            self.init_args["root"] = str(Path(root).resolve())
        for key in ("transform", "train_transform"):
            value = getattr(self, key)
            specs = value if isinstance(value, list) else [value]
            if value is not None and not all(is_spec(v) for v in specs):
                raise ConfigError(f"data.{key}", "must be a {class_path, init_args} spec or a list of them "
                                  "(torchvision.transforms.v2 or your own)", value)
            for i, spec in enumerate(specs if value is not None else []):
                check_spec(f"data.{key}" + (f".{i}" if isinstance(value, list) else ""), spec)
        if self.persistent_workers and self.num_workers == 0:
            raise ConfigError("data.persistent_workers", "needs data.num_workers >= 1 (loader processes to keep)",
                              True)

    def _builtin(self) -> None:
        from raynn.data import DATASETS

        try:
            choice(self.name, DATASETS.names())
        except Rule as exc:
            raise ConfigError("data.name", exc.rule, self.name) from None
        if self.root is not None:
            if not isinstance(self.root, str) or not self.root or "\x00" in self.root:
                raise ConfigError("data.root", "must be a non-empty string", self.root)
            if not Path(self.root).is_dir():
                raise ConfigError("data.root", "must be an existing directory", self.root)
            # Ray workers run in their own directories: a relative path must mean the same thing there.
            self.root = str(Path(self.root).resolve())
        elif DATASETS.get(self.name).needs_root:
            raise ConfigError("data.root", f"must be set for data set {self.name!r}", None)


# ---- model ---------------------------------------------------------------------------------------------------


class ModelConfig(Section):
    """The network: a built-in one (``name``) or your own (``class_path``), its activation and initializer."""

    name: Optional[str] = Field(
        "mlp", json_schema_extra=_enum("raynn.nn:MODELS", True),
        description="A built-in model (raynn list models).")
    class_path: _ClassPath = Field(None, description="Your own model: an importable nn.Module class or factory.")
    init_args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of class_path.")
    activation: _registered("raynn.nn:ACTIVATIONS") = Field(
        "relu", description="Hidden activation (raynn list activations).")
    norm: str = Field(
        "none", json_schema_extra=_enum("raynn.nn:NORMS"),
        description="Normalization layers of a built-in model (raynn list norms).")
    dropout: number("must be in [0, 1)", lambda v: 0 <= v < 1, ge=0, lt=1) = Field(
        0.0, description="Dropout probability of a built-in model.")
    init: Annotated[Any, _named("raynn list initializers, or auto")] = Field(
        "auto", description="Weight initializer; auto: He for ReLU, Xavier otherwise, your model's own.")
    bias: number() = Field(0.0, description="Initial bias value.")
    params: _mapping_of("model parameters") = Field(
        default_factory=dict, description="Parameters of the built-in model (hidden sizes ...).")

    @model_validator(mode="before")
    @classmethod
    def _user_or_builtin(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        _exclusive("model", cls, raw)
        return {**raw, "name": None} if raw.get("class_path") is not None else raw

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ModelConfig:
        from raynn.nn import INITIALIZERS, MODELS, NORMS

        if _checked(info):
            return self

        user = self.class_path is not None
        if user:
            check_spec("model", {"class_path": self.class_path, "init_args": self.init_args}, fill=("num_classes",))
        else:
            for key, names in (("name", MODELS.names()), ("norm", NORMS.names())):
                if getattr(self, key) not in names:
                    raise ConfigError(f"model.{key}", f"must be one of {', '.join(names)}", getattr(self, key))
        init = self.init
        if init == "auto":
            # Table 7.2: He for ReLU, Xavier for the sigmoid-type activations; your own model keeps its own.
            init = {"name": "default" if user else "he" if self.activation == "relu" else "xavier"}
        if isinstance(init, str):
            init = {"name": init}
        if not isinstance(init, dict) or "name" not in init:
            raise ConfigError("model.init", f"must be a name or a {{name: ...}} spec "
                              f"({', '.join(INITIALIZERS.names())})", init)
        self.init = init
        _spec("model.init", lambda s: INITIALIZERS.get(s["name"]), init)
        if init["name"] == "pretrained" and isinstance(init.get("path"), str):
            if not Path(init["path"]).exists():
                raise ConfigError("model.init.path", "must be the path of an existing raynn checkpoint", init["path"])
            init["path"] = str(Path(init["path"]).resolve())
        return self


# ---- targets, loss, code -------------------------------------------------------------------------------------


class Distillation(Section):
    """Knowledge distillation from a trained raynn checkpoint (Hinton et al. 2015)."""

    teacher: Any = Field(..., description="Path of the teacher's raynn checkpoint.",
                         json_schema_extra={"type": "string"})
    temperature: number("must be > 0", lambda v: v > 0, gt=0) = Field(4.0, description="Softmax temperature T.")
    alpha: number("must be in [0, 1]", lambda v: 0 <= v <= 1, ge=0, le=1) = Field(
        0.5, description="Weight of the distillation term.")

    @classmethod
    def _mapping_rule(cls) -> str:
        return "must be a mapping {teacher, temperature, alpha}"

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher(cls, v: Any, info: ValidationInfo) -> Any:
        if _checked(info):
            return v
        if not isinstance(v, str) or not Path(v).exists():
            raise Rule("must be the path of an existing raynn checkpoint")
        return str(Path(v).resolve())


class TargetsConfig(Section):
    """What the default cross-entropy loss trains towards."""

    label_smoothing: number("must be in [0, 1)", lambda v: 0 <= v < 1, ge=0, lt=1) = Field(
        0.0, description="Label smoothing epsilon.")
    distillation: Optional[Distillation] = Field(None, description="{teacher, temperature, alpha}, or null.")


class CodeConfig(Section):
    """Your code, shipped to every node by Ray's runtime_env (raynn.code)."""

    working_dir: Optional[str] = Field(None, description="Directory shipped to every node and made the "
                                                         "working directory.")
    py_modules: list[str] = Field(default_factory=list, description="Packages (directories, .whl, .zip) put "
                                                                    "on every node's import path.")
    excludes: list[str] = Field(default_factory=list, description="Patterns of files not shipped.")

    @model_validator(mode="before")
    @classmethod
    def _check(cls, raw: Any, info: ValidationInfo) -> Any:
        from raynn.code import check_code

        if _checked(info):
            return raw  # on a Ray worker the paths are the runtime_env's, not the driver's
        return check_code(raw)  # paths made absolute, and the user's code put on this process's import path


def _loss(v: Any, info: ValidationInfo) -> Any:
    if v is not None and not _checked(info):
        check_spec("loss", v)
    return v


# ---- optimizer, schedule, scaling ----------------------------------------------------------------------------


class Penalty(Section):
    """An L^p weight penalty added to the loss."""

    p: number("must be >= 1", lambda v: v >= 1, ge=1) = Field(2, description="The norm's p.")
    lambda_: number("must be >= 0", lambda v: v >= 0, ge=0) = Field(0.0, alias="lambda",
                                                                    description="The penalty's weight.")

    @classmethod
    def _mapping_rule(cls) -> str:
        return "must be a mapping {p, lambda}"


class OptimizerConfig(Section):
    """The optimizer and what it adds to a plain step."""

    name: _registered("raynn.optim:OPTIMIZERS") = Field(
        "momentum", description="An optimizer (raynn list optimizers).")
    lr: number("must be > 0", lambda v: v > 0, gt=0) = Field(0.05, description="Learning rate at the "
                                                                             "reference batch size.")
    params: _mapping_of("optimizer hyperparameters") = Field(
        default_factory=dict, description="The optimizer's hyperparameters.")
    weight_decay: number("must be in [0, 1)", lambda v: 0 <= v < 1, ge=0, lt=1) = Field(
        0.0, description="Decoupled weight decay.")
    penalty: Optional[Penalty] = Field(None, description="{p, lambda}: an L^p penalty, or null.")
    clip: Annotated[Any, _named("raynn list clippers")] = Field(None, description="Gradient clipping, or null.")

    @field_validator("clip", mode="before")
    @classmethod
    def _clip(cls, v: Any, info: ValidationInfo) -> Any:
        from raynn.optim import CLIPPERS, build_clipper

        if v is None or _checked(info):
            return v
        v = {"name": v} if isinstance(v, str) else v
        if not isinstance(v, dict) or "name" not in v:
            raise Rule(f"must be a {{name: ...}} spec ({', '.join(CLIPPERS.names())})")
        _spec("optimizer.clip", build_clipper, v)
        return v

    @model_validator(mode="after")
    def _build(self, info: ValidationInfo) -> OptimizerConfig:
        import torch

        from raynn.optim import build_optimizer

        if _checked(info):
            return self

        probe = [torch.nn.Parameter(torch.zeros(1))]
        _spec("optimizer.params", lambda p: build_optimizer(probe, self.name, self.lr, **p), self.params)
        return self


def _schedule(v: Any) -> Any:
    from raynn.schedules import SCHEDULES

    if v is None:
        return v
    v = {"name": v} if isinstance(v, str) else v
    if not isinstance(v, dict) or "name" not in v:
        raise Rule(f"must be a name or a {{name: ...}} spec ({', '.join(SCHEDULES.names())})")
    if v["name"] == "warmup":
        raise Rule("must not be 'warmup': set scaling.warmup_epochs instead", key="name", value="warmup")
    if v["name"] not in SCHEDULES.names():
        raise Rule(f"must be one of {', '.join(SCHEDULES.names())}", key="name", value=v["name"])
    return v


def _warmup(v: Any) -> Any:
    from raynn.values import is_finite_number

    if v != "auto" and not (is_finite_number(v) and v >= 0):
        raise Rule("must be 'auto' or a number of epochs >= 0")
    return v


class ScalingConfig(Section):
    """How the learning rate follows the global batch size (Goyal et al. 2017)."""

    rule: _registered("raynn.scaling:SCALING_RULES") = Field(
        "linear", description="A scaling rule (raynn list scaling).")
    reference_batch: integer(1) = Field(64, description="The batch size optimizer.lr is given for.")
    warmup_epochs: Annotated[Any, BeforeValidator(_warmup), WithJsonSchema(
        {"anyOf": [{"const": "auto"}, {"type": "number", "minimum": 0}]})] = Field(
        "auto", description="Epochs of linear warmup; auto: by the scaling rule.")


# ---- train ---------------------------------------------------------------------------------------------------


class EarlyStopping(Section):
    """Stop when a validation metric stops improving."""

    patience: integer(1) = Field(5, description="Epochs without improvement before stopping.")
    min_delta: number("must be >= 0", lambda v: v >= 0, ge=0) = Field(0.0, description="The least change "
                                                                                      "that counts.")
    metric: _registered("raynn.early_stopping:METRICS") = Field(
        "val_loss", description="The metric watched (raynn list metrics).")
    warmup: integer(0) = Field(0, description="Epochs before stopping may start.")

    @classmethod
    def _mapping_rule(cls) -> str:
        return "must be a mapping {patience, min_delta, metric, warmup}"


def _compile(v: Any) -> Any:
    if not isinstance(v, bool) and not (isinstance(v, dict) and set(v) <= {"backend", "mode"}
                                        and all(isinstance(x, str) and x for x in v.values())):
        raise Rule("must be true, false or {backend, mode} (torch.compile's arguments)")
    return v


_COMPILE_SCHEMA = {"anyOf": [{"type": "boolean"}, {
    "type": "object", "additionalProperties": False,
    "properties": {"backend": {"type": "string", "minLength": 1}, "mode": {"type": "string", "minLength": 1}}}]}


class TrainConfig(Section):
    """The run: its length, batch, workers, and GPU-class settings (raynn.training.precision)."""

    epochs: integer(1) = Field(20, description="Epochs to train.")
    batch_size: integer(1) = Field(64, description="Global batch size (split over the workers).")
    workers: integer(1) = Field(1, description="Ray Train workers (data-parallel processes).")
    gpus_per_worker: number("must be >= 0", lambda v: v >= 0, ge=0) = Field(0, description="GPUs per worker.")
    early_stopping: Optional[EarlyStopping] = Field(None, description="{patience, min_delta, metric, warmup}, "
                                                                      "or null.")
    max_failures: integer(0) = Field(3, description="Worker failures Ray Train recovers from.")
    num_threads: integer(1, optional=True) = Field(None, description="torch threads per worker (null: torch's).")
    pending_timeout: number("must be > 0 (seconds)", lambda v: v > 0, gt=0) = Field(
        600, description="Seconds Ray Train may wait for its workers to be placed.")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Autocast dtype.")
    accumulate: integer(1) = Field(1, description="Micro-batches per optimizer update.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    channels_last: Flag = Field(False, description="Image batches in channels-last memory format.")
    compile: Annotated[Any, BeforeValidator(_compile), WithJsonSchema(_COMPILE_SCHEMA)] = Field(
        False, description="torch.compile the model: true, false or {backend, mode}.")

    @model_validator(mode="after")
    def _cuda_workers(self) -> TrainConfig:
        if self.device == "cuda" and not self.gpus_per_worker and self.workers > 1:
            raise ConfigError("train.device", "must not be cuda with train.gpus_per_worker 0 on Ray Train workers "
                              "(they would hold no GPU)", "cuda")
        return self


# ---- the run -------------------------------------------------------------------------------------------------


def _name(v: Any) -> Any:
    return v if v is None else check_name("name", v)


def _storage(v: Any, info: ValidationInfo) -> Any:
    if _checked(info):
        return v
    if not isinstance(v, str) or not v:
        raise Rule("must be a non-empty string")
    if "\x00" in v:
        raise Rule("must not contain NUL characters")
    return normalize("storage", v)  # a URI stays one (raynn.storage); a path made absolute


class RunConfig(Section):
    """A raynn run config (raynn train). A file only needs the keys it changes."""

    name: Annotated[Optional[str], BeforeValidator(_name)] = Field(
        None, description="The run's name: one path component (null: made from the time).")
    seed: integer(0, SEED_MAX) = Field(0, description="Seed of every random choice.")
    storage: Annotated[str, BeforeValidator(_storage)] = Field(
        "runs", validate_default=True, description="Directory or storage URI (s3://...) the run writes to.")
    code: CodeConfig = Field(default_factory=CodeConfig, description=CodeConfig.__doc__)
    data: DataConfig = Field(default_factory=DataConfig, description=DataConfig.__doc__)
    model: ModelConfig = Field(default_factory=ModelConfig, description=ModelConfig.__doc__)
    targets: TargetsConfig = Field(default_factory=TargetsConfig, description=TargetsConfig.__doc__)
    loss: Annotated[Any, BeforeValidator(_loss), WithJsonSchema({"anyOf": [_SPEC_SCHEMA, {"type": "null"}]})] = Field(
        None, description="Your own loss {class_path, init_args}, called as loss(logits, labels); null: "
                          "cross-entropy.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description=OptimizerConfig.__doc__)
    schedule: Annotated[Any, BeforeValidator(_schedule), _named("raynn list schedules")] = Field(
        None, description="Learning-rate schedule after warmup, or null (constant).")
    scaling: ScalingConfig = Field(default_factory=ScalingConfig, description=ScalingConfig.__doc__)
    train: TrainConfig = Field(default_factory=TrainConfig, description=TrainConfig.__doc__)

    @classmethod
    def checked(cls, cfg: RunConfig | Mapping[str, Any]) -> RunConfig:
        """The typed form of a config that :func:`raynn.config.check_config` checked (its dict, as it crosses
        to a Ray worker or is read back from a checkpoint): types again, not the files, imports and builds."""
        if isinstance(cfg, RunConfig):
            return cfg
        try:
            return cls.model_validate(dict(cfg), context={"checked": True})
        except ValidationError as exc:
            raise config_error(exc) from None

    @model_validator(mode="after")
    def _together(self, info: ValidationInfo) -> RunConfig:
        """The checks that read more than one section."""
        if _checked(info):
            return self
        if self.loss is not None:
            if self.targets.label_smoothing > 0:
                raise ConfigError("targets.label_smoothing", "must be 0 with loss.class_path: it applies to the "
                                  "default cross-entropy loss (give your loss its own smoothing argument)",
                                  self.targets.label_smoothing)
            if self.targets.distillation is not None:
                raise ConfigError("targets.distillation", "must be null with loss.class_path: it applies to the "
                                  "default cross-entropy loss", self.targets.distillation.to_dict())
        if self.model.class_path is None and self.data.class_path is None:
            self._check_model_builds()  # your own model is built on a sample batch where the run is set up
        if self.schedule is not None:
            from raynn.scaling import build_lr_schedule

            # A nominal run length is enough to check the parameters; the real one is known once data is loaded.
            _spec("schedule", lambda _: build_lr_schedule(self, iters_per_epoch=10), self.schedule)
        return self

    def _check_model_builds(self) -> None:
        from raynn.data import DATASETS, build_preprocessor
        from raynn.nn import build_initializer, build_model, model_spec

        shape = DATASETS.entry(self.data.name).obj.input_shape
        in_shape = build_preprocessor(self.data.preprocess).output_shape(shape)
        def build(_: Any) -> Any:
            model = build_model(model_spec(self), in_shape, num_classes=10)
            build_initializer(self.model.init)
            return model

        _spec("model", build, self.model.to_dict())
