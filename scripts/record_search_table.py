"""Record the P3 table of ``scripts/bench_search.py``: real learning curves of raynn's own loop.

Every configuration of a 5-key factorial space on scikit-learn's digits (an MLP trained with momentum SGD,
6 x 2 x 3 x 3 x 3 = 324 configurations) is trained for R = 27 epochs in this process (no Ray), and every
epoch's validation loss is kept. A configuration that diverges (a non-finite loss: raynn's loop stops it) keeps
the epochs it finished and is marked ``diverged``. The table is what ``bench_search.py --problem p3`` replays:
a searcher's suggestion is a row, a trial's result at ``r`` epochs is the row's ``r``-th loss.

    python scripts/record_search_table.py --shard 0/2 &   # two processes on two cores
    python scripts/record_search_table.py --shard 1/2 &
    python scripts/record_search_table.py --merge          # -> scripts/data/search_table_digits.json.gz

The file is ~100 KB: losses rounded to 5 significant digits.
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

SPACE: dict[str, Any] = {
    "base": {
        "data": {"name": "digits", "preprocess": "standardize"},
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


def curve(params: dict[str, Any]) -> dict[str, Any]:
    from raynn.config import apply_overrides, check_config
    from raynn.hpo.spaces import SearchSpace
    from raynn.training.loop import Env, run_training

    space = SearchSpace.from_dict(SPACE, check=False)
    cfg = check_config(apply_overrides(space.apply(params), [f"seed={SEED}"]))
    losses: list[float] = []
    history = run_training(
        cfg, Env(report=lambda m, c: losses.append(float(m["val_loss"])), log=lambda line: None,
                 checkpoint_at=lambda e: False)
    )
    diverged = bool(history and history[-1].get("diverged"))
    return {"params": params, "val_loss": [float(f"{v:.5g}") for v in losses], "diverged": diverged}


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
        doc = {"space": SPACE, "R": R, "seed": SEED, "rows": rows}
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
