"""The KD methods' subcommand: a teacher scores training traces once (top-k log-probs per
completion token, stored) so that KD students train without loading it."""

from __future__ import annotations

import logging
from functools import partial

from ...core.commands import command, model_arguments, set_threads, settings_argument
from ...training.teacher_scores import ScoreSettings

log = logging.getLogger("cmoe")


def _score_args(p):
    model_arguments(p, prompt=True)
    p.add_argument("--data", nargs="+", required=True, help="trace files to score")
    settings_argument(
        p,
        "--settings",
        ScoreSettings,
        "score",
        "top_k, batch_size, chunk_examples, max_length, dtype (JSON)",
    )
    p.add_argument(
        "--student",
        help="a student of another vocabulary: score the rows in its chat format and store the "
        "teacher's scores in the teacher's vocabulary with byte spans (format 2)",
    )
    p.add_argument(
        "--student-revision",
        help="the student's hub commit, tag or branch (as its models entry says; a hub id only)",
    )
    p.add_argument(
        "--student-trust-remote-code",
        action="store_true",
        help="trust the student tokenizer's own code (as the models entry says)",
    )
    p.add_argument(
        "--teacher",
        help="the teacher's `models` key, recorded in the scores' manifest (default: --model)",
    )
    p.add_argument("--out", required=True, help="folder for the stored scores")
    p.add_argument("--cost", required=True, help="cost file (wall time, device)")


@command(
    "score-teacher",
    "store a teacher's top-k log-probs on training traces, for logit distillation",
    _score_args,
)
def score_teacher(args) -> None:
    from ...core.io import atomic_write_json, read_jsonl
    from ...core.models import load_tokenizer
    from ...training import load_training_rows
    from ...training.cross_vocab import nfc_rows
    from ...training.teacher_scores import score_rows

    set_threads(args.threads)
    # A specialist may keep none of its own traces (tiny runs): its scores are then empty, and
    # the student learns from the other specialists' traces.
    kept = sum(bool(r.get("correct")) for path in args.data for r in read_jsonl(path))
    # the rows the student's trainer reads: its chat format decides the reasoning's tags
    student = None
    if args.student:
        from ...core.revisions import model_revision

        commit = model_revision(args.student, args.student_revision)  # one commit for the job
        trust = args.student_trust_remote_code
        student = partial(load_tokenizer, args.student, trust, revision=commit)
    rows = load_training_rows(args.data, args.prompt, "traces", student) if kept else []
    if args.student:
        rows = nfc_rows(rows)
    if not rows:
        log.warning("no correct traces in %s: writing empty scores", ", ".join(args.data))
    result = score_rows(
        args.model,
        rows,
        args.out,
        args.settings,
        args.trust_remote_code,
        teacher=args.teacher or args.model,
        cross_vocab_for=args.student,
        revision=args.revision,  # the hub revision as the config gives it, if any
        commit=args.commit,  # the commit it names now (what is loaded)
    )
    atomic_write_json(args.cost, result["cost"])
    index = result["index"]
    log.info(
        "scored %d examples, %d tokens: %d bytes (%.1f per 1,000 tokens)",
        index["examples"],
        index["tokens"],
        index["bytes"],
        index["bytes_per_1000_tokens"] or 0.0,
    )
