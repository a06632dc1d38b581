"""Shared fixtures: one Ray session for every test that needs Ray (starting one costs seconds).

Only one Ray instance runs at a time. A test that needs its own cluster (the multi-node test) shuts the shared
session down first; the next test that asks for ``ray_session`` starts it again.
"""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def _ray_teardown() -> Iterator[None]:
    yield
    import ray

    ray.shutdown()


@pytest.fixture()
def ray_session(_ray_teardown: None) -> None:
    from raynn.api import ensure_ray

    ensure_ray(num_cpus=4)


@pytest.fixture()
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("runs"))
