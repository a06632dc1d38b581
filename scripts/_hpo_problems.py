"""Problems for ``scripts/bench_hpo.py``: a synthetic multi-fidelity function with a known optimum.

The synthetic problem is the Hartmann-3 function (Dixon & Szego, 1978, a standard global-optimisation test
function) on ``[0, 1]^3`` with a fidelity term:

    loss(x, r) = f(x) + c(x) / r**a + sigma * eps(x, r, seed),    c(x) = c0 + c1 * x_1,

``f`` the Hartmann-3 function (``f_min = -3.86278`` at ``x* = (0.114614, 0.555649, 0.852547)``), ``r`` the
cumulative epochs, ``eps`` a standard normal drawn from a generator seeded with ``(seed, r, bits of x)`` (so a
resumed trial sees the same value again). At low ``r`` the bias ``c(x) / r**a`` favours small ``x_1``, which
the optimum does not have: low fidelity is informative but biased, high fidelity more informative.
The quality of a configuration is its *true error* ``f(x) - f_min``.

Nothing here starts Ray; the trainables import ``ray.tune`` when they run inside a trial.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import tempfile
from typing import Any

import numpy as np

from raynn.hpo.spaces import FloatRange, SearchSpace

__all__ = [
    "C0",
    "C1",
    "F_MIN",
    "KEYS",
    "POWER",
    "SIGMA",
    "X_OPT",
    "hartmann3",
    "space",
    "synthetic_loss",
    "synthetic_trainable",
    "true_error",
]

KEYS = ("x0", "x1", "x2")
X_OPT = (0.114614, 0.555649, 0.852547)
C0, C1, POWER, SIGMA = 0.5, 3.0, 1.0, 0.02

_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_A = np.array([[3.0, 10.0, 30.0], [0.1, 10.0, 35.0], [3.0, 10.0, 30.0], [0.1, 10.0, 35.0]])
_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])


def hartmann3(x: Any) -> float:
    """``f(x) = -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2)`` on ``[0, 1]^3``."""
    v = np.asarray(x, dtype=float)
    return float(-(_ALPHA * np.exp(-((v - _P) ** 2 * _A).sum(axis=1))).sum())


F_MIN = hartmann3(X_OPT)


def true_error(x: Any) -> float:
    """``f(x) - f_min`` (>= 0)."""
    return max(0.0, hartmann3(x) - F_MIN)


def _bits(x: Any) -> list[int]:
    return [struct.unpack("<Q", struct.pack("<d", float(v)))[0] for v in x]


def synthetic_loss(x: Any, r: int, seed: int) -> float:
    """The validation loss of configuration ``x`` after ``r`` cumulative epochs (see the module docstring)."""
    if r < 1:
        raise ValueError(f"`r` must be >= 1, but got {r=}")
    eps = np.random.default_rng([seed, r, *_bits(x)]).standard_normal()
    return hartmann3(x) + (C0 + C1 * float(x[1])) / r**POWER + SIGMA * float(eps)


def space() -> SearchSpace:
    """``x0, x1, x2`` uniform on ``[0, 1]``."""
    return SearchSpace({k: FloatRange(0.0, 1.0) for k in KEYS})


def synthetic_trainable(config: dict[str, Any], *, seed: int, max_epoch: int) -> None:
    """Tune function trainable: one ``tune.report({"epoch", "loss"}, checkpoint)`` per epoch, no sleep.

    Resumes after the epoch stored in ``ray.tune.get_checkpoint()``, so a paused trial is not trained twice.
    """
    from ray import tune

    # One "Checkpoint successfully created" INFO line per epoch would be streamed to the driver for nothing.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)

    x = [float(config[k]) for k in KEYS]
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory, open(os.path.join(directory, "state.json")) as f:
            start = int(json.load(f)["epoch"])
    for epoch in range(start + 1, max_epoch + 1):
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump({"epoch": epoch}, f)
            tune.report(
                {"epoch": epoch, "loss": synthetic_loss(x, epoch, seed)},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
