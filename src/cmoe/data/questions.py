# Over 300 lines as one module: MERA's row schema, its checks and the split that reads it.
"""Data stage: ruMMLU rows in MERA's schema -> validated questions -> leak-free seeded split.

MERA row:  {instruction, inputs{text, option_a..option_d, subject}, outputs, meta{id, domain}}
where ``meta.domain`` is the MMLU subject key. Question record written by this stage:
    {id, subject, domain, question, options{A,B,C,D}, gold, inputs[, subject_name, instruction,
     explanation, kind]}
``question`` and ``options`` are the text with surrounding whitespace removed (what the
chain-of-thought prompt shows and what duplicates are judged by); ``inputs`` is the row's
``inputs`` exactly as stored (a real v1.2 row's ``text`` may end in a newline), and
``instruction`` the row's own MERA instruction, a template over them: MERA's protocol
(cmoe.evaluation.loglik) renders these byte for byte as lm-eval does. ``subject_name`` is
``inputs.subject``. MERA's few-shot pool (its ``train`` split) is read by :func:`prepare_fewshot`
into a file of its own, never into the split that teachers answer.

A row whose ``outputs`` is empty is one of MERA's hidden rows (a closed test split): it has no
answer to learn or score, and is reported as such.
"""

from __future__ import annotations

import math
import numbers
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.errors import DataError
from ..core.io import atomic_write_json, atomic_write_jsonl, iter_jsonl, iter_lines
from .settings import DataSettings

LETTERS = ("A", "B", "C", "D")
SPLITS = ("train", "test")


# MERA's ruMMLU on the hub, per version: (dataset, config, split of answered questions, split of
# the few-shot pool). v1.1's answered "public test" (10,033 items) is its `train` split and its
# shots came from the same split; v1.2 publishes the answered test (14,012) and a 285-item train.
MERA_HUB = {
    "v1.1": ("ai-forever/MERA", "rummlu", "train", "train"),
    "v1.2": ("MERA-evaluation/MERA", "rummlu", "test", "train"),
}
INSTRUCTION_FIELDS = ("text", "option_a", "option_b", "option_c", "option_d", "subject")


def _option_text(inputs: dict, letter: str) -> str:
    """Option text; a number (``42``, ``3.5``) becomes its text, null or blank is missing."""
    key = f"option_{letter.lower()}"
    value = inputs.get(key)
    not_finite = isinstance(value, float) and not math.isfinite(value)
    if value is None or not_finite or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"missing option inputs.{key}")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"option inputs.{key} must be text or a number, got {value!r}")


def _check_distinct_options(options: dict[str, str]) -> None:
    """Two options with the same text (up to whitespace and Unicode form) are an error."""
    letters_by_text: dict[str, list[str]] = defaultdict(list)
    for letter in LETTERS:
        text = " ".join(unicodedata.normalize("NFC", options[letter]).split())
        letters_by_text[text].append(letter)
    for text, letters in letters_by_text.items():
        if len(letters) > 1:
            named = ", ".join(letters[:-1]) + " and " + letters[-1]
            raise ValueError(f"options {named} are identical ({text!r})")


def _question_id(meta: dict) -> str:
    """meta.id as text (MERA's are JSON integers, int64 through `datasets`); null, missing,
    blank or non-scalar ids are errors (never the id 'None')."""
    if "id" not in meta:
        raise ValueError("missing meta.id")
    value = meta["id"]
    if value is None:
        raise ValueError("meta.id is null")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))  # a numpy/pandas int64 too
    if not isinstance(value, str):
        raise ValueError(f"meta.id must be an integer or a string, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError("meta.id is empty")
    return str(value)


def _check_instruction(instruction: str) -> None:
    """MERA fills the instruction with ``str.format(**inputs)``: only inputs' fields may appear."""
    import string

    try:
        names = {name for _, name, _, _ in string.Formatter().parse(instruction) if name}
    except ValueError as exc:
        raise ValueError(f"instruction is not a valid format template ({exc})") from None
    unknown = sorted(names - set(INSTRUCTION_FIELDS))
    if unknown:
        raise ValueError(
            f"instruction names {{{unknown[0]}}}, not a field of inputs "
            f"(known: {', '.join(INSTRUCTION_FIELDS)})"
        )


def _mera_to_question(row: Any, subject_domains: dict[str, str]) -> dict:
    """Convert one MERA row; raise ValueError naming what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("row is not a JSON object")
    inputs, meta = row.get("inputs"), row.get("meta")
    if not isinstance(inputs, dict) or not isinstance(meta, dict):
        raise ValueError("missing 'inputs' or 'meta' object")
    text = inputs.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("missing question text (inputs.text)")
    options = {letter: _option_text(inputs, letter) for letter in LETTERS}
    _check_distinct_options(options)
    gold = row.get("outputs")
    if gold == "":
        raise ValueError(
            "outputs is empty: a hidden row of MERA's closed test, with no answer (read the "
            "split that publishes answers)"
        )
    if not isinstance(gold, str) or gold.strip() not in LETTERS:
        raise ValueError(f"answer (outputs) must be one of A-D, got {gold!r}")
    subject = meta.get("domain")
    if not isinstance(subject, str) or not subject:
        raise ValueError("missing subject key (meta.domain)")
    if subject not in subject_domains:
        raise ValueError(
            f"subject {subject!r} has no domain; add it to data.domain_map in the config"
        )
    question = {
        "id": _question_id(meta),
        "subject": subject,
        "domain": subject_domains[subject],
        "question": text.strip(),
        "options": options,
        "gold": gold.strip(),
        # as stored, for MERA's protocol (which renders them as lm-eval does)
        "inputs": {k: inputs[k] for k in INSTRUCTION_FIELDS if k in inputs},
    }
    if isinstance(inputs.get("subject"), str) and inputs["subject"].strip():
        question["subject_name"] = inputs["subject"].strip()
    instruction = row.get("instruction")
    if isinstance(instruction, str) and instruction.strip():
        _check_instruction(instruction)
        question["instruction"] = instruction
    if isinstance(row.get("explanation"), str) and row["explanation"].strip():
        question["explanation"] = row["explanation"].strip()
    # not MERA's: a question kind (the control tasks' "rule" or "knowledge"), which the
    # tables score apart (cmoe.core.scoring)
    if isinstance(meta.get("kind"), str) and meta["kind"].strip():
        question["kind"] = meta["kind"].strip()
    return question


def iter_source_rows(source: dict[str, Any], key: str = "data.source") -> Iterator[tuple[str, Any]]:
    """Yield (location, row). Location names the file and line (or dataset and row index)."""
    if "file" in source:
        path = Path(source["file"])
        if not path.exists():
            raise FileNotFoundError(f"{key}.file: {path} does not exist")
        if path.suffix == ".parquet":
            import datasets

            ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
            for i, row in enumerate(ds):
                yield f"{path} row {i}", row
        else:
            # JSONL line by line, so a broken line is reported with its number
            empty = True
            for lineno, line in iter_lines(path):
                empty = False
                yield f"{path}:{lineno}", line
            if empty:
                raise DataError(f"{key}.file: {path} is empty")
    else:
        from .hub import load_hub_split

        hub = source["hub"]
        ds = load_hub_split(hub)
        for i, row in enumerate(ds):
            yield f"{hub['path']}[{hub.get('name')}/{hub.get('split', 'test')}] row {i}", row


def normalise_text(text: str) -> str:
    """Case-, width-, punctuation- and whitespace-insensitive form used for duplicate checks."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _differing_fields(a: dict, b: dict) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(keys) or "row content"


def _load_rows(
    settings: DataSettings, subject_domains: dict[str, str], source_key: str = "data.source"
):
    """Parse every row; returns (questions, bad_row_messages, exact_duplicate_rows_dropped)."""
    import json

    questions, bad = [], []
    first_seen: dict[str, tuple[str, Any, dict]] = {}  # id -> (location, row, question)
    n_repeats = 0
    source = settings.source if source_key == "data.source" else settings.fewshot_source
    for location, raw in iter_source_rows(source, source_key):
        try:
            row = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            problem = f"{location}: broken JSON ({exc.msg})"
        else:
            try:
                q = _mera_to_question(row, subject_domains)
                if q["id"] in first_seen:
                    where, first_row, first_q = first_seen[q["id"]]
                    if row == first_row:
                        n_repeats += 1  # the same row twice: keep one, count the repeat
                        continue
                    differs = _differing_fields(q, first_q)
                    if differs == "row content":
                        differs = _differing_fields(row, first_row)
                    raise ValueError(
                        f"duplicate meta.id {q['id']} with different content than {where}"
                        f" (differs in: {differs})"
                    )
                first_seen[q["id"]] = (location, row, q)
                questions.append(q)
                continue
            except ValueError as exc:
                problem = f"{location}: {exc}"
        if settings.on_bad_row != "skip":
            raise DataError(problem + " (set data.on_bad_row: skip to skip and count bad rows)")
        bad.append(problem)
    return questions, bad, n_repeats


def deduplicate(questions: list[dict]) -> tuple[list[dict], int]:
    """Drop repeated (question, options) pairs, keeping the first occurrence."""
    seen, kept = set(), []
    for q in questions:
        key = (
            normalise_text(q["question"]),
            tuple(normalise_text(q["options"][x]) for x in LETTERS),
        )
        if key not in seen:
            seen.add(key)
            kept.append(q)
    return kept, len(questions) - len(kept)


def split_questions(questions: list[dict], test_fraction: float, seed: int):
    """Seeded split, stratified by subject, that never separates equal normalised texts.

    Questions whose normalised text coincides (same stem, different options) form one group and
    go to the same split, so no test question text is ever seen in training.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        groups[normalise_text(q["question"])].append(q)
    by_subject: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        by_subject[members[0]["subject"]].append(key)
    rng = random.Random(seed)
    split = {"train": [], "test": []}
    for subject in sorted(by_subject):
        keys = sorted(by_subject[subject])
        rng.shuffle(keys)
        n_test = round(len(keys) * test_fraction)
        for i, key in enumerate(keys):
            split["test" if i < n_test else "train"].extend(groups[key])
    for name in split:
        split[name].sort(key=lambda q: (q["domain"], q["subject"], q["id"]))
    return split


def _cap_per_subject(questions: list[dict], cap: int | None, seed: int) -> list[dict]:
    if not cap:
        return questions
    rng = random.Random(seed)
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        by_subject[q["subject"]].append(q)
    kept = []
    for subject in sorted(by_subject):
        items = by_subject[subject]
        kept.extend(items if len(items) <= cap else rng.sample(items, cap))
    return kept


def summarise(split: dict[str, list[dict]]) -> dict:
    out = {}
    for name, items in split.items():
        domains: dict[str, Counter] = defaultdict(Counter)
        for q in items:
            domains[q["domain"]][q["subject"]] += 1
        out[name] = {
            "total": len(items),
            "domains": {
                d: {"total": sum(c.values()), "subjects": dict(sorted(c.items()))}
                for d, c in sorted(domains.items())
            },
        }
    return out


def prepare_data(
    settings: DataSettings, subject_domains: dict[str, str], outputs: dict[str, str | Path]
) -> dict:
    """Run the whole stage; ``outputs`` maps 'train', 'test' and 'summary' to file paths."""
    questions, bad, n_repeats = _load_rows(settings, subject_domains)
    if not questions:
        raise DataError("no valid questions in data.source")
    questions, n_dupes = deduplicate(questions)
    n_dupes += n_repeats  # exact repeated rows + repeated (question, options) under other ids
    questions = _cap_per_subject(questions, settings.max_per_subject, settings.seed)
    split = split_questions(questions, settings.test_fraction, settings.seed)
    overlap = {normalise_text(q["question"]) for q in split["train"]} & {
        normalise_text(q["question"]) for q in split["test"]
    }
    assert not overlap, "split leaked question text between train and test"  # by construction
    for name in SPLITS:
        atomic_write_jsonl(outputs[name], split[name])
    summary = {
        "splits": summarise(split),
        "removed_duplicates": n_dupes,
        "skipped_bad_rows": len(bad),
        "bad_rows": bad[:50],
        "test_fraction": settings.test_fraction,
        "seed": settings.seed,
        "source": settings.source,  # a hub dataset's commit among it (resolved by the CLI)
    }
    atomic_write_json(outputs["summary"], summary)
    return summary


def prepare_fewshot(
    settings: DataSettings, subject_domains: dict[str, str], out: str | Path
) -> dict:
    """MERA's few-shot pool (``data.fewshot_source``) as question records, in source order
    (the order MERA's sampler draws from), every row checked like the questions'."""
    if not settings.fewshot_source:
        raise DataError("data.fewshot_source is not set")
    pool, bad, n_repeats = _load_rows(settings, subject_domains, "data.fewshot_source")
    if not pool:
        raise DataError("no valid questions in data.fewshot_source")
    atomic_write_jsonl(out, pool)
    subjects = Counter(q["subject"] for q in pool)
    return {
        "total": len(pool),
        "subjects": dict(sorted(subjects.items())),
        "repeated_rows": n_repeats,
        "skipped_bad_rows": len(bad),
    }


def read_questions(path: str | Path, domains: list[str] | None = None) -> list[dict]:
    """Read a split file written by this stage (only the questions of ``domains``, if given)."""
    questions = [q for _, q in iter_jsonl(path)]
    return [q for q in questions if q["domain"] in domains] if domains else questions
