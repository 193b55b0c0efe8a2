"""Logit distillation: the loss between a student and a teacher's stored top-k log-probs.

The teacher's distribution at every completion position is kept as its k most likely token ids
and their log-probs (:mod:`cmoe.kd_scores` writes them offline, so the teacher is not loaded while
the student trains). Both distributions are compared on those k ids only, each renormalised over
them at ``temperature``: the student's logits are gathered at the teacher's ids and both go
through TRL's generalised Jensen-Shannon divergence (GKD, arXiv 2306.13649), whose ``beta`` picks
the divergence (0: forward KL(teacher || student), 1: reverse KL, in between: generalised JSD).
Renormalising over the top k drops the teacher's tail; with k of 8-20 that is most of the mass
on reasoning text, and it is what makes the stored scores small.
"""

from __future__ import annotations

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def divergence_beta(divergence: str, beta: float = 0.5) -> float:
    """TRL's ``beta`` for a named divergence (its 0 and 1 are the two KLs)."""
    if divergence == "forward_kl":
        return 0.0
    if divergence == "reverse_kl":
        return 1.0
    if divergence == "jsd":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"kd.beta={beta}: the generalised JSD needs 0 < beta < 1")
        return float(beta)
    raise ValueError(f"kd.divergence={divergence!r}: expected one of {', '.join(DIVERGENCES)}")


def topk_kd_loss(
    student_logits,
    teacher_topk_ids,
    teacher_topk_logprobs,
    mask,
    divergence: str = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
):
    """Mean divergence per masked position between student and teacher on the teacher's top k.

    ``student_logits`` (B, T, V): the student's logits at the positions that predict each token;
    ``teacher_topk_ids`` (B, T, k) and ``teacher_topk_logprobs`` (B, T, k): the teacher's at the
    same positions (any values where ``mask`` is False); ``mask`` (B, T): positions that count.
    Returns a scalar: the divergence summed over the k ids, averaged over masked positions
    (0 with a gradient path when none is masked).
    """
    from trl.experimental.gkd import GKDTrainer

    ids = teacher_topk_ids.long()
    student = student_logits.gather(-1, ids)  # (B, T, k)
    teacher = teacher_topk_logprobs.to(student.dtype)
    per_id = GKDTrainer.generalized_jsd_loss(
        student,
        teacher,
        beta=divergence_beta(divergence, beta),
        temperature=temperature,
        reduction="none",
    )
    per_position = per_id.sum(-1)
    mask = mask.bool()
    return per_position[mask].sum() / mask.sum().clamp_min(1)


def mixed_loss(ce, kd, alpha: float):
    """``alpha`` x cross-entropy on the text + (1 - ``alpha``) x the divergence to the teacher."""
    return alpha * ce + (1.0 - alpha) * kd
