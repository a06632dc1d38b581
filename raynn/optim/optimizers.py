"""The optimizers of the seed's section 4.4 (Table 7.1), as ``torch.optim`` classes behind one registry.

Each name fixes what makes it that method (``"sgd"`` has no momentum, ``"nesterov"`` has Nesterov's
look-ahead) and may change the chapter's defaults where they differ from torch's (RMSprop's decay rate
``beta = 0.9``, torch's ``alpha``). Hyperparameters keep torch's names; anything the torch constructor does
not take, or that the name fixes, is a ``ValueError`` that lists what may be set.

torch's ``weight_decay`` argument is not exposed: it adds ``lambda * theta`` to the gradient (an l2 term),
which is neither the chapter's weight decay (4.6.2) nor its l_p penalty (4.6.1). Use
:func:`raynn.optim.decoupled_weight_decay_` and :func:`raynn.optim.lp_penalty` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from raynn.registry import Registry, valid_kwargs
from raynn.values import is_finite_number

__all__ = ["OPTIMIZERS", "OptimizerInfo", "build_optimizer", "hyperparameters"]

#: Constructor arguments no config may set: the learning rate has its own argument, weight decay lives in
#: raynn.optim.regularization, and the rest choose kernels or change the objective's sign.
NOT_EXPOSED = frozenset(
    {
        "params",
        "lr",
        "weight_decay",
        "decoupled_weight_decay",
        "maximize",
        "foreach",
        "fused",
        "differentiable",
        "capturable",
    }
)


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer name.

    Args:
        cls: The ``torch.optim`` class.
        defaults: Hyperparameter defaults that replace torch's (the chapter's values); a config may override.
        fixed: Arguments that make the name mean what it says; a config may not set them.
    """

    cls: type[torch.optim.Optimizer]
    defaults: Mapping[str, Any] = field(default_factory=_frozen)
    fixed: Mapping[str, Any] = field(default_factory=_frozen)

    def options(self) -> list[str]:
        """The hyperparameters (besides ``lr``) a config may set, in torch's order."""
        return valid_kwargs(self.cls.__init__, hidden=NOT_EXPOSED | set(self.fixed))

    def hint(self, name: str, unknown: list[str]) -> list[str]:
        """Why some of ``unknown`` may not be set, appended to the error that names them."""
        notes = []
        if "weight_decay" in unknown:
            notes.append("weight decay is raynn.optim.decoupled_weight_decay_ (4.6.2) or lp_penalty (4.6.1)")
        fixed = [k for k in unknown if k in self.fixed]
        if fixed:
            notes.append(f"{name!r} fixes {', '.join(f'{k}={self.fixed[k]!r}' for k in fixed)}")
        return notes

    def __call__(self, params: Iterable[Any], lr: float, **hyper: Any) -> torch.optim.Optimizer:
        kwargs = {**self.defaults, **hyper, **self.fixed}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        return self.cls(params, lr=lr, **kwargs)


OPTIMIZERS: Registry[OptimizerInfo] = Registry("optimizer", word="hyperparameter", listed="valid",
                                               options=OptimizerInfo.options)


def _sgd(nesterov: bool = False, momentum: float | None = None) -> OptimizerInfo:
    """``torch.optim.SGD`` without dampening: with ``momentum`` (rho) as its default, heavy-ball or
    Nesterov as ``nesterov`` says; without it, plain mini-batch SGD (momentum fixed at 0)."""
    fixed = {"dampening": 0.0, "nesterov": nesterov}
    if momentum is None:
        return OptimizerInfo(torch.optim.SGD, fixed=_frozen({"momentum": 0.0, **fixed}))
    return OptimizerInfo(torch.optim.SGD, defaults=_frozen({"momentum": momentum}), fixed=_frozen(fixed))


#: Table 7.1, one row a name: ``(name, info, summary)``.
_TABLE_7_1: tuple[tuple[str, OptimizerInfo, str], ...] = (
    ("sgd", _sgd(), "mini-batch SGD: theta_k = theta_{k-1} - alpha_k g_k (4.4.1)"),
    # torch keeps v_k = rho v_{k-1} + g_k and steps theta_k = theta_{k-1} - alpha_k v_k; with a constant alpha
    # that is the chapter's Delta theta_k = rho Delta theta_{k-1} - alpha g_k (Delta theta_k = -alpha v_k).
    ("momentum", _sgd(momentum=0.9), "heavy-ball momentum, rho = `momentum` = 0.9 (4.4.3)"),
    # torch's Nesterov step is Sutskever et al.'s reparametrization of the chapter's look-ahead form: it
    # tracks theta_hat = theta + rho Delta theta, so the gradient is evaluated at the look-ahead point.
    (
        "nesterov",
        _sgd(nesterov=True, momentum=0.9),
        "Nesterov accelerated gradient, rho = `momentum` = 0.9 (4.4.3)",
    ),
    # torch adds eps outside the square root, sqrt(sum_k) + eps; the chapter writes sqrt(sum_k + eps).
    (
        "adagrad",
        OptimizerInfo(torch.optim.Adagrad),
        "AdaGrad: per-parameter rate alpha / sqrt(sum of squared gradients) (4.4.2)",
    ),
    (
        "rmsprop",
        OptimizerInfo(torch.optim.RMSprop, defaults=_frozen({"alpha": 0.9})),
        "RMSprop: decay rate beta = `alpha` = 0.9 of the squared-gradient average (4.4.2)",
    ),
    (
        "adadelta",
        OptimizerInfo(torch.optim.Adadelta),
        "AdaDelta: RMSprop with the step scaled by the RMS of past updates (Table 7.1)",
    ),
    (
        "adam",
        OptimizerInfo(torch.optim.Adam),
        "Adam ~ momentum + RMSprop, `betas` = (0.9, 0.999) (Kingma & Ba, 2015)",
    ),
    ("nadam", OptimizerInfo(torch.optim.NAdam), "Nadam ~ Nesterov + RMSprop (Dozat, 2016)"),
)
for _name, _info, _summary in _TABLE_7_1:
    OPTIMIZERS.add(_name, _info, _summary)
del _name, _info, _summary


def hyperparameters(name: str) -> list[str]:
    """The hyperparameters (besides ``lr``) a config may set for optimizer ``name``, in torch's order."""
    return OPTIMIZERS.options(name)


def build_optimizer(
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], name: str, lr: float, **hyper: Any
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``params``.

    Args:
        params: Parameters or parameter groups, as for any ``torch.optim`` class.
        name: Registered optimizer name.
        lr: Learning rate ``alpha > 0`` (the initial one when a schedule changes it).
        **hyper: torch constructor arguments, see :func:`hyperparameters`. Lists become tuples
            (``betas: [0.9, 0.999]`` in YAML).

    Raises:
        ValueError: Unknown name, unknown or fixed hyperparameter (all of them named), or ``lr <= 0``.
    """
    OPTIMIZERS.check(name, hyper)
    if not is_finite_number(lr) or not lr > 0:
        raise ValueError(f"`lr > 0` must hold for optimizer {name!r}, but got {lr=!r}")
    return OPTIMIZERS.get(name)(params, float(lr), **hyper)
