"""raynn/tune/gate.py: the concurrency gate, alone, against Tune's own search-algorithm classes (no Ray session)."""

from __future__ import annotations

from typing import Any

from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator, Searcher

from raynn.tune.gate import ConcurrencyGate


class _Searcher(Searcher):
    """A deterministic searcher: suggests {"x": i} for the i-th trial."""

    def __init__(self) -> None:
        super().__init__(metric="loss", mode="min")
        self.count = 0

    def suggest(self, trial_id: str) -> dict[str, Any]:
        self.count += 1
        return {"x": self.count}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        pass


def test_basic_variant_generator_slots_are_its_live_trial_set() -> None:
    search_alg = BasicVariantGenerator(max_concurrent=2)
    gate = ConcurrencyGate.of(search_alg)
    assert gate is not None and gate.limit == 2 and gate.used == 0
    gate.take("a")
    gate.take("a")  # taking twice holds one slot
    gate.take("b")
    assert gate.used == 2 and gate.holds("a")
    gate.free("a")  # a trial paused at a rung gives its slot back
    gate.free("a")
    assert not gate.holds("a") and gate.used == 1
    assert gate.live is search_alg._live_trials  # the generator itself sees the change


def test_no_limit_means_no_gate() -> None:
    assert ConcurrencyGate.of(BasicVariantGenerator()) is None
    assert ConcurrencyGate.of(None) is None
    assert ConcurrencyGate.of(SearchGenerator(_Searcher())) is None  # a searcher without a limiter


def test_a_concurrency_limiter_counts_follow_its_live_set() -> None:
    limiter = ConcurrencyLimiter(_Searcher(), max_concurrent=3)
    gate = ConcurrencyGate.of(SearchGenerator(limiter))
    assert gate is not None and gate.limit == 3
    assert limiter.suggest("t1") == {"x": 1} and limiter.suggest("t2") == {"x": 2}
    assert gate.used == 2 and limiter.num_unfinished_live_trials == 2
    gate.free("t1")
    assert limiter.num_unfinished_live_trials == 1 and "t1" not in limiter.live_trials
    assert limiter.suggest("t3") == {"x": 3} and limiter.suggest("t4") == {"x": 4}  # the freed slot is used
    assert limiter.suggest("t5") is None  # three live: full
    gate.take("t1")  # promoted: it holds a slot again, and the limiter will free it on completion
    assert limiter.num_unfinished_live_trials == 4 and "t1" in limiter.live_trials
    limiter.on_trial_complete("t1")
    assert limiter.num_unfinished_live_trials == 3


def test_batch_mode_is_left_alone() -> None:
    assert ConcurrencyGate.of(SearchGenerator(ConcurrencyLimiter(_Searcher(), max_concurrent=2, batch=True))) is None
