"""The names a study file may use: claim checks, analyses, figure kinds and run generators.

The registries live here, apart from the modules that fill them (:mod:`~raynn.study.claims`,
:mod:`~raynn.study.analyses`, :mod:`~raynn.study.figures`, :mod:`~raynn.study.generators`), so that
:mod:`raynn.study.spec` can check a study file's names without importing those modules, which import the spec
themselves (an import cycle of the whole package before). Importing :mod:`raynn.study` imports every module
that registers a name, so the registries are full before any study file is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raynn.registry import Registry

__all__ = ["ANALYSES", "CLAIMS", "FIGURES", "GENERATORS"]

CLAIMS: Registry[Callable[..., Any]] = Registry("claim check")
"""``claims[].check``: each decides one claim of the chapter from a study's results (an ``Outcome``)."""
ANALYSES: Registry[Any] = Registry("analysis")
"""``analysis.name``: computations without training runs (an ``AnalysisInfo``: ``run`` and ``check``)."""
FIGURES: Registry[Callable[..., None]] = Registry("figure kind")
"""``figures[].kind``: each draws one figure from a study's results."""
GENERATORS: Registry[Callable[..., list[Any]]] = Registry("run generator")
"""``runs.generate.name``: each derives the runs of a study (the large-batch grid of Goyal et al.)."""
