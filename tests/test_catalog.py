"""Every registry of user-facing names, walked: each name builds, and an unknown name lists the valid ones.

One recipe per kind says how a name of that kind is built with the least it needs; a registry without a
recipe fails :func:`test_every_registry_has_a_recipe`, so a new registry is walked as soon as it exists, and a
new name in an existing one is built by the existing recipe.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from raynn.catalog import all_registries, format_catalog
from raynn.cli import main
from raynn.data import build_augmentation, build_preprocessor
from raynn.early_stopping import METRICS, EarlyStopping
from raynn.hpo.searchers import SAMPLERS
from raynn.nn import NORMS, build_activation
from raynn.optim import build_clipper, build_optimizer
from raynn.registry import Registry
from raynn.scaling import scale_lr

REPO = Path(__file__).resolve().parents[1]
SPACE = {"space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1, "grid_points": 3}}}


def _dataset(name: str, tmp_path: Path) -> None:
    from raynn.data import DATASETS

    info = DATASETS.get(name)
    if not info.needs_root:
        data = info(None)
        assert tuple(data.x.shape[1:]) == info.input_shape
        return
    if name == "cifar10":  # torchvision checks each file's MD5: it cannot be faked; it must name the root
        with pytest.raises(ValueError, match=f"data set 'cifar10': the files are not there under root='{tmp_path}'"):
            info(tmp_path)
        return
    # torchvision's MNIST and Fashion-MNIST read IDX files: the bundled MNIST test set stands in for both splits.
    folder = {"torchvision-mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            packed = REPO / "raynn" / "data" / "mnist" / f"t10k-{kind}-ubyte.gz"
            (raw / f"{split}-{kind}-ubyte").write_bytes(gzip.decompress(packed.read_bytes()))
    data = info(tmp_path)
    assert tuple(data.x.shape) == (20000, *info.input_shape) and int(data.y.max()) == info.num_classes - 1


def _model(name: str, _: Path) -> None:
    from raynn.nn import MODELS

    model = MODELS.build(name, (1, 8, 8), 10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def _initializer(name: str, tmp_path: Path) -> None:
    from raynn.nn import INITIALIZERS

    layer = torch.nn.Linear(4, 3)
    spec: dict[str, Any] = {"name": name}
    if name == "pretrained":
        torch.save(torch.nn.Linear(4, 3).state_dict(), tmp_path / "weights.pt")
        spec["path"] = str(tmp_path / "weights.pt")
    INITIALIZERS.build(spec)(layer, "relu", torch.Generator().manual_seed(0))


SCHEDULE_ARGS: dict[str, dict[str, Any]] = {
    "cosine": {"alpha0": 0.1, "max_iter": 10},
    "exponential": {"alpha0": 0.1, "beta": 0.9},
    "inverse_time": {"alpha0": 0.1, "beta": 0.5},
    "natural_exponential": {"alpha0": 0.1, "beta": 0.1},
    "piecewise_constant": {"alpha0": 0.1, "boundaries": [5], "factors": [0.1]},
    "sgdr": {"alpha_min": 0.0, "alpha_max": 0.1, "t0": 1, "kappa": 2, "iters_per_epoch": 5},
    "triangular": {"alpha_min": 0.01, "alpha_max": 0.1, "delta_t": 4},
    "warmup": {"alpha0": 0.1, "warmup_iters": 4},
}


def _schedule(name: str, _: Path) -> None:
    from raynn.schedules import build

    assert build(name, **SCHEDULE_ARGS[name])(0) > 0


def _scheduler(name: str, _: Path) -> None:
    from raynn.hpo import SCHEDULERS
    from raynn.tune import build_scheduler

    info = SCHEDULERS.get(name)
    built = build_scheduler(name, **info.options.pick(
        {"budget": 48, "num_configs": 8, "max_resource": 9, "eta": 3, "metric": "loss", "mode": "min"}))
    core = info.core
    assert core is None or type(built).__name__ == core.__name__  # the adapter is named as its core


def _searcher(name: str, _: Path) -> None:
    from raynn.hpo import SEARCHERS, SearchSpace, build_searcher

    options = {"seed": 0} if "seed" in SEARCHERS.options(name) else {}
    searcher = build_searcher(name, SearchSpace.from_dict(SPACE), **options)
    assert 0.01 <= searcher.suggest("t0")["optimizer.lr"] <= 0.1


def _distribution(name: str, _: Path) -> None:
    from raynn.hpo import DISTRIBUTIONS

    raw = {"float": {"low": 0.1, "high": 1.0}, "int": {"low": 1, "high": 4},
           "categorical": {"choices": [[8], [16]]}, "grid": {"values": [1, 2]}}[name]
    assert DISTRIBUTIONS.get(name)("space.x", raw).corners()


def _study(name: str, _: Path) -> None:
    from raynn.study import load_study

    assert load_study(name).name == name


def _clipper(name: str, _: Path) -> None:
    needs = {"norm": {"max_norm": 1.0}, "value": {"low": -1.0, "high": 1.0}}
    build_clipper({"name": name, **needs.get(name, {})})


RECIPES: dict[str, Callable[[str, Path], object]] = {
    "data set": _dataset,
    "preprocessor": lambda name, _: build_preprocessor(name),
    "augmentation": lambda name, _: build_augmentation([name]),
    "model": _model,
    "activation": lambda name, _: build_activation(name)(torch.zeros(3)),
    "normalization": lambda name, _: NORMS.get(name)(4, False),
    "initializer": _initializer,
    "optimizer": lambda name, _: build_optimizer([torch.nn.Parameter(torch.zeros(2))], name, 0.1),
    "clipper": _clipper,
    "schedule": _schedule,
    "scaling rule": lambda name, _: scale_lr(0.1, 128, 64, name),
    "early-stopping metric": lambda name, _: EarlyStopping(1, mode=METRICS.get(name)),
    "scheduler": _scheduler,
    "searcher": _searcher,
    "sampler": lambda name, _: SAMPLERS.get(name)(0, 1),
    "search-space type": _distribution,
    "study": _study,
}

NAMES = [(kind, entry.name) for kind, registry in all_registries().items() for entry in registry]


def test_every_registry_has_a_recipe() -> None:
    assert set(all_registries()) == set(RECIPES)


@pytest.mark.parametrize(("kind", "name"), NAMES, ids=[f"{k}:{n}" for k, n in NAMES])
def test_every_name_builds(kind: str, name: str, tmp_path: Path) -> None:
    entry = all_registries()[kind].entry(name)
    assert entry.summary, f"{kind} {name!r} has no summary for `raynn list`"
    RECIPES[kind](name, tmp_path)


@pytest.mark.parametrize("kind", list(all_registries()))
def test_an_unknown_name_lists_the_valid_ones(kind: str) -> None:
    registry: Registry[Any] = all_registries()[kind]
    with pytest.raises(ValueError, match=f"^unknown {kind} 'no-such-name'; valid names: "
                                         f"{', '.join(registry.names())}$"):
        registry.get("no-such-name")
    assert "no-such-name" not in registry and registry.names() == sorted(registry.names())


def test_raynn_list_prints_every_name_of_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out == format_catalog() + "\n"
    for kind, name in NAMES:
        assert f"\n  {name:<22} " in out and f"{kind}:\n" in out
