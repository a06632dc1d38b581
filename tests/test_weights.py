"""raynn.weights.safe_load: PyTorch files read as data only; a pickled payload is refused, never run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raynn.weights import CHECKPOINT_FILE, CheckpointError, checkpoint_file, safe_load


class _Payload:
    """Unpickled, it opens (creates) ``marker``: what a payload that runs code needs, a Python global."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_reads_tensors_from_a_file_or_a_checkpoint_directory(tmp_path: Path) -> None:
    state = {"weight": torch.arange(3.0)}
    torch.save(state, tmp_path / CHECKPOINT_FILE)
    assert checkpoint_file(tmp_path) == tmp_path / CHECKPOINT_FILE
    for path in (tmp_path, tmp_path / CHECKPOINT_FILE):
        assert torch.equal(safe_load(path)["weight"], state["weight"])


def test_refuses_a_pickled_payload_without_running_it(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2), "x": _Payload(tmp_path / "pwned")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused: it holds Python objects") as info:
        safe_load(tmp_path / "evil.pt")
    assert info.value.path == str(tmp_path / "evil.pt") and not (tmp_path / "pwned").exists()


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="unreadable"):
        safe_load(tmp_path / "cut.pt")
    with pytest.raises(FileNotFoundError, match="no raynn checkpoint at"):
        safe_load(tmp_path / "missing")
