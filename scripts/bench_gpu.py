"""Training throughput on the run's device: raynn's loop against a hand-written AMP loop, fp32 / bf16 / fp16.

The device check of issue 21, prepared as one script: plain PyTorch and raynn's loop (no Ray), the same model
(torchvision's resnet18 by default), the same in-memory data through the same DataLoader, the same batch and
optimizer (SGD with momentum). Per precision it prints the median per-epoch training samples/s of both loops
(the first epoch, with cuDNN's autotuning, left out) and their ratio, and whether a step of raynn's loop
synchronizes with the device: on CUDA under ``torch.cuda.set_sync_debug_mode("error")``, which raises at the
first synchronizing call; fp16 syncs once per step inside ``torch.amp.GradScaler.step`` (PyTorch's own check
of the gradients for inf/NaN, in the hand-written loop too), so it is run under "warn". On a machine without
CUDA it runs on the CPU (bf16 and fp16 autocast there are slow: it checks the script, it measures nothing).

    python scripts/bench_gpu.py [--model resnet18] [--batch 256] [--size 8192] [--epochs 3] [--workers 4]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _user_data, as `python scripts/bench_gpu.py` has it

from raynn.config import check_config, parse_config  # noqa: E402
from raynn.data.user import load_user_data  # noqa: E402
from raynn.training.loop import Env, run_training  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def config(args: argparse.Namespace, precision: str) -> dict:
    return check_config({
        "seed": 0,
        "data": {"class_path": "_user_data.RandomImages", "init_args": {"size": args.size}, "val_fraction": 0.1,
                 "num_workers": args.workers, "persistent_workers": args.workers > 0},
        "model": {"class_path": f"torchvision.models.{args.model}"},
        "optimizer": {"name": "momentum", "lr": 0.05},
        "scaling": {"reference_batch": args.batch, "warmup_epochs": 0},
        "train": {"epochs": args.epochs, "batch_size": args.batch, "precision": precision,
                  "channels_last": args.channels_last},
    })


def plain_round(cfg: dict, device: torch.device, precision: str, args: argparse.Namespace) -> list[float]:
    """What a user writes by hand: DataLoader, autocast forward, (scaled) backward, step."""
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(num_classes=10).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    data = load_user_data(parse_config(cfg).data, seed=0)
    loader = DataLoader(Subset(data.train.dataset, data.train.indices), batch_size=args.batch, shuffle=True,
                        num_workers=args.workers, pin_memory=device.type == "cuda",
                        persistent_workers=args.workers > 0)
    dtype, rates = DTYPES[precision], []
    for _ in range(args.epochs):
        t0, seen = time.perf_counter(), 0
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if args.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            seen += len(yb)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(seen / (time.perf_counter() - t0))
    return rates[1:]


def raynn_round(cfg: dict, device: torch.device, precision: str) -> tuple[list[float], str]:
    """raynn's loop; on CUDA its steps run under the sync debug mode (error: no sync allowed)."""
    import raynn.training.loop as loop

    sync = "not checked (CPU)"
    if device.type == "cuda":
        real = loop.micro_step
        mode = "warn" if precision == "fp16" else "error"

        def checked(*args, **kwargs):  # type: ignore[no-untyped-def]
            torch.cuda.set_sync_debug_mode(mode)
            try:
                return real(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")

        loop.micro_step = checked
        sync = "none" if mode == "error" else "GradScaler.step only"
    try:
        history = run_training(cfg, Env(device=device, log=lambda line: None))
    finally:
        if device.type == "cuda":
            loop.micro_step = real
    return [h["samples_per_s"] for h in history[1:]], sync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=8192, help="images (10%% held out for validation)")
    parser.add_argument("--epochs", type=int, default=3, help="per round; the first is left out")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--precisions", default="fp32,bf16,fp16")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    card = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (no CUDA device)"
    print(f"{args.model}, batch {args.batch}, {args.size} images 3x32x32, {args.rounds} rounds x "
          f"{args.epochs - 1} timed epochs, on {card}, torch {torch.__version__}")
    print(f"{'precision':<10}{'plain samples/s':>17}{'raynn samples/s':>17}{'ratio':>8}   sync inside a raynn step")
    for precision in args.precisions.split(","):
        cfg = config(args, precision)
        ours, plain, sync = [], [], ""
        for _ in range(args.rounds):
            rates, sync = raynn_round(cfg, device, precision)
            ours += rates
            plain += plain_round(cfg, device, precision, args)
        mo, mp = statistics.median(ours), statistics.median(plain)
        print(f"{precision:<10}{mp:>17.0f}{mo:>17.0f}{mo / mp:>8.3f}   {sync}")


if __name__ == "__main__":
    main()
