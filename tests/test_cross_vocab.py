"""Cross-vocabulary logit distillation: byte spans, the aligner and its rule on hand-made cases
(one-to-many, many-to-one, Cyrillic, multi-digit numbers, special tokens, whitespace), the
project's tiny tokenizers of two families, the merging rule, and the losses against hand
computations."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import DEMO_DATA  # noqa: E402
from support.spans import char_to_byte_offsets, spans_from_text  # noqa: E402

from cmoe.training import cross_vocab as cv  # noqa: E402
from cmoe.training.cross_vocab import (  # noqa: E402
    ADDED,
    CONTROL,
    NORMAL,
    UNIT_CONTROL,
    UNIT_LITERAL,
    UNIT_TEXT,
)
from cmoe.training.divergence import divergence_beta  # noqa: E402
from cmoe.training.kd import topk_kd_loss  # noqa: E402

# --- hand-made vocabularies -----------------------------------------------------------------------

PIECES = [
    "2", "0", "1", "201", "20", "4", "5", "145", "3", "1453", "При", "вет", "Привет", " ", "мир",
    " мир", "\n", "\n\n", "<th", "ink", ">", "a", "b", "c", "d", "ab", "cd", "bc", " B",
    "Ответ", ":", "От", "вет:",
]  # fmt: skip
SPECIAL = {"<think>": ADDED, "</think>": ADDED, "<|eot_id|>": CONTROL, "<|im_end|>": CONTROL}


def _table(eos="<|im_end|>") -> cv.TokenTable:
    pieces = [p.encode() for p in PIECES] + [s.encode() for s in SPECIAL]
    kinds = [NORMAL] * len(PIECES) + list(SPECIAL.values())
    return cv.TokenTable(pieces, np.array(kinds), eos_id=len(PIECES) + list(SPECIAL).index(eos))


TABLE = _table()
ID = {p.decode(): i for i, p in enumerate(TABLE.pieces)}


def side(*pieces: str) -> cv.TokenSpans:
    return TABLE.spans([ID[p] for p in pieces])


def texts(a: cv.Alignment, t: cv.TokenSpans, s: cv.TokenSpans):
    """Units as (teacher pieces, student pieces)."""
    return [
        (
            [t.token_bytes(i).decode(errors="backslashreplace") for i in tg],
            [s.token_bytes(i).decode(errors="backslashreplace") for i in sg],
        )
        for tg, sg in a.groups()
    ]


# --- byte spans -----------------------------------------------------------------------------------


def test_spans_from_ids_tile_the_text_and_count_cyrillic_as_two_bytes():
    s = side("От", "вет:", " B", "<|im_end|>")
    assert s.text == "Ответ: B<|im_end|>".encode()
    assert s.spans.tolist() == [[0, 4], [4, 11], [11, 13], [13, 23]]
    assert s.spans.dtype == np.int32 and s.kinds.tolist() == [NORMAL, NORMAL, NORMAL, CONTROL]
    assert len("Ответ".encode()) == 10 and char_to_byte_offsets("Ответ: B").tolist() == [
        0, 2, 4, 6, 8, 10, 11, 12, 13,
    ]  # fmt: skip


def test_stored_spans_must_match_the_tokenizer():
    s = side("При", "вет")
    assert TABLE.from_stored(s.ids, s.spans).text == "Привет".encode()
    with pytest.raises(ValueError, match="another"):
        TABLE.from_stored(s.ids, s.spans + 1)


# --- aligner: hand-made cases ---------------------------------------------------------------------


def test_one_to_one_one_to_many_many_to_one_many_to_many():
    t, s = (
        side("201", " ", "При", "вет", "ab", "cd"),
        side("2", "0", "1", " ", "Привет", "a", "bc", "d"),
    )
    a = cv.align(t, s)
    assert texts(a, t, s) == [
        (["201"], ["2", "0", "1"]),  # one-to-many: a Llama number against Qwen digits
        ([" "], [" "]),  # one-to-one
        (["При", "вет"], ["Привет"]),  # many-to-one, Cyrillic: boundary at byte 12 of the word
        (["ab", "cd"], ["a", "bc", "d"]),  # many-to-many
    ]
    assert a.kind.tolist() == [UNIT_TEXT] * 4 and a.common_bytes == len(t.text)
    assert sum(a.dropped.values()) == 0


def test_multi_digit_numbers_split_where_both_sides_end_a_token():
    # Llama writes up to 3 digits per token ("145" "3"), Qwen one
    t, s = side("145", "3"), side("1", "4", "5", "3")
    assert texts(cv.align(t, s), t, s) == [(["145"], ["1", "4", "5"]), (["3"], ["3"])]
    t, s = side("1453"), side("1", "4", "5", "3")
    assert texts(cv.align(t, s), t, s) == [(["1453"], ["1", "4", "5", "3"])]


def test_whitespace_is_bytes_like_any_other():
    t, s = side(" мир", "\n\n"), side(" ", "мир", "\n", "\n")
    assert texts(cv.align(t, s), t, s) == [([" мир"], [" ", "мир"]), (["\n\n"], ["\n", "\n"])]


def test_end_of_turn_tokens_pair_and_a_trailing_template_newline_is_dropped():
    t = side("От", "вет:", " B", "<|eot_id|>")
    s = side("Ответ", ":", " B", "<|im_end|>", "\n")
    pairs = {(b"<|eot_id|>", b"<|im_end|>")}
    a = cv.align(t, s, pairs)
    assert texts(a, t, s) == [
        (["От", "вет:"], ["Ответ", ":"]),
        ([" B"], [" B"]),
        (["<|eot_id|>"], ["<|im_end|>"]),
    ]
    assert a.kind.tolist() == [UNIT_TEXT, UNIT_TEXT, UNIT_CONTROL]
    assert a.dropped["past_common_text"] == 1  # the student's "\n" after <|im_end|>
    # not declared equivalent: the control tokens are dropped, the text still aligns
    a = cv.align(t, s)
    assert a.kind.tolist() == [UNIT_TEXT, UNIT_TEXT] and a.dropped["control"] == 2


def test_think_tags_literal_when_both_have_them_dropped_otherwise():
    both = (
        side("<think>", "\n", "201", "</think>"),
        side("<think>", "\n", "2", "0", "1", "</think>"),
    )
    a = cv.align(*both)
    assert texts(a, *both)[0] == (["<think>"], ["<think>"])
    assert a.kind.tolist() == [UNIT_LITERAL, UNIT_TEXT, UNIT_TEXT, UNIT_LITERAL]
    # Llama spells <think> as text: the units holding the tag are dropped, the rest aligns
    t, s = side("<th", "ink", ">", "\n", "201"), side("<think>", "\n", "2", "0", "1")
    a = cv.align(t, s)
    assert texts(a, t, s) == [(["\n"], ["\n"]), (["201"], ["2", "0", "1"])]
    assert a.dropped["added_token"] == 4
    # or kept as ordinary text
    a = cv.align(t, s, added="text")
    assert texts(a, t, s)[0] == (["<th", "ink", ">"], ["<think>"])
    assert a.kind[0] == UNIT_TEXT


def test_texts_that_differ_align_up_to_their_common_prefix():
    t, s = side("ab", "cd", "201"), side("a", "bc", "d", "20", "4")
    a = cv.align(t, s)
    assert texts(a, t, s) == [(["ab", "cd"], ["a", "bc", "d"])]
    assert a.common_bytes == 6 and a.dropped["past_common_text"] == 3  # "201" | "20" "4"


def test_text_a_template_puts_before_the_content_is_skipped():
    # the content starts 1 byte into the teacher's text, inside its token "ab": the alignment
    # starts at the first offset where a token starts on both sides
    t, s = side("ab", "cd", "201"), side("b", "cd", "2", "0", "1")
    assert cv.find_content(t, "bcd201") == 1 and cv.find_content(s, "bcd201") == 0
    a = cv.align(t, s, starts=(1, 0))
    assert texts(a, t, s) == [(["cd"], ["cd"]), (["201"], ["2", "0", "1"])]
    assert a.dropped["before_common_text"] == 2
    assert len(cv.align(t, s)) == 0  # from byte 0 the texts differ at once
    with pytest.raises(ValueError, match="do not spell"):
        cv.find_content(t, "xyz")


def test_a_control_token_inside_a_unit_drops_it():
    t, s = side("a", "<|eot_id|>", "b", "c"), side("ab", "c")
    a = cv.align(t, s)
    assert texts(a, t, s) == [(["c"], ["c"])] and a.dropped["control_inside_unit"] == 3


# --- the project's tiny tokenizers of two families ------------------------------------------------

WORDS = (  # noqa: SIM905
    "император империя год война мир договор закон суд право государство народ город река море "
    "остров король князь церковь наука химия физика энергия масса скорость сила число ответ "
    "вопрос вариант задача решение правильный неверный потому поэтому следовательно"
).split()


def russian_corpus(n: int = 2000, seed: int = 0) -> list[str]:
    """The demo corpus, plus sentences with Cyrillic words and numbers of 1-4 digits."""
    from cmoe.data.tiny import corpus_texts

    rng = random.Random(seed)
    lines = corpus_texts(DEMO_DATA)
    for _ in range(n):
        words = rng.sample(WORDS, 6)
        number = rng.choice([rng.randint(0, 9), rng.randint(10, 99), rng.randint(100, 2100)])
        lines.append(f"В {number} году {' '.join(words)}.\nОтвет: {rng.choice('ABCD')}")
    return lines


@pytest.fixture(scope="module")
def tiny_pair():
    """cmoe.data.tiny's byte-level BPEs of the two families on one corpus, of two sizes: a
    Llama-3-family teacher (digits in runs of up to three) and a Qwen3-family student."""
    from cmoe.data.tiny import train_tokenizer

    corpus = russian_corpus()
    teacher = train_tokenizer(corpus, 1536, "llama3")
    student = train_tokenizer(corpus, 1024, "qwen3")
    assert len(teacher) > len(student) + 400
    return teacher, student


CONTENT = (
    "<think>\nВ 1453 году пала Византия; в 476 году — Западная Римская империя, "
    "а 2024 − 1453 = 571.\n  Ёлка ёжик — «щука».\n</think>\n\nОтвет: B"
)


def _cover(a: cv.Alignment, t: cv.TokenSpans, s: cv.TokenSpans) -> int:
    """Check that the units tile the aligned content on both sides, each byte exactly once,
    with the same bytes; return the bytes covered."""
    covered = 0
    for side_, starts, ends in ((t, a.t_start, a.t_end), (s, a.s_start, a.s_end)):
        seen = np.zeros(len(side_.text), dtype=np.int32)
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            for i in range(lo, hi):
                b0, b1 = side_.spans[i]
                seen[b0:b1] += 1
        assert seen.max() <= 1
        covered = max(covered, int(seen.sum()))
    for j, (tg, sg) in enumerate(a.groups()):
        tb = b"".join(t.token_bytes(i) for i in tg)
        sb = b"".join(s.token_bytes(i) for i in sg)
        assert tb == sb or a.kind[j] == UNIT_CONTROL, (tb, sb)
    return covered


def test_two_tiny_vocabularies_cover_every_byte_exactly_once(tiny_pair):
    teacher, student = tiny_pair
    tt, st = cv.TokenTable.from_tokenizer(teacher), cv.TokenTable.from_tokenizer(student)
    vmap = cv.VocabMap.build(tt, st)
    assert (b"<|eot_id|>", b"<|im_end|>") in vmap.control_pairs
    t_text, s_text = CONTENT + "<|eot_id|>", CONTENT + "<|im_end|>\n"
    t = tt.spans(teacher(t_text, add_special_tokens=False)["input_ids"])
    s = st.spans(student(s_text, add_special_tokens=False)["input_ids"])
    # the two span routes agree: ids -> bytes, and character offsets -> byte offsets
    for spans, tok, table, text in ((t, teacher, tt, t_text), (s, student, st, s_text)):
        other = spans_from_text(tok, text, table)
        assert other.ids.tolist() == spans.ids.tolist()
        assert other.spans.tolist() == spans.spans.tolist() and spans.text == text.encode()
        assert _trl_byte_offsets(tok, text) in (None, spans.spans.tolist())
    a = cv.align(t, s, vmap.control_pairs, added="text")
    content = len(CONTENT.encode())
    assert a.common_bytes == content and _cover(a, t, s) == content + len(b"<|eot_id|>")
    assert a.kind[-1] == UNIT_CONTROL and a.dropped == {
        "before_common_text": 0, "past_common_text": 1, "control_inside_unit": 0,
        "added_token": 0, "control": 0,
    }  # fmt: skip
    kinds = {(len(tg) > 1, len(sg) > 1) for tg, sg in a.groups()}
    assert (False, True) in kinds and (True, False) in kinds  # both directions occur
    # the think tags: Qwen's added tokens, Llama's text -> dropped by default
    a = cv.align(t, s, vmap.control_pairs)
    assert a.dropped["added_token"] > 0 and UNIT_LITERAL not in a.kind.tolist()


def test_groups_equal_trls_gold_aligner(tiny_pair):
    """Without control tokens, the units are the groups of TRL GOLD's byte-offset aligner (a
    private method of the pinned trl: the test is skipped where it is gone)."""
    teacher, student = tiny_pair
    tt, st = cv.TokenTable.from_tokenizer(teacher), cv.TokenTable.from_tokenizer(student)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    gold = pytest.importorskip("trl.experimental.gold.gold_trainer")
    trl_align = getattr(getattr(gold, "ULDLoss", None), "_align_by_byte_offsets", None)
    if trl_align is None:
        pytest.skip("this trl has no ULDLoss._align_by_byte_offsets")
    plain_t = tt.spans(teacher(CONTENT, add_special_tokens=False)["input_ids"])
    plain_s = st.spans(student(CONTENT, add_special_tokens=False)["input_ids"])
    s_groups, t_groups = trl_align(plain_s.spans.tolist(), plain_t.spans.tolist())
    ours = cv.align(plain_t, plain_s, added="text").groups()  # TRL reads <think> as text
    assert len(ours) > 30
    assert [g for g, _ in ours] == t_groups and [g for _, g in ours] == s_groups


def test_qwen3s_empty_think_block_before_a_llama_students_answer(tiny_pair):
    """A Qwen-vocabulary teacher into a Llama-vocabulary student: the row has no reasoning
    tags (Llama's template has none), but Qwen3's template renders an empty think block before
    the answer. With the content's start on each side the answer aligns in full."""
    llama, qwen = tiny_pair
    lt, qt = cv.TokenTable.from_tokenizer(llama), cv.TokenTable.from_tokenizer(qwen)
    content = "В 1453 году пала Византия.\n\nОтвет: B"
    t = qt.spans(qwen("<think>\n\n</think>\n\n" + content + "<|im_end|>\n")["input_ids"])
    s = lt.spans(llama(content + "<|eot_id|>", add_special_tokens=False)["input_ids"])
    pairs = cv.VocabMap.build(qt, lt).control_pairs
    assert len(cv.align(t, s, pairs)) == 0
    a = cv.align(t, s, pairs, starts=(cv.find_content(t, content), cv.find_content(s, content)))
    units = texts(a, t, s)
    assert units[-1] == (["<|im_end|>"], ["<|eot_id|>"])
    assert "".join("".join(sg) for _, sg in units[:-1]) == content
    think_block = qwen("<think>\n\n</think>\n\n")["input_ids"]
    assert a.dropped["before_common_text"] == len(think_block) >= 3
    assert a.dropped["past_common_text"] == 1  # Qwen's "\n" after <|im_end|>
    # a student cut short (its max_length) still finds where the content starts
    cut = lt.spans(llama(content[:12], add_special_tokens=False)["input_ids"])
    assert cv.find_content(cut, content) == 0


def test_reasoning_in_the_teachers_think_tags_aligns_apart_from_the_answer(tiny_pair):
    """A Qwen3 teacher reads a Llama student's completion in its own format (the reasoning in
    <think> tags, :func:`teacher_view`): the reasoning and the answer line align apart, each in
    full, and the tags and separators between them are in no unit."""
    from cmoe.core.prompting import build_completion
    from cmoe.training.cross_vocab.framing import shared_segments, teacher_view

    llama, qwen = tiny_pair
    lt, qt = cv.TokenTable.from_tokenizer(llama), cv.TokenTable.from_tokenizer(qwen)
    plain = build_completion("Ответ: B? В 1453 году пала Византия.", "B", think=False)
    row = {"prompt": [], "completion": [{"role": "assistant", "content": plain}]}
    framed = teacher_view(row, think=True)["completion"][0]["content"]
    assert framed == "<think>\nОтвет: B? В 1453 году пала Византия.\n</think>\n\nОтвет: B"
    t = qt.spans(qwen(framed + "<|im_end|>\n")["input_ids"])
    s = lt.spans(llama(plain + "<|eot_id|>", add_special_tokens=False)["input_ids"])
    pairs = cv.VocabMap.build(qt, lt).control_pairs
    segments = shared_segments(row, True)
    assert segments == ["Ответ: B? В 1453 году пала Византия.", "Ответ: B"]
    whole = cv.align(t, s, pairs, starts=(cv.find_content(t, plain[:20]), 0))
    apart = cv.align_segments(t, s, segments, pairs)
    units = texts(apart, t, s)
    aligned = "".join("".join(sg) for _, sg in units[:-1])
    # the answer line is found after the reasoning, not at the "Ответ: B" inside it; the
    # reasoning's piece runs on while both sides agree (its "\n")
    assert aligned == f"{segments[0]}\n{segments[1]}"
    assert units[-1] == (["<|im_end|>"], ["<|eot_id|>"])
    assert len(apart) > len(whole)  # one piece stops where the framing parts (after "\n")
    assert apart.dropped["added_token"] == 0 and apart.dropped["control"] == 0
    assert apart.dropped["before_common_text"] == 2  # the teacher's "<think>" "\n"
    assert apart.dropped["between_segments"] >= 3  # "\n" "</think>" "\n\n" | "\n\n"
    # same format on both sides: one piece, the separator aligned too
    assert shared_segments(row, False) == [plain]


def test_a_character_split_over_byte_tokens_gets_byte_spans(tiny_pair):
    _, student = tiny_pair
    text = "щука 漢字 🙂"  # CJK and emoji are not in a 1024 Russian vocabulary: bytes
    table = cv.TokenTable.from_tokenizer(student)
    from_text = spans_from_text(student, text, table)
    from_ids = table.spans(from_text.ids)
    assert from_text.spans.tolist() == from_ids.spans.tolist()
    assert (from_ids.spans[:, 1] - from_ids.spans[:, 0]).min() == 1  # single bytes occur


def test_bos_from_a_post_processor_has_a_zero_width_span(tiny_pair):
    llama, _ = tiny_pair
    table = cv.TokenTable.from_tokenizer(llama)
    s = spans_from_text(llama, "Ответ: B", table, add_special_tokens=True)
    assert s.kinds[0] == CONTROL and s.spans[0].tolist() == [0, 0]
    assert s.spans[1:].tolist() == table.spans(s.ids[1:]).spans.tolist()


def _trl_byte_offsets(tok, text):
    """TRL's byte offsets (trl.experimental.utils.encode_with_byte_offsets), where installed."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.utils import encode_with_byte_offsets
    except ImportError:
        return None
    [(_, offsets)] = encode_with_byte_offsets(tok.backend_tokenizer, [text])
    return [list(o) for o in offsets]


def test_unit_teacher_targets_chain_rule_and_exclusions():
    # teacher "20" "1" (two tokens) vs student "201": the teacher's P(u) is the product
    t, s = side("20", "1", " "), side("201", " ")
    a = cv.align(t, s)
    vmap = cv.VocabMap.build(TABLE, TABLE)
    topk_ids = np.array([[ID["20"], ID["2"], ID["201"]], [ID["1"], ID["0"], ID["4"]],
                         [ID[" "], ID["\n"], ID["a"]]])  # fmt: skip
    topk_lps = np.log(np.array([[0.5, 0.3, 0.1], [0.8, 0.1, 0.05], [0.9, 0.05, 0.01]]))
    target_lps = np.log(np.array([0.5, 0.8, 0.9]))
    u = cv.unit_teacher_targets(a, t.ids, topk_ids, topk_lps, target_lps, s.ids, vmap)
    assert np.allclose(np.exp(u["unit_logprob"]), [0.5 * 0.8, 0.9])
    assert u["s_first"].tolist() == [0, 1] and u["s_len"].tolist() == [1, 1]
    # first unit: "20" is the observed token (excluded); "2" maps to student "2"; "201" is the
    # student's own first token: its mass is split between u and the rest, so excluded
    assert np.isneginf(u["alt_logprobs"][0, 0]) and np.allclose(
        u["alt_logprobs"][0, 1:], np.log([0.3, 0.1])
    )
    assert u["alt_student"][0].tolist() == [cv.EXCLUDED, ID["2"], cv.EXCLUDED]
    assert u["alt_student"][1].tolist() == [cv.EXCLUDED, ID["\n"], ID["a"]]


def test_vocab_map_matches_decoded_bytes_and_end_of_turn():
    teacher = _table(eos="<|eot_id|>")
    pieces = [b"\xd0\x9f\xd1\x80\xd0\xb8", b" \xd0\xbc\xd0\xb8\xd1\x80", b"zz", b"<|im_end|>"]
    student = cv.TokenTable(pieces, np.array([NORMAL, NORMAL, NORMAL, CONTROL]), eos_id=3)
    m = cv.VocabMap.build(teacher, student)
    assert m.teacher_to_student[ID["При"]] == 0 and m.teacher_to_student[ID[" мир"]] == 1
    assert (
        m.teacher_to_student[ID["<|eot_id|>"]] == 3
        and m.teacher_to_student[ID["<|im_end|>"]] == cv.NO_MATCH
    )
    assert m.student_unmatched.tolist() == [False, False, True, False] and m.shared == 3


# --- losses against hand computations -------------------------------------------------------------


def _softmax(row):
    top = max(row)
    e = [math.exp(v - top) for v in row]
    return [x / sum(e) for x in e]


def _kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


# B=1, T=4 (last masked), V=6. Units: one at t=0 of two student tokens (targets 1, 2), one at t=2.
LOGITS = [[[0.2, 1.5, -0.3, 0.8, 0.1, -1.0], [0.0, 0.4, 2.0, -0.5, 0.3, 0.1],
           [1.2, -0.2, 0.3, 0.9, -0.4, 0.6], [0.0] * 6]]  # fmt: skip
TARGETS = [[1, 2, 3, -100]]
XV = {
    "xv_mask": [[True, False, True, False]],
    "xv_len": [[2, 1, 1, 1]],
    "xv_unit_logprob": [[math.log(0.4), 0.0, math.log(0.55), 0.0]],
    "xv_alt_logprobs": [
        [[math.log(0.25), math.log(0.1)], [0, 0], [math.log(0.2), -math.inf], [0, 0]]
    ],  # fmt: skip
    "xv_alt_student": [[[3, cv.NO_MATCH], [0, 0], [cv.NO_MATCH, cv.EXCLUDED], [0, 0]]],
}
UNMATCHED = [True, False, False, False, True, False]  # student ids 0 and 4: no teacher spelling


def _xv():
    return {k: torch.tensor(v, dtype=torch.bool if k == "xv_mask" else None) for k, v in XV.items()}


def _reference_units():
    """Teacher and student unit distributions written out from the module docstring's rule."""
    q0, q1, q2 = (_softmax(LOGITS[0][t]) for t in range(3))
    return [
        # (teacher P(u), teacher alts [(prob, student id or code)], student P(u), student dist, s1)
        (0.4, [(0.25, 3), (0.1, cv.NO_MATCH)], q0[1] * q1[2], q0, 1),
        (0.55, [(0.2, cv.NO_MATCH), (0.0, cv.EXCLUDED)], q2[3], q2, 3),
    ]


def _uld_ref(k=2):
    out = []
    for tu, alts, su, q, s1 in _reference_units():
        t = sorted([tu] + [p for p, _ in alts], reverse=True)
        s_alts = sorted((p for v, p in enumerate(q) if v != s1), reverse=True)[:k]
        s = sorted([su] + s_alts, reverse=True)
        out.append(
            sum(abs(a - b) for a, b in zip(t, s, strict=True)) + abs((1 - sum(t)) - (1 - sum(s)))
        )
    return out


def _hybrid_ref(beta=0.0, k=2):
    out = []
    for tu, alts, su, q, s1 in _reference_units():
        matched = [(p, v) for p, v in alts if v >= 0]
        p = [tu] + [pp for pp, _ in matched]
        r = [su] + [q[v] for _, v in matched]
        p.append(1 - sum(p))
        r.append(1 - sum(r))
        if beta == 0.0:
            exact = _kl(p, r)
        else:
            m = [beta * a + (1 - beta) * b for a, b in zip(p, r, strict=True)]
            exact = beta * _kl(p, m) + (1 - beta) * _kl(r, m)
        t_un = sorted([pp for pp, v in alts if v == cv.NO_MATCH], reverse=True)
        t_un += [0.0] * (k - len(t_un))
        s_un = sorted((x for v, x in enumerate(q) if UNMATCHED[v] and v != s1), reverse=True)[:k]
        s_un += [0.0] * (k - len(s_un))
        out.append(exact + sum(abs(a - b) for a, b in zip(t_un, s_un, strict=True)))
    return out


@pytest.mark.parametrize(("loss", "divergence", "beta"), [
    ("uld", "forward_kl", 0.5), ("hybrid", "forward_kl", 0.5), ("hybrid", "jsd", 0.3),
])  # fmt: skip
def test_losses_equal_a_hand_computation(loss, divergence, beta):
    got = cv.cross_vocab_kd_loss(
        torch.tensor(LOGITS, dtype=torch.float64),
        torch.tensor(TARGETS),
        _xv(),
        loss=loss,
        divergence=divergence,
        beta=beta,
        student_unmatched=torch.tensor(UNMATCHED),
        reduction="none",
    )
    want = _uld_ref() if loss == "uld" else _hybrid_ref(divergence_beta(divergence, beta))
    assert got.tolist() == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert min(want) > 1e-3
    mean = cv.cross_vocab_kd_loss(
        torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(TARGETS), _xv(), loss=loss,
        divergence=divergence, beta=beta, student_unmatched=torch.tensor(UNMATCHED),
    )  # fmt: skip
    assert mean.item() == pytest.approx(sum(want) / 2, rel=1e-6)


def test_loss_masks_and_has_gradients_only_on_unit_positions():
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    for loss in ("uld", "hybrid"):
        logits.grad = None
        value = cv.cross_vocab_kd_loss(
            logits,
            torch.tensor(TARGETS),
            _xv(),
            loss=loss,
            student_unmatched=torch.tensor(UNMATCHED),
        )
        value.backward()
        grad = logits.grad[0]
        assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0  # t=1: inside unit 1's chain
        assert grad[2].abs().sum() > 0 and grad[3].abs().sum() == 0  # t=3 masked out
    none = {k: v.clone() for k, v in _xv().items()}
    none["xv_mask"][:] = False
    assert cv.cross_vocab_kd_loss(logits, torch.tensor(TARGETS), none, loss="uld").item() == 0.0
    with pytest.raises(ValueError, match="config key kd.cross_vocab.loss: 'kl'"):
        cv.cross_vocab_kd_loss(logits, torch.tensor(TARGETS), _xv(), loss="kl")
    with pytest.raises(ValueError, match="config key kd.temperature"):
        cv.cross_vocab_kd_loss(logits, torch.tensor(TARGETS), _xv(), loss="uld", temperature=2.0)


def test_same_vocabulary_hybrid_is_the_projects_topk_loss():
    """With one vocabulary, one-to-one units and the observed token in the teacher's top k, the
    hybrid's exact part is the project's top-k + rest forward KL (tests/test_kd.py's reference)."""
    rng = np.random.default_rng(0)
    vocab, k, n = 8, 3, 5
    pieces = [bytes([97 + i]) for i in range(vocab)]
    table = cv.TokenTable(pieces, np.zeros(vocab, np.int8))
    vmap = cv.VocabMap.build(table, table)
    ids = rng.integers(0, vocab, n)
    teacher_lp = torch.log_softmax(torch.tensor(rng.normal(size=(n, vocab)) * 2), -1)
    topk = teacher_lp.topk(k, -1)
    topk_ids = topk.indices.numpy().copy()
    topk_ids[:, -1] = np.where((topk_ids[:, :-1] == ids[:, None]).any(1), topk_ids[:, -1], ids)
    topk_lps = teacher_lp.gather(-1, torch.from_numpy(topk_ids)).numpy()
    target_lps = teacher_lp[torch.arange(n), torch.from_numpy(ids)].numpy()
    a = cv.align(table.spans(ids), table.spans(ids))
    units = cv.unit_teacher_targets(a, ids, topk_ids, topk_lps, target_lps, ids, vmap)
    xv = cv.place_units([units], [np.arange(n)], n, k)
    logits = torch.tensor(rng.normal(size=(1, n, vocab)))
    got = cv.cross_vocab_kd_loss(
        logits,
        torch.from_numpy(ids)[None],
        xv,
        loss="hybrid",
        student_unmatched=vmap.student_unmatched,
    )
    want = []
    for t in range(n):
        p = [math.exp(v) for v in topk_lps[t]]
        q_all = _softmax(logits[0, t].tolist())
        q = [q_all[i] for i in topk_ids[t]]
        want.append(_kl(p + [1 - sum(p)], q + [1 - sum(q)]))
    assert got.item() == pytest.approx(sum(want) / n, rel=1e-6)
    same = topk_kd_loss(logits, torch.from_numpy(topk_ids)[None], torch.tensor(topk_lps)[None],
                        torch.ones(1, n, dtype=torch.bool))  # fmt: skip
    assert got.item() == pytest.approx(same.item(), rel=1e-6)


def test_teacher_ids_past_its_tokenizer_spell_nothing():
    """A model's padded embedding rows (Qwen3's 151,936 against 151,669 tokens) may reach the
    stored top k: they map to no student token."""
    t, s = side("20", "1"), side("201")
    vmap = cv.VocabMap.build(TABLE, TABLE)
    padded = len(TABLE) + 5
    topk_ids = np.array([[ID["20"], padded, ID["2"]], [ID["1"], ID["0"], padded]])
    topk_lps = np.log(np.array([[0.5, 0.01, 0.3], [0.8, 0.1, 0.01]]))
    u = cv.unit_teacher_targets(
        cv.align(t, s), t.ids, topk_ids, topk_lps, np.log([0.5, 0.8]), s.ids, vmap
    )
    assert u["alt_student"].tolist() == [[cv.EXCLUDED, cv.NO_MATCH, ID["2"]]]


def test_a_merged_number_is_not_suppressed():
    """X-Token's case: the teacher writes "201" as one likely token, the student splits digits.
    The hybrid compares u = "201" on both sides, so it raises the student's "2" at the first
    position; matching token strings alone would lower it (the teacher's "2" is unlikely)."""
    t, s = side("201"), side("2", "0", "1")
    vmap = cv.VocabMap.build(TABLE, TABLE)
    a = cv.align(t, s)
    topk_ids = np.array([[ID["201"], ID["2"]]])
    topk_lps = np.log(np.array([[0.9, 0.02]]))
    units = cv.unit_teacher_targets(a, t.ids, topk_ids, topk_lps, np.log([0.9]), s.ids, vmap)
    assert units["alt_student"].tolist() == [[cv.EXCLUDED, cv.EXCLUDED]]
    xv = cv.place_units([units], [np.arange(3)], 3, 2)
    logits = torch.zeros(1, 3, len(TABLE), requires_grad=True)
    value = cv.cross_vocab_kd_loss(
        logits, torch.tensor([s.ids.tolist()]), xv, student_unmatched=vmap.student_unmatched
    )
    value.backward()
    for position, token in enumerate(("2", "0", "1")):
        assert logits.grad[0, position, ID[token]] < 0  # gradient descent raises each digit
