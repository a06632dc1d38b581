"""HyperBand (Li et al., 2018), the improvement the seed names at the end of §4.7.3."""

from __future__ import annotations

from raynn.hpo._sync import SyncHalving
from raynn.hpo.base import Mode
from raynn.hpo.budget import hyperband_brackets
from raynn.values import check_int

__all__ = ["HyperBand"]


class HyperBand(SyncHalving):
    """HyperBand: successive halving over several trade-offs between ``n`` and ``r``.

    Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: A Novel Bandit-Based Approach to
    Hyperparameter Optimization", JMLR 18(185), 2018, Algorithm 1, with ``R`` = ``max_resource``:
    ``s_max = floor(log_eta(R / r_min))`` and ``B = (s_max + 1) R`` (:attr:`bracket_budget`, about what each
    bracket spends). Bracket ``s = s_max..0`` starts ``n = ceil(B / R * eta**s / (s + 1))`` configurations at
    ``r = R eta**-s``; its round ``i = 0..s`` keeps ``n_i = floor(n eta**-i)`` of them at ``r_i = r eta**i``
    (see :func:`~raynn.hpo.budget.hyperband_brackets`).

    Brackets are filled one after the other in the order ``s_max..0``, each with exactly ``n`` configurations
    (a bracket need not finish its first rung before the next one starts filling); each halves on its own,
    keeping the best ``floor(m / eta)`` (at least 1) of the ``m`` configurations alive in a round. After
    bracket ``s = 0`` a new band repeats the plan. :meth:`plan` rows carry ``"bracket": s``, while
    :meth:`bracket_of` numbers bracket instances ``0, 1, 2, ...`` in the order they were opened.

    Args:
        max_resource: ``R``, resource of the last round (e.g. epochs).
        eta: reduction factor, an integer >= 2.
        min_resource: ``r_min``, the smallest resource a round gives.
        mode: ``"min"`` or ``"max"``.
        max_bands: stop asking for configurations after this many bands (None: until the search is exhausted).
    """

    def __init__(
        self,
        max_resource: int,
        eta: int = 3,
        min_resource: int = 1,
        mode: Mode | str = Mode.MIN,
        max_bands: int | None = None,
    ) -> None:
        plans = hyperband_brackets(max_resource, eta, min_resource)
        self.max_resource, self.eta, self.min_resource = max_resource, eta, min_resource
        self.s_max = plans[0].s
        self.bracket_budget = (self.s_max + 1) * max_resource
        super().__init__(
            plans, halving=eta, mode=mode, max_bands=check_int("max_bands", max_bands, 1, optional=True)
        )
