"""Record the P3 table of ``scripts/bench_search.py``: real learning curves of raynn's own loop.

Every configuration of a 5-key factorial space on scikit-learn's digits (an MLP trained with momentum SGD,
6 x 2 x 3 x 3 x 3 = 324 configurations) is trained for R = 27 epochs in this process (no Ray), and every
epoch's validation loss is kept. The data is the search part of digits (``_digits_holdout.py``: 80%, through
raynn's own-data-set path); the other 20% is held out. A configuration that diverges (a non-finite loss:
raynn's loop stops it) keeps the epochs it finished and is marked ``diverged``. The table is what
``bench_search.py --problem p3`` replays: a searcher's suggestion is a row, a trial's result at ``r`` epochs is
the row's ``r``-th loss.

Every configuration is also retrained to R with 3 fresh seeds (new initialisation, batch order and validation
split) and scored on the held-out part, which no search sees: ``held_out_loss`` and ``held_out_acc`` (None for
a seed that diverged). The benchmark reports them for the configuration each method picked: how good the
pick is beyond the luck of one noisy validation curve (the winner's curse).

    python scripts/record_search_table.py --shard 0/2 &   # two processes on two cores
    python scripts/record_search_table.py --shard 1/2 &
    python scripts/record_search_table.py --merge          # -> scripts/data/search_table_digits.json.gz

The file is ~40 KB: losses rounded to 5 significant digits. ~20 minutes on two cores.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "scripts" / "data" / "search_table_digits.json.gz"
R = 27
SEED = 0
RETRAIN_SEEDS = (1, 2, 3)

SPACE: dict[str, Any] = {
    "base": {
        "data": {"class_path": "_digits_holdout.search_part", "preprocess": "standardize"},
        "model": {"name": "mlp", "activation": "relu"},
        "optimizer": {"name": "momentum"},
        "train": {"epochs": R, "batch_size": 64, "num_threads": 1},
    },
    "space": {
        "optimizer.lr": {"type": "grid", "values": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]},
        "optimizer.params.momentum": {"type": "grid", "values": [0.9, 0.99]},
        "train.batch_size": {"type": "grid", "values": [16, 64, 256]},
        "model.params.hidden": {"type": "grid", "values": [[32], [128, 64], [512, 256]]},
        "model.dropout": {"type": "grid", "values": [0.0, 0.25, 0.5]},
    },
}


def configurations() -> list[dict[str, Any]]:
    from raynn.hpo.spaces import SearchSpace

    return SearchSpace.from_dict(SPACE, check=False).grid_points()


def _config(params: dict[str, Any], seed: int) -> Any:
    from raynn.config import apply_overrides, check_config
    from raynn.hpo.spaces import SearchSpace

    return check_config(apply_overrides(SearchSpace.from_dict(SPACE, check=False).apply(params), [f"seed={seed}"]))


def _curve(params: dict[str, Any]) -> tuple[list[float], bool]:
    """Validation losses of every epoch at seed ``SEED``, and whether the run diverged."""
    from raynn.training.loop import Env, run_training

    losses: list[float] = []
    history = run_training(_config(params, SEED), Env(report=lambda m, c: losses.append(float(m["val_loss"])),
                                                      log=lambda line: None, checkpoint_at=lambda e: False))
    return losses, bool(history and history[-1].get("diverged"))


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.5g}")


def curve(params: dict[str, Any]) -> dict[str, Any]:
    """One row: the curve on the search part (seed 0), then the held-out scores of 3 fresh-seed retrains."""
    from _digits_holdout import held_out_score

    losses, diverged = _curve(params)
    scores = [held_out_score(_config(params, seed)) for seed in RETRAIN_SEEDS]
    return {"params": params, "val_loss": [_round(v) for v in losses], "diverged": diverged,
            "held_out_loss": [_round(s[0]) if s else None for s in scores],
            "held_out_acc": [_round(s[1]) if s else None for s in scores]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shard", default="0/1", help="i/n: record every n-th configuration from the i-th")
    ap.add_argument("--merge", action="store_true", help="merge the shards into the table file")
    ap.add_argument("--limit", type=int, default=None, help="only the first LIMIT configurations (timing)")
    args = ap.parse_args()
    configs = configurations()
    if args.merge:
        rows: list[dict[str, Any]] = []
        for part in sorted(TABLE.parent.glob("search_table_shard*.json")):
            rows += json.loads(part.read_text())
        index = {json.dumps(c, sort_keys=True): i for i, c in enumerate(configs)}
        rows.sort(key=lambda row: index[json.dumps(row["params"], sort_keys=True)])
        if len(rows) != len(configs):
            raise SystemExit(f"{len(rows)} rows recorded, but the space has {len(configs)} configurations")
        doc = {"space": SPACE, "R": R, "seed": SEED, "retrain_seeds": list(RETRAIN_SEEDS), "rows": rows}
        with gzip.open(TABLE, "wt") as f:
            json.dump(doc, f, separators=(",", ":"))
        print(f"{TABLE}: {len(rows)} curves, {TABLE.stat().st_size} bytes")
        return
    i, n = (int(p) for p in args.shard.split("/"))
    mine = list(itertools.islice(configs, i, None, n))[: args.limit]
    out = TABLE.parent / f"search_table_shard{i}of{n}.json"
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {json.dumps(r["params"], sort_keys=True) for r in rows}
    start = time.perf_counter()
    for k, params in enumerate(mine):
        if json.dumps(params, sort_keys=True) in done:
            continue
        rows.append(curve(params))
        out.write_text(json.dumps(rows))
        took = time.perf_counter() - start
        print(f"{k + 1}/{len(mine)} {took:.0f}s {params} -> {rows[-1]['val_loss'][-1]}", flush=True)


if __name__ == "__main__":
    main()
