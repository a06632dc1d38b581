"""The ``raynn`` command: ``raynn train``, ``raynn list``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from raynn.errors import ConfigError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raynn", description="Train and tune neural networks on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one model, in this process or data-parallel on Ray")
    train.add_argument("config", nargs="?", help="YAML run config (default: the built-in digits run)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set optimizer.lr=0.1 (repeatable)")
    train.add_argument("--workers", type=int, help="data-parallel Ray Train workers (train.workers)")
    train.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (train.gpus_per_worker)")
    train.add_argument("--address", help="Ray cluster address; implies running on Ray (default: local)")
    train.add_argument("--name", help="run name (default: raynn-<time>)")
    train.add_argument("--storage", help="directory for runs and checkpoints (storage)")

    sub.add_parser("list", help="list every name a config may use")
    return parser


def _train(args: argparse.Namespace) -> int:
    from raynn.api import train
    from raynn.config import load_config

    overrides = list(args.overrides)
    for flag, key in (("workers", "train.workers"), ("gpus_per_worker", "train.gpus_per_worker"),
                      ("name", "name"), ("storage", "storage")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.config, overrides)  # the whole config is checked before anything starts
    result = train(cfg, address=args.address)
    print(f"raynn: finished: val_accuracy {result.metrics.get('val_accuracy', float('nan')):.4f}; "
          f"checkpoint {result.checkpoint}")
    return 0


def _list() -> int:
    from raynn.registry import all_registries

    for kind, registry in all_registries().items():
        print(f"{kind}:")
        for entry in registry:
            print(f"  {entry.name:<22} {entry.summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        return _list()
    except ConfigError as exc:
        print(f"raynn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
