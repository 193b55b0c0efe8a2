"""Subcommands that score models: evaluate, evaluate-loglik, evaluate-benchmark, route, mixture."""

from __future__ import annotations

import logging

from ..core.commands import command, json_object, model_arguments, set_threads, settings_argument
from ..data.questions import read_questions
from ..generation.base import GenerationSettings
from .generation import adapter_arguments, adapter_routing

log = logging.getLogger("cmoe")


def _evaluate_args(p):
    model_arguments(p, prompt=True)
    p.add_argument("--questions", required=True, help="the test split")
    settings_argument(
        p,
        "--generation",
        GenerationSettings,
        "evaluation.generation",
        "sampling/backend settings (JSON)",
    )
    p.add_argument("--predictions", help="one record per question (JSONL)")
    p.add_argument("--scores", help="accuracy per domain and overall (JSON)")
    p.add_argument(
        "--samples",
        type=int,
        default=1,
        help="k answers per question, sampled with seeds seed..seed+k-1 (avg@k, majority@k)",
    )
    p.add_argument("--specialist", help="CMoE: answer only the questions this group serves")
    adapter_arguments(p)  # --adapters, --groups
    p.add_argument(
        "--routes",
        nargs="+",
        help="routes.json of `cmoe route` (and of `cmoe misroute`); with --adapters one file, "
        "the learned routing (without: oracle)",
    )
    p.add_argument(
        "--max-length",
        type=int,
        help="KARD: cut questions' retrieved passages so prompt + answer fit in this many tokens",
    )
    p.add_argument(
        "--out-dir",
        help="with --adapters, instead of --predictions/--scores: each adapter answers the "
        "questions its group serves (its domains', and those --routes send it) on one engine, "
        "into OUT_DIR/<group>/predictions.jsonl and scores.json (or, where OUT_DIR names "
        "{group}, that folder), as --specialist would alone",
    )


@command("evaluate", "answer the test split and score per domain and overall", _evaluate_args)
def evaluate(args) -> None:
    from ..evaluation.generative import evaluate

    set_threads(args.threads)
    if args.out_dir:
        return evaluate_each_adapter(args)
    if not (args.predictions and args.scores):
        raise ValueError("give --predictions and --scores (or --out-dir with --adapters)")
    questions = read_questions(args.questions)
    if args.specialist:
        from ..evaluation.subsets import load_routes, questions_for_specialist

        if not (args.groups and args.routes):
            raise ValueError("--specialist needs --groups and --routes")
        routes = [load_routes(path) for path in args.routes]
        questions = questions_for_specialist(questions, args.specialist, args.groups, routes)
    if args.adapters and args.specialist:
        raise ValueError("--adapters serves every group: leave out --specialist")
    routes = None
    if args.adapters and args.routes:
        from ..evaluation.subsets import load_routes

        if len(args.routes) != 1:
            raise ValueError("--adapters takes one --routes file (the learned routing)")
        routes = load_routes(args.routes[0])
    adapters, adapter_of = adapter_routing(args, routes)
    scores = evaluate(
        model=args.model,
        questions=questions,
        generation=args.generation,
        prompt=args.prompt,
        predictions_out=args.predictions,
        scores_out=args.scores,
        trust_remote_code=args.trust_remote_code,
        max_length=args.max_length,
        samples=args.samples,
        adapters=adapters,
        adapter_of=adapter_of,
        revision=args.commit,
    )
    log.info("accuracy %.3f on %d questions", scores["overall"]["accuracy"], scores["overall"]["n"])


def evaluate_each_adapter(args) -> None:
    """`evaluate --adapters --groups [--routes ...] --out-dir`: every specialist on one engine."""
    from ..evaluation.generative import evaluate_each
    from ..evaluation.subsets import load_routes, questions_for_specialist

    if not args.adapters:
        raise ValueError("--out-dir needs --adapters (and --groups)")
    if args.predictions or args.scores or args.specialist:
        raise ValueError(
            "--out-dir writes each adapter's own files: leave out --predictions, "
            "--scores and --specialist"
        )
    adapters, _ = adapter_routing(args)
    every = read_questions(args.questions)
    routes = [load_routes(path) for path in args.routes or []]
    scores = evaluate_each(
        model=args.model,
        adapters=adapters,
        questions={g: questions_for_specialist(every, g, args.groups, routes) for g in adapters},
        generation=args.generation,
        prompt=args.prompt,
        outs={
            g: args.out_dir.replace("{group}", g)
            if "{group}" in args.out_dir
            else f"{args.out_dir}/{g}"
            for g in adapters
        },
        trust_remote_code=args.trust_remote_code,
        samples=args.samples,
        revision=args.commit,
    )
    for group, s in scores.items():
        overall = s["overall"]
        log.info("%s: accuracy %.3f on %d questions", group, overall["accuracy"], overall["n"])


def _evaluate_loglik_args(p):
    model_arguments(p)
    p.add_argument("--questions", required=True, help="the test split")
    p.add_argument("--pool", required=True, help="MERA's few-shot pool (cmoe prepare-fewshot)")
    p.add_argument(
        "--protocol",
        choices=["mera", "mera_gen"],
        default="mera",
        help="mera: argmax log-likelihood of ' A'..' D'; mera_gen: greedy until a newline",
    )
    p.add_argument(
        "--settings",
        type=json_object,
        required=True,
        help="k (shots; resolved from the MERA version), seed, same_split, batch_size, dtype, "
        "max_new_tokens (JSON)",
    )
    p.add_argument("--predictions", required=True)
    p.add_argument("--scores", required=True)


@command(
    "evaluate-loglik",
    "MERA's ruMMLU protocol: k-shot, argmax log-likelihood of ' A'..' D' (one pass a "
    "question), or its generative variant",
    _evaluate_loglik_args,
)
def evaluate_loglik(args) -> None:
    from ..evaluation.generative import evaluate_loglik_protocol
    from ..evaluation.settings import LoglikSettings

    # a planned job passes every key; by hand, the rest are MERA v1.2's defaults
    job = LoglikSettings().job_settings("v1.2", False, args.protocol)
    unknown = sorted(set(args.settings) - set(job))
    if unknown:
        raise ValueError(f"--settings: unknown key {unknown[0]} (known: {', '.join(job)})")
    set_threads(args.threads)
    scores = evaluate_loglik_protocol(
        model=args.model,
        questions=read_questions(args.questions),
        pool=read_questions(args.pool),
        protocol=args.protocol,
        settings={**job, **args.settings},
        predictions_out=args.predictions,
        scores_out=args.scores,
        trust_remote_code=args.trust_remote_code,
        revision=args.commit,
    )
    log.info(
        "%s accuracy %.3f on %d questions",
        args.protocol,
        scores["overall"]["accuracy"],
        scores["overall"]["n"],
    )


def _evaluate_benchmark_args(p):
    from ..evaluation.benchmarks import BenchmarkSettings

    model_arguments(p)
    settings_argument(
        p,
        "--settings",
        BenchmarkSettings,
        "evaluation.benchmarks[]",
        "task, path (local task folder), num_fewshot, limit, metric, batch_size, dtype, seed "
        "(JSON)",
        required=True,
    )
    p.add_argument("--predictions", required=True, help="lm-eval's per-item results (JSONL)")
    p.add_argument("--scores", required=True, help="metric, stderr and n (JSON)")


@command(
    "evaluate-benchmark",
    "run one lm-evaluation-harness task on a model or LoRA adapter, offline",
    _evaluate_benchmark_args,
)
def evaluate_benchmark(args) -> None:
    from ..evaluation.benchmarks import evaluate_benchmark

    set_threads(args.threads)
    scores = evaluate_benchmark(
        model=args.model,
        spec=args.settings,
        scores_out=args.scores,
        samples_out=args.predictions,
        trust_remote_code=args.trust_remote_code,
        revision=args.commit,
    )
    log.info(
        "%s %s = %s on %d items", scores["task"], scores["metric"], scores["value"], scores["n"]
    )
