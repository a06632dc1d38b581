"""The loop's data cache (kept by a reused Tune actor) and its checkpoint predicate, without Ray."""

from __future__ import annotations

from typing import Any

import pytest

from raynn.config import check_config
from raynn.training.loop import DataCache, Env, run_training
from raynn.tune.trial import checkpoint_policy


def _cfg(**train: Any) -> dict[str, Any]:
    return check_config({"data": {"name": "digits", "preprocess": "standardize"},
                         "model": {"name": "mlp", "params": {"hidden": [32]}},
                         "train": {"epochs": 3, "batch_size": 64, "num_threads": 1, **train}})


def test_data_cache_keeps_the_last_maxsize_keys() -> None:
    cache, made = DataCache(maxsize=2), []

    def make(key: str) -> Any:
        return lambda: made.append(key) or key.upper()

    assert [cache.get(k, make(k)) for k in ["a", "b", "a", "c", "b", "a"]] == ["A", "B", "A", "C", "B", "A"]
    # a, b made; a hit; c evicts b (a was used more recently); b made again, evicting a; a made again
    assert made == ["a", "b", "c", "b", "a"]
    assert (cache.hits, cache.misses, len(cache)) == (1, 5, 2)
    with pytest.raises(ValueError, match="maxsize"):
        DataCache(maxsize=0)


def test_a_cached_data_config_trains_exactly_like_a_fresh_one() -> None:
    cache = DataCache()
    quiet = {"log": lambda line: None}
    fresh = run_training(_cfg(), Env(**quiet))
    first = run_training(_cfg(), Env(data_cache=cache, **quiet))
    second = run_training(_cfg(), Env(data_cache=cache, **quiet))
    assert (cache.misses, cache.hits) == (1, 1)
    losses = [[m["val_loss"] for m in run] for run in (fresh, first, second)]
    assert losses[0] == losses[1] == losses[2]


def test_checkpoints_only_where_asked_and_at_the_last_epoch() -> None:
    reported: list[tuple[int, bool]] = []
    env = Env(log=lambda line: None, checkpoint_at=lambda epoch: epoch == 2,
              report=lambda metrics, ckpt: reported.append((metrics["epoch"], ckpt is not None)))
    run_training(_cfg(epochs=4), env)
    assert reported == [(1, False), (2, True), (3, False), (4, True)]


def test_checkpoint_policy_is_rungs_plus_every_n_epochs() -> None:
    at = checkpoint_policy([1, 3, 9, 27], every=10)
    assert [e for e in range(1, 31) if at(e)] == [1, 3, 9, 10, 20, 27, 30]
    assert [e for e in range(1, 31) if checkpoint_policy([1, 3, 9], every=0)(e)] == [1, 3, 9]
