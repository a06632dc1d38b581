"""What a study measured, and the pure helpers that summarize it over seeds. Nothing here imports Ray."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raynn.study.analyses import Analysis
from raynn.study.spec import RunSpec, Study

__all__ = ["RunResult", "StudyResults", "mean_sd", "smooth"]


@dataclass
class RunResult:
    """One finished run: its spec, its per-epoch metrics and (if logged) the mini-batch loss of every iteration."""

    spec: RunSpec
    history: list[dict[str, Any]]
    iterations: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return self.spec.label

    def final(self, metric: str) -> float:
        return float(self.history[-1][metric]) if self.history else math.nan


@dataclass
class StudyResults:
    """Every run's result and the analysis (if the study has one)."""

    study: Study
    runs: list[RunResult]
    analysis: Analysis | None = None

    def labels(self) -> list[str]:
        """Labels in the order the study file lists the runs."""
        seen: dict[str, None] = {}
        for r in self.runs:
            seen.setdefault(r.label, None)
        return list(seen)

    def by_label(self, label: str) -> list[RunResult]:
        runs = [r for r in self.runs if r.label == label]
        if not runs:
            raise ValueError(f"no run is labelled {label!r}; labels: {', '.join(self.labels())}")
        return runs

    def epoch_curve(self, label: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, mean, sd) of ``metric`` over the seeds of ``label``, up to the shortest run."""
        runs = self.by_label(label)
        n = min(len(r.history) for r in runs)
        values = np.array([[float(h[metric]) for h in r.history[:n]] for r in runs])
        return np.arange(1, n + 1), values.mean(axis=0), values.std(axis=0)

    def iteration_curve(self, label: str, window: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(iterations, mean, sd) of the mini-batch loss over seeds, each seed smoothed by a moving mean."""
        runs = self.by_label(label)
        if any(not r.iterations for r in runs):
            raise ValueError(f"runs labelled {label!r} did not log iterations (runs.log_iterations)")
        n = min(len(r.iterations) for r in runs)
        values = np.array([smooth(r.iterations[:n], window) for r in runs])
        return np.arange(1, n + 1), values.mean(axis=0), values.std(axis=0)

    def final(self, label: str, metric: str, at: str = "last") -> tuple[float, float, list[float]]:
        """Mean, sd and per-seed values of ``metric`` at the ``last`` epoch, or its ``min`` / ``max`` over epochs."""
        values = []
        for r in self.by_label(label):
            series = [float(h[metric]) for h in r.history]
            values.append({"last": series[-1], "min": min(series), "max": max(series)}[at])
        return float(np.mean(values)), float(np.std(values)), values


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving mean over ``window`` values (shorter at the start), so point ``i`` uses no later data."""
    arr = np.asarray(values, dtype=float)
    if window <= 1 or len(arr) == 0:
        return arr
    csum = np.cumsum(np.insert(arr, 0, 0.0))
    idx = np.arange(1, len(arr) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def mean_sd(values: Sequence[float]) -> str:
    return f"{np.mean(values):.4g} ± {np.std(values):.2g}" if len(values) > 1 else f"{values[0]:.4g}"
