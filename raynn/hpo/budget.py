"""Budget arithmetic of successive halving and HyperBand, in pure integers.

Counts come from ``int.bit_length`` and repeated multiplication, never ``math.log``:
``math.log(243, 3) == 4.999999999999999`` would silently drop a HyperBand bracket.

Every schedule is a list of :class:`Round` ``(n, r)``: ``n`` configurations run in the round and each holds
``r`` units of resource (cumulative) at its end.
"""

from __future__ import annotations

from typing import NamedTuple

from raynn.errors import ConfigError
from raynn.values import check_int, is_int
__all__ = [
    "BracketPlan",
    "Round",
    "ceil_log2",
    "hyperband_brackets",
    "ilog",
    "rung_resources",
    "sh_eta_rounds",
    "sh_rounds",
]


class Round(NamedTuple):
    """One round of successive halving: ``n`` configurations, each trained to ``r`` cumulative units."""

    n: int
    r: int


class BracketPlan(NamedTuple):
    """One HyperBand bracket: its index ``s`` (Li et al.) and its rounds ``i = 0..s``."""

    s: int
    rounds: tuple[Round, ...]


def _check_geometry(r_min: int, r_max: int, eta: int, r_max_name: str) -> None:
    """``r_min``, ``r_max`` integers >= 1 with ``r_min <= r_max`` and ``eta`` an integer >= 2."""
    check_int(r_max_name, r_max, 1)
    check_int("eta", eta, 2)
    check_int("r_min", r_min, 1)
    if r_min > r_max:
        raise ConfigError("r_min", f"must be <= {r_max_name}", r_min,
                          message=f"`r_min <= {r_max_name}` must hold, but got (r_min={r_min}, {r_max_name}={r_max})")


def ceil_log2(n: int) -> int:
    """``ceil(log2(n))`` for an integer ``n >= 1``, exactly: ``(n - 1).bit_length()``."""
    check_int("n", n, 1)
    return (n - 1).bit_length()


def ilog(x: int, base: int) -> int:
    """The largest ``s`` with ``base**s <= x`` (integer ``x >= 1``, ``base >= 2``); ``ilog(243, 3) == 5``."""
    check_int("x", x, 1)
    check_int("base", base, 2)
    s, power = 0, base
    while power <= x:
        s, power = s + 1, power * base
    return s


def sh_rounds(budget: int, n_configs: int) -> list[Round]:
    """Seed Algorithm 7.2: successive halving of ``N`` configurations under a budget ``B``.

    ``T = ceil(log2 N) - 1`` rounds; round ``t = 1..T`` runs ``|S_t|`` configurations (``|S_1| = N``,
    ``|S_{t+1}| = max(1, floor(|S_t| / 2))``), each given ``r_t = floor(B / (|S_t| T))`` more units. The row
    of round ``t`` holds ``R_t = r_1 + ... + r_t``. Since ``|S_t| r_t <= B / T``, the total ``sum |S_t| r_t``
    never exceeds ``B``.

    Args:
        budget: ``B``, total units of resource.
        n_configs: ``N``, number of configurations; ``N >= 3`` (``N = 2`` gives ``T = 0`` rounds).

    Returns:
        ``T`` rounds ``Round(|S_t|, R_t)``; the increments ``r_t`` are the differences of ``R_t``.
    """
    check_int("budget", budget, 1)
    if not is_int(n_configs) or n_configs < 3:
        raise ConfigError("n_configs", "must be an integer >= 3", n_configs, message=(
            "Algorithm 7.2 runs T = ceil(log2 N) - 1 rounds, so `n_configs >= 3` must hold "
            f"(N = 2 gives no round), but got {n_configs=!r}"))
    rounds_total = ceil_log2(n_configs) - 1
    if budget // (n_configs * rounds_total) < 1:
        raise ConfigError("budget", "must be >= n_configs * T", budget, message=
            f"budget too small for one round: r_1 = floor(B / (N T)) = floor({budget} / ({n_configs} * "
            f"{rounds_total})) = 0, so `budget >= n_configs * T` must hold, but got "
            f"(budget={budget}, n_configs={n_configs}, T={rounds_total})")
    rounds, size, held = [], n_configs, 0
    for _ in range(rounds_total):
        held += budget // (size * rounds_total)
        rounds.append(Round(size, held))
        size = max(1, size // 2)
    return rounds


def rung_resources(r_min: int, r_max: int, eta: int) -> list[int]:
    """Rung targets ``r_min * eta**k`` below ``r_max``, then ``r_max``: ``(1, 10, 3) -> [1, 3, 9, 10]``."""
    _check_geometry(r_min, r_max, eta, "r_max")
    rungs = []
    r = r_min
    while r < r_max:
        rungs.append(r)
        r *= eta
    return [*rungs, r_max]


def sh_eta_rounds(n: int, r_min: int, r_max: int, eta: int) -> list[Round]:
    """General successive halving: ``n_i = floor(n / eta**i)``, ``r_i = min(r_min * eta**i, r_max)``.

    Rounds go on while ``n_i >= 1`` and the previous round stayed below ``r_max``.

    Args:
        n: configurations in the first round.
        r_min: resource of the first round.
        r_max: largest resource a configuration may hold.
        eta: reduction factor, an integer >= 2.
    """
    check_int("n", n, 1)
    rounds = []
    for i, r in enumerate(rung_resources(r_min, r_max, eta)):
        size = n // eta**i
        if size < 1:
            break
        rounds.append(Round(size, r))
    return rounds


def hyperband_brackets(max_resource: int, eta: int, r_min: int = 1) -> list[BracketPlan]:
    """The brackets of one HyperBand band (Li et al., 2018, JMLR 18(185), Algorithm 1).

    ``s_max = floor(log_eta(R / r_min))``, ``B = (s_max + 1) R``; for ``s = s_max..0``:
    ``n = ceil((s_max + 1) eta**s / (s + 1))``, ``r = R eta**-s``, and round ``i = 0..s`` keeps
    ``n_i = floor(n eta**-i)`` configurations at ``r_i = r eta**i`` (here ``max(r_min, R // eta**(s - i))``).

    Args:
        max_resource: ``R``, the resource of the last round.
        eta: reduction factor, an integer >= 2.
        r_min: the smallest resource a round may give.
    """
    _check_geometry(r_min, max_resource, eta, "max_resource")
    s_max = ilog(max_resource // r_min, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-((s_max + 1) * eta**s) // (s + 1))
        rounds = tuple(Round(n // eta**i, max(r_min, max_resource // eta ** (s - i))) for i in range(s + 1))
        brackets.append(BracketPlan(s, rounds))
    return brackets
