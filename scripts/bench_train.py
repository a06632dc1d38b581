"""Training throughput: raynn's loop against a plain hand-written PyTorch loop, side by side in one run.

Same data (the real MNIST test-set files, standardized once, seeded split), same model (an MLP built by
raynn.nn.build_model and initialized identically), same optimizer (SGD with momentum), same batch. Both run in
this process with the same thread count, alternating round by round so machine noise hits both alike; the
table quotes medians of the per-epoch training throughput and their ratio (target: raynn / plain >= 0.95).
A second baseline, the leanest hand-written loop (a sliced random permutation, no DataLoader), shows how
much headroom is left. A second pair measures the DataLoader path of your own data set (``data.class_path``: a
map-style Dataset read one sample at a time, scripts/_user_data.py) against a hand-written loop over a
DataLoader of the same Dataset and the same training split (target >= 0.95 as well). With --workers N it then runs the same model data-parallel on a local Ray instance (gloo) and quotes its
global samples/s.

    python scripts/bench_train.py [--rounds 5] [--epochs 2] [--batch 128] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from raynn.config import check_config, parse_config
from raynn.data import build_preprocessor, load_dataset, split_dataset
from raynn.nn import build_model, model_spec
from raynn.training.loop import Env, run_training

def config(args: argparse.Namespace, workers: int = 1, **train: object) -> dict:
    return check_config({
        "seed": 0,
        "data": {"name": "mnist", "preprocess": "standardize"},  # the bundled test set
        "model": {"name": "mlp", "params": {"hidden": [256, 128]}},
        "optimizer": {"name": "momentum", "lr": 0.05},
        "scaling": {"reference_batch": args.batch * workers, "warmup_epochs": 0},
        "train": {"epochs": args.epochs, "batch_size": args.batch, "workers": workers, "num_threads": args.threads,
                  **train},
    })


def raynn_round(cfg: dict) -> list[float]:
    history = run_training(cfg, Env(log=lambda line: None))
    return [h["samples_per_s"] for h in history]


def plain_round(cfg: dict, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """What a user would write by hand: DataLoader, forward, cross-entropy, backward, step."""
    return loader_round(cfg, tuple(x.shape[1:]),
                        DataLoader(TensorDataset(x, y), batch_size=cfg["train"]["batch_size"], shuffle=True))


def loader_round(cfg: dict, in_shape: tuple[int, ...], loader: DataLoader) -> list[float]:
    """The hand-written loop over ``loader``: per-epoch training samples/s."""
    torch.manual_seed(cfg["seed"])
    model = build_model(model_spec(parse_config(cfg)), in_shape, 10)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"], momentum=0.9)
    rates = []
    for _ in range(cfg["train"]["epochs"]):
        t0, seen = time.perf_counter(), 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            seen += len(yb)
        rates.append(seen / (time.perf_counter() - t0))
    return rates


def sliced_round(cfg: dict, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The leanest hand-written loop: no DataLoader, a random permutation sliced into batches; under bf16
    autocast and with ``accumulate`` micro-batches per update when the config says so (as Accelerate's
    ``accumulate()`` does it: loss / A, one step per A micro-batches)."""
    torch.manual_seed(cfg["seed"])
    model = build_model(model_spec(parse_config(cfg)), tuple(x.shape[1:]), 10)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"], momentum=0.9)
    batch, rates = cfg["train"]["batch_size"], []
    accumulate, bf16 = cfg["train"]["accumulate"], cfg["train"]["precision"] == "bf16"
    for _ in range(cfg["train"]["epochs"]):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x))
        for j, i in enumerate(range(0, len(x), batch)):
            idx = perm[i : i + batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(x[idx])
            loss = F.cross_entropy(logits.float(), y[idx])
            (loss / accumulate).backward()
            if (j + 1) % accumulate == 0 or i + batch >= len(x):
                opt.step()
                opt.zero_grad()
        rates.append(len(x) / (time.perf_counter() - t0))
    return rates


def user_config(args: argparse.Namespace) -> dict:
    return check_config({
        "seed": 0,
        "data": {"class_path": "_user_data.MnistSamples", "preprocess": "none"},
        "model": {"name": "mlp", "params": {"hidden": [256, 128]}},
        "optimizer": {"name": "momentum", "lr": 0.05},
        "scaling": {"reference_batch": args.batch, "warmup_epochs": 0},
        "train": {"epochs": args.epochs, "batch_size": args.batch, "num_threads": args.threads},
    })


def plain_dataset_round(cfg: dict, dataset: Dataset, indices: list[int]) -> list[float]:
    """A hand-written loop over a DataLoader of the user's Dataset (its training split), shuffled."""
    return loader_round(cfg, (1, 28, 28), DataLoader(Subset(dataset, indices), batch_size=cfg["train"]["batch_size"],
                                                     shuffle=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="0 skips the data-parallel run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = config(args)
    data = load_dataset("mnist", seed=0)
    train, _ = split_dataset(data, cfg["data"]["val_fraction"], seed=0)
    x = build_preprocessor("standardize").fit(train.x).transform(train.x)

    ours, plain, sliced = [], [], []
    for _ in range(args.rounds):
        ours += raynn_round(cfg)
        plain += plain_round(cfg, x, train.y)
        sliced += sliced_round(cfg, x, train.y)
    mo, mp, ms = statistics.median(ours), statistics.median(plain), statistics.median(sliced)
    print(f"MNIST MLP 784-256-128-10, batch {args.batch}, {len(train)} training images, {args.threads} thread(s), "
          f"{args.rounds} rounds x {args.epochs} epochs")
    print(f"{'loop':<28}{'median samples/s':>18}{'min':>10}{'max':>10}")
    print(f"{'plain PyTorch (baseline)':<28}{mp:>18.0f}{min(plain):>10.0f}{max(plain):>10.0f}")
    print(f"{'plain PyTorch, sliced':<28}{ms:>18.0f}{min(sliced):>10.0f}{max(sliced):>10.0f}")
    print(f"{'raynn, 1 process':<28}{mo:>18.0f}{min(ours):>10.0f}{max(ours):>10.0f}")
    print(f"ratio raynn / plain DataLoader loop: {mo / mp:.3f}; raynn / sliced loop: {mo / ms:.3f} (target >= 0.95)")

    # bf16 autocast on the CPU, and 4 accumulated micro-batches per update: against the sliced loop doing the same.
    for label, extra in [("bf16 autocast", {"precision": "bf16"}),
                         ("accumulate 4 x batch/4", {"accumulate": 4})]:
        c = config(args, **extra)
        if "accumulate" in extra:
            c["train"]["batch_size"] = args.batch // 4
        ours_x, sliced_x = [], []
        for _ in range(args.rounds):
            ours_x += raynn_round(c)
            sliced_x += sliced_round(c, x, train.y)
        a, b = statistics.median(ours_x), statistics.median(sliced_x)
        print(f"{label + ': sliced loop':<28}{b:>18.0f}{min(sliced_x):>10.0f}{max(sliced_x):>10.0f}")
        print(f"{label + ': raynn':<28}{a:>18.0f}{min(ours_x):>10.0f}{max(ours_x):>10.0f}")
        print(f"ratio raynn / hand-written loop, {label}: {a / b:.3f} (target >= 0.95)")

    # Your own Dataset (data.class_path): both loops read it through a DataLoader, one sample at a time.
    from _user_data import MnistSamples
    from raynn.data.user import load_user_data

    ucfg = user_config(args)
    split = load_user_data(parse_config(ucfg).data, seed=0).train
    own, hand = [], []
    for _ in range(args.rounds):
        own += raynn_round(ucfg)
        hand += plain_dataset_round(ucfg, MnistSamples(), split.indices)
    mu, mh = statistics.median(own), statistics.median(hand)
    print(f"{'your Dataset: plain loop':<28}{mh:>18.0f}{min(hand):>10.0f}{max(hand):>10.0f}")
    print(f"{'your Dataset: raynn':<28}{mu:>18.0f}{min(own):>10.0f}{max(own):>10.0f}")
    print(f"ratio raynn / plain loop over the same DataLoader path: {mu / mh:.3f} (target >= 0.95)")

    if args.workers > 1:
        from raynn.api import train as raynn_train

        with tempfile.TemporaryDirectory() as storage:
            dp = config(args, workers=args.workers) | {"storage": storage}
            dp["train"]["epochs"] = max(3, args.epochs)
            result = raynn_train(dp)
            rates = [h["samples_per_s"] for h in result.history[1:]]  # the first epoch includes warm-up
            print(f"{f'raynn, {args.workers} Ray Train workers':<28}{statistics.median(rates):>18.0f}"
                  f"{min(rates):>10.0f}{max(rates):>10.0f}   (global samples/s, gloo, {args.threads} thread each)")


if __name__ == "__main__":
    main()
