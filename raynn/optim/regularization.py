"""Explicit regularization of the seed's section 4.6: l_p penalty (4.6.1) and weight decay (4.6.2)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["decoupled_weight_decay_", "lp_penalty"]


def decoupled_weight_decay_(params: Iterable[torch.Tensor], beta: float, where: torch.Tensor | None = None) -> None:
    """Multiply every parameter by ``1 - beta`` in place; call it just before ``optimizer.step()``.

    Together with the step this is the chapter's weight decay (4.6.2),

        theta_k = (1 - beta) theta_{k-1} - alpha_k g_k,

    where ``g_k`` is the optimizer's direction computed from the gradient at ``theta_{k-1}`` (the gradients
    are already in ``.grad`` when this runs, so shrinking the weights first does not change them).

    The decay factor ``beta`` is *not* multiplied by the learning rate: every step removes the fraction
    ``beta`` of each weight, whatever ``alpha_k`` is. AdamW (Loshchilov & Hutter, 2019; torch's ``AdamW`` and
    ``decoupled_weight_decay=True``) instead shrinks by ``1 - alpha_k lambda``, so its decay follows the
    learning-rate schedule. torch's ``weight_decay`` on SGD/Adam adds ``lambda theta`` to the gradient, an l2
    penalty that adaptive methods then rescale. To get AdamW's behaviour here, pass ``beta = alpha_k lambda``.

    Args:
        params: The tensors to decay (choose them: biases and normalization parameters are often excluded).
        beta: Decay coefficient, ``0 <= beta < 1``; the chapter's example is ``0.0005``.
        where: A 0-dim bool tensor on the parameters' device: where it is False the weights are left as they
            are (a step that mixed precision's gradient scaler will skip), decided on the device without
            reading the value back to the host.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"`0 <= beta < 1` must hold, but got {beta=}")
    params = list(params)
    if beta == 0.0 or not params:
        return
    factor: float | torch.Tensor = 1.0 - beta
    if where is not None:
        factor = torch.where(where, 1.0 - beta, 1.0).to(params[0].dtype)
    with torch.no_grad():
        torch._foreach_mul_(params, factor)


def lp_penalty(params: Iterable[torch.Tensor], p: float, lam: float) -> torch.Tensor:
    """The chapter's l_p regularizer ``lam * ||theta||_p`` (4.6.1), to add to the mean loss.

    ``theta`` is all of ``params`` flattened into one vector, so
    ``||theta||_p = (sum_i |theta_i|^p)^(1/p)`` over every element of every tensor (``max_i |theta_i|`` for
    ``p = inf``). Note the chapter's form is the norm itself, not the squared norm ``(lam/2) ||theta||_2^2``
    whose gradient is ``lam * theta``: the gradient here is ``lam * theta / ||theta||_2`` for ``p = 2``, and
    ``lam * sign(theta)`` for ``p = 1``.

    Args:
        params: The parameters to penalize (any iterable of tensors, e.g. ``model.parameters()``).
        p: The norm's order, ``p >= 1`` (usually 1 or 2), or ``math.inf``.
        lam: The coefficient ``lambda >= 0``.

    Returns:
        A scalar tensor that is differentiable with respect to ``params``.
    """
    if not p >= 1:
        raise ValueError(f"`p >= 1` must hold, but got {p=}")
    if not (lam >= 0 and math.isfinite(lam)):
        raise ValueError(f"`lam >= 0` must hold, but got {lam=}")
    tensors = list(params)
    if not tensors:
        raise ValueError("`params` must hold at least one tensor, but got none")
    # The p-norm of the per-tensor p-norms is the p-norm of the concatenation, without copying every weight.
    per_tensor = torch.stack([torch.linalg.vector_norm(t, ord=p) for t in tensors])
    return lam * torch.linalg.vector_norm(per_tensor, ord=p)
