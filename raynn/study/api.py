"""``raynn.study(name)``: load and check a study, run it on Ray, write its outputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raynn.errors import ConfigError
from raynn.study.claims import Outcome, evaluate_claims
from raynn.study.results import StudyResults
from raynn.study.spec import Study, load_study, studies_dir
from raynn.values import check_int

__all__ = ["StudyReport", "command_line", "study"]


@dataclass(frozen=True)
class StudyReport:
    """What ``raynn.study`` leaves: where the files are, the verdict on every claim, and the results."""

    out: Path
    outcomes: dict[str, Outcome]
    results: StudyResults

    @property
    def html(self) -> Path:
        return self.out / "index.html"


def command_line(study: Study, workers: int | None, gpus_per_worker: float | None, address: str | None) -> str:
    """The command that reproduces ``study`` (printed in every caption)."""
    shipped = study.path.resolve().parent == studies_dir()
    parts = ["raynn study", study.name if shipped else str(study.path)]
    if study.full:
        parts.append("--full")
    if workers is not None:
        parts.append(f"--workers {workers}")
    if gpus_per_worker is not None:
        parts.append(f"--gpus-per-worker {gpus_per_worker:g}")
    if address is not None:
        parts.append(f"--address {address}")
    return " ".join(parts)


def _seeds(seeds: list[int]) -> str:
    return f"seeds {', '.join(map(str, seeds))}" if seeds else "deterministic (no random numbers)"


def _data_name(study: Study) -> str:
    if not study.runs:
        return "synthetic data (no training runs)"
    data = study.runs[0].typed.data
    sub = f", subset {data.subset}" if data.subset else ""
    return f"{data.name}{sub}, {round(100 * data.val_fraction)}% held out for validation"


def _accumulate_patch(spec: Study, patch: Mapping[str, Any] | None, accumulate: Any) -> dict[str, Any]:
    """``patch`` with ``runs.generate.accumulate`` set, for a study whose runs a generator makes."""
    check_int("--accumulate", accumulate, 1, error=ConfigError)
    if not spec.generated:
        raise ConfigError("--accumulate", "must be used with a study whose runs are generated (large-batch)",
                          accumulate)
    runs = dict((patch or {}).get("runs", {}))
    return {**dict(patch or {}), "runs": {**runs, "generate": {**dict(runs.get("generate", {})),
                                                               "accumulate": accumulate}}}


def study(
    name: str | os.PathLike[str],
    *,
    full: bool = False,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    storage: str | os.PathLike[str] | None = None,
    patch: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] = print,
    code: Mapping[str, Any] | None = None,
    accumulate: int | None = None,
) -> StudyReport:
    """Run study ``name`` (see ``raynn study --list``) and write its outputs into ``out``.

    Args:
        name: A study shipped in ``raynn/study/studies/`` (``raynn study --list``) or the path of a study YAML file.
        full: The ``--full`` setting (MNIST, more seeds); default the quick one (digits, minutes on 2 CPUs).
        workers: Ray Train workers per run (default the study's: 1, or 2 for ``large-batch``).
        gpus_per_worker: GPUs per worker (or per single-process run).
        address: A Ray cluster address (default: the running session, or a new local instance).
        out: Output folder (default ``studies-out/NAME``).
        storage: Where data-parallel runs keep their Ray Train checkpoints while the study runs: a directory
            every node reaches or a bucket URI (``s3://bucket/prefix``); default a temporary directory.
        patch: Merged over the study file after ``full`` (shrinks a study for a test).
        progress: Where progress lines go.
        accumulate: Micro-batches per update for a study whose runs a generator makes (``large-batch``): its
            global batches are then ``workers x accumulate`` micro-batches (``train.accumulate``).
        code: Your code to ship to every node (``working_dir``, ``py_modules``, ``excludes``: the run config's
            ``code`` section, see :mod:`raynn.code`), for study runs that name your own model or data.

    The whole study (every run config) is checked before Ray starts; a bad value raises
    :class:`raynn.errors.ConfigError`. Writes ``results.csv``, ``summary.md``, one PNG per figure,
    ``index.html`` and ``configs/`` (each run's config, ready for ``raynn train``).
    """
    from raynn.code import check_code

    shipped = check_code(dict(code or {}), "--working-dir")  # first: the study's configs may import your code
    if accumulate is not None:
        patch = _accumulate_patch(load_study(name, full=full, workers=workers, gpus_per_worker=gpus_per_worker,
                                             patch=patch), patch, accumulate)
    spec = load_study(name, full=full, workers=workers, gpus_per_worker=gpus_per_worker, patch=patch)
    storage = _checked_storage(storage)
    folder = Path(out) if out is not None else Path("studies-out") / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    command = command_line(spec, workers, gpus_per_worker, address)
    progress(f"raynn study: {spec.name}: {len(spec.runs)} run(s){' and an analysis' if spec.analysis else ''}; "
             f"output in {folder}")
    results = _run(spec, address, storage, progress, shipped)
    outcomes = evaluate_claims(results)
    _write_outputs(results, outcomes, command, folder)
    for claim in spec.claims:
        o = outcomes[claim.id]
        progress(f"raynn study: claim {claim.id}: {o.verdict if o.held is not False else 'DID NOT HOLD'}: {o.measured}")
    return StudyReport(folder, outcomes, results)


def _run(spec: Study, address: str | None, storage: str | None, progress: Callable[[str], None],
         code: dict[str, Any]) -> StudyResults:
    """The study's analysis (if any) and its runs, on Ray (started or joined here) when it has runs."""
    from raynn.study.analyses import run_analysis

    analysis = run_analysis(spec.analysis) if spec.analysis else None
    runs = []
    if spec.runs:
        from raynn.study.runner import run_all

        runs = run_all(spec.runs, address=address, storage=storage, progress=progress, code=code)
    return StudyResults(spec, runs, analysis)


def _checked_storage(storage: str | os.PathLike[str] | None) -> str | None:
    """``--storage`` checked before Ray starts: a bad URI is one line."""
    if storage is None:
        return None
    from raynn.paths import check_storage

    return str(check_storage("--storage", storage))


def _write_outputs(results: StudyResults, outcomes: dict[str, Outcome], command: str, folder: Path) -> None:
    """A study's figures (one PNG each, captioned with their data and the command), ``results.csv``,
    ``configs/``, ``summary.md`` and ``index.html``."""
    from raynn.study.figures import draw_figure, draws_analysis
    from raynn.study.outputs import write_configs, write_html, write_results_csv, write_summary

    spec = results.study
    captions: dict[str, str] = {}
    for fig in spec.figures:
        if draws_analysis(fig.kind):
            seeds = (spec.analysis or {}).get("seeds", [])
            data = f"synthetic, see the study's description; {_seeds(seeds)}"
        else:
            seeds = sorted({r.seed for r in spec.runs})
            data = f"{_data_name(spec)}; {_seeds(seeds)}"
        bands = ("" if len(seeds) < 2 else " Lines are means over seeds." if draws_analysis(fig.kind)
                 else " Lines are means over seeds; bands and error bars ± one standard deviation.")
        caption = f"{fig.title}. Data: {data}.{bands} Command: {command}"
        draw_figure(results, fig, outcomes, caption, folder / f"{fig.id}.png")
        captions[fig.id] = caption
    write_results_csv(results, folder / "results.csv")
    write_configs(results, folder / "configs")
    write_summary(results, outcomes, captions, command, folder / "summary.md")
    write_html(results, outcomes, captions, command, folder)
