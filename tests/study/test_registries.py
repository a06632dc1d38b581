"""raynn.study.registries: the names a study file may use, filled by the modules that implement them."""

from __future__ import annotations

import pytest

from raynn.study import ANALYSES, CLAIMS, FIGURES, GENERATORS, load_study, study_registry
from raynn.study import registries


def test_the_package_fills_every_registry_the_spec_checks_names_against() -> None:
    assert registries.CLAIMS is CLAIMS and registries.FIGURES is FIGURES
    assert registries.ANALYSES is ANALYSES and registries.GENERATORS is GENERATORS
    assert "large_batch" in GENERATORS and "momentum" in ANALYSES and "curves" in FIGURES and len(CLAIMS) > 0


def test_every_shipped_study_uses_only_registered_names() -> None:
    for entry in study_registry():
        study = load_study(entry.name)
        assert all(claim.check in CLAIMS for claim in study.claims)
        assert all(figure.kind in FIGURES for figure in study.figures)
        assert study.analysis is None or study.analysis["name"] in ANALYSES


def test_an_unknown_name_in_a_study_file_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown figure kind 'pie'; valid names: "):
        FIGURES.get("pie")
