"""Ray's own log lines of a raynn run go to ``ray.log`` in its directory, not to the terminal.

While ``raynn tune`` or a ``raynn train`` on Ray runs, Ray's INFO lines in this process go to the file, and so
do the warnings of Ray's internals (``ray._private``: its start-up lines, such as the token-authentication
notice and the dashboard's address) and what Ray Train's controller actor prints (Ray's deprecation warnings,
Ray core's notes on its helper actors). Tune's and Train's warnings, every error, and everything the training
workers print (raynn's epoch lines, your own prints, tracebacks) still reach the terminal.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

__all__ = ["RAY_LOG", "INTERNAL_ACTORS", "ray_logs_to"]

RAY_LOG = "ray.log"
"""Ray's own log lines of a run (start-up, checkpoints written, trials restored), in its directory."""

INTERNAL_ACTORS = frozenset({"TrainController"})
"""Ray's actors whose printed lines are Ray's, not the run's: they go to ``ray.log``."""

_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def ray_logs_to(path: Path | None) -> Iterator[Any]:
    """Send Ray's log lines to ``path`` while the block runs (None: leave them as Ray has them).

    Yields an object whose ``workers()`` context, entered once Ray is up (``ray.init`` adds the printer of
    workers' lines), sends Ray Train's controller lines there too:
    ``with ray_logs_to(p) as logs: ensure_ray(); with logs.workers(): ...``."""
    if path is None:
        yield _Logs(None)
        return
    import ray  # noqa: F401 - Ray sets up its loggers on import: before they are adjusted here

    ray_logger = logging.getLogger("ray")
    to_file = _FileOnFirstLine(path)
    to_file.setFormatter(_FORMAT)
    terminal = [h for h in ray_logger.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    levels = [h.level for h in terminal]
    for handler in terminal:
        handler.setLevel(max(handler.level, logging.WARNING))
        handler.addFilter(_not_ray_internal)
    ray_logger.addHandler(to_file)
    try:
        yield _Logs(to_file)
    finally:
        ray_logger.removeHandler(to_file)
        to_file.close()
        for handler, level in zip(terminal, levels):
            handler.setLevel(level)
            handler.removeFilter(_not_ray_internal)


class _FileOnFirstLine(logging.FileHandler):
    """A file handler that creates the file, and its directory, only when the first line comes: a run refused
    before anything was logged leaves no directory behind."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True)

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _not_ray_internal(record: logging.LogRecord) -> bool:
    """False for a record of Ray's internals below ERROR: it belongs in ``ray.log``, not on the terminal."""
    return record.levelno >= logging.ERROR or not record.name.startswith("ray._private")


class _Logs:
    def __init__(self, to_file: logging.FileHandler | None) -> None:
        self.to_file = to_file

    @contextlib.contextmanager
    def workers(self) -> Iterator[None]:
        """While the block runs, the lines Ray streams from :data:`INTERNAL_ACTORS` go to the file too."""
        if self.to_file is None:
            yield
            return
        from raynn._ray_private import divert_worker_logs

        self.to_file.setFormatter(_FORMAT)  # ray.init gives the "ray" logger's handlers Ray's own formatter
        with divert_worker_logs(self._divert):
            yield

    def _divert(self, batch: dict[str, Any]) -> bool:
        actor = batch.get("actor_name")
        if actor not in INTERNAL_ACTORS:
            return False
        for line in batch.get("lines", []):
            self.to_file.handle(logging.makeLogRecord({
                "name": f"{actor} pid={batch.get('pid')}", "levelno": logging.INFO, "levelname": "INFO",
                "msg": line}))
        return True
