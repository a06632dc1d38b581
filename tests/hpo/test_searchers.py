"""Searchers: the ask/tell protocol, grid and random search, Optuna's per-rung studies, resume, BO vs random.

Objectives are synthetic with a known optimum at lr = 0.01: ``f(lr, r) = (log10 lr + 2)^2 + 1 / r`` plus a
dropout term, where ``r`` is the resource (a lower fidelity reads worse). GP asks cost ~0.2 s: runs are short.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from raynn.config import check_config
from raynn.hpo import (
    SEARCHERS,
    GridSearcher,
    OptunaSearcher,
    RandomSearcher,
    SearchSpace,
    build_searcher,
)
from raynn.hpo.spaces import Categorical, FloatRange, IntRange

SPACE = SearchSpace(
    {"optimizer.lr": FloatRange(1e-4, 1.0, log=True), "model.dropout": FloatRange(0.0, 0.5)},
    base={"train": {"epochs": 3}},
)
LR_ONLY = SearchSpace({"optimizer.lr": FloatRange(1e-5, 1.0, log=True)})


def objective(params: dict[str, Any], resource: int = 1) -> float:
    dropout = params.get("model.dropout", 0.1)
    return (math.log10(params["optimizer.lr"]) + 2) ** 2 + (dropout - 0.1) ** 2 + 1.0 / resource


def run_trials(searcher: Any, ids: list[str], resources: tuple[int, ...] = (1, 2, 3)) -> list[dict[str, Any]]:
    """Suggest each id, report at every resource, complete it; the suggestions in order."""
    out = []
    for tid in ids:
        params = searcher.suggest(tid)
        out.append(params)
        for r in resources:
            searcher.on_result(tid, r, objective(params, r))
        searcher.on_complete(tid)
    return out


def completed(study: optuna.study.Study) -> dict[str, float]:
    return {t.user_attrs["raynn_trial_id"]: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}


# ------------------------------------------------------------------------------------------------------------
# The registry and the protocol.


def test_registry_names_and_unknown_name() -> None:
    assert SEARCHERS.names() == ["grid", "optuna-gp", "optuna-mfgp", "optuna-tpe", "random"]
    with pytest.raises(
        ValueError, match="unknown searcher 'bayes'; valid names: grid, optuna-gp, optuna-mfgp, optuna-tpe, random"
    ):
        build_searcher("bayes", SPACE)


def test_build_searcher_rejects_unknown_options() -> None:
    with pytest.raises(ValueError, match="unknown option.*'rungs'.*valid options: seed, num_samples"):
        build_searcher("random", SPACE, rungs=[1, 3])
    assert SEARCHERS.get("optuna-gp").options() == [
        "seed",
        "storage_path",
        "mode",
        "rungs",
        "min_points",
        "study_name",
    ]


@pytest.mark.parametrize("name", SEARCHERS.names())
def test_every_searcher_suggests_configs_that_pass_check_config(name: str) -> None:
    space = SearchSpace(
        {
            "optimizer.lr": FloatRange(1e-3, 0.5, log=True, grid_points=2),
            "train.batch_size": IntRange(16, 128, log=True, grid=(16, 128)),
            "model.params.hidden": Categorical(([64], [128, 64])),
        }
    )
    options: dict[str, Any] = {} if name == "grid" else {"seed": 0}
    if name.startswith("optuna"):
        options |= {"rungs": [1, 3]}  # studies in memory; the SQLite file is tested below
    searcher = build_searcher(name, space, **options)
    for i in range(4):
        tid = f"t{i}"
        params = searcher.suggest(tid)
        assert params is not None and space.normalize(params) == params
        assert searcher.params(tid) == params
        check_config(searcher.config(tid))
        searcher.on_result(tid, 1, 1.0 / (i + 1))
        searcher.on_complete(tid)
    assert searcher.trial_ids == ["t0", "t1", "t2", "t3"]


def test_protocol_errors() -> None:
    searcher = RandomSearcher(SPACE, seed=0)
    searcher.suggest("a")
    with pytest.raises(ValueError, match="must be new"):
        searcher.suggest("a")
    with pytest.raises(ValueError, match="unknown trial 'b'"):
        searcher.on_result("b", 1, 0.5)
    with pytest.raises(ValueError, match="non-empty string"):
        searcher.suggest("")
    with pytest.raises(ValueError, match="resource"):
        searcher.on_result("a", 0, 0.5)
    searcher.on_complete("a")
    searcher.on_complete("a")  # a stop, then the end: the second is ignored
    assert searcher.is_complete("a")
    with pytest.raises(ValueError, match="complete"):
        searcher.on_result("a", 2, 0.5)


# ------------------------------------------------------------------------------------------------------------
# Grid and random search.


def test_grid_enumerates_the_product_once_then_none() -> None:
    space = SearchSpace(
        {
            "optimizer.lr": FloatRange(0.01, 0.1, log=True, grid_points=2),
            "optimizer.name": Categorical(("momentum", "nesterov", "adam")),
        }
    )
    searcher = GridSearcher(space)
    assert len(searcher) == 6
    seen = [searcher.suggest(f"t{i}") for i in range(6)]
    assert seen == [
        {"optimizer.lr": lr, "optimizer.name": name}
        for lr in (0.01, 0.1)
        for name in ("momentum", "nesterov", "adam")
    ]
    assert searcher.suggest("t6") is None
    assert searcher.suggest("t7") is None


def test_grid_state_dict_continues() -> None:
    space = SearchSpace({"optimizer.name": Categorical(("momentum", "nesterov", "adam"))})
    a = GridSearcher(space)
    a.suggest("t0")
    b = GridSearcher(space)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.suggest("t1") == {"optimizer.name": "nesterov"} == a.suggest("t1")
    with pytest.raises(ValueError, match="other arguments"):
        GridSearcher(SearchSpace({"optimizer.name": Categorical(("sgd",))})).load_state_dict(a.state_dict())


def test_grid_needs_grid_values_for_float_keys() -> None:
    with pytest.raises(ValueError, match="'optimizer.lr' has neither"):
        GridSearcher(SPACE)


def test_random_is_reproducible_per_seed_and_exhausts() -> None:
    first = [RandomSearcher(SPACE, seed=7).suggest("t") for _ in range(2)]
    assert first[0] == first[1]
    a, b = RandomSearcher(SPACE, seed=7), RandomSearcher(SPACE, seed=8)
    seq_a = [a.suggest(f"t{i}") for i in range(5)]
    assert seq_a != [b.suggest(f"t{i}") for i in range(5)]
    assert seq_a == [RandomSearcher(SPACE, seed=7).suggest("x")] + seq_a[1:]
    limited = RandomSearcher(SPACE, seed=0, num_samples=2)
    assert limited.suggest("a") is not None and limited.suggest("b") is not None
    assert limited.suggest("c") is None
    with pytest.raises(ValueError, match="num_samples"):
        RandomSearcher(SPACE, num_samples=0)
    with pytest.raises(ValueError, match="seed"):
        RandomSearcher(SPACE, seed=-1)


def test_random_is_log_uniform_and_never_uses_the_global_rng() -> None:
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    searcher = RandomSearcher(LR_ONLY, seed=1)
    lrs = np.array([searcher.suggest(f"t{i}")["optimizer.lr"] for i in range(1000)])
    assert (np.random.get_state()[1] == before).all()
    assert lrs.min() >= 1e-5 and lrs.max() <= 1.0
    # log-uniform on [1e-5, 1]: each decade holds ~1/5 of the draws.
    counts = np.histogram(np.log10(lrs), bins=5, range=(-5, 0))[0]
    assert counts.min() > 150 and counts.max() < 250


def test_random_state_dict_continues_the_same_sequence() -> None:
    a = RandomSearcher(SPACE, seed=3)
    run_trials(a, ["t0", "t1"])
    state = json.loads(json.dumps(a.state_dict()))  # JSON-serialisable, generator state included
    b = RandomSearcher(SPACE, seed=3)
    b.load_state_dict(state)
    assert b.trial_ids == ["t0", "t1"] and b.is_complete("t0")
    assert [b.suggest(f"u{i}") for i in range(3)] == [a.suggest(f"u{i}") for i in range(3)]


# ------------------------------------------------------------------------------------------------------------
# Optuna: one study per rung.


def test_importing_raynn_hpo_does_not_import_optuna() -> None:
    code = "import sys, raynn.hpo; sys.exit(1 if 'optuna' in sys.modules else 0)"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"raynn.hpo imported optuna (or failed): {result.stderr}"


def test_optuna_searcher_direction_and_pickle() -> None:
    s = OptunaSearcher(SPACE, sampler="tpe", mode="max", rungs=[1, 3])
    assert all(s.study(r).direction == optuna.study.StudyDirection.MAXIMIZE for r in (1, 3))
    run_trials(s, ["a"])
    restored = pickle.loads(pickle.dumps(s))  # Ray may pickle a search algorithm
    assert restored.trial_ids == ["a"] and restored.observations() == {1: 1, 3: 1}


def test_optuna_constructor_checks_arguments() -> None:
    with pytest.raises(ValueError, match="`sampler` must be one of gp, tpe"):
        OptunaSearcher(SPACE, sampler="cmaes")
    with pytest.raises(ValueError, match="increasing integers"):
        OptunaSearcher(SPACE, rungs=[3, 1])
    with pytest.raises(ValueError, match="min_points"):
        OptunaSearcher(SPACE, min_points=0)
    with pytest.raises(ValueError, match="mode"):
        OptunaSearcher(SPACE, mode="minimize")


def test_per_rung_bookkeeping() -> None:
    s = OptunaSearcher(SPACE, sampler="gp", seed=0, rungs=[1, 3, 9])
    assert s.min_points == 3  # d + 1 for d = 2 searched keys
    assert s.study_names == ["raynn-r1", "raynn-r3", "raynn-r9"]
    p = {tid: s.suggest(tid) for tid in ("t0", "t1", "t2")}
    assert s.proposing_level() == 0
    # t0 reports at 1, 2 (not a rung) and 3; t1 and t2 at rung 1 only.
    s.on_result("t0", 1, 0.5)
    s.on_result("t0", 2, 0.4)
    s.on_result("t0", 3, 0.3)
    s.on_result("t1", 1, 0.7)
    s.on_result("t2", 1, 0.6)
    s.on_result("t2", 1, 99.0)  # a resumed trial re-reports a rung: the first value stands
    assert completed(s.study(1)) == {"t0": 0.5, "t1": 0.7, "t2": 0.6}
    assert completed(s.study(3)) == {"t0": 0.3}
    assert completed(s.study(9)) == {}
    # The value at resource 2 reached no study, as a value or otherwise.
    for rung in (1, 3, 9):
        assert all(0.4 not in (t.value, *t.intermediate_values.values()) for t in s.study(rung).get_trials())
    # Trials asked on rung 1 were told there (no duplicate), with the params they were asked with.
    assert len(s.study(1).get_trials()) == 3
    assert {t.user_attrs["raynn_trial_id"]: t.params for t in s.study(3).get_trials()} == {"t0": p["t0"]}
    assert s.observations() == {1: 3, 3: 1, 9: 0}
    assert s.proposing_level() == 0  # rung 3 has 1 < 3 values
    s.on_result("t1", 3, 0.65)
    s.on_result("t2", 3, 0.55)
    assert s.proposing_level() == 1  # rung 3 now has min_points = 3
    p3 = s.suggest("t3")
    running = s.study(3).get_trials(states=(TrialState.RUNNING,))
    assert [(t.user_attrs["raynn_trial_id"], t.params) for t in running] == [("t3", p3)]
    # t3 reaches rung 1 (added to rung 1's study) and is stopped there: its rung-3 trial becomes PRUNED.
    s.on_result("t3", 1, 0.9)
    assert completed(s.study(1))["t3"] == 0.9
    s.on_complete("t3")
    pruned = s.study(3).get_trials(states=(TrialState.PRUNED,))
    assert [t.user_attrs["raynn_trial_id"] for t in pruned] == ["t3"] and pruned[0].value is None
    assert s.observations() == {1: 4, 3: 3, 9: 0}
    for tid in ("t0", "t1", "t2"):
        s.on_complete(tid)
    assert all(not st.get_trials(states=(TrialState.RUNNING,)) for st in map(s.study, (1, 3, 9)))


def test_nan_at_a_rung_is_a_failed_trial_not_an_observation() -> None:
    s = OptunaSearcher(SPACE, sampler="tpe", storage_path=None, rungs=[1, 3])
    s.suggest("a")
    s.suggest("b")
    s.on_result("a", 1, float("nan"))
    s.on_result("b", 3, float("nan"))
    assert [t.state for t in s.study(1).get_trials()] == [TrialState.FAIL, TrialState.RUNNING]
    assert [t.state for t in s.study(3).get_trials()] == [TrialState.FAIL]
    assert s.observations() == {1: 0, 3: 0}


def test_single_fidelity_tells_the_last_value_at_completion() -> None:
    s = OptunaSearcher(SPACE, sampler="tpe", seed=0)
    assert s.study_names == ["raynn"]
    for tid in ("ok", "error", "silent"):
        s.suggest(tid)
    s.on_result("ok", 1, 2.0)
    s.on_result("ok", 2, 1.5)
    s.on_result("error", 1, 0.1)
    assert completed(s.study()) == {}  # nothing is told before the trial ends
    s.on_complete("ok")
    s.on_complete("error", error=True)
    s.on_complete("silent")
    states = {t.user_attrs["raynn_trial_id"]: t.state for t in s.study().get_trials()}
    assert states == {"ok": TrialState.COMPLETE, "error": TrialState.FAIL, "silent": TrialState.FAIL}
    assert completed(s.study()) == {"ok": 1.5}
    assert s.study().get_trials()[0].intermediate_values == {1: 2.0, 2: 1.5}


def test_seeded_runs_repeat_exactly(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        path = tmp_path / f"run{i}" / "optuna.db"
        s = OptunaSearcher(SPACE, sampler="gp", seed=5, storage_path=path, rungs=[1, 3], min_points=2)
        runs.append(run_trials(s, ["t0", "t1", "t2"], resources=(1, 3)))  # t2: from the GP on rung 3
    assert runs[0] == runs[1]
    other = OptunaSearcher(SPACE, sampler="gp", seed=6, storage_path=tmp_path / "other.db", rungs=[1, 3])
    assert run_trials(other, ["t0"]) != runs[0][:1]


def test_resume_from_the_sqlite_file_continues_exactly(tmp_path: Path) -> None:
    # GPSampler caches its fitted kernel between asks; a fresh sampler per ask is what makes this exact.
    # t0, t1 fill both rungs (min_points = 2): t2 (running across the restart), t3, t4 come from the GP.
    def make(path: Path, seed: int = 1) -> OptunaSearcher:
        return OptunaSearcher(SPACE, sampler="gp", seed=seed, storage_path=path, rungs=[1, 3], min_points=2)

    ids = [f"t{j}" for j in range(5)]
    whole = make(tmp_path / "whole.db")
    expected = run_trials(whole, ids, resources=(1, 3))

    path = tmp_path / "part.db"
    first = make(path)
    got = run_trials(first, ids[:2], resources=(1, 3))
    pending = first.suggest("t2")
    first.on_result("t2", 1, objective(pending, 1))  # t2 is still running when the driver stops
    del first
    again = OptunaSearcher.resume(path)
    assert again.trial_ids == ids[:3] and again.params("t2") == pending
    assert again.is_complete("t1") and not again.is_complete("t2")
    assert again.observations() == {1: 3, 3: 2} and again.proposing_level() == 1
    assert again.study(3).get_trials(states=(TrialState.RUNNING,))[0].user_attrs["raynn_trial_id"] == "t2"
    again.on_result("t2", 1, 123.0)  # re-reported after a restore: ignored
    again.on_result("t2", 3, objective(pending, 3))
    again.on_complete("t2")
    got += [pending, *run_trials(again, ids[3:], resources=(1, 3))]
    assert got == expected
    # The constructor on the same file with the same arguments continues too; other arguments are refused.
    same = make(path)
    assert same.trial_ids == ids and same.observations() == whole.observations()
    with pytest.raises(ValueError, match="other arguments"):
        make(path, seed=2)


def test_optuna_state_dict_points_at_the_file(tmp_path: Path) -> None:
    s = OptunaSearcher(SPACE, sampler="tpe", storage_path=tmp_path / "optuna.db", rungs=[1, 3])
    run_trials(s, ["a", "b"], resources=(1,))
    state = s.state_dict()
    assert state["storage_path"] == str((tmp_path / "optuna.db").resolve()) and state["study_name"] == "raynn"
    fresh = OptunaSearcher(SPACE, sampler="tpe", storage_path=tmp_path / "optuna.db", rungs=[1, 3])
    fresh.load_state_dict(state)
    assert fresh.trial_ids == ["a", "b"] and fresh.observations() == {1: 2, 3: 0}
    assert s.storage_url.startswith("sqlite:///") and s.storage_url.endswith("optuna.db")
    assert set(optuna.study.get_all_study_names(s.storage_url)) == {"raynn-r1", "raynn-r3"}
    with pytest.raises(ValueError, match="storage_path"):
        OptunaSearcher(SPACE, sampler="tpe").state_dict()


def test_gp_finds_the_optimum_better_than_random_search() -> None:
    """Algorithm 7.1 on f(lr) = (log10 lr + 2)^2: best of 8 trials, GP vs random, over the same 2 seeds."""
    gp_best, random_best = [], []
    for seed in (0, 1):
        gp = OptunaSearcher(LR_ONLY, sampler="gp", seed=seed)
        values = [objective(p, 1) - 1 for p in run_trials(gp, [f"t{i}" for i in range(8)], resources=(1,))]
        gp_best.append(min(values))
        rnd = RandomSearcher(LR_ONLY, seed=seed)
        random_best.append(min(objective(rnd.suggest(f"t{i}"), 1) - 1 for i in range(8)))
    assert np.mean(gp_best) < np.mean(random_best)
    assert max(gp_best) < 0.01  # within 0.1 decade of lr = 0.01


# ------------------------------------------------------------------------------------------------------------
# optuna-mfgp: one GP over configuration and fidelity.


def _mfgp_loss(params: dict[str, Any], r: int) -> float:
    return (math.log10(params["optimizer.lr"]) + 1.5) ** 2 + 1.0 / r


def _drive_mfgp(searcher: Any, start: int, stop: int) -> list[dict[str, Any]]:
    """Trials start..stop-1 one after another: every third is stopped after rung 1, trial 4 errors."""
    out = []
    for i in range(start, stop):
        tid = f"t{i}"
        params = searcher.suggest(tid)
        out.append(params)
        if i == 4:
            searcher.on_complete(tid, error=True)
            continue
        for r in ([1] if i % 3 == 0 else [1, 2, 3, 9]):
            searcher.on_result(tid, r, _mfgp_loss(params, r))
        searcher.on_complete(tid)
    return out


def test_mfgp_models_every_rung_and_stopped_and_failed_trials() -> None:
    searcher = build_searcher("optuna-mfgp", SPACE, seed=0, rungs=[1, 3, 9])
    _drive_mfgp(searcher, 0, 6)
    obs = searcher._observations()
    # t0, t3 stopped at rung 1 (1 value each); t1, t2, t5 at rungs 1, 3, 9 (resource 2 is no rung);
    # t4 failed before reporting: one worst observation at resource 0
    assert sorted((o.resource, o.value is None) for o in obs) == sorted(
        [(1, False)] * 5 + [(3, False)] * 3 + [(9, False)] * 3 + [(0, True)]
    )
    assert searcher.core.max_resource == 9


def test_mfgp_state_round_trip_continues_the_same_proposals() -> None:
    first = build_searcher("optuna-mfgp", SPACE, seed=3, rungs=[1, 3, 9])
    _drive_mfgp(first, 0, 10)
    state = json.loads(json.dumps(first.state_dict()))  # what Tune's snapshot holds
    rest = _drive_mfgp(first, 10, 14)
    resumed = build_searcher("optuna-mfgp", SPACE, seed=3, rungs=[1, 3, 9])
    resumed.load_state_dict(state)
    assert _drive_mfgp(resumed, 10, 14) == rest
    other = build_searcher("optuna-mfgp", SPACE, seed=4, rungs=[1, 3, 9])
    with pytest.raises(ValueError, match="other arguments"):
        other.load_state_dict(state)


def test_mfgp_seeded_runs_repeat_and_seeds_differ() -> None:
    runs = [_drive_mfgp(build_searcher("optuna-mfgp", SPACE, seed=s, rungs=[1, 3, 9]), 0, 12) for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_mfgp_mode_max_prefers_large_values() -> None:
    space = SearchSpace({"optimizer.lr": FloatRange(1e-3, 1.0, log=True)})
    searcher = build_searcher("optuna-mfgp", space, seed=0, rungs=[1, 3], mode="max", random_fraction=0.0)
    for i in range(14):
        p = searcher.suggest(f"t{i}")
        for r in (1, 3):
            searcher.on_result(f"t{i}", r, math.log10(p["optimizer.lr"]))  # accuracy-like: larger lr is better
        searcher.on_complete(f"t{i}")
    late = [searcher.params(f"t{i}")["optimizer.lr"] for i in range(9, 14)]
    assert float(np.median(late)) > 0.3


def test_mfgp_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="random_fraction"):
        build_searcher("optuna-mfgp", SPACE, seed=0, random_fraction=-0.1)
    with pytest.raises(ValueError, match="rungs"):
        build_searcher("optuna-mfgp", SPACE, seed=0, rungs=[3, 1])
