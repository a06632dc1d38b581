"""The ``raynn`` command: ``raynn train``, ``raynn tune``, ``raynn report``, ``raynn study``, ``raynn list``,
``raynn schema``."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn, Sequence

from raynn.errors import ConfigError, StorageError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like raynn's own (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "raynn" else f"{self.prog}: "  # a subcommand names itself
        self.exit(2, f"raynn: error: {where}{message} (see {self.prog} --help)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def _code_flags(sub: argparse.ArgumentParser) -> None:
    """--working-dir and --py-module: the user's code, shipped to every node by Ray (the config's code section)."""
    sub.add_argument("--working-dir", metavar="DIR",
                     help="ship DIR to every node and import your code from it (code.working_dir)")
    sub.add_argument("--py-module", dest="py_modules", action="append", default=[], metavar="PATH",
                     help="ship the package directory (or .whl) PATH to every node (code.py_modules; repeatable)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="raynn", description="Train and tune neural networks on Ray.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one model, in this process or data-parallel on Ray")
    train.add_argument("config", nargs="?", help="YAML run config (default: the built-in digits run)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set optimizer.lr=0.1 (repeatable)")
    train.add_argument("--workers", type=_int, help="data-parallel Ray Train workers (train.workers)")
    train.add_argument("--gpus-per-worker", type=_float, help="GPUs per worker (train.gpus_per_worker)")
    train.add_argument("--pending-timeout", type=_float, metavar="SECONDS",
                       help="fail when Ray cannot place the workers within this time (train.pending_timeout, 600)")
    train.add_argument("--address", help="Ray cluster address; implies running on Ray (default: local)")
    train.add_argument("--name", help="run name (default: raynn-<time>)")
    train.add_argument("--storage", help="directory or bucket URI (s3://bucket/prefix?...) for runs and checkpoints "
                       "(storage)")
    _code_flags(train)

    tune = sub.add_parser("tune", help="search hyperparameters with Ray Tune (HyperBand, successive halving, GP)")
    tune.add_argument("space", nargs="?", help="search-space YAML (see search_spaces/); not needed with --resume")
    # Defaults are run_tune's; None here tells "not given", which --resume needs (settings come from the run).
    tune.add_argument("--scheduler", help="fifo, sh, hyperband, asha or curve (default hyperband)")
    tune.add_argument("--searcher", help="grid, random, optuna-gp, optuna-tpe or optuna-mfgp (default optuna-mfgp)")
    tune.add_argument("--budget", type=_int, help="resource budget B in epochs (required for sh)")
    tune.add_argument("--num-samples", type=_int, help="configurations to try (sh: the N of Algorithm 7.2)")
    tune.add_argument("--workers-per-trial", type=_int, help="Ray Train workers per trial (default 1)")
    tune.add_argument("--gpus-per-worker", type=_float, help="GPUs per worker (default 0)")
    tune.add_argument("--max-concurrent", type=_int, help="trials at once (default: CPUs / workers per trial)")
    tune.add_argument("--metric", help="the metric to optimise (default val_loss)")
    tune.add_argument("--mode", help="min or max (default min)")
    tune.add_argument("--eta", type=_int, help="reduction factor of HyperBand and ASHA (default 3)")
    tune.add_argument("--seed", type=_int, help="seed of the searcher and of every trial (default 0)")
    tune.add_argument("--checkpoint-every", type=_int,
                      help="a trial checkpoints at its rungs, its last epoch and every N epochs between, for fault "
                           "tolerance (default 10; 0: only rungs and last epoch)")
    tune.add_argument("--verbose", action="store_true",
                      help="also show Ray's own log lines (otherwise in ray.log in the experiment directory)")
    tune.add_argument("--pending-timeout", type=_float, metavar="SECONDS",
                      help="report a trial Ray cannot place within this time, and fail a trial whose Ray Train "
                           "workers cannot be placed (default 600)")
    tune.add_argument("--resume", action="store_true",
                      help="continue the experiment --name in --storage with the settings it was started with")
    tune.add_argument("--address", help="Ray cluster address (default: start a local instance)")
    tune.add_argument("--name", help="experiment name (default: tune-<time>)")
    tune.add_argument("--storage", default="experiments", help="directory or bucket URI (s3://bucket/prefix?...) "
                      "for experiments")
    _code_flags(tune)

    _more_parsers(sub)
    return parser


def _more_parsers(sub: Any) -> None:
    """The subcommands that start no training: report, study, list, schema."""
    report = sub.add_parser("report", help="write a self-contained HTML report of a tuning experiment")
    report.add_argument("experiment_dir", metavar="EXPERIMENT_DIR",
                        help="experiment directory of raynn tune (or its URI: s3://bucket/prefix/NAME?...)")
    report.add_argument("--output", metavar="FILE", help="HTML file to write (default EXPERIMENT_DIR/report.html)")

    study = sub.add_parser("study", help="reproduce a figure and claim of the chapter on Ray (see --list)")
    study.add_argument("name", nargs="?", metavar="NAME", help="a study (raynn study --list) or a study YAML file")
    study.add_argument("--list", action="store_true", help="list the studies and exit")
    study.add_argument("--full", action="store_true", help="the full setting (MNIST, more seeds) instead of the quick one")
    study.add_argument("--workers", type=int, help="Ray Train workers per run (default the study's: 1, large-batch 2)")
    study.add_argument("--gpus-per-worker", type=float, help="GPUs per worker or per single-process run (default 0)")
    study.add_argument("--address", help="Ray cluster address (default: start a local instance)")
    study.add_argument("--out", help="output folder (default studies-out/NAME)")
    study.add_argument("--storage", help="directory or bucket URI for data-parallel runs' checkpoints while the "
                       "study runs (default: a temporary directory)")
    study.add_argument("--accumulate", type=_int, metavar="A",
                       help="micro-batches per update in a generated study (large-batch): a large k on few workers")
    _code_flags(study)

    sub.add_parser("list", help="list every name a config may use")

    schema = sub.add_parser("schema", help="print the JSON Schema of a run config or a search space (for editors)")
    schema.add_argument("kind", nargs="?", default="config", choices=("config", "space"),
                        help="config (a run config, default) or space (a search-space file)")
    schema.add_argument("--output", metavar="FILE", help="write it to FILE instead of standard output")


def _train(args: argparse.Namespace) -> int:
    from raynn.api import check_address, train
    from raynn.code import code_flags
    from raynn.config import load_config

    check_address(args.address)  # first: seconds, before the imports and checks that may take as long

    # Flags are values as typed (a --name of 2024 is the string "2024"); --set values are YAML.
    values = {key: getattr(args, flag) for flag, key in (("workers", "train.workers"),
                                                          ("gpus_per_worker", "train.gpus_per_worker"),
                                                          ("pending_timeout", "train.pending_timeout"),
                                                          ("name", "name"), ("storage", "storage"))
              if getattr(args, flag) is not None}
    code = code_flags(args.working_dir, args.py_modules)
    cfg = load_config(args.config, args.overrides, values, code)  # the whole config is checked before anything starts
    result = train(cfg, address=args.address)
    if result.metrics.get("diverged"):
        print(f"raynn: error: training diverged at epoch {result.metrics['epoch']} (the loss is not finite); "
              "lower optimizer.lr or add optimizer.clip", file=sys.stderr)
        return 1
    print(f"raynn: finished: val_accuracy {result.metrics.get('val_accuracy', float('nan')):.4f}; "
          f"checkpoint {result.checkpoint}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from raynn.api import check_address

    check_address(args.address)  # first: seconds, before importing Ray Tune (which alone may take as long)
    from raynn.tune.options import SETTINGS, TuneOptions
    from raynn.tune.run import run_tune

    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    if args.resume:
        for key, value in [("space", args.space), *given.items()]:
            if value is not None:
                flag = "SPACE" if key == "space" else "--" + key.replace("_", "-")
                raise ConfigError(flag, "is not taken with --resume (the experiment keeps the settings it was "
                                  "started with, in raynn_tune.json)", value)
    if args.pending_timeout is not None:  # a setting of this driver, not of the experiment: taken with --resume
        given["pending_timeout"] = args.pending_timeout
    options = TuneOptions(args.space, resume=args.resume, address=args.address, name=args.name,
                          storage=args.storage, ray_logs=args.verbose, working_dir=args.working_dir,
                          py_modules=tuple(args.py_modules), **given)
    result = run_tune(options)
    if result.trials and all(t.get("diverged") for t in result.trials):
        print(f"raynn: error: every trial diverged (the loss was not finite), so there is no best configuration; "
              f"lower the learning rates in the space (summary in {result.path})", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    from raynn.tune.report import write_report

    path = write_report(args.experiment_dir, args.output)
    print(f"raynn: report written to {path}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from raynn.study import study, study_registry

    if args.list:
        for entry in study_registry():
            print(f"{entry.name:<16} {entry.summary}")
        return 0
    if args.name is None:
        raise ConfigError("NAME", f"is required: one of {', '.join(study_registry().names())}", None)
    # study() checks the whole study file and every run config before Ray starts.
    from raynn.code import code_flags

    report = study(args.name, full=args.full, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                   address=args.address, out=args.out, storage=args.storage,
                   code=code_flags(args.working_dir, args.py_modules), accumulate=args.accumulate)
    held = sum(o.held is True for o in report.outcomes.values())
    measured = sum(o.held is not None for o in report.outcomes.values())
    print(f"raynn study: {held} of {measured} measured claim(s) held; open {report.html}")
    return 0


def _list() -> int:
    from raynn.catalog import format_catalog

    print(format_catalog())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from raynn.schema import schema_text

    text = schema_text(args.kind)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError("--output", f"must be a file raynn can write: {exc.strerror}", args.output) from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse leaves them to the top-level parser; the subcommand's help is the one to read
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "report":
            return _report(args)
        if args.command == "study":
            return _study(args)
        if args.command == "schema":
            return _schema(args)
        return _list()
    except ConfigError as exc:
        print(f"raynn: error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # after the start: not bad input, but one line all the same
        print(f"raynn: error: {exc.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
