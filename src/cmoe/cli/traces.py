"""Subcommands that write and curate reasoning traces: generate, gather, filter, merge-stats,
contamination."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..generation.base import GenerationSettings
from ..prompting import PromptSettings
from .base import command, key_value, model_arguments, read_questions, set_threads, settings, shard

log = logging.getLogger("cmoe")


def _generate_args(p):
    model_arguments(p)
    p.add_argument("--questions", required=True, help="split file from prepare-data")
    p.add_argument("--domain", nargs="+", help="only questions of these domains")
    p.add_argument(
        "--generation",
        type=settings(GenerationSettings, "generation"),
        default=GenerationSettings(),
        help="sampling/backend settings (JSON)",
    )
    p.add_argument(
        "--prompt",
        type=settings(PromptSettings, "prompt"),
        required=True,
        help="the config's `prompt` section (JSON)",
    )
    p.add_argument(
        "--shard",
        type=shard,
        default=(0, 1),
        metavar="I/N",
        help="answer only shard I of N (contiguous blocks of the question order; default 0/1)",
    )
    p.add_argument(
        "--out", required=True, help="trace records (JSONL); a killed run resumes from OUT.partial"
    )
    p.add_argument("--cost-out", help="wall time, device and token counts of this run (JSON)")


@command("generate", "answer questions with reasoning; one trace per question", _generate_args)
def generate(args) -> None:
    from dataclasses import asdict

    from ..generation import make_generator
    from ..generation.runner import generate_resumable, run_cost, shard_questions
    from ..io import atomic_write_json

    set_threads(args.threads)
    questions = shard_questions(read_questions(args.questions, args.domain), *args.shard)
    t0 = time.perf_counter()
    generator = make_generator(args.model, args.generation, args.trust_remote_code)
    if hasattr(generator, "check_endpoint"):  # fail in seconds, not after the first timeout
        generator.check_endpoint()
    records = generate_resumable(
        questions,
        generator,
        args.prompt,
        args.out,
        seed=args.generation.seed,
        identity={"generation": asdict(args.generation), "prompt": asdict(args.prompt)},
        desc=f"generate {args.shard[0]}/{args.shard[1]}",
    )
    if args.cost_out:
        cost = run_cost(records, time.perf_counter() - t0, generator.usage())
        atomic_write_json(args.cost_out, {**cost, "backend": args.generation.backend})
    correct = sum(r["correct"] for r in records)
    log.info("%s: %d/%d correct", args.out, correct, len(records))


def _gather_args(p):
    p.add_argument("--shards", nargs="+", required=True, help="shard files, in order")
    p.add_argument("--out", required=True)


@command("gather", "concatenate generation shards, in shard order", _gather_args)
def gather(args) -> None:
    from ..io import atomic_write_text

    # Byte concatenation in shard order: shards are contiguous blocks of the question order.
    atomic_write_text(args.out, "".join(Path(p).read_text("utf-8") for p in args.shards))
    log.info("gathered %d shards into %s", len(args.shards), args.out)


def _filter_args(p):
    p.add_argument("--raw", required=True, help="trace records from generate/gather")
    p.add_argument("--out", required=True, help="the kept (correct) traces")
    p.add_argument("--stats", required=True, help="accuracy, lengths and counts (JSON)")
    p.add_argument("--max-length", type=int, required=True, help="training max_length")


@command("filter", "keep correct traces and write their statistics", _filter_args)
def filter_(args) -> None:
    from ..filtering import filter_traces

    stats = filter_traces(args.raw, args.out, args.stats, args.max_length)
    log.info(
        "kept %d of %d traces (accuracy %.3f)",
        stats["kept"],
        stats["overall"]["n"],
        stats["overall"]["accuracy"] or 0.0,
    )


def _merge_stats_args(p):
    p.add_argument("--stats", type=key_value, nargs="+", required=True, help="DOMAIN=stats.json")
    p.add_argument("--out", required=True)


@command("merge-stats", "combine per-domain filter stats of one teacher", _merge_stats_args)
def merge_stats(args) -> None:
    from ..filtering import merge_stats

    merge_stats(dict(args.stats), args.out)


def _contamination_args(p):
    p.add_argument("--traces", nargs="+", required=True, help="kept trace files")
    p.add_argument("--test", required=True, help="the test split")
    p.add_argument("--n", type=int, default=8, help="n-gram length in words")
    p.add_argument("--out", required=True)


@command(
    "contamination",
    "flag test questions whose text appears (as a word n-gram) in training traces",
    _contamination_args,
)
def contamination(args) -> None:
    from ..contamination import write_check

    result = write_check(args.traces, read_questions(args.test), args.out, args.n)
    log.info(
        "%d of %d test questions share a %d-gram with %d traces",
        result["flagged"],
        result["test_items"],
        args.n,
        result["traces"],
    )
