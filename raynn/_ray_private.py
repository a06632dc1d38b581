"""Every place raynn reaches into Ray's private modules and fields, in one module (Ray 2.60).

Ray offers no public API for these; each function says what it reads or writes and why. When Ray changes,
this module is the one to read again (``tests/test_ray_private.py`` fails if a private use appears elsewhere).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable, Iterator

__all__ = [
    "autoscaling_status", "cluster_config", "concurrency_slots", "divert_worker_logs", "forget_decisions",
    "job_config_json",
    "local_tuner", "quiet_train_report_logs", "ray_address_from_environment", "set_live_parts",
    "set_worker_group_start_timeout", "take_limiter_slot",
]


def concurrency_slots(search_alg: Any) -> tuple[int, set[str], Any | None] | None:
    """``(limit, live trial ids, limiter)`` of the concurrency limit Tune put around its search algorithm.

    ``TuneConfig(max_concurrent_trials=...)`` becomes ``BasicVariantGenerator(max_concurrent=...)`` (its set
    ``_live_trials``, private) or a ``ConcurrencyLimiter`` around a ``Searcher`` (``live_trials``, public, and
    the counter ``num_unfinished_live_trials``, which the limiter checks). Both count a trial as live from its
    creation to its completion, paused or not: the halving adapters edit the set so a trial paused at an
    undecided rung gives its slot back (ray-project/ray#12536). None: no limit this module can use (none set,
    batch mode, which waits for whole batches, or a searcher that limits itself, ``_limit_concurrency`` False).
    """
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if isinstance(search_alg, BasicVariantGenerator):
        if search_alg.max_concurrent > 0:
            return search_alg.max_concurrent, search_alg._live_trials, None
        return None
    searcher = getattr(search_alg, "searcher", None)
    while searcher is not None:
        if isinstance(searcher, ConcurrencyLimiter):
            if searcher.batch or not searcher._limit_concurrency:
                return None
            return searcher.max_concurrent, searcher.live_trials, searcher
        searcher = getattr(searcher, "searcher", None)
    return None


def take_limiter_slot(limiter: Any, delta: int) -> None:
    """Keep a ``ConcurrencyLimiter``'s count of unfinished live trials in step with its ``live_trials`` set."""
    limiter.num_unfinished_live_trials += delta


def local_tuner(tuner: Any) -> Any | None:
    """The ``TunerInternal`` a restored ``Tuner`` runs (``_local_tuner``), so ``raynn tune --resume`` can hand
    it a live scheduler and callbacks instead of the ones pickled at the start; None through Ray Client."""
    return tuner._local_tuner


def set_live_parts(internal: Any, scheduler: Any, callbacks: list[Any]) -> None:
    """Give a restored ``TunerInternal`` (see :func:`local_tuner`) this run's scheduler and callbacks."""
    internal._tune_config.scheduler = scheduler
    internal._run_config.callbacks = callbacks


def forget_decisions(tune_controller: Any, trial_id: str) -> None:
    """Drop the scheduling decisions Tune still holds for a trial it is adding (again).

    Tune keeps the decision for a trial's result while the trial saves a checkpoint (``_cached_trial_decisions``)
    and until the result's futures resolve (``_queued_trial_decisions``), and it writes both dicts into its
    experiment snapshot (``TuneController.__getstate__`` does not leave them out). A snapshot taken between a
    halving scheduler's ``PAUSE`` and the end of the pausing save therefore holds ``{trial_id: "PAUSE"}``;
    ``Tuner.restore`` loads it, and the trial's first result after it is resumed (promoted) is answered
    ``PAUSE`` instead of the scheduler's ``CONTINUE``: Tune pauses a trial the scheduler counts as running and
    the experiment never ends (seen in ``tests/tune/test_restore.py`` under load). A trial being added has no
    future in flight, so any decision held for it is stale. ``tune_controller``: what Tune passes a scheduler
    (its ``TrialRunnerWrapper``) or the controller itself.
    """
    controller = getattr(tune_controller, "_tune_controller", tune_controller)
    for name in ("_cached_trial_decisions", "_queued_trial_decisions"):
        decisions = getattr(controller, name, None)
        if isinstance(decisions, dict):
            decisions.pop(trial_id, None)


def cluster_config() -> Any | None:
    """The GCS's ``autoscaler_pb2.ClusterConfig`` (node groups the autoscaler may add), or None if unreadable."""
    try:
        import ray._private.state

        return ray._private.state.state.get_cluster_config()
    except Exception:  # noqa: BLE001 - a private API: without it, only the nodes up count
        return None


def autoscaling_status() -> bytes | None:
    """The v1 autoscaler's debug status (JSON) from the GCS key-value store, or None if there is none."""
    try:
        from ray._private import ray_constants
        from ray.experimental.internal_kv import _internal_kv_get

        return _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    except Exception:  # noqa: BLE001 - no status readable
        return None


def ray_address_from_environment() -> str:
    """The address ``ray.init(address="auto")`` would use; ``ConnectionError`` when no cluster is found."""
    from ray._private import services

    return services.get_ray_address_from_environment("auto", None)


def job_config_json() -> str | None:
    """The job config (JSON) Ray hands a driver started by ``ray job submit``, or None outside a job."""
    from ray._private.runtime_env.constants import RAY_JOB_CONFIG_JSON_ENV_VAR

    return os.environ.get(RAY_JOB_CONFIG_JSON_ENV_VAR)


def quiet_train_report_logs() -> None:
    """Ray Train logs two INFO lines per report from two private modules; raise their loggers to WARNING."""
    try:
        from ray.train.v2._internal.execution import context, storage
    except ImportError:  # a Ray without these private modules: leave its logging alone
        return
    for module in (context, storage):
        logging.getLogger(module.__file__).setLevel(logging.WARNING)
        logging.getLogger(module.__name__).setLevel(logging.WARNING)


def set_worker_group_start_timeout(seconds: float) -> None:
    """Ray Train reads its worker-group start timeout from this process's environment at ``fit()``."""
    from ray.train.v2._internal.constants import WORKER_GROUP_START_TIMEOUT_S_ENV_VAR

    os.environ[WORKER_GROUP_START_TIMEOUT_S_ENV_VAR] = str(float(seconds))


@contextlib.contextmanager
def divert_worker_logs(divert: Callable[[dict[str, Any]], bool]) -> Iterator[None]:
    """While the block runs, each batch of log lines Ray streams to this driver from a worker or actor
    (``{"pid", "actor_name", "task_name", "lines", "is_err", ...}``) is first offered to ``divert``: when it
    returns True, the batch is not printed. Ray prints them with the handler ``ray_print_logs`` of its
    ``global_worker_stdstream_dispatcher`` (``ray._private.ray_logging``), added by ``ray.init`` when
    ``log_to_driver``; there is no public filter. Outside a Ray session, or without that handler, nothing
    changes."""
    from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

    printers = [handler for name, handler in dispatcher.handlers if name == "ray_print_logs"]
    if len(printers) != 1:
        yield
        return
    printer = printers[0]

    def print_unless_diverted(batch: dict[str, Any]) -> None:
        if not divert(batch):
            printer(batch)

    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("ray_print_logs", print_unless_diverted)
    try:
        yield
    finally:
        dispatcher.remove_handler("ray_print_logs")
        dispatcher.add_handler("ray_print_logs", printer)
