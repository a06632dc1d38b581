"""Soft targets, the seed's section 4.2.3: label smoothing and knowledge distillation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raynn.values import is_int

__all__ = ["SmoothedCrossEntropy", "distillation_loss", "smooth_labels", "smoothed_cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_eps(eps: float) -> None:
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"`0 <= eps < 1` must hold, but got {eps=}")


def _check_targets(targets: torch.Tensor, num_classes: int) -> None:
    if targets.dtype == torch.bool or targets.is_floating_point() or targets.is_complex():
        raise ValueError(f"`targets` must be integer class indices, but got dtype {targets.dtype}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        raise ValueError(
            f"`0 <= targets < num_classes` must hold, but got targets in "
            f"[{int(targets.min())}, {int(targets.max())}] with {num_classes=}"
        )


def smooth_labels(
    targets: torch.Tensor, num_classes: int, eps: float, dtype: torch.dtype = torch.float32, check: bool = True
) -> torch.Tensor:
    """The chapter's smoothed label: ``1 - eps`` on the true class and ``eps / (K - 1)`` on each other class.

        y_tilde = [eps/(K-1), ..., eps/(K-1), 1 - eps, eps/(K-1), ..., eps/(K-1)]

    This is *not* torch's ``CrossEntropyLoss(label_smoothing=eps)``, whose target is
    ``(1 - eps) y + eps / K``: it spreads ``eps / K`` over all ``K`` classes, the true one included, so the
    true class gets ``1 - eps + eps / K`` and each other ``eps / K``.

    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.

    Args:
        targets: Integer class indices of any shape ``(...)``.
        num_classes: ``K >= 2``.
        eps: Probability mass moved off the true class, ``0 <= eps < 1``.
        dtype: Floating dtype of the result.
        check: Check that every target lies in ``[0, K)`` (reads them back to the host: the training loss
            skips it, as ``F.cross_entropy`` does, and the data's labels are checked where they are loaded).

    Returns:
        Soft targets of shape ``(..., K)``, each row summing to 1.
    """
    _check_eps(eps)
    if not is_int(num_classes) or num_classes < 2:
        raise ValueError(f"`num_classes >= 2` must hold for label smoothing, but got {num_classes=!r}")
    if check:
        _check_targets(targets, num_classes)
    soft = torch.full(
        (*targets.shape, num_classes), eps / (num_classes - 1), dtype=dtype, device=targets.device
    )
    return soft.scatter_(-1, targets.long().unsqueeze(-1), 1.0 - eps)


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def smoothed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, eps: float, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy ``-sum_k y_tilde_k log softmax(logits)_k`` against :func:`smooth_labels`.

    Args:
        logits: ``(N, K)`` unnormalized scores.
        targets: ``(N,)`` class indices.
        eps: Label smoothing, ``0 <= eps < 1``; ``eps = 0`` is plain cross-entropy.
        reduction: ``"mean"`` over the batch, ``"sum"`` or ``"none"``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {_REDUCTIONS}, but got {reduction=!r}")
    if logits.dim() != 2:
        raise ValueError(f"`logits` must have shape (N, K), but got {tuple(logits.shape)}")
    if eps == 0.0:
        # No range check here: it would cost a device sync per batch, and cross_entropy rejects bad targets.
        return F.cross_entropy(logits, targets, reduction=reduction)
    # No range check here either: a device sync per batch (scatter_ rejects an out-of-range target).
    soft = smooth_labels(targets, logits.shape[-1], eps, dtype=logits.dtype, check=False)
    return _reduce(-(soft * F.log_softmax(logits, dim=-1)).sum(dim=-1), reduction)


class SmoothedCrossEntropy(nn.Module):
    """Cross-entropy with the chapter's label smoothing (see :func:`smooth_labels`).

    Args:
        eps: Label smoothing, ``0 <= eps < 1``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    def __init__(self, eps: float = 0.1, reduction: str = "mean") -> None:
        super().__init__()
        _check_eps(eps)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {_REDUCTIONS}, but got {reduction=!r}")
        self.eps, self.reduction = eps, reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return smoothed_cross_entropy(logits, targets, self.eps, self.reduction)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, reduction={self.reduction!r}"


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    alpha: float,
    eps: float = 0.0,
) -> torch.Tensor:
    """Knowledge distillation (4.2.3): the teacher's softened output as the student's soft target.

        loss = alpha T^2 KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) CE(s, y)

    with the KL averaged over the batch and ``CE`` the (optionally label-smoothed, ``eps``) cross-entropy
    against the hard labels. The ``T^2`` keeps the soft term's gradients on the scale of the hard term's as
    ``T`` changes. The teacher's logits are detached: no gradient flows into the teacher.

    Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015.

    Args:
        student_logits: ``(N, K)`` student scores ``s``.
        teacher_logits: ``(N, K)`` teacher scores ``t``.
        targets: ``(N,)`` class indices ``y``.
        temperature: ``T > 0``; larger ``T`` gives softer distributions.
        alpha: Weight of the soft term, ``0 <= alpha <= 1``.
        eps: Label smoothing of the hard term, ``0 <= eps < 1``.
    """
    if not temperature > 0:
        raise ValueError(f"`temperature > 0` must hold, but got {temperature=}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`0 <= alpha <= 1` must hold, but got {alpha=}")
    _check_eps(eps)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, but got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    hard = smoothed_cross_entropy(student_logits, targets, eps)
    return alpha * temperature**2 * kl + (1.0 - alpha) * hard
