"""The traces stage's subcommands: curate traces (filter, curate-extra, contamination-index),
combine their statistics (merge-stats), and flag contamination."""

from __future__ import annotations

import json
import logging

from ..core.commands import command, key_value, prompt_argument, settings_argument
from ..data.questions import read_questions
from ..traces.curation import CurationSettings

log = logging.getLogger("cmoe")


def _curation_args(p):
    settings_argument(
        p,
        "--curation",
        CurationSettings,
        "curation",
        "the config's `curation` section (JSON); default: correct traces only",
        default=CurationSettings(steps=["correct"]),
    )
    p.add_argument("--max-length", type=int, required=True, help="training max_length")
    prompt_argument(p, required=False)
    p.add_argument("--tokenizer", help="the student's model folder (the `length` step)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--tokenizer-revision", help="the tokenizer's hub commit or tag")
    p.add_argument("--contamination", help="index from contamination-index (`decontaminate`)")


def _chain_inputs(args) -> dict:
    from ..traces.contamination import ContaminationIndex
    from ..traces.curation import student_length

    steps = args.curation.steps
    if "length" in steps and not args.tokenizer:
        raise SystemExit("curation step `length` needs --tokenizer")
    if "decontaminate" in steps and not args.contamination:
        raise SystemExit("curation step `decontaminate` needs --contamination")
    return {
        "length": (
            student_length(
                args.tokenizer, args.prompt, args.trust_remote_code, args.tokenizer_revision
            )
            if "length" in steps
            else None
        ),
        "contamination": (
            ContaminationIndex.load(args.contamination) if "decontaminate" in steps else None
        ),
    }


def _filter_args(p):
    p.add_argument("--raw", required=True, help="trace records from generate/gather")
    p.add_argument("--out", required=True, help="the curated traces")
    p.add_argument("--stats", required=True, help="accuracy, pass@n, lengths, curation (JSON)")
    _curation_args(p)


@command("filter", "curate traces (the `curation` chain) and write their statistics", _filter_args)
def filter_(args) -> None:
    from ..traces.curation import filter_traces

    stats = filter_traces(
        args.raw, args.out, args.stats, args.max_length, args.curation, **_chain_inputs(args)
    )
    for step in stats["curation"]:
        log.info("%-14s %6d -> %6d", step["step"], step["in"], step["out"])
    log.info(
        "kept %d of %d traces (pass@1 %.3f)",
        stats["kept"],
        stats["generated"],
        stats["overall"]["accuracy"] or 0.0,
    )


def _curate_extra_args(p):
    p.add_argument("--sources", type=json.loads, required=True, help="data.extra_sources (JSON)")
    p.add_argument("--seed", type=int, default=0, help="samples fractional weights")
    p.add_argument("--out", required=True, help="the weighted, curated rows (JSONL)")
    p.add_argument("--stats", required=True, help="per-source and per-step counts (JSON)")
    _curation_args(p)


@command(
    "curate-extra", "curate and weight the extra sources (data.extra_sources)", _curate_extra_args
)
def curate_extra(args) -> None:
    from ..traces.extra_sources import SourceError, curate_sources

    try:
        stats = curate_sources(
            args.sources,
            args.curation,
            args.max_length,
            args.out,
            args.stats,
            seed=args.seed,
            **_chain_inputs(args),
        )
    except (SourceError, FileNotFoundError) as exc:
        raise SystemExit(str(exc)) from None
    for source in stats["sources"]:
        log.info(
            "%s: %d rows, %d kept, %d in training",
            *[source[k] for k in ("name", "rows", "kept", "in_training")],
        )


def _ngram_args(p):
    """What both contamination subcommands take: the test split, n and the output."""
    p.add_argument("--test", required=True, help="the test split")
    p.add_argument("--n", type=int, default=8, help="n-gram length in words")
    p.add_argument("--out", required=True)


def _contamination_index_args(p):
    p.add_argument("--benchmarks", type=json.loads, default=[], help="evaluation.benchmarks (JSON)")
    _ngram_args(p)


@command(
    "contamination-index",
    "collect the evaluated texts (test split, benchmarks) that curation decontaminates against",
    _contamination_index_args,
)
def contamination_index(args) -> None:
    from ..core.settings import from_dict
    from ..evaluation.benchmarks import BenchmarkSettings, benchmark_texts
    from ..traces.contamination import write_index

    texts = {}
    for i, raw in enumerate(args.benchmarks):
        spec = from_dict(BenchmarkSettings, raw, f"evaluation.benchmarks[{i}]")
        texts[spec.task] = benchmark_texts(spec)
    summary = write_index(read_questions(args.test), texts, args.n, args.out)
    log.info("contamination index: %s", summary["sources"])


def _merge_stats_args(p):
    p.add_argument("--stats", type=key_value, nargs="+", required=True, help="DOMAIN=stats.json")
    p.add_argument("--out", required=True)


@command("merge-stats", "combine per-domain filter stats of one teacher", _merge_stats_args)
def merge_stats(args) -> None:
    from ..traces.curation import merge_stats

    merge_stats(dict(args.stats), args.out)


def _contamination_args(p):
    p.add_argument("--traces", nargs="+", required=True, help="kept trace files")
    _ngram_args(p)


@command(
    "contamination",
    "flag test questions whose text appears (as a word n-gram) in training traces",
    _contamination_args,
)
def contamination(args) -> None:
    from ..traces.contamination import write_check

    result = write_check(args.traces, read_questions(args.test), args.out, args.n)
    log.info(
        "%d of %d test questions share a %d-gram with %d traces",
        result["flagged"],
        result["test_items"],
        args.n,
        result["traces"],
    )
