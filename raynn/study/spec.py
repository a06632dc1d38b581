"""Study files: YAML in, one checked :class:`Study` out, before anything is started.

A study reproduces one claim of the chapter. Its file (``raynn/study/studies/NAME.yaml``) names

* ``claims``: the chapter's words and the check (a name in :data:`raynn.study.claims.CLAIMS`) that decides
  whether the measurement agrees;
* ``runs``: training runs as raynn run configs (``base``, merged with each ``variants`` entry and each point
  of ``grid``, once per seed), or a ``generate`` entry that derives them (the large-batch grid);
* ``analysis``: a computation that needs no training run (momentum on a quadratic, per-layer variances);
* ``figures``: what to draw (names in :data:`raynn.study.figures.FIGURES`);
* ``full``: a patch merged over the file for ``--full`` (mappings merge key by key, anything else is
  replaced), e.g. MNIST instead of digits and more seeds.

Every key is checked here and every run config goes through :func:`raynn.config.check_config`; a problem is
a :class:`~raynn.errors.ConfigError` naming the key (``study.runs.variants[2].set``), the rule and the value.
Nothing in this module imports Ray.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from raynn.errors import ConfigError
from raynn.registry import Registry
from raynn.study.registries import ANALYSES, CLAIMS, FIGURES, GENERATORS
from raynn.validation import unknown_key
from raynn.values import check_flag, check_int, check_number
from raynn.values import set_dotted as _set_dotted
from raynn.yamlio import load_yaml_file

if TYPE_CHECKING:
    from raynn.config_model import RunConfig

__all__ = [
    "ClaimSpec",
    "FigureSpec",
    "RunSpec",
    "Study",
    "expand_runs",
    "load_study",
    "merge_patch",
    "set_dotted",
    "studies_dir",
    "study_registry",
]

_TOP_KEYS = {"title", "section", "description", "claims", "runs", "analysis", "figures", "full"}
_RUNS_KEYS = {"base", "variants", "grid", "seeds", "label", "log_iterations", "workers", "generate"}
_VARIANT_KEYS = {"label", "set"}


def studies_dir() -> Path:
    """The shipped study files: ``raynn/study/studies/``, package data, so an installed raynn has them too."""
    return Path(__file__).resolve().parent / "studies"


def study_registry(root: str | Path | None = None) -> Registry[Path]:
    """Every study file in ``root`` (default :func:`studies_dir`), by name (the file's stem).

    Built on each call from the files on disk, so a study added to ``raynn/study/studies/`` is found without code.
    """
    registry: Registry[Path] = Registry("study")
    folder = Path(root) if root is not None else studies_dir()
    for path in sorted(folder.glob("*.yaml")):
        try:
            title = (load_yaml_file(path, "study", empty_ok=True) or {}).get("title", "")
        except (ConfigError, AttributeError):
            title = "(not a valid study file)"
        registry.add(path.stem, path, str(title))
    return registry


# ----------------------------------------------------------------------------------------------------------------
# The checked study.


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of the chapter and the check that decides it (``check`` names a :data:`CLAIMS` entry)."""

    id: str
    text: str
    check: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureSpec:
    """One figure: ``kind`` names a :data:`FIGURES` entry; ``claims`` lists the claim ids it illustrates."""

    id: str
    kind: str
    title: str
    claims: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One training run of a study: one checked raynn run config per phase (most runs have one phase).

    A second phase continues the first from its checkpoint with a changed config (the constant warmup of
    Goyal et al.: the reference rate for the warmup epochs, then the scaled rate), as ``raynn train`` twice
    with the same ``name`` and ``storage`` would.

    Args:
        run_id: Unique within the study, used for run names and file names.
        label: The legend entry (variants with the same label and different seeds are averaged).
        seed: The run's seed.
        params: The variant's and grid point's values by key, written to ``results.csv``.
        phases: Checked run configs, run one after the other in the same run directory.
        log_iterations: Record the mini-batch loss of every iteration (single-process runs only).
    """

    run_id: str
    label: str
    seed: int
    params: dict[str, Any]
    phases: tuple[dict[str, Any], ...]
    log_iterations: bool = False

    @property
    def config(self) -> dict[str, Any]:
        """The config of the last phase (the one a user would copy)."""
        return self.phases[-1]

    @functools.cached_property
    def typed(self) -> RunConfig:
        """The config of the last phase, typed (``run.typed.train.workers``)."""
        from raynn.config_model import RunConfig

        return RunConfig.checked(self.config)

    @property
    def workers(self) -> int:
        return self.typed.train.workers


@dataclass(frozen=True)
class Study:
    """A checked study file, with ``--full`` applied or not and every run expanded."""

    name: str
    path: Path
    title: str
    section: str
    description: str
    full: bool
    claims: tuple[ClaimSpec, ...]
    runs: tuple[RunSpec, ...]
    analysis: dict[str, Any] | None
    figures: tuple[FigureSpec, ...]
    raw: dict[str, Any]

    @property
    def generated(self) -> bool:
        """Whether a generator makes the runs (``runs.generate``), which then takes ``--accumulate``."""
        return isinstance(self.raw.get("runs"), dict) and "generate" in self.raw["runs"]

    @property
    def seeds(self) -> list[int]:
        if self.runs:
            return sorted({r.seed for r in self.runs})
        return list((self.analysis or {}).get("seeds", []))  # empty: a deterministic analysis


# ----------------------------------------------------------------------------------------------------------------
# Loading.


def merge_patch(base: Any, patch: Any) -> Any:
    """``patch`` merged over ``base``: mappings key by key (recursively), anything else replaced."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        out = {k: copy.deepcopy(v) for k, v in base.items()}
        for key, value in patch.items():
            out[key] = merge_patch(out[key], value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def set_dotted(cfg: dict[str, Any], key: str, value: Any) -> None:
    """``cfg[a][b] = value`` (a deep copy) for ``key = "a.b"``, making intermediate mappings."""
    _set_dotted(cfg, key, copy.deepcopy(value))


def _unknown(mapping: Mapping[str, Any], valid: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - valid)
    if unknown:
        key = f"{where}.{unknown[0]}"
        raise ConfigError(key, unknown_key(sorted(valid)), mapping[unknown[0]])


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(where, "must be a mapping", value)
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(where, "must be a non-empty string", value)
    return value


def _list(value: Any, where: str, *, nonempty: bool = True) -> list[Any]:
    if not isinstance(value, list) or (nonempty and not value):
        raise ConfigError(where, "must be a non-empty list" if nonempty else "must be a list", value)
    return value


def _read(path: Path) -> dict[str, Any]:
    return _mapping(load_yaml_file(path, "study", empty_ok=True) or {}, "study")


def resolve_study(name: str | Path, root: str | Path | None = None) -> Path:
    """The file of study ``name``: a registered name, or the path of a study YAML file."""
    text = str(name)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError("study", "must be a study name or an existing study YAML file", text)
        return path
    registry = study_registry(root)
    if text not in registry:
        raise ConfigError("study", f"must be one of {', '.join(registry.names())} (or a study YAML file)", text)
    return registry.get(text)


def load_study(
    name: str | Path,
    *,
    full: bool = False,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    patch: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
) -> Study:
    """Read and check study ``name`` (see the module docstring); nothing is started.

    Args:
        name: A name in ``raynn/study/studies/`` (``raynn study --list``) or the path of a study file.
        full: Apply the file's ``full`` patch (MNIST, more seeds, longer runs).
        workers: Ray Train workers per run (``train.workers`` of every run); default the study's own.
        gpus_per_worker: ``train.gpus_per_worker`` of every run.
        patch: A further patch merged over the study after ``full`` (tests use it to shrink a study).
        root: Where to look for named studies (default :func:`studies_dir`).
    """
    path = resolve_study(name, root)
    raw = _read(path)
    _unknown(raw, _TOP_KEYS, "study")
    if "full" in raw:
        # The patch is checked as written, in either setting: a typo in it must not wait for a --full run.
        patch_full = _mapping(raw["full"], "study.full")
        _unknown(patch_full, _TOP_KEYS - {"full"}, "study.full")
        if "runs" in patch_full:
            _unknown(_mapping(patch_full["runs"], "study.full.runs"), _RUNS_KEYS, "study.full.runs")
            for i, item in enumerate(patch_full["runs"].get("variants") or []):
                _unknown(_mapping(item, f"study.full.runs.variants[{i}]"), _VARIANT_KEYS, f"study.full.runs.variants[{i}]")
    if full and raw.get("full"):
        raw = merge_patch({k: v for k, v in raw.items() if k != "full"}, raw["full"])
    if patch:
        _unknown(patch, _TOP_KEYS - {"full"}, "patch")
        raw = merge_patch(raw, dict(patch))
    check_int("--workers", workers, 1, optional=True, rule="must be an integer >= 1", error=ConfigError)
    check_number("--gpus-per-worker", gpus_per_worker, "must be a number >= 0", lambda v: v >= 0, optional=True,
                 error=ConfigError)
    title = _str(raw.get("title", path.stem), "study.title")
    section = str(raw.get("section", ""))
    description = str(raw.get("description", ""))
    claims = _claims(raw.get("claims", []))
    analysis = _analysis(raw.get("analysis"))
    runs = _runs(raw.get("runs"), path.stem, workers, gpus_per_worker)
    figures = _figures(raw.get("figures", []), {c.id for c in claims})
    if not runs and analysis is None:
        raise ConfigError("study", "must have `runs` or `analysis` (or both)", path.stem)
    for i, claim in enumerate(claims):
        if claim.check not in CLAIMS:
            raise ConfigError(f"study.claims[{i}].check", f"must be one of {', '.join(CLAIMS.names())}", claim.check)
    return Study(path.stem, path, title, section, description, full, claims, runs, analysis, figures, raw)


def _claims(value: Any) -> tuple[ClaimSpec, ...]:
    out = []
    for i, item in enumerate(_list(value, "study.claims", nonempty=False)):
        where = f"study.claims[{i}]"
        item = dict(_mapping(item, where))
        for key in ("id", "text", "check"):
            if key not in item:
                raise ConfigError(f"{where}.{key}", "is required", None)
        out.append(ClaimSpec(_str(item.pop("id"), f"{where}.id"), _str(item.pop("text"), f"{where}.text"),
                             _str(item.pop("check"), f"{where}.check"), item))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("study.claims", "ids must be unique", ids)
    return tuple(out)


def _analysis(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = dict(_mapping(value, "study.analysis"))
    name = spec.get("name")
    if name not in ANALYSES:
        raise ConfigError("study.analysis.name", f"must be one of {', '.join(ANALYSES.names())}", name)
    try:
        ANALYSES.get(name).check(spec)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("study.analysis", str(exc), spec) from None
    return spec


def _figures(value: Any, claim_ids: set[str]) -> tuple[FigureSpec, ...]:
    out = []
    for i, item in enumerate(_list(value, "study.figures", nonempty=False)):
        where = f"study.figures[{i}]"
        item = dict(_mapping(item, where))
        kind = item.pop("kind", None)
        if kind not in FIGURES:
            raise ConfigError(f"{where}.kind", f"must be one of {', '.join(FIGURES.names())}", kind)
        fid = _str(item.pop("id", f"fig{i + 1}"), f"{where}.id")
        title = _str(item.pop("title", fid), f"{where}.title")
        claims = item.pop("claims", [])
        for c in _list(claims, f"{where}.claims", nonempty=False):
            if c not in claim_ids:
                raise ConfigError(f"{where}.claims", f"must name claims of this study ({', '.join(sorted(claim_ids))})", c)
        out.append(FigureSpec(fid, kind, title, tuple(claims), item))
    ids = [f.id for f in out]
    if len(set(ids)) != len(ids):
        raise ConfigError("study.figures", "ids must be unique", ids)
    return tuple(out)


# ----------------------------------------------------------------------------------------------------------------
# Expanding runs.

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def _label(template: str, values: Mapping[str, Any]) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigError("study.runs.label", f"names {key!r}, which is not a variant or grid key "
                              f"({', '.join(sorted(values))})", template)
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


def _runs(value: Any, study: str, workers: int | None, gpus: float | None) -> tuple[RunSpec, ...]:
    from raynn.config import check_config

    if value is None:
        return ()
    spec = _mapping(value, "study.runs")
    _unknown(spec, _RUNS_KEYS, "study.runs")
    base = copy.deepcopy(_mapping(spec.get("base", {}), "study.runs.base"))
    seeds = _list(spec.get("seeds", [0]), "study.runs.seeds")
    for s in seeds:
        check_int("study.runs.seeds", s, 0, rule="must be integers >= 0", error=ConfigError)
    if len(set(seeds)) != len(seeds):
        raise ConfigError("study.runs.seeds", "must not repeat a seed", seeds)
    log_iterations = spec.get("log_iterations", False)
    check_flag("study.runs.log_iterations", log_iterations, "must be true or false", error=ConfigError)
    run_workers = workers if workers is not None else spec.get("workers", 1)
    check_int("study.runs.workers", run_workers, 1, error=ConfigError)
    if log_iterations and run_workers > 1:
        # The per-iteration loss is taken in the training process; with data parallelism only epochs are logged.
        log_iterations = False
    points = expand_runs(spec, run_workers)
    template = spec.get("label")
    if template is not None:
        _str(template, "study.runs.label")
    runs = []
    ids: set[str] = set()
    for point_label, params, sets, generated_phases in points:
        label = _label(template, {**params, "variant": point_label}) if template else point_label
        for seed in seeds:
            phases = []
            phase_sets = generated_phases or [sets]
            for phase_no, phase in enumerate(phase_sets):
                cfg = copy.deepcopy(base)
                cfg.setdefault("train", {})["workers"] = run_workers
                # A generator may set train.workers itself (a global batch too small to split over the workers).
                for key, val in phase.items():
                    set_dotted(cfg, key, val)
                cfg["seed"] = seed
                train = cfg["train"]
                if gpus is not None:
                    train["gpus_per_worker"] = gpus
                if train["workers"] == 1:
                    train.setdefault("num_threads", 1)  # one CPU per run: several run at once
                cfg.pop("name", None)
                try:
                    checked = check_config(cfg)
                except ConfigError as exc:
                    where = f"study.runs (run {label!r}, seed {seed}, phase {phase_no + 1})"
                    raise ConfigError(f"{where}: {exc.key}", exc.rule, exc.value) from None
                phases.append(checked)
            run_id = _slug(f"{label}-s{seed}")
            while run_id in ids:
                run_id += "_"
            ids.add(run_id)
            runs.append(RunSpec(run_id, label, seed, dict(params), tuple(phases), log_iterations))
    return tuple(runs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


Point = tuple[str, dict[str, Any], dict[str, Any], list[dict[str, Any]] | None]


def expand_runs(spec: Mapping[str, Any], workers: int = 1) -> list[Point]:
    """The run points of a ``runs`` section: (label, params, dotted-key settings, phases or None).

    ``variants`` x ``grid`` (every combination), or the points a ``generate`` entry derives for runs on
    ``workers`` Ray Train workers each (a generator that sets a global batch splits it over them).
    """
    if "generate" in spec:
        if "variants" in spec or "grid" in spec:
            raise ConfigError("study.runs.generate", "cannot be combined with variants or grid", spec["generate"])
        gen = dict(_mapping(spec["generate"], "study.runs.generate"))
        name = gen.pop("name", None)
        if name not in GENERATORS:
            raise ConfigError("study.runs.generate.name", f"must be one of {', '.join(GENERATORS.names())}", name)
        try:
            return GENERATORS.get(name)(spec.get("base", {}), workers=workers, **gen)
        except TypeError as exc:
            raise ConfigError(f"study.runs.generate ({name})", str(exc), gen) from None
    variants: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(_list(spec.get("variants", [{"label": "run", "set": {}}]), "study.runs.variants")):
        where = f"study.runs.variants[{i}]"
        item = _mapping(item, where)
        _unknown(item, _VARIANT_KEYS, where)
        variants.append((_str(item.get("label", f"variant {i + 1}"), f"{where}.label"),
                         dict(_mapping(item.get("set", {}), f"{where}.set"))))
    grid = _mapping(spec.get("grid", {}), "study.runs.grid")
    combos: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combos = [{**c, key: v} for c in combos for v in _list(values, f"study.runs.grid.{key}")]
    points: list[Point] = []
    for label, sets in variants:
        for combo in combos:
            grid_label = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in combo.items())
            full_label = label if not combo else (grid_label if label == "run" else f"{label}, {grid_label}")
            points.append((full_label, {**combo, "variant": label}, {**sets, **combo}, None))
    return points
