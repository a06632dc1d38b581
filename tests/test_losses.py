from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raynn.losses import SmoothedCrossEntropy, distillation_loss, smooth_labels, smoothed_cross_entropy


def test_smooth_labels_closed_form() -> None:
    soft = smooth_labels(torch.tensor([2, 0]), num_classes=4, eps=0.3)
    expected = torch.tensor([[0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1]])
    torch.testing.assert_close(soft, expected)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(2))
    assert torch.equal(smooth_labels(torch.tensor([1]), 3, 0.0), torch.tensor([[0.0, 1.0, 0.0]]))


def test_ours_differs_from_torch_label_smoothing() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=gen)
    targets = torch.tensor([0, 1, 2, 3, 1])
    eps, k = 0.3, 4
    ours = smoothed_cross_entropy(logits, targets, eps)
    theirs = F.cross_entropy(logits, targets, label_smoothing=eps)
    log_p = F.log_softmax(logits, dim=1)
    one_hot = F.one_hot(targets, k).float()
    # ours: 1 - eps on the true class, eps / (K - 1) elsewhere
    seed_target = one_hot * (1 - eps) + (1 - one_hot) * eps / (k - 1)
    torch.testing.assert_close(ours, -(seed_target * log_p).sum(dim=1).mean())
    # torch: (1 - eps) y + eps / K on every class
    torch_target = one_hot * (1 - eps) + eps / k
    torch.testing.assert_close(theirs, -(torch_target * log_p).sum(dim=1).mean())
    assert not torch.allclose(ours, theirs)


def test_smoothed_cross_entropy_module() -> None:
    logits, targets = (
        torch.randn(6, 3, generator=torch.Generator().manual_seed(1)),
        torch.tensor([0, 1, 2, 2, 1, 0]),
    )
    torch.testing.assert_close(SmoothedCrossEntropy(0.0)(logits, targets), F.cross_entropy(logits, targets))
    per_sample = SmoothedCrossEntropy(0.2, reduction="none")(logits, targets)
    assert per_sample.shape == (6,)
    torch.testing.assert_close(SmoothedCrossEntropy(0.2, reduction="sum")(logits, targets), per_sample.sum())


def test_distillation_with_alpha_zero_is_plain_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    targets = torch.tensor([0, 4, 2, 1])
    loss = distillation_loss(student, teacher, targets, temperature=3.0, alpha=0.0)
    torch.testing.assert_close(loss, F.cross_entropy(student, targets))
    smoothed = distillation_loss(student, teacher, targets, temperature=3.0, alpha=0.0, eps=0.1)
    torch.testing.assert_close(smoothed, smoothed_cross_entropy(student, targets, 0.1))


def test_distillation_soft_term_closed_form() -> None:
    gen = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    targets = torch.tensor([0, 4, 2, 1])
    t, alpha = 2.0, 0.7
    p_t, p_s = F.softmax(teacher / t, dim=1), F.softmax(student / t, dim=1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(dim=1).mean()
    expected = alpha * t**2 * kl + (1 - alpha) * F.cross_entropy(student, targets)
    torch.testing.assert_close(distillation_loss(student, teacher, targets, t, alpha), expected)


def test_kl_term_has_zero_value_and_gradient_when_student_equals_teacher() -> None:
    teacher = torch.randn(3, 6, generator=torch.Generator().manual_seed(4), requires_grad=True)
    student = teacher.detach().clone().requires_grad_(True)
    loss = distillation_loss(student, teacher, torch.tensor([0, 1, 2]), temperature=4.0, alpha=1.0)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(student.grad, torch.zeros(3, 6), atol=1e-6, rtol=0)
    assert teacher.grad is None  # the teacher is detached


def test_loss_arguments_are_checked() -> None:
    logits, targets = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"0 <= eps < 1"):
        smooth_labels(targets, 3, 1.0)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        smooth_labels(targets, 1, 0.1)
    with pytest.raises(ValueError, match="targets < num_classes"):
        smooth_labels(torch.tensor([3]), 3, 0.1)
    with pytest.raises(ValueError, match="temperature > 0"):
        distillation_loss(logits, logits, targets, temperature=0.0, alpha=0.5)
    with pytest.raises(ValueError, match="0 <= alpha <= 1"):
        distillation_loss(logits, logits, targets, temperature=1.0, alpha=1.5)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(logits, torch.zeros(2, 4), targets, temperature=1.0, alpha=0.5)
    with pytest.raises(ValueError, match="reduction"):
        SmoothedCrossEntropy(0.1, reduction="max")
