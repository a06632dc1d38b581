"""Successive halving, seed §4.7.3, Algorithm 7.2 (and the general ``eta`` form)."""

from __future__ import annotations

from raynn.hpo._sync import SyncHalving
from raynn.hpo.base import Mode
from raynn.hpo.budget import BracketPlan, Round, sh_eta_rounds, sh_rounds

__all__ = ["SuccessiveHalving"]


class SuccessiveHalving(SyncHalving):
    """One bracket of successive halving (Jamieson & Talwalkar, 2016), as the seed's Algorithm 7.2.

    ``T = ceil(log2 N) - 1`` rounds. In round ``t`` each of the ``|S_t|`` surviving configurations gets
    ``r_t = floor(B / (|S_t| T))`` more units, so it holds ``R_t = r_1 + ... + r_t`` (its :meth:`target`);
    then the better half survives: ``floor(|S_t| / 2)`` of them, at least 1 (the seed writes ``|S_t| / 2``).
    The total ``sum_t |S_t| r_t`` never exceeds ``B``. The configurations of the last round stop when they
    reach ``R_T``; :meth:`best` is the winner. Rounds are numbered ``i = t - 1 = 0..T-1`` in :meth:`plan`.

    If configurations are removed, or :meth:`on_search_exhausted` seals the bracket with fewer than ``N``,
    a round with ``m`` live configurations keeps ``max(1, floor(m / 2))`` of them; targets stay as planned.

    Example (``B = 64``, ``N = 8``): ``T = 2``, ``r = [4, 8]``, targets ``[4, 12]``, spent ``8*4 + 4*8 = 64``.

    Args:
        budget: ``B``, the total units of resource.
        n_configs: ``N >= 3``, the number of configurations; :meth:`has_room` is False after ``N`` arrived.
        mode: ``"min"`` or ``"max"`` (a :class:`Mode`).
    """

    def __init__(self, budget: int, n_configs: int, mode: Mode | str = Mode.MIN) -> None:
        rounds = sh_rounds(budget, n_configs)
        self.budget = budget
        super().__init__([BracketPlan(0, tuple(rounds))], halving=2, mode=mode, max_bands=1)

    @classmethod
    def from_eta(
        cls, n: int, r_min: int, r_max: int, eta: int = 3, mode: Mode | str = Mode.MIN
    ) -> SuccessiveHalving:
        """The general form (Li et al., 2018, the inner loop of HyperBand).

        Round ``i`` keeps ``n_i = floor(n / eta**i)`` configurations at ``r_i = r_min * eta**i`` (capped at
        ``r_max``); the best ``floor(n_i / eta)`` (at least 1) go on. :attr:`budget` is the planned total.

        Args:
            n: configurations in round 0.
            r_min: resource of round 0.
            r_max: largest resource; the round that reaches it is the last.
            eta: reduction factor, an integer >= 2.
            mode: ``"min"`` or ``"max"``.
        """
        rounds: list[Round] = sh_eta_rounds(n, r_min, r_max, eta)
        self = cls.__new__(cls)
        SyncHalving.__init__(self, [BracketPlan(0, tuple(rounds))], halving=eta, mode=mode, max_bands=1)
        self.budget = self.planned_budget
        return self
