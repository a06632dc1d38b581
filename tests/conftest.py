"""Shared fixtures: one Ray session for every test that needs Ray (starting one costs seconds)."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    from raynn.api import ensure_ray

    ensure_ray(num_cpus=4)
    yield
    ray.shutdown()


@pytest.fixture()
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("runs"))
