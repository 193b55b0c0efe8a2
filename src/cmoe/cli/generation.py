"""The generation stage's subcommands: answer questions with reasoning (generate), and join a
domain's shards (gather)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..core.commands import (
    command,
    json_object,
    model_arguments,
    set_threads,
    settings_argument,
    shard,
)
from ..data.questions import read_questions
from ..generation.base import GenerationSettings

log = logging.getLogger("cmoe")


def _generate_args(p):
    model_arguments(p, prompt=True)
    p.add_argument("--questions", required=True, help="split file from prepare-data")
    p.add_argument("--domain", nargs="+", help="only questions of these domains")
    settings_argument(
        p, "--generation", GenerationSettings, "generation", "sampling/backend settings (JSON)"
    )
    p.add_argument(
        "--shard",
        type=shard,
        default=(0, 1),
        metavar="I/N",
        help="answer only shard I of N (contiguous blocks of the question order; default 0/1)",
    )
    adapter_arguments(p)
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="trace records (JSONL); a killed run resumes from OUT.partial")
    out.add_argument(
        "--out-dir",
        help="with --adapters: each adapter answers its own group's questions (one engine), into "
        "OUT_DIR/<group>.raw.jsonl and OUT_DIR/<group>.cost.json, as it would served alone",
    )
    p.add_argument("--cost-out", help="wall time, device and token counts of this run (JSON)")


def adapter_arguments(p) -> None:
    p.add_argument(
        "--adapters",
        type=json_object,
        help="LoRA adapters of --model served together, {group: adapter folder}: each question "
        "is answered by its group's adapter (with --groups; vLLM: one engine)",
    )
    p.add_argument("--groups", type=json_object, help="specialist groups: {group: [domains]}")


def adapter_routing(args, routes=None):
    """(adapters, question -> adapter) from --adapters and --groups, or (None, None)."""
    if not args.adapters:
        return None, None
    from ..evaluation.subsets import router

    if not args.groups:
        raise ValueError("--adapters needs --groups (which domains each adapter serves)")
    missing = sorted(set(args.groups) - set(args.adapters))
    if missing:
        raise ValueError(f"--adapters: no adapter for group {missing[0]} (--groups names it)")
    return args.adapters, router(args.groups, routes)


@command(
    "generate",
    "answer questions with reasoning; samples_per_question traces per question",
    _generate_args,
)
def generate(args) -> None:
    from ..core.signals import stop_at_boundaries

    # a scheduler's SIGTERM stops it at a boundary, saved (cmoe.core.signals)
    with stop_at_boundaries():
        _generate(args)


def _generate(args) -> None:
    from dataclasses import asdict

    from ..core.io import atomic_write_json
    from ..core.revisions import model_provenance
    from ..generation import make_generator
    from ..generation.runner import generate_resumable, run_cost, shard_questions

    set_threads(args.threads)
    if args.out_dir:
        return generate_each_adapter(args)
    questions = shard_questions(read_questions(args.questions, args.domain), *args.shard)
    t0 = time.perf_counter()
    adapters, adapter_of = adapter_routing(args)
    generator = make_generator(
        args.model, args.generation, args.trust_remote_code, adapters, args.commit
    )
    if hasattr(generator, "check_endpoint"):  # fail in seconds, not after the first timeout
        generator.check_endpoint()
    records = generate_resumable(
        questions,
        generator,
        args.prompt,
        args.out,
        seed=args.generation.seed,
        identity={
            "generation": asdict(args.generation),
            "prompt": asdict(args.prompt),
            **({"revision": args.commit} if args.commit else {}),
            **({"adapters": adapters, "groups": args.groups} if adapters else {}),
        },
        desc=f"generate {args.shard[0]}/{args.shard[1]}",
        samples=args.generation.samples_per_question,
        adapter_of=adapter_of,
    )
    if args.cost_out:
        cost = run_cost(records, time.perf_counter() - t0, generator.usage())
        atomic_write_json(
            args.cost_out,
            {
                **cost,
                "backend": args.generation.backend,
                "model": model_provenance(args.model, args.commit),
            },
        )
    correct = sum(r["correct"] for r in records)
    log.info("%s: %d/%d correct", args.out, correct, len(records))


def generate_each_adapter(args) -> None:
    """`generate --adapters --groups --out-dir`: one engine, each adapter its own outputs."""
    from dataclasses import asdict

    from ..core.io import atomic_write_json
    from ..core.revisions import model_provenance
    from ..generation import make_generator
    from ..generation.adapters import generate_each
    from ..generation.runner import run_cost, shard_questions

    if not args.adapters:
        raise ValueError("--out-dir needs --adapters (and --groups)")
    if args.cost_out:
        raise ValueError("--out-dir writes each adapter's cost beside its traces: no --cost-out")
    adapters, _ = adapter_routing(args)
    out_dir = Path(args.out_dir)
    every = read_questions(args.questions, args.domain)
    questions = {
        name: shard_questions([q for q in every if q["domain"] in domains], *args.shard)
        for name, domains in args.groups.items()
    }
    t0 = time.perf_counter()
    generator = make_generator(
        args.model, args.generation, args.trust_remote_code, adapters, args.commit
    )
    start_s = time.perf_counter() - t0  # the engine's start, shared by its adapters
    log.info("one engine, %d adapters of %s: started in %.1f s", len(adapters), args.model, start_s)
    done = generate_each(
        generator,
        adapters,
        questions,
        args.prompt,
        {name: out_dir / f"{name}.raw.jsonl" for name in adapters},
        seed=args.generation.seed,
        identity={
            "generation": asdict(args.generation),
            "prompt": asdict(args.prompt),
            **({"revision": args.commit} if args.commit else {}),
        },
        samples=args.generation.samples_per_question,
    )
    for name, (records, wall_s, usage) in done.items():
        cost = run_cost(records, wall_s + start_s / len(adapters), usage)
        cost = {
            **cost,
            "backend": args.generation.backend,
            "model": model_provenance(args.model, args.commit),
            "engine_adapters": len(adapters),
        }
        atomic_write_json(out_dir / f"{name}.cost.json", cost)
        correct = sum(r["correct"] for r in records)
        log.info("%s: %d/%d correct", out_dir / f"{name}.raw.jsonl", correct, len(records))


def _gather_args(p):
    p.add_argument("--shards", nargs="+", required=True, help="shard files, in order")
    p.add_argument("--out", required=True)


@command("gather", "concatenate generation shards, in shard order", _gather_args)
def gather(args) -> None:
    from ..core.io import atomic_write_text

    # Byte concatenation in shard order: shards are contiguous blocks of the question order.
    atomic_write_text(args.out, "".join(Path(p).read_text("utf-8") for p in args.shards))
    log.info("gathered %d shards into %s", len(args.shards), args.out)
