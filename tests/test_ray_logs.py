"""raynn/ray_logs.py: Ray's own lines of a run go to its ``ray.log``; the run's own lines stay on the terminal
(no Ray session: Ray's terminal handler and its printer of workers' lines are stood in for)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from raynn.ray_logs import ray_logs_to


def test_ray_start_up_warnings_go_to_ray_log_not_the_terminal(tmp_path: Path) -> None:
    """Ray's internals warn at start-up (the token-authentication notice of every local ``ray.init``): those
    lines go to ``ray.log``; a Tune warning and any error still reach the terminal."""
    terminal = io.StringIO()
    handler = logging.StreamHandler(terminal)  # stands in for Ray's own terminal handler on the "ray" logger
    ray_logger = logging.getLogger("ray")
    ray_logger.addHandler(handler)
    internal = logging.getLogger("ray._private.authentication.authentication_token_setup")
    path = tmp_path / "run" / "ray.log"
    try:
        with ray_logs_to(path):
            internal.warning("Token authentication is enabled for this Ray cluster.")
            internal.error("a raylet died")
            logging.getLogger("ray.tune.tune").warning("a trial's checkpoint is large")
        internal.warning("outside a run: shown")
    finally:
        ray_logger.removeHandler(handler)
    shown, logged = terminal.getvalue(), path.read_text()
    assert "Token authentication" in logged and "Token authentication" not in shown
    assert "a raylet died" in shown and "a trial's checkpoint is large" in shown
    assert "outside a run: shown" in shown


def test_a_run_that_logged_nothing_leaves_no_directory(tmp_path: Path) -> None:
    with ray_logs_to(tmp_path / "refused" / "ray.log"):
        logging.getLogger("ray._private.worker").warning("Started a local Ray instance.")
    assert (tmp_path / "refused" / "ray.log").is_file()  # a line came: the file and its directory exist
    with ray_logs_to(tmp_path / "quiet" / "ray.log"):
        pass
    assert not (tmp_path / "quiet").exists()


def test_ray_trains_controller_lines_go_to_ray_log_and_the_workers_lines_to_the_terminal(tmp_path: Path) -> None:
    """What Ray Train's controller actor prints (Ray's deprecation warnings, Ray core's notes on its helper
    actors) is Ray's; what the training workers print (raynn's epoch lines, tracebacks) is the run's."""
    from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

    printed: list[dict[str, Any]] = []
    dispatcher.add_handler("ray_print_logs", printed.append)  # stands in for the printer ray.init adds
    controller = {"pid": 11, "actor_name": "TrainController", "is_err": True,
                  "lines": ["RayDeprecationWarning: `ExecutionOptions.exclude_resources` is deprecated"]}
    worker = {"pid": 12, "actor_name": "RayTrainWorker", "is_err": False, "lines": ["epoch   1/2  train_loss 1.3"]}
    path = tmp_path / "ray.log"
    try:
        with ray_logs_to(path) as logs, logs.workers():
            dispatcher.emit(controller)
            dispatcher.emit(worker)
        dispatcher.emit(controller)  # after the run: Ray's printer again
    finally:
        dispatcher.remove_handler("ray_print_logs")
    assert printed == [worker, controller]
    assert "TrainController pid=11: RayDeprecationWarning" in path.read_text()
    assert "epoch" not in path.read_text()
