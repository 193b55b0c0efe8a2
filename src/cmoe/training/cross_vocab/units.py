"""The merging rule: the distribution each side puts on a unit, from the teacher's stored scores,
and those targets placed at the student's positions for a batch.

Let a unit's text be ``u``, the side's tokens in it ``x_1 .. x_m`` (``m >= 1``), and ``p`` the
side's next-token distribution at the unit's first position (conditioned on the text before
``u``, the same on both sides since units start at a shared boundary). The side's *unit
distribution* has these outcomes:

- ``u`` itself, with the chain-rule probability of the observed path
  ``P(u) = p(x_1) * p(x_2 | x_1) * ... * p(x_m | x_1..x_{m-1})``, i.e. the sum of the stored
  (teacher) or computed (student) log-probs of the unit's actual tokens;
- every other token ``v != x_1`` at the first position, with ``p(v)`` unchanged (a different
  first token is a different text whatever follows);
- the rest: ``1 - P(u) - sum_v p(v)``: the first token right but a different continuation and,
  for the teacher, the mass outside its stored top k.

For a one-token side this is ``p`` itself. The teacher's alternatives are its stored top-k ids
other than ``x_1``. Unlike GOLD's "observed" merge (TRL's ``ULDLoss``), which scales every entry
of ``p`` by ``P(u)/p(x_1)`` and leaves an unnormalised vector, only the observed entry is
replaced, and the vector stays a distribution. :func:`unit_teacher_targets` computes the
teacher's side; :func:`.losses.cross_vocab_kd_loss` the student's, from its logits.
"""

from __future__ import annotations

import numpy as np

from .alignment import Alignment
from .vocab_map import EXCLUDED, NO_MATCH, VocabMap

XV_KEYS = ("xv_mask", "xv_len", "xv_unit_logprob", "xv_alt_logprobs", "xv_alt_student")


def unit_teacher_targets(
    alignment: Alignment,
    teacher_ids: np.ndarray,
    topk_ids: np.ndarray,
    topk_logprobs: np.ndarray,
    target_logprobs: np.ndarray,
    student_ids: np.ndarray,
    vocab_map: VocabMap | None = None,
) -> dict[str, np.ndarray]:
    """The teacher's unit distributions from its stored scores (the merging rule of the module
    docstring), one row per unit:

    - ``unit_logprob`` (U,): log P_T(u), the sum of the stored log-probs of the unit's teacher
      tokens (``target_logprobs``; float64 sum);
    - ``alt_logprobs`` (U, k): the stored top-k log-probs at the unit's first teacher position,
      ``-inf`` for the observed first token (its mass is in ``u`` and the rest);
    - ``alt_student`` (U, k): the student id spelled like each alternative, ``NO_MATCH`` (-1)
      where none, ``EXCLUDED`` (-2) for the observed token and for the student's own first token
      of the unit (needs ``vocab_map``; all ``NO_MATCH`` without one);
    - ``s_first``, ``s_len`` (U,): the unit's first student token and how many it has.
    """
    t0, t1 = alignment.t_start, alignment.t_end
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(target_logprobs, dtype=np.float64))])
    unit_lp = csum[t1] - csum[t0]
    alt_ids = np.asarray(topk_ids)[t0].astype(np.int64)
    alt_lp = np.asarray(topk_logprobs)[t0].astype(np.float32)
    observed = alt_ids == np.asarray(teacher_ids)[t0][:, None]
    alt_lp[observed] = -np.inf
    if vocab_map is not None:
        table = vocab_map.teacher_to_student
        # ids past the tokenizer (a model's padded embedding rows) spell nothing
        alt_student = np.where(
            alt_ids < len(table), table[np.minimum(alt_ids, len(table) - 1)], NO_MATCH
        )
        first_student = np.asarray(student_ids)[alignment.s_start]
        alt_student[alt_student == first_student[:, None]] = EXCLUDED
        alt_student[observed] = EXCLUDED
    else:
        alt_student = np.full(alt_ids.shape, NO_MATCH, dtype=np.int64)
    return {
        "unit_logprob": unit_lp.astype(np.float32),
        "alt_logprobs": alt_lp,
        "alt_student": alt_student,
        "s_first": alignment.s_start.copy(),
        "s_len": (alignment.s_end - alignment.s_start).astype(np.int64),
    }


def place_units(units_per_row: list[dict], positions: list[np.ndarray], width: int, k: int):
    """Per-unit teacher targets -> per-position tensors for a batch of ``width`` positions,
    each unit at its first student token's position (``positions[b][s_first]``: the index in
    the row of each student completion token, e.g. where ``labels != -100``).

    Returns tensors: ``xv_mask`` (B, W) bool, ``xv_len`` (B, W) long, ``xv_unit_logprob``
    (B, W) float, ``xv_alt_logprobs`` (B, W, k) float (-inf padding), ``xv_alt_student``
    (B, W, k) long. They line up with the labels like the project's ``teacher_ids``: the
    trainer shifts them with ``[:, 1:]`` as it shifts the labels."""
    import torch

    batch = len(units_per_row)
    mask = np.zeros((batch, width), dtype=bool)
    length = np.ones((batch, width), dtype=np.int64)
    unit_lp = np.zeros((batch, width), dtype=np.float32)
    alt_lp = np.full((batch, width, k), -np.inf, dtype=np.float32)
    alt_st = np.full((batch, width, k), EXCLUDED, dtype=np.int64)
    for b, (units, pos) in enumerate(zip(units_per_row, positions, strict=True)):
        if not len(units["s_first"]):
            continue
        at = np.asarray(pos)[units["s_first"]]
        mask[b, at] = True
        length[b, at] = units["s_len"]
        unit_lp[b, at] = units["unit_logprob"]
        kk = units["alt_logprobs"].shape[1]
        alt_lp[b, at, :kk] = units["alt_logprobs"]
        alt_st[b, at, :kk] = units["alt_student"]
    return {
        "xv_mask": torch.from_numpy(mask),
        "xv_len": torch.from_numpy(length),
        "xv_unit_logprob": torch.from_numpy(unit_lp),
        "xv_alt_logprobs": torch.from_numpy(alt_lp),
        "xv_alt_student": torch.from_numpy(alt_st),
    }
