"""``raynn tune`` end to end: bad input refused before Ray starts, a real search on digits, no leaked resources."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from raynn.errors import ConfigError
from raynn.hpo.spaces import SearchSpace
from raynn.tune.run import run_tune

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [32]}},
             "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
              "model.dropout": {"type": "float", "low": 0.0, "high": 0.3}},
}


def _raynn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raynn.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scheduler", "median"], "--scheduler: must be one of asha, curve, fifo, hyperband, sh, got 'median'"),
        (["--searcher", "bohb"], "--searcher: must be one of"),
        (["--scheduler", "sh", "--budget", "2", "--num-samples", "8"], "--budget:"),
        (["--scheduler", "sh"], "--budget: must be given for successive halving"),
        (["--num-samples", "0"], "--num-samples: must be an integer >= 1, got 0"),
        (["--resume"], "SPACE: is not taken with --resume"),
    ],
)
def test_bad_tune_input_exits_2_before_anything_starts(tmp_path: Path, args: list[str], needle: str) -> None:
    space = tmp_path / "space.yaml"
    import yaml

    space.write_text(yaml.safe_dump(SPACE))
    proc = _raynn("tune", str(space), "--storage", "out", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def test_empty_space_is_refused(tmp_path: Path) -> None:
    space = tmp_path / "empty.yaml"
    space.write_text("base: {}\nspace: {}\n")
    proc = _raynn("tune", str(space), cwd=tmp_path)
    assert proc.returncode == 2 and "space" in proc.stderr and "Traceback" not in proc.stderr


def test_sh_budget_too_small_for_one_round_names_the_rule() -> None:
    with pytest.raises(ConfigError, match="budget"):
        run_tune(SearchSpace.from_dict(SPACE), scheduler="sh", budget=2, num_samples=8)


def _wait_for_released_resources(timeout: float = 60.0) -> tuple[dict, dict]:
    import ray

    deadline = time.monotonic() + timeout
    while True:
        total, free = ray.cluster_resources(), ray.available_resources()
        if free.get("CPU") == total.get("CPU") or time.monotonic() > deadline:
            return total, free
        time.sleep(0.5)


@pytest.mark.ray
def test_hyperband_with_gp_on_digits_end_to_end(ray_session: None, tmp_path: Path) -> None:
    result = run_tune(SearchSpace.from_dict(SPACE), scheduler="hyperband", searcher="optuna-gp",
                      storage=tmp_path, name="hb-gp", max_concurrent=2, verbose=False, seed=1)
    # HyperBand R=3, eta=3: bracket s=1 (3 configs at 1 epoch, the best to 3), bracket s=0 (2 configs at 3).
    assert len(result.curves) == 5
    reached = sorted(max(e for e, _ in c) for c in result.curves.values())
    assert reached == [1, 1, 3, 3, 3]
    for curve in result.curves.values():  # resumed from checkpoints: epochs never repeat or restart
        epochs = [e for e, _ in curve]
        assert epochs == list(range(1, len(epochs) + 1))
    assert result.ledger.spent == sum(reached) <= result.ledger.planned
    assert sorted(result.trial_rungs.values()) == [[1, 3]] * 3 + [[3]] * 2  # each trial at its bracket's rungs
    assert result.best_value is not None and result.best_value < 1.0
    assert result.best_config["train"]["epochs"] == 3 and Path(result.best_checkpoint).exists()
    exp = Path(result.path)
    for name in ("results.csv", "curves.png", "rungs.png", "optuna.db", "summary.json"):
        assert (exp / name).exists(), name
    assert (exp / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((exp / "results.csv").read_text().strip().splitlines()) == 6
    total, free = _wait_for_released_resources()
    assert free.get("CPU") == total.get("CPU")
