"""``raynn study``: the chapter's figures and claims, reproduced on Ray and checked.

A study is a YAML file in ``raynn/study/studies/`` (:mod:`raynn.study.spec`; shipped as package data)
naming training runs as raynn run configs, an optional analysis that needs no training
(:mod:`raynn.study.analyses`), the chapter's claims with the check that decides each (:mod:`raynn.study.claims`) and the figures to draw (:mod:`raynn.study.figures`).
:func:`study` checks it all, runs the runs on Ray (:mod:`raynn.study.runner`, the only part that imports Ray)
and writes ``results.csv``, ``summary.md``, PNGs and ``index.html`` (:mod:`raynn.study.outputs`).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from raynn.study.analyses import ANALYSES
from raynn.study.api import StudyReport, study
from raynn.study.claims import CLAIMS, Outcome
from raynn.study.figures import FIGURES
from raynn.study.generators import GENERATORS
from raynn.study.spec import Study, load_study, studies_dir, study_registry

__all__ = ["ANALYSES", "CLAIMS", "FIGURES", "GENERATORS", "Outcome", "Study", "StudyReport", "load_study",
           "studies_dir", "study", "study_registry"]


class _StudyModule(types.ModuleType):
    """Lets ``raynn.study(name)`` run a study while ``raynn.study.load_study`` stays importable."""

    def __call__(self, *args: Any, **kwargs: Any) -> StudyReport:
        return study(*args, **kwargs)


sys.modules[__name__].__class__ = _StudyModule
