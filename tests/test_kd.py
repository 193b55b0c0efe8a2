"""Logit distillation: the loss, the stored teacher scores, the KD methods' plan and checks."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from cmoe.training.kd import divergence_beta, mixed_loss, topk_kd_loss  # noqa: E402


def _renormalised(values, temperature):
    """softmax(values / T) in plain Python: the reference the loss is checked against."""
    scaled = [v / temperature for v in values]
    top = max(scaled)
    exps = [math.exp(v - top) for v in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def _reference(student_rows, teacher_ids, teacher_lps, mask, divergence, beta, temperature):
    """The same loss written out position by position, without torch or TRL."""
    values = []
    for b, row in enumerate(student_rows):
        for t, logits in enumerate(row):
            if not mask[b][t]:
                continue
            ids = teacher_ids[b][t]
            q = _renormalised([logits[i] for i in ids], temperature)  # student
            p = _renormalised(teacher_lps[b][t], temperature)  # teacher
            if divergence == "forward_kl":
                values.append(_kl(p, q))
            elif divergence == "reverse_kl":
                values.append(_kl(q, p))
            else:  # generalised JSD: beta KL(p || m) + (1 - beta) KL(q || m)
                m = [beta * pi + (1 - beta) * qi for pi, qi in zip(p, q, strict=True)]
                values.append(beta * _kl(p, m) + (1 - beta) * _kl(q, m))
    return sum(values) / len(values)


# Two sequences of three positions over a vocabulary of 6; k = 3; one masked-out position each.
STUDENT = [
    [[0.1, 2.0, -1.0, 0.5, 0.0, 1.5], [1.0, 0.0, 0.3, -0.2, 2.2, 0.1], [0.0] * 6],
    [[-0.5, 0.4, 1.1, 0.9, -2.0, 0.0], [0.0] * 6, [2.5, -0.3, 0.2, 0.0, 1.0, -1.0]],
]
IDS = [
    [[1, 5, 3], [4, 0, 2], [0, 1, 2]],
    [[2, 3, 1], [0, 1, 2], [0, 4, 2]],
]
# teacher log-probs over the full vocabulary, so only the top k of them are stored
LPS = [
    [[-0.4, -1.6, -2.5], [-0.2, -2.1, -3.0], [0.0, 0.0, 0.0]],
    [[-0.7, -1.0, -3.3], [0.0, 0.0, 0.0], [-0.1, -2.6, -4.0]],
]
MASK = [[True, True, False], [True, False, True]]


@pytest.mark.parametrize(
    ("divergence", "beta", "temperature"),
    [
        ("forward_kl", 0.5, 1.0),
        ("reverse_kl", 0.5, 1.0),
        ("jsd", 0.5, 1.0),
        ("jsd", 0.2, 2.0),
        ("forward_kl", 0.5, 0.7),
    ],
)
def test_topk_kd_loss_equals_a_hand_computation(divergence, beta, temperature):
    loss = topk_kd_loss(
        torch.tensor(STUDENT, dtype=torch.float64),
        torch.tensor(IDS, dtype=torch.int32),
        torch.tensor(LPS, dtype=torch.float16),  # stored as float16
        torch.tensor(MASK),
        divergence=divergence,
        beta=beta,
        temperature=temperature,
    )
    lps16 = torch.tensor(LPS, dtype=torch.float16).double().tolist()
    expected = _reference(STUDENT, IDS, lps16, MASK, divergence, beta, temperature)
    assert loss.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert expected > 1e-3  # the batch is not one where every divergence is trivially 0


def test_topk_kd_loss_is_zero_when_the_student_matches_and_has_gradients():
    logits = torch.tensor(STUDENT, dtype=torch.float64, requires_grad=True)
    ids = torch.tensor(IDS)
    matching = logits.detach().gather(-1, ids).log_softmax(-1)  # the student's own top-k
    mask = torch.tensor(MASK)
    for divergence in ("forward_kl", "reverse_kl", "jsd"):
        assert topk_kd_loss(logits, ids, matching, mask, divergence).item() == pytest.approx(
            0.0, abs=1e-12
        )
    loss = topk_kd_loss(logits, ids, torch.tensor(LPS, dtype=torch.float64), mask)
    loss.backward()
    # masked positions get no gradient; ids outside the teacher's top k get none either
    assert logits.grad[0, 2].abs().sum() == 0 and logits.grad[1, 1].abs().sum() == 0
    assert logits.grad[0, 0, 1] != 0 and logits.grad[0, 0, 0] == 0
    empty = topk_kd_loss(logits, ids, matching, torch.zeros(2, 3, dtype=torch.bool))
    assert empty.item() == 0.0


def test_mixed_loss_and_divergence_names():
    assert mixed_loss(2.0, 4.0, 0.25) == pytest.approx(0.25 * 2.0 + 0.75 * 4.0)
    assert divergence_beta("forward_kl") == 0.0 and divergence_beta("reverse_kl") == 1.0
    assert divergence_beta("jsd", 0.3) == 0.3
    with pytest.raises(ValueError, match="kd.divergence='tvd'"):
        divergence_beta("tvd")
    with pytest.raises(ValueError, match="kd.beta=1.0"):
        divergence_beta("jsd", 1.0)
