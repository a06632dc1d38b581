"""Shared fixtures: one Ray session for every test that needs Ray (starting one costs seconds).

Only one Ray instance runs at a time. A test that needs its own cluster (the multi-node test) shuts the shared
session down first; the next test that asks for ``ray_session`` starts it again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from raynn_testing.s3 import DUMMY_AWS_ENV

os.environ.update(DUMMY_AWS_ENV)  # before any Ray session starts: its workers reach the loopback S3 server too

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def _ray_teardown() -> Iterator[None]:
    yield
    import ray

    ray.shutdown()


SESSION_GPUS = 4
"""Logical GPUs the shared session declares (this machine has none): the placement tests give trials and Ray Train
workers one each, with ``train.device: cpu``; every other test asks for none."""


@pytest.fixture()
def ray_session(_ray_teardown: None) -> None:
    from raynn.api import ensure_ray

    ensure_ray(num_cpus=4, num_gpus=SESSION_GPUS)


@pytest.fixture()
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    """A moto S3 server on 127.0.0.1 (port chosen by the system) with the bucket ``bucket``, for the session."""
    from raynn_testing import s3 as s3_server

    server = s3_server.start()
    try:
        yield server
    finally:
        server.server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium through Playwright: the system's (Debian's ``chromium``) if on PATH, else the one
    ``python -m playwright install chromium`` puts in Playwright's cache. The tests never download one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        system = shutil.which("chromium") or shutil.which("chromium-browser")
        own = Path(playwright.chromium.executable_path)
        if system is None and not own.exists():
            pytest.fail("no Chromium: install Debian's `chromium` (apt-get install chromium) or run "
                        "`.venv/bin/python -m playwright install chromium` (see the README)")
        chromium = playwright.chromium.launch(executable_path=system, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
