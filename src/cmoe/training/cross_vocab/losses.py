"""Losses between a student's logits and a teacher's unit distributions in another vocabulary.

Per unit (:mod:`.units`), then summed or averaged over units:

- ``uld`` (Universal Logit Distillation, Boizard et al. 2024): L1 distance between the two unit
  distributions' probability vectors sorted in decreasing order, restricted to what is stored:
  the teacher's ``P(u)`` and its top-k alternatives (k + 1 entries, zero-padded), the student's
  ``P(u)`` and its k largest alternatives, plus ``|rest_T - rest_S|``. No token correspondence.
- ``hybrid`` (GOLD's idea, exact where it can be): the outcomes both vocabularies spell the same
  are compared exactly: ``u`` with ``u`` (always: the same text on both sides, which keeps
  multi-digit numbers from being suppressed, X-Token's finding about GOLD) and each teacher
  alternative whose bytes are a student token (:class:`.vocab_map.VocabMap`) with that token. On
  these plus one "other" bucket per side the divergence is the project's (forward KL, reverse
  KL or generalised JSD, as :mod:`cmoe.training.kd`). The teacher alternatives no student token
  spells are compared by ULD with the student's largest probabilities among its tokens no
  teacher token spells: ``loss = exact + uld_weight * uld_unmatched``.
"""

from __future__ import annotations

from ...core.errors import ConfigError
from ..divergence import divergence_beta
from .vocab_map import NO_MATCH

LOSSES = ("uld", "hybrid")


def _log_rest(logprobs, valid):
    """log(1 - sum of the valid probabilities), floored like kd.py's rest bucket."""
    import torch

    total = torch.logsumexp(logprobs.masked_fill(~valid, float("-inf")), dim=-1)
    return torch.log(-torch.expm1(total.clamp(max=-1e-6)))


def generalized_divergence(teacher_lp, student_lp, valid, beta: float):
    """Per row: beta = 0 forward KL(teacher || student), 1 reverse KL, else the generalised JSD
    ``beta KL(p || m) + (1 - beta) KL(q || m)``, ``m = beta p + (1 - beta) q`` (GKD, the same
    as kd.py's), over the entries where ``valid``."""
    import torch

    zero = torch.zeros((), dtype=teacher_lp.dtype, device=teacher_lp.device)
    lp = torch.where(valid, teacher_lp, zero)
    lq = torch.where(valid, student_lp, zero)
    p = torch.where(valid, lp.exp(), zero)
    q = torch.where(valid, lq.exp(), zero)
    if beta == 0.0:
        return (p * (lp - lq)).sum(-1)
    if beta == 1.0:
        return (q * (lq - lp)).sum(-1)
    m = beta * p + (1 - beta) * q
    lm = torch.where(valid, m.clamp_min(torch.finfo(m.dtype).tiny).log(), zero)
    return beta * (p * (lp - lm)).sum(-1) + (1 - beta) * (q * (lq - lm)).sum(-1)


def _without(values, indices, exclude, k: int):
    """Of each row's ``values`` (sorted, with their vocabulary ``indices``), the k largest
    other than the one at column ``exclude[row]`` (-inf padded)."""
    import torch

    values = values.masked_fill(indices == exclude[..., None], float("-inf"))
    values = values.topk(min(k, values.shape[-1]), dim=-1).values
    if values.shape[-1] < k:
        values = torch.nn.functional.pad(values, (0, k - values.shape[-1]), value=float("-inf"))
    return values


def uld_unit_loss(t_unit_lp, t_alt_lp, s_unit_lp, s_alt_top_lp):
    """ULD per unit: sum |sorted teacher probs - sorted student probs| over ``u`` and the k
    alternatives, plus |rest_T - rest_S| (inputs are log-probs; -inf entries are 0)."""
    import torch

    t = torch.cat([t_unit_lp[:, None], t_alt_lp], dim=-1).exp()
    s = torch.cat([s_unit_lp[:, None], s_alt_top_lp], dim=-1).exp()
    rest_t = (1 - t.sum(-1)).clamp_min(0)
    rest_s = (1 - s.sum(-1)).clamp_min(0)
    t_sorted = t.sort(dim=-1, descending=True).values
    s_sorted = s.sort(dim=-1, descending=True).values
    return (t_sorted - s_sorted).abs().sum(-1) + (rest_t - rest_s).abs()


def cross_vocab_kd_loss(
    student_logits,
    targets,
    xv: dict,
    loss: str = "hybrid",
    divergence: str = "forward_kl",
    beta: float = 0.5,
    uld_weight: float = 1.0,
    student_unmatched=None,
    temperature: float = 1.0,
    reduction: str = "mean",
):
    """The cross-vocabulary divergence between a student and a teacher's stored top-k scores.

    ``student_logits`` (B, T, Vs): the logits at the positions that predict ``targets`` (B, T),
    the student's actual tokens (-100 outside the completion), i.e. KDTrainer's
    ``logits[:, :-1]`` and ``labels[:, 1:]``; ``xv``: :func:`place_units`' tensors shifted the
    same way. A unit starting at position t with ``xv_len`` = m student tokens gets the
    student's ``log P_S(u)`` = sum of its log-probs of ``targets[t : t + m]`` and its
    alternatives from the distribution at t, other than ``targets[t]``. ``loss``: ``uld`` or
    ``hybrid`` (module docstring); ``hybrid`` needs ``student_unmatched`` (Vs,) bool
    (``VocabMap.student_unmatched``; ids past it, e.g. a padded embedding, count as matched).
    ``reduction``: ``mean`` over units (0 with a gradient path when there is none), ``sum``,
    or ``none`` (per unit, in ``xv_mask.nonzero()`` order).
    """
    import torch

    if loss not in LOSSES:
        raise ConfigError(
            f"{loss!r}, expected one of {', '.join(LOSSES)}", key="kd.cross_vocab.loss"
        )
    if temperature != 1.0:
        raise ConfigError(
            f"{temperature}: cross-vocabulary KD compares stored scores at temperature 1",
            key="kd.temperature",
        )
    beta = divergence_beta(divergence, beta)
    mask = xv["xv_mask"].to(student_logits.device).bool()
    logits = student_logits.float()
    if not mask.any():
        zero = logits.sum() * 0.0
        return zero.reshape(0) if reduction == "none" else zero
    dev = logits.device
    # full-vocabulary passes run on (B, T, V) in place of copying the unit rows out of it
    lse = torch.logsumexp(logits, dim=-1)  # (B, T)
    first = targets.clamp_min(0)
    actual = (logits.gather(-1, first[..., None])[..., 0] - lse).masked_fill(targets < 0, 0.0)
    length = xv["xv_len"].to(dev).masked_fill(~mask, 1)
    chain = actual.clone()  # log P_S(u): the unit's student log-probs, summed
    for j in range(1, int(length[mask].max())):
        shifted = torch.nn.functional.pad(actual[:, j:], (0, j))
        chain = chain + torch.where(j < length, shifted, torch.zeros_like(shifted))
    t_alt = xv["xv_alt_logprobs"].to(dev).float()
    k = t_alt.shape[-1]
    top = logits.topk(min(k + 1, logits.shape[-1]), dim=-1)  # (B, T, k + 1)
    s_alt_top = _without(top.values, top.indices, first, k)[mask] - lse[mask][:, None]
    t_unit = xv["xv_unit_logprob"].to(dev).float()[mask]
    s_unit = chain[mask]
    t_alt_m = t_alt[mask]
    if loss == "uld":
        per_unit = uld_unit_loss(t_unit, t_alt_m, s_unit, s_alt_top)
    else:
        if student_unmatched is None:
            raise ValueError("loss=hybrid needs student_unmatched (VocabMap.student_unmatched)")
        alt_st = xv["xv_alt_student"].to(dev)
        matched = (alt_st >= 0)[mask]
        ones = torch.ones_like(matched[:, :1])
        valid = torch.cat([ones, matched], dim=-1)
        neg = torch.full_like(t_alt_m, float("-inf"))
        t_lp = torch.cat([t_unit[:, None], torch.where(matched, t_alt_m, neg)], dim=-1)
        s_alt = logits.gather(-1, alt_st.clamp_min(0))[mask] - lse[mask][:, None]
        s_lp = torch.cat([s_unit[:, None], torch.where(matched, s_alt, neg)], dim=-1)
        t_full = torch.cat([t_lp, _log_rest(t_lp, valid)[:, None]], dim=-1)
        s_full = torch.cat([s_lp, _log_rest(s_lp, valid)[:, None]], dim=-1)
        exact = generalized_divergence(t_full, s_full, torch.cat([valid, ones], dim=-1), beta)
        unmatched = torch.as_tensor(student_unmatched, device=dev).bool()[: logits.shape[-1]]
        columns = unmatched.nonzero().flatten()  # the student-only vocabulary
        if len(columns):
            sub = logits.index_select(-1, columns)
            top_un = sub.topk(min(k + 1, sub.shape[-1]), dim=-1)
            s_un = _without(top_un.values, columns[top_un.indices], first, k)[mask]
            s_un = s_un - lse[mask][:, None]
        else:
            s_un = torch.full_like(t_alt_m, float("-inf"))
        t_un = torch.where(alt_st[mask] == NO_MATCH, t_alt_m, neg).exp()
        t_un = t_un.sort(-1, descending=True).values
        uld_un = (t_un - s_un.exp()).abs().sum(-1)
        per_unit = exact + uld_weight * uld_un
    if reduction == "none":
        return per_unit
    if reduction == "sum":
        return per_unit.sum()
    return per_unit.mean()
