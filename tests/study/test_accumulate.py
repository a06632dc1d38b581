"""``raynn study large-batch --accumulate A``: the same global batches from fewer workers, A micro-batches each."""

from __future__ import annotations

import pytest

from raynn.config import parse_config
from raynn.errors import ConfigError
from raynn.scaling import plan_scaling
from raynn.study import study
from raynn.study.generators import iters_per_epoch
from raynn.study.spec import load_study


def test_accumulation_reaches_the_same_global_batch_with_the_updates_as_iterations() -> None:
    plain = {r.label: r for r in load_study("large-batch", workers=2).runs}
    acc = {r.label: r for r in load_study("large-batch", workers=1,
                                          patch={"runs": {"generate": {"accumulate": 4}}}).runs}
    assert plain.keys() == acc.keys()
    for label, run in acc.items():
        train, ref = run.config["train"], plain[label].config["train"]
        assert train["workers"] == 1 and train["accumulate"] == 4
        assert train["batch_size"] * 4 == ref["batch_size"] * ref["workers"]  # k x reference either way
        updates = -(-iters_per_epoch(1438, train["batch_size"], 1) // 4)
        plan = plan_scaling(parse_config(run.config), updates)
        assert plan.global_batch == train["batch_size"] * 4 and plan.lr == plan_scaling(
            parse_config(plain[label].config), iters_per_epoch(1438, ref["batch_size"], 2)).lr


def test_accumulate_is_refused_where_no_generator_makes_the_runs() -> None:
    with pytest.raises(ConfigError, match="--accumulate: must be used with a study whose runs are generated"):
        study("momentum", accumulate=2)
    with pytest.raises(ConfigError, match="--accumulate: must be an integer >= 1"):
        study("large-batch", accumulate=0)
