"""Learning-rate schedules of seed §4.4.2.

Each is a pure function ``k -> learning rate`` of the 0-based iteration ``k``.

>>> from raynn.schedules import build, build_spec
>>> lr = build("warmup", alpha0=0.1, warmup_iters=5, after={"name": "cosine", "max_iter": 100})
>>> lr(4)
0.1
>>> build_spec({"name": "exponential", "alpha0": 1.0, "beta": 0.5})(3)
0.125

Every name is in :data:`SCHEDULES`; :func:`names` lists them.
"""

from __future__ import annotations

from raynn.schedules._base import SCHEDULES, Schedule
from raynn.schedules._factory import build, build_spec, names
from raynn.schedules.cosine import Cosine
from raynn.schedules.exponential import Exponential
from raynn.schedules.inverse_time import InverseTime
from raynn.schedules.natural_exponential import NaturalExponential
from raynn.schedules.piecewise_constant import PiecewiseConstant
from raynn.schedules.sgdr import SGDR
from raynn.schedules.triangular import Triangular
from raynn.schedules.warmup import Warmup

__all__ = [
    "SCHEDULES",
    "SGDR",
    "Cosine",
    "Exponential",
    "InverseTime",
    "NaturalExponential",
    "PiecewiseConstant",
    "Schedule",
    "Triangular",
    "Warmup",
    "build",
    "build_spec",
    "names",
]
