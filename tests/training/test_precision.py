"""GPU-class training settings, checked on the CPU: precision (autocast, fp16's gradient scaler), gradient
accumulation inside the scaling rule, no host sync inside a step, DDP's all-reduce once per update,
channels_last and torch.compile."""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import raynn.training.loop as loop
from raynn.config import check_config
from raynn.training.checkpoint import load_checkpoint
from raynn.training.local import LocalRun
from raynn.training.loop import Env, run_training
from raynn.training.precision import Precision

QUIET = {"log": lambda line: None}


def _cfg(**train: Any) -> dict[str, Any]:
    return check_config({"data": {"subset": 400}, "model": {"params": {"hidden": [32]}},
                         "train": {"epochs": 2, "batch_size": 16, "num_threads": 1, **train}})


def test_accumulation_follows_the_schedule_and_updates_of_a_batch_that_many_times_larger() -> None:
    """A = 4 micro-batches of 16 on one worker is one update of 64: the scaling rule, the warmup and the
    schedule count the global batch 16 x 1 x 4 and iterations as updates, and the weights follow the same path
    (up to float rounding), the last, shorter update of each epoch included (320 training images)."""
    common = {"optimizer": {"name": "momentum", "lr": 0.05, "clip": {"name": "norm", "max_norm": 2.0},
                            "weight_decay": 1e-4},
              "schedule": {"name": "cosine"}, "scaling": {"reference_batch": 16, "warmup_epochs": 0.5},
              "data": {"subset": 400}, "model": {"params": {"hidden": [32]}}}
    lines: list[str] = []
    acc = run_training(check_config({**common, "train": {"epochs": 2, "batch_size": 20, "accumulate": 3,
                                                         "num_threads": 1}}), Env(log=lines.append))
    big = run_training(check_config({**common, "train": {"epochs": 2, "batch_size": 60, "num_threads": 1}}),
                       Env(log=lambda line: None))
    assert "global batch 60 = 20 x 1 worker(s) x 3 accumulated micro-batches; lr 0.1875" in lines[1], lines[1]
    assert [h["step"] for h in acc] == [h["step"] for h in big] == [6, 12]  # ceil(320 / 60) updates per epoch
    assert [h["lr"] for h in acc] == [h["lr"] for h in big] and acc[0]["global_batch"] == 60
    for a, b in zip(acc, big):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_under_autocast_close_to_fp32(precision: str) -> None:
    fp32 = run_training(_cfg(), Env(**QUIET))
    mixed = run_training(_cfg(precision=precision), Env(**QUIET))
    assert all(math.isfinite(h["val_loss"]) for h in mixed) and not mixed[-1]["diverged"]
    assert mixed[-1]["val_loss"] == pytest.approx(fp32[-1]["val_loss"], rel=0.1)
    assert mixed[-1]["val_loss"] != fp32[-1]["val_loss"]  # the forward pass really ran in 16 bits


def test_autocast_runs_the_forward_pass_in_the_chosen_dtype() -> None:
    layer = torch.nn.Linear(4, 2)
    for name, dtype in [("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)]:
        amp = Precision(name, torch.device("cpu"))
        with amp.autocast():
            assert layer(torch.ones(3, 4)).dtype == dtype
        assert amp.scaler.is_enabled() == (name == "fp16")


def test_fp16_skips_an_overflowing_step_as_the_scaler_does_and_resumes_at_its_scale(tmp_path: Path) -> None:
    """An inf loss scale overflows the first step: the scaler skips it and halves the scale; the run is not
    diverged; the scale is in the checkpoint and a resumed run continues from it."""
    cfg = _cfg(precision="fp16", epochs=1)
    cfg["name"] = "fp16"
    run = LocalRun(tmp_path / "fp16", log=lambda line: None)
    real = Precision.__init__

    def huge_scale(self: Precision, name: str, device: torch.device) -> None:
        real(self, name, device)
        self.scaler = torch.amp.GradScaler(device.type, init_scale=2.0**120, enabled=name == "fp16")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Precision, "__init__", huge_scale)
        history = run_training(cfg, run.env())
    assert not history[-1]["diverged"] and math.isfinite(history[-1]["train_loss"])
    scale = load_checkpoint(run.latest_checkpoint())["scaler"]["scale"]
    assert scale < 2.0**120  # lowered after overflows
    cfg["train"]["epochs"] = 2
    resumed = run_training(cfg, run.env())
    assert resumed[-1]["epoch"] == 2 and resumed[-1]["resumes"] == 1
    assert load_checkpoint(run.latest_checkpoint())["scaler"]["scale"] <= scale * 2  # continued, not reset


_SYNCS = ("item", "__float__", "__int__", "__bool__", "__index__", "tolist")


@contextlib.contextmanager
def _no_host_sync() -> Iterator[None]:
    """Make every way of reading a tensor's value back to the host fail, as torch.cuda.set_sync_debug_mode
    ("error") does on a GPU."""
    saved = {name: getattr(torch.Tensor, name) for name in _SYNCS}

    def refuse(name: str) -> Any:
        def call(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"Tensor.{name} inside a training step: a host sync")
        return call

    try:
        for name in _SYNCS:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("clip", [{"name": "norm", "max_norm": 1.0}, {"name": "adaptive", "warmup_steps": 2},
                                  {"name": "value", "low": -0.1, "high": 0.1}])
def test_no_value_is_read_back_to_the_host_inside_a_training_step(monkeypatch: pytest.MonkeyPatch,
                                                                  precision: str, clip: dict[str, Any]) -> None:
    real, calls = loop.micro_step, []

    def guarded(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(1)
        with _no_host_sync():
            return real(*args, **kwargs)

    monkeypatch.setattr(loop, "micro_step", guarded)
    cfg = check_config({"data": {"subset": 200}, "model": {"params": {"hidden": [16]}, "dropout": 0.1},
                        "optimizer": {"clip": clip, "weight_decay": 1e-4, "penalty": {"p": 2, "lambda": 1e-4}},
                        "targets": {"label_smoothing": 0.1}, "schedule": "cosine",
                        "train": {"epochs": 2, "batch_size": 16, "accumulate": 2, "precision": precision,
                                  "num_threads": 1}})
    history = run_training(cfg, Env(**QUIET))
    assert len(calls) == 2 * 10 and all(math.isfinite(h["val_loss"]) for h in history)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=rank, world_size=world)
    counts = {}
    for accumulate in (1, 3):
        calls = []

        def counting(state, bucket):  # type: ignore[no-untyped-def]  # DDP checks the hook's annotations
            calls.append(1)
            fut = dist.all_reduce(bucket.buffer().div_(world), async_op=True).get_future()
            return fut.then(lambda f: f.value()[0])

        def prepare(model: torch.nn.Module) -> torch.nn.Module:
            ddp = DistributedDataParallel(model, bucket_cap_mb=1000)  # one bucket: one all-reduce per backward
            ddp.register_comm_hook(None, counting)
            return ddp

        run_training(_cfg(epochs=1, accumulate=accumulate),
                     Env(rank=rank, world_size=world, prepare_model=prepare, **QUIET))
        counts[accumulate] = len(calls)
    if rank == 0:
        Path(out).write_text(f"{counts[1]} {counts[3]}")
    dist.destroy_process_group()


def test_ddp_all_reduces_once_per_update_not_per_micro_batch(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "calls")), nprocs=2, join=True)
    # 320 images in batches of 16: 20 micro-batches; with 3 per update, ceil(20 / 3) = 7 updates
    assert (tmp_path / "calls").read_text() == "20 7"


def test_channels_last_and_compile_train_a_cnn_on_the_cpu() -> None:
    base = {"data": {"subset": 200, "preprocess": "minmax"}, "model": {"name": "cnn", "params": {"channels": [4]}}}
    plain = run_training(check_config({**base, "train": {"epochs": 1, "batch_size": 32}}), Env(**QUIET))
    cl = run_training(check_config({**base, "train": {"epochs": 1, "batch_size": 32, "channels_last": True}}),
                      Env(**QUIET))
    assert cl[-1]["val_loss"] == pytest.approx(plain[-1]["val_loss"], rel=1e-4)
    compiled = run_training(check_config({**base, "train": {"epochs": 1, "batch_size": 32,
                                                            "compile": {"backend": "aot_eager"}}}), Env(**QUIET))
    assert compiled[-1]["val_loss"] == pytest.approx(plain[-1]["val_loss"], rel=1e-3)
