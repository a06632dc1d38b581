"""Malformed input at every entry point: one line naming the key, the rule and the value; nothing started.

One table of cases across ``raynn train`` configs, ``--set`` overrides and flags, search spaces, ``raynn tune``
and ``raynn report`` flags, and the Python API (``raynn.train``, ``raynn.tune``, the ``raynn.hpo``
constructors). The command-line cases run ``raynn.cli.main`` in this process (a new interpreter per case
would cost seconds each); a few at the end run the real ``raynn`` command. For every case: exit code 2 (or
:class:`raynn.errors.ConfigError` in Python), one line on stderr that names the key and the value and states
a rule ("must ..."), no ``ray.init`` (it is replaced by a recorder that fails), and no file written anywhere
under the test's directory (the storage directory stays absent).

Storage URIs: ``S3(bucket/prefix)`` in a case stands for that prefix on the suite's moto S3 server on loopback
(``s3://bucket/prefix?endpoint_override=http://127.0.0.1:PORT``); no object may appear in its bucket either.

Unreachable addresses are 127.0.0.1 with a closed port only.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import raynn
from raynn import hpo
from raynn.cli import main
from raynn.errors import ConfigError
from raynn_testing.s3 import CREDENTIAL_VARS

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": 3, "batch_size": 64}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True}},
}

# Nine levels of nine aliases: 9^9 (~387 million) strings once expanded, 10 short lines on disk.
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then released (the kernel does not hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLOSED = f"127.0.0.1:{_closed_port()}"
CLOSED_S3 = f"s3://bucket/runs?endpoint_override=http://{CLOSED}"


class _MainNet:
    """Stands for a model class defined in a notebook or script: other processes cannot import it."""


_MainNet.__module__ = "__main__"


def _local_net() -> type:
    class Net:
        pass

    return Net


def _space(**changes: Any) -> str:
    """The YAML text of SPACE with ``space.optimizer.lr`` or top-level parts replaced."""
    doc = {"base": SPACE["base"], "space": dict(SPACE["space"])}
    for key, value in changes.items():
        if key == "dim":
            doc["space"] = value
        else:
            doc[key] = value
    return yaml.safe_dump(doc)


@dataclass
class Case:
    """``kind``: ``train`` / ``tune`` / ``report`` (command-line words after the file argument) or ``py`` (a
    callable). ``file``: the config / space / experiment file's content (str or bytes), ``DIR`` for a
    directory, None for none. ``key`` and ``value``: what the one line must name."""

    id: str
    kind: str
    key: str
    value: str
    file: str | bytes | None = None
    args: list[str] = field(default_factory=list)
    call: Callable[[Path], Any] | None = None
    unset: tuple[str, ...] = ()  # environment variables the case runs without (credentials)


def _train_cfg(id: str, text: str | bytes, key: str, value: str) -> Case:
    return Case(id, "train", key, value, file=text)


def _tune_space(id: str, text: str | bytes, key: str, value: str) -> Case:
    return Case(id, "tune", key, value, file=text)


def _py(id: str, call: Callable[[Path], Any], key: str, value: str) -> Case:
    return Case(id, "py", key, value, call=call)


def _lr(**dim: Any) -> str:
    return _space(dim={"optimizer.lr": dim})


CASES = [
    # ---- raynn train: the config file ----------------------------------------------------------------------
    _train_cfg("cfg-not-utf8", b"optimizer: {lr: 0.1}\n\xff\xfe\x00\x81", "config", "run.yaml"),
    _train_cfg("cfg-empty", "", "config", "run.yaml"),
    _train_cfg("cfg-only-comments", "# nothing here\n", "config", "run.yaml"),
    _train_cfg("cfg-directory", "DIR", "config", "run.yaml"),
    _train_cfg("cfg-billion-laughs", LAUGHS, "config", "run.yaml"),
    _train_cfg("cfg-recursive-anchor", "a: &a [1, *a]\n", "config", "run.yaml"),
    _train_cfg("cfg-repeated-key", "optimizer: {lr: 0.1, lr: 1.0}\n", "config", "run.yaml"),
    _train_cfg("cfg-python-tag", "optimizer: !!python/object/apply:os.system [touch pwned]\n", "config",
               "run.yaml"),
    _train_cfg("cfg-top-level-list", "- optimizer\n", "config", "list"),
    _train_cfg("cfg-unknown-top-key", "trian: {epochs: 3}\n", "trian", "epochs"),
    _train_cfg("cfg-unknown-nested-key", "optimizer: {learning_rate: 0.1}\n", "optimizer.learning_rate", "0.1"),
    _train_cfg("cfg-unknown-deep-key", "train: {early_stopping: {patients: 3}}\n",
               "train.early_stopping.patients", "3"),
    _train_cfg("cfg-section-not-mapping", "optimizer: 0.1\n", "optimizer", "0.1"),
    _train_cfg("cfg-string-for-int", "train: {epochs: three}\n", "train.epochs", "three"),
    _train_cfg("cfg-list-for-float", "optimizer: {lr: [0.1]}\n", "optimizer.lr", "[0.1]"),
    _train_cfg("cfg-bool-for-int", "train: {batch_size: true}\n", "train.batch_size", "True"),
    _train_cfg("cfg-yaml-nan", "optimizer: {lr: .nan}\n", "optimizer.lr", "nan"),
    _train_cfg("cfg-yaml-inf", "optimizer: {lr: .inf}\n", "optimizer.lr", "inf"),
    _train_cfg("cfg-float-overflow", "optimizer: {lr: 1.0e999}\n", "optimizer.lr", "inf"),
    _train_cfg("cfg-string-nan", "optimizer: {lr: 'nan'}\n", "optimizer.lr", "'nan'"),
    _train_cfg("cfg-string-inf", "model: {dropout: inf}\n", "model.dropout", "'inf'"),
    _train_cfg("cfg-huge-int-epochs", "train: {epochs: 99999999999999999999999}\n", "train.epochs",
               "99999999999999999999999"),
    _train_cfg("cfg-huge-int-for-float", f"optimizer: {{lr: {10**400}}}\n", "optimizer.lr", "1000000"),
    _train_cfg("cfg-negative-batch", "train: {batch_size: -64}\n", "train.batch_size", "-64"),
    _train_cfg("cfg-negative-subset", "data: {subset: -5}\n", "data.subset", "-5"),
    _train_cfg("cfg-negative-seed", "seed: -1\n", "seed", "-1"),
    _train_cfg("cfg-huge-seed", "seed: 4294967296\n", "seed", "4294967296"),
    _train_cfg("cfg-name-traversal", "name: ../../etc\n", "name", "../../etc"),
    _train_cfg("cfg-name-slash", "name: runs/a\n", "name", "runs/a"),
    _train_cfg("cfg-name-dotdot", "name: '..'\n", "name", "'..'"),
    _train_cfg("cfg-name-int", "name: 2024\n", "name", "2024"),
    _train_cfg("cfg-storage-nul", 'storage: "out\\0"\n', "storage", "out\\x00"),
    _train_cfg("cfg-params-not-mapping", "model: {params: [1]}\n", "model.params", "[1]"),
    _train_cfg("cfg-schedule-unknown", "schedule: {name: cosinus}\n", "schedule.name", "cosinus"),
    _train_cfg("cfg-schedule-int", "schedule: 5\n", "schedule", "5"),
    _train_cfg("cfg-warmup-nan", "scaling: {warmup_epochs: .nan}\n", "scaling.warmup_epochs", "nan"),
    _train_cfg("cfg-augment-not-list", "data: {augment: flip}\n", "data.augment", "flip"),
    _train_cfg("cfg-val-fraction-zero", "data: {val_fraction: 0}\n", "data.val_fraction", "0"),
    _train_cfg("cfg-teacher-missing", "targets: {distillation: {teacher: nowhere.pt}}\n",
               "targets.distillation.teacher", "nowhere.pt"),
    _train_cfg("cfg-distillation-unknown", "targets: {distillation: {teacher: x, temp: 2}}\n",
               "targets.distillation.temp", "2"),
    # ---- raynn train: your own model, data, loss and code (class_path) ----------------------------------------
    _train_cfg("cfg-class-path-no-module", "model: {class_path: nopkg_xyz.nets.Net}\n", "model.class_path",
               "nopkg_xyz.nets.Net"),
    _train_cfg("cfg-class-path-no-attribute", "model: {class_path: torch.nn.NoSuchLayer}\n", "model.class_path",
               "torch.nn.NoSuchLayer"),
    _train_cfg("cfg-class-path-bare-name", "model: {class_path: Net}\n", "model.class_path", "Net"),
    _train_cfg("cfg-init-args-unknown", "model: {class_path: torch.nn.Linear, init_args: {widht: 3}}\n",
               "model.init_args.widht", "3"),
    _train_cfg("cfg-name-and-class-path", "model: {name: mlp, class_path: torchvision.models.resnet18}\n",
               "model.name", "mlp"),
    _train_cfg("cfg-model-output-not-logits", "model: {class_path: torch.nn.Flatten}\n", "model.class_path",
               "torch.nn.Flatten"),
    _train_cfg("cfg-model-rejects-input", "model: {class_path: torchvision.models.resnet18}\n", "model.class_path",
               "torchvision.models.resnet18"),
    _train_cfg("cfg-data-root-missing",
               "data: {class_path: torchvision.datasets.ImageFolder, init_args: {root: nowhere}}\n",
               "data.init_args.root", "nowhere"),
    _train_cfg("cfg-data-root-empty", "data: {class_path: torchvision.datasets.ImageFolder, init_args: {root: .}}\n",
               "data.class_path", "torchvision.datasets.ImageFolder"),
    _train_cfg("cfg-data-not-a-dataset", "data: {class_path: torch.zeros, init_args: {}}\n", "data.class_path",
               "torch.zeros"),
    _train_cfg("cfg-loss-no-module", "loss: {class_path: nopkg_xyz.Loss}\n", "loss.class_path", "nopkg_xyz.Loss"),
    _train_cfg("cfg-loss-with-smoothing",
               "loss: {class_path: torch.nn.CrossEntropyLoss}\ntargets: {label_smoothing: 0.1}\n",
               "targets.label_smoothing", "0.1"),
    _train_cfg("cfg-code-working-dir-missing", "code: {working_dir: nowhere}\n", "code.working_dir", "nowhere"),
    Case("train-py-module-missing", "train", "code.py_modules.0", "nowhere", args=["--py-module", "nowhere"]),
    Case("train-working-dir-missing", "train", "code.working_dir", "nowhere", args=["--working-dir", "nowhere"]),
    _train_cfg("cfg-precision-unknown", "train: {precision: fp8}\n", "train.precision", "fp8"),
    _train_cfg("cfg-accumulate-zero", "train: {accumulate: 0}\n", "train.accumulate", "0"),
    _train_cfg("cfg-device-unknown", "train: {device: tpu}\n", "train.device", "tpu"),
    _train_cfg("cfg-compile-bad", "train: {compile: {backend: inductor, fullgraph: true}}\n", "train.compile",
               "fullgraph"),
    _train_cfg("cfg-channels-last-string", "train: {channels_last: 'yes'}\n", "train.channels_last", "yes"),
    # ---- raynn train: --set and flags ----------------------------------------------------------------------
    Case("set-nan", "train", "optimizer.lr", "nan", args=["--set", "optimizer.lr=.nan"]),
    Case("set-bad-yaml", "train", "optimizer.lr", "[", args=["--set", "optimizer.lr=["]),
    Case("set-no-equals", "train", "--set", "optimizer", args=["--set", "optimizer"]),
    Case("set-empty-part", "train", "--set", "optimizer..lr=1", args=["--set", "optimizer..lr=1"]),
    Case("set-float-epochs", "train", "train.epochs", "1000.0", args=["--set", "train.epochs=1e3"]),
    Case("set-name-traversal", "train", "name", "../x", args=["--set", "name=../x"]),
    Case("set-subkey-of-number", "train", "optimizer.lr", "{'x': 1}", args=["--set", "optimizer.lr.x=1"]),
    Case("set-subkey-of-set-number", "train", "optimizer.lr", "0.1",
         args=["--set", "optimizer.lr=0.1", "--set", "optimizer.lr.x=1"]),
    Case("set-unknown-key", "train", "trian", "epochs", args=["--set", "trian.epochs=3"]),
    Case("set-billion-laughs", "train", "data", "a: &a", args=["--set", "data=" + LAUGHS]),
    Case("train-workers-zero", "train", "train.workers", "0", args=["--workers", "0"]),
    Case("train-workers-text", "train", "--workers", "'two'", args=["--workers", "two"]),
    Case("train-gpus-nan", "train", "train.gpus_per_worker", "nan", args=["--gpus-per-worker", "nan"]),
    Case("train-gpus-negative", "train", "train.gpus_per_worker", "-1", args=["--gpus-per-worker", "-1"]),
    Case("train-name-traversal", "train", "name", "../../etc", args=["--name", "../../etc"]),
    Case("train-address-nonsense", "train", "--address", "nonsense:1", args=["--address", "nonsense:1"]),
    Case("train-address-closed", "train", "--address", CLOSED, args=["--address", CLOSED]),
    Case("train-address-url", "train", "--address", "http://127.0.0.1:8265",
         args=["--address", "http://127.0.0.1:8265"]),
    Case("train-storage-is-file", "train", "storage", "afile", args=["--storage", "afile"]),
    Case("train-config-missing", "train", "config", "missing.yaml", args=["missing.yaml"]),
    Case("train-storage-unknown-scheme", "train", "storage", "nosuchfs://bucket/runs",
         args=["--storage", "nosuchfs://bucket/runs"]),
    Case("train-storage-uri-without-slashes", "train", "storage", "s3:/bucket/runs", args=["--storage", "s3:/bucket/runs"]),
    Case("train-storage-missing-bucket", "train", "storage", "S3(no-such-bucket/runs)",
         args=["--storage", "S3(no-such-bucket/runs)"]),
    Case("train-storage-no-credentials", "train", "storage", "S3(bucket/runs)", args=["--storage", "S3(bucket/runs)"],
         unset=CREDENTIAL_VARS),
    # ---- raynn tune: the search space ----------------------------------------------------------------------
    _tune_space("space-not-utf8", b"\x89PNG\r\n\x1a\n\x00\x00", "search space", "space.yaml"),
    _tune_space("space-empty", "", "search space", "space.yaml"),
    _tune_space("space-directory", "DIR", "search space", "space.yaml"),
    _tune_space("space-billion-laughs", LAUGHS, "search space", "space.yaml"),
    _tune_space("space-top-level-list", "- optimizer.lr\n", "search space", "space.yaml"),
    _tune_space("space-unknown-top-key", _space(spaces={}), "spaces", "{}"),
    _tune_space("space-unknown-field", _lr(type="float", low=0.01, high=1, lgo=True), "space.optimizer.lr.lgo",
                "True"),
    _tune_space("space-inverted-range", _lr(type="float", low=0.5, high=0.001), "space.optimizer.lr.low", "0.5"),
    _tune_space("space-empty-range", _lr(type="float", low=0.1, high=0.1), "space.optimizer.lr.low", "0.1"),
    _tune_space("space-int-float-bounds", _space(dim={"train.batch_size": {"type": "int", "low": 8.5,
                                                                            "high": 64}}),
                "space.train.batch_size.low", "8.5"),
    _tune_space("space-log-zero", _lr(type="float", low=0.0, high=0.5, log=True), "space.optimizer.lr.low", "0.0"),
    _tune_space("space-empty-choices", _space(dim={"optimizer.name": {"type": "categorical", "choices": []}}),
                "space.optimizer.name.choices", "[]"),
    _tune_space("space-empty-grid", _space(dim={"optimizer.name": {"type": "grid", "values": []}}),
                "space.optimizer.name.values", "[]"),
    _tune_space("space-nan-choice", "space:\n  model.dropout: {type: categorical, choices: [0.1, .nan]}\n",
                "space.model.dropout.choices", "nan"),
    _tune_space("space-nan-bound", "space:\n  optimizer.lr: {type: float, low: .nan, high: 1}\n",
                "space.optimizer.lr.low", "nan"),
    _tune_space("space-string-inf-bound", "space:\n  optimizer.lr: {type: float, low: 0.1, high: inf}\n",
                "space.optimizer.lr.high", "'inf'"),
    _tune_space("space-unknown-type", _lr(type="uniform", low=0.1, high=1), "space.optimizer.lr.type", "uniform"),
    _tune_space("space-dim-not-mapping", _space(dim={"optimizer.lr": 0.1}), "space.optimizer.lr", "0.1"),
    _tune_space("space-key-not-in-config", _space(dim={"optimizer.lrr": {"type": "float", "low": 0.1,
                                                                          "high": 1}}),
                "space.optimizer.lrr", "0.1"),
    _tune_space("space-out-of-config-range", _space(dim={"model.dropout": {"type": "float", "low": 0.0,
                                                                            "high": 1.5}}),
                "space.model.dropout", "1.5"),
    _tune_space("space-huge-int", _space(dim={"train.batch_size": {"type": "int", "low": 1,
                                                                    "high": 10**20}}),
                "space.train.batch_size", str(10**20)),
    _tune_space("space-base-not-mapping", _space(base=[1]), "base", "[1]"),
    _tune_space("space-base-unknown-key", _space(base={"optimiser": {"lr": 0.1}}), "base.optimiser", "lr"),
    _tune_space("space-grid-points-one", _lr(type="float", low=0.01, high=1, grid_points=1),
                "space.optimizer.lr.grid_points", "1"),
    _tune_space("space-negative-step", _lr(type="float", low=0.01, high=1, step=-0.01),
                "space.optimizer.lr.step", "-0.01"),
    _tune_space("space-class-path-no-module", _space(base={**SPACE["base"], "model": {"class_path": "nopkg_xyz.N"}}),
                "model.class_path", "nopkg_xyz.N"),
    _tune_space("space-init-args-unknown", _space(base={**SPACE["base"], "model": {
        "class_path": "torch.nn.Linear", "init_args": {"widht": 3}}}), "model.init_args.widht", "3"),
    # ---- raynn tune: flags ---------------------------------------------------------------------------------
    Case("tune-py-module-missing", "tune", "code.py_modules.0", "nowhere", args=["--py-module", "nowhere"]),
    Case("tune-name-traversal", "tune", "--name", "../../etc", args=["--name", "../../etc"]),
    Case("tune-name-dot", "tune", "--name", "'.'", args=["--name", "."]),
    Case("tune-name-space", "tune", "--name", "my run", args=["--name", "my run"]),
    Case("tune-address-nonsense", "tune", "--address", "nonsense:1", args=["--address", "nonsense:1"]),
    Case("tune-address-closed", "tune", "--address", CLOSED, args=["--address", CLOSED]),
    Case("tune-address-no-port", "tune", "--address", "nonsense", args=["--address", "nonsense"]),
    Case("tune-seed-negative", "tune", "--seed", "-1", args=["--seed", "-1"]),
    Case("tune-gpus-nan", "tune", "--gpus-per-worker", "nan", args=["--gpus-per-worker", "nan"]),
    Case("tune-gpus-inf", "tune", "--gpus-per-worker", "inf", args=["--gpus-per-worker", "inf"]),
    Case("tune-eta-one", "tune", "--eta", "1", args=["--eta", "1"]),
    Case("tune-budget-text", "tune", "--budget", "'lots'", args=["--budget", "lots"]),
    Case("tune-budget-float", "tune", "--budget", "'9.5'", args=["--budget", "9.5"]),
    Case("tune-num-samples-huge", "tune", "--num-samples", "99999999999", args=["--num-samples", "99999999999"]),
    Case("tune-mode", "tune", "--mode", "best", args=["--mode", "best"]),
    Case("tune-metric-empty", "tune", "--metric", "''", args=["--metric", ""]),
    Case("tune-storage-is-file", "tune", "--storage", "afile", args=["--storage", "afile"]),
    Case("tune-resume-missing", "tune", "--resume", "nothing-here", args=["--resume", "--name", "nothing-here"]),
    Case("tune-storage-unknown-scheme", "tune", "--storage", "nosuchfs://bucket/exps",
         args=["--storage", "nosuchfs://bucket/exps"]),
    Case("tune-storage-closed-port", "tune", "--storage", CLOSED_S3, args=["--storage", CLOSED_S3]),
    Case("tune-storage-bad-parameter", "tune", "--storage", "S3(bucket/exps)&endpoint=typo",
         args=["--storage", "S3(bucket/exps)&endpoint=typo"]),
    Case("tune-storage-missing-bucket", "tune", "--storage", "S3(no-such-bucket/exps)",
         args=["--storage", "S3(no-such-bucket/exps)"]),
    Case("tune-storage-no-credentials", "tune", "--storage", "S3(bucket/exps)", args=["--storage", "S3(bucket/exps)"],
         unset=CREDENTIAL_VARS),
    Case("tune-resume-missing-in-bucket", "tune", "--resume", "S3(bucket/exps/nothing-here)",
         args=["--resume", "--name", "nothing-here", "--storage", "S3(bucket/exps)"]),
    # ---- raynn report --------------------------------------------------------------------------------------
    Case("report-dir-is-file", "report", "EXPERIMENT_DIR", "afile", args=["afile"]),
    Case("report-summary-not-object", "report", "EXPERIMENT_DIR", "exp", file="[1, 2]", args=["exp"]),
    Case("report-output-is-dir", "report", "--output", "work", file='{"curves": {}}', args=["exp", "--output", "."]),
    Case("report-uri-missing-bucket", "report", "EXPERIMENT_DIR", "S3(no-such-bucket/exps/e)",
         args=["S3(no-such-bucket/exps/e)"]),
    Case("report-uri-missing-experiment", "report", "EXPERIMENT_DIR", "S3(bucket/exps/none)",
         args=["S3(bucket/exps/none)"]),
    # ---- Python API ----------------------------------------------------------------------------------------
    _py("py-train-bad-lr", lambda d: raynn.train({"optimizer": {"lr": -1}}), "optimizer.lr", "-1"),
    _py("py-train-class-in-main", lambda d: raynn.train({"model": {"class_path": _MainNet}}), "model.class_path",
        "_MainNet"),
    _py("py-train-class-in-function", lambda d: raynn.train({"model": {"class_path": _local_net()}}),
        "model.class_path", "_local_net.<locals>.Net"),
    _py("py-train-missing-file", lambda d: raynn.train(str(d / "none.yaml")), "config", "none.yaml"),
    _py("py-train-not-mapping", lambda d: raynn.train([("optimizer", 1)]), "config", "optimizer"),
    _py("py-train-overrides-string", lambda d: raynn.train({}, "optimizer.lr=1"), "overrides", "optimizer.lr=1"),
    _py("py-train-name-traversal", lambda d: raynn.train({"name": "../x"}), "name", "../x"),
    _py("py-train-storage-unknown-scheme", lambda d: raynn.train({"storage": "nosuchfs://b/runs"}), "storage",
        "nosuchfs://b/runs"),
    _py("py-study-storage-unknown-scheme", lambda d: raynn.study("batch-size", storage="nosuchfs://b/s"),
        "--storage", "nosuchfs://b/s"),
    _py("py-tune-storage-uri-without-slashes", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE),
                                                                    storage="gs:bucket"), "--storage", "gs:bucket"),
    _py("py-train-address", lambda d: raynn.train({}, address="nonsense:1"), "--address", "nonsense:1"),
    _py("py-train-storage-int", lambda d: raynn.train({"storage": 5}), "storage", "5"),
    _py("py-tune-space-int", lambda d: raynn.tune(5, storage=d / "out"), "search space", "5"),
    _py("py-tune-name", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), name="../x", storage=d / "out"),
        "--name", "../x"),
    _py("py-tune-seed", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), seed=-1, storage=d / "out"),
        "--seed", "-1"),
    _py("py-tune-scheduler-list", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), scheduler=["sh"],
                                                       storage=d / "out"), "--scheduler", "['sh']"),
    _py("py-tune-gpus-nan", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), gpus_per_worker=math.nan,
                                                 storage=d / "out"), "--gpus-per-worker", "nan"),
    _py("py-tune-storage-int", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), storage=5), "--storage", "5"),
    _py("py-tune-address", lambda d: raynn.tune(hpo.SearchSpace.from_dict(SPACE), address=CLOSED,
                                                storage=d / "out"), "--address", CLOSED),
    _py("py-hyperband-r0", lambda d: hpo.HyperBand(max_resource=0), "max_resource", "0"),
    _py("py-hyperband-eta1", lambda d: hpo.HyperBand(max_resource=9, eta=1), "eta", "1"),
    _py("py-sh-negative-budget", lambda d: hpo.SuccessiveHalving(budget=-1, n_configs=8), "budget", "-1"),
    _py("py-asha-mode", lambda d: hpo.AsyncHalving(max_resource=9, mode="best"), "mode", "best"),
    _py("py-float-inverted", lambda d: hpo.FloatRange(1.0, 0.1), "low", "1.0"),
    _py("py-float-nan", lambda d: hpo.FloatRange(math.nan, 1.0), "low", "nan"),
    _py("py-int-step-zero", lambda d: hpo.IntRange(1, 10, step=0), "step", "0"),
    _py("py-categorical-empty", lambda d: hpo.Categorical(()), "choices", "()"),
    _py("py-space-empty", lambda d: hpo.SearchSpace({}), "space", "{}"),
    _py("py-space-string-bound", lambda d: hpo.SearchSpace.from_dict(
        {"space": {"optimizer.lr": {"type": "float", "low": "a", "high": 1}}}), "space.optimizer.lr.low", "'a'"),
    _py("py-random-seed", lambda d: hpo.RandomSearcher(hpo.SearchSpace.from_dict(SPACE), seed=-1), "seed", "-1"),
    _py("py-optuna-study-name", lambda d: hpo.OptunaSearcher(hpo.SearchSpace.from_dict(SPACE), study_name="../x"),
        "study_name", "../x"),
]


@pytest.fixture()
def no_ray(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``ray.init`` replaced by a recorder that fails, and Ray reported down so ``ensure_ray`` would call it
    (an earlier test in this process may have left the shared session up)."""
    import ray

    calls: list[Any] = []

    def init(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))
        raise RuntimeError("ray.init was called")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    return calls


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


def _prepare(case: Case, root: Path) -> list[str]:
    """Files for ``case`` under ``root`` (the current directory); the command line after the subcommand."""
    (root / "afile").write_text("not a directory\n")
    names = {"train": "run.yaml", "tune": "space.yaml", "report": "exp"}
    if case.kind == "report":
        if case.file is not None:
            (root / "exp").mkdir()
            (root / "exp" / "summary.json").write_text(str(case.file))
        return case.args
    if case.kind == "tune" and case.file is None and "--resume" not in case.args:
        (root / "space.yaml").write_text(_space())
        return ["space.yaml", *case.args]
    if case.file is None:
        return case.args
    path = root / names[case.kind]
    if case.file == "DIR":
        path.mkdir()
    elif isinstance(case.file, bytes):
        path.write_bytes(case.file)
    else:
        path.write_text(case.file)
    return [path.name, *case.args]


_S3_PLACEHOLDER = re.compile(r"S3\(([^/)]+)/([^)]*)\)")


def _with_s3(case: Case, s3: Any) -> Case:
    """``case`` with each ``S3(bucket/prefix)`` replaced by that prefix's URI on the moto server ``s3``."""
    def sub(text: str) -> str:
        return _S3_PLACEHOLDER.sub(lambda m: s3.uri(m.group(2), bucket=m.group(1)), text)

    return Case(case.id, case.kind, case.key, sub(case.value), case.file, [sub(a) for a in case.args], case.call,
                case.unset)


def _objects(s3: Any) -> list[str]:
    """The bucket's objects, less the empty directory markers pyarrow keeps for a prefix a probe emptied."""
    return [key for key in s3.keys() if not key.endswith("/")]


def _check_line(line: str, case: Case) -> None:
    assert case.key in line and case.value in line, (case.id, line)
    assert re.search(r"\b(must|is not a known|is not taken)\b", line), (case.id, line)  # the rule


def test_the_table_is_large_and_covers_every_entry_point() -> None:
    kinds = {c.kind for c in CASES}
    assert kinds == {"train", "tune", "report", "py"}
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_one_line_exit_2_and_nothing_started_or_written(
        case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        no_ray: list[Any], request: pytest.FixtureRequest) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    s3 = request.getfixturevalue("s3") if any("S3(" in a for a in case.args) else None
    if s3 is not None:
        case = _with_s3(case, s3)
        objects = _objects(s3)
    for var in case.unset:
        monkeypatch.delenv(var, raising=False)
    if case.kind == "py":
        before = _tree(tmp_path)
        with pytest.raises(ConfigError) as info:
            assert case.call is not None
            case.call(work)
        message = str(info.value)
        assert "\n" not in message, message
        _check_line(message, case)
    else:
        argv = [case.kind, *_prepare(case, work)]  # default storage: runs/ (train), experiments/ (tune)
        before = _tree(tmp_path)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        captured = capsys.readouterr()
        assert code == 2, (case.id, captured)
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("raynn: error: "), (case.id, captured.err)
        assert "Traceback" not in captured.err
        _check_line(lines[0], case)
    assert no_ray == []  # nothing started
    assert _tree(tmp_path) == before  # nothing written
    assert not (work / "experiments").exists() and not (work / "runs").exists()
    assert not (work / "pwned").exists()
    if s3 is not None:
        assert _objects(s3) == objects  # nothing written in the bucket either


# ---- the real command, a handful -------------------------------------------------------------------------


def _raynn(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, "-m", "raynn.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize(
    ("args", "files", "needle"),
    [
        (["tune", "space.yaml"], {"space.yaml": b"\xff\xd8\xff\xe0 JFIF"},
         "search space: must be UTF-8 text (byte 0 is not), got 'space.yaml'"),
        (["tune", "space.yaml", "--address", "nonsense:1"], {"space.yaml": _space().encode()},
         "--address: must name a host that resolves"),
        (["tune", "space.yaml", "--address", CLOSED], {"space.yaml": _space().encode()},
         f"--address: must be the address of a running Ray cluster: nothing accepts connections at {CLOSED}"),
        (["tune", "space.yaml", "--name", "../../etc"], {"space.yaml": _space().encode()},
         "--name: must be one path component"),
        (["train", "run.yaml"], {"run.yaml": LAUGHS.encode()}, "config: must expand to at most"),
    ],
    ids=["tune-not-utf8", "tune-address-nonsense", "tune-address-closed", "tune-name-traversal",
         "train-billion-laughs"],
)
def test_the_real_command_says_one_line_and_exits_2_quickly(tmp_path: Path, args: list[str],
                                                            files: dict[str, bytes], needle: str) -> None:
    import time

    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    before = _tree(tmp_path)
    start = time.monotonic()
    proc = _raynn(*args, "--storage", "out", cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert elapsed < 15, elapsed  # the bound for an unreachable address; a generous one for the rest
    assert _tree(tmp_path) == before
