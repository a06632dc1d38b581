"""A thin Ray Tune ``Searcher`` around raynn's pure searchers (:mod:`raynn.hpo.searchers`): Tune's
``suggest`` / ``on_trial_result`` / ``on_trial_complete`` become the core's ``suggest`` /
``on_result(trial, resource, value)`` / ``on_complete``, the resource being the reported ``epoch``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ray.tune.search import Searcher

from raynn.faults import fault_point
from raynn.hpo.ledger import as_resource
from raynn.hpo.searchers import Searcher as CoreSearcher

__all__ = ["RaynnSearcher"]


class RaynnSearcher(Searcher):
    """Ray Tune searcher over a :class:`raynn.hpo.searchers.Searcher`.

    Args:
        core: The pure searcher (grid, random, Optuna GP or TPE).
        metric: The metric the trainable reports (``val_loss``).
        mode: ``"min"`` or ``"max"``.
        resource_attr: The cumulative resource the trainable reports (``epoch``).
    """

    def __init__(self, core: CoreSearcher, metric: str, mode: str, resource_attr: str = "epoch") -> None:
        super().__init__(metric=metric, mode=mode)
        self.core = core
        self.resource_attr = resource_attr

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        # The space is raynn's own (the core's); Tune's param_space stays empty.
        return (metric is None or metric == self.metric) and (mode is None or mode == self.mode)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        params = self.core.suggest(trial_id)
        return Searcher.FINISHED if params is None else params

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if self._complete(trial_id):
            # A store of the searcher's own (Optuna's SQLite) runs ahead of Tune's snapshot: after the driver
            # was killed right after telling it a trial's end, `--resume` runs that trial again from Tune's
            # older snapshot. What the searcher was told stands; raising here crashed the resumed experiment.
            return
        resource = as_resource(result.get(self.resource_attr))  # the one rule for a reported epoch
        if self.metric in result and resource is not None:
            self.core.on_result(trial_id, resource, float(result[self.metric]))
        fault_point("result")

    def _complete(self, trial_id: str) -> bool:
        try:
            return self.core.is_complete(trial_id)
        except ValueError:  # not a trial of this searcher's
            return False

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self.core.trial_ids:
            self.core.on_complete(trial_id, error=error)
            fault_point("searcher-told")

    def save(self, checkpoint_path: str) -> None:
        tmp = checkpoint_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.core.state_dict(), f)
        fault_point("snapshot")  # Tune's save_to_dir: its trial states written, this file and callbacks' next
        os.replace(tmp, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            self.core.load_state_dict(json.load(f))
