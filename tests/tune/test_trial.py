"""raynn/tune/trial.py: when a trial checkpoints, and where Ray's per-checkpoint log lines go (no Ray session)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from raynn.tune.trial import RAY_LOGGERS, checkpoint_policy, route_ray_logs


@pytest.mark.parametrize(
    ("rungs", "every", "expected"),
    [
        ([1, 3, 9], 0, [1, 3, 9]),  # only where the scheduler may pause it
        ([1, 3, 9], 4, [1, 3, 4, 8, 9, 12]),  # and every 4 epochs for fault tolerance
        ([], 5, [5, 10]),
        ([], 0, []),
    ],
)
def test_checkpoint_at_the_rungs_and_every_n_epochs(rungs: list[int], every: int, expected: list[int]) -> None:
    at = checkpoint_policy(rungs, every)
    assert [epoch for epoch in range(1, 13) if at(epoch)] == expected


@pytest.fixture()
def ray_loggers() -> Iterator[None]:
    """route_ray_logs changes process-wide loggers: put them back for the tests after this one."""
    saved = {name: (list(log.handlers), log.level, log.propagate) for name in RAY_LOGGERS
             for log in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        log = logging.getLogger(name)
        for handler in log.handlers:
            if handler not in handlers:
                handler.close()
        log.handlers[:], log.level, log.propagate = handlers, level, propagate


def test_ray_info_lines_go_to_the_file_and_warnings_to_the_terminal(
    ray_loggers: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ray.log"
    route_ray_logs(path)
    route_ray_logs(path)  # once per process and path: no line written twice
    logging.getLogger("ray.tune").info("Checkpoint successfully created at x")
    logging.getLogger("ray.train").warning("a real problem")
    text = path.read_text()
    assert text.count("Checkpoint successfully created") == 1 and "a real problem" in text
    err = capsys.readouterr().err
    assert "Checkpoint successfully created" not in err and err.count("a real problem") == 1
