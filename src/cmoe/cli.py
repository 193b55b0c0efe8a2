"""The `cmoe` command line: one subcommand per workflow stage.

Every Snakemake rule calls exactly one of these with explicit arguments, so each stage can also
be run (and debugged) by hand. Structured settings are passed as JSON (a string or @file).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__

log = logging.getLogger("cmoe")


def _json(value: str) -> dict:
    text = Path(value[1:]).read_text("utf-8") if value.startswith("@") else value
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return obj


def _label(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


# --- subcommands -------------------------------------------------------------------------------


def cmd_validate_config(args) -> None:
    from .config import load_config

    load_config(*args.configfiles)
    print(f"config OK: {' + '.join(args.configfiles)}")


def cmd_prepare_data(args) -> None:
    from .data import DataSettings, prepare_data
    from .domains import subject_domains

    settings = DataSettings(**args.settings)
    outputs = {"train": args.train, "test": args.test, "summary": args.summary}
    summary = prepare_data(settings, subject_domains(settings.domain_map), outputs)
    counts = {k: v["total"] for k, v in summary["splits"].items()}
    log.info(
        "wrote %s (duplicates removed: %d, bad rows skipped: %d)",
        counts,
        summary["removed_duplicates"],
        summary["skipped_bad_rows"],
    )


def cmd_make_tiny_model(args) -> None:
    from .tiny import TinyModelSpec, make_tiny_model

    n = make_tiny_model(args.corpus, args.out, TinyModelSpec(**args.spec), args.vocab_size)
    log.info("wrote %s (%.2fM parameters)", args.out, n / 1e6)


def _questions(path: str, domains: list[str] | None = None) -> list[dict]:
    from .data import read_questions

    questions = read_questions(path)
    if domains:
        questions = [q for q in questions if q["domain"] in domains]
    return questions


def _shard(value: str) -> tuple[int, int]:
    index, sep, count = value.partition("/")
    try:
        parsed = int(index), int(count)
    except ValueError:
        parsed = None
    if not sep or parsed is None or not 0 <= parsed[0] < parsed[1]:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {value!r}")
    return parsed


def cmd_generate(args) -> None:
    from .generation import GenerationSettings, make_generator
    from .io import atomic_write_json
    from .prompting import PromptSettings
    from .traces import generate_resumable, run_cost, shard_questions

    _set_threads(args.threads)
    settings = GenerationSettings(**args.generation)
    questions = shard_questions(_questions(args.questions, args.domain), *args.shard)
    t0 = time.perf_counter()
    generator = make_generator(args.model, settings, args.trust_remote_code)
    if hasattr(generator, "check_endpoint"):  # fail in seconds, not after the first timeout
        generator.check_endpoint()
    records = generate_resumable(
        questions,
        generator,
        PromptSettings(**args.prompt),
        args.out,
        seed=settings.seed,
        identity={"generation": args.generation, "prompt": args.prompt},
        desc=f"generate {args.shard[0]}/{args.shard[1]}",
    )
    if args.cost_out:
        cost = run_cost(records, time.perf_counter() - t0, generator.usage())
        atomic_write_json(args.cost_out, {**cost, "backend": settings.backend})
    correct = sum(r["correct"] for r in records)
    log.info("%s: %d/%d correct", args.out, correct, len(records))


def cmd_gather(args) -> None:
    from .io import atomic_write_text

    # Byte concatenation in shard order: shards are contiguous blocks of the question order.
    atomic_write_text(args.out, "".join(Path(p).read_text("utf-8") for p in args.shards))
    log.info("gathered %d shards into %s", len(args.shards), args.out)


def cmd_filter(args) -> None:
    from .filtering import filter_traces

    stats = filter_traces(args.raw, args.out, args.stats, args.max_length)
    log.info(
        "kept %d of %d traces (accuracy %.3f)",
        stats["kept"],
        stats["overall"]["n"],
        stats["overall"]["accuracy"] or 0.0,
    )


def cmd_merge_stats(args) -> None:
    from .filtering import merge_stats

    merge_stats(dict(args.stats), args.out)


def cmd_train(args) -> None:
    import os

    from .prompting import PromptSettings
    from .training import TrainSettings, WandbSettings, load_training_rows, train

    _set_threads(args.threads)
    rows = load_training_rows(args.data, PromptSettings(**args.prompt), args.source)
    metrics = train(
        args.model,
        rows,
        args.out,
        TrainSettings.from_dict(args.settings),
        WandbSettings(**args.wandb),
        run_name=args.run_name,
        trust_remote_code=args.trust_remote_code,
    )
    if os.environ.get("RANK", "0") != "0":
        return  # one of several `accelerate launch` processes: the main one reports
    log.info(
        "trained on %d examples in %.1fs, final loss %.3f",
        metrics["examples"],
        metrics["wall_time_s"],
        metrics["final_train_loss"],
    )


def cmd_evaluate(args) -> None:
    from .evaluation import evaluate

    _set_threads(args.threads)
    questions = _questions(args.questions)
    if args.specialist:
        from .mixture import load_routes, questions_for_specialist

        if not (args.groups and args.routes):
            raise ValueError("--specialist needs --groups and --routes")
        questions = questions_for_specialist(
            questions, args.specialist, args.groups, load_routes(args.routes)
        )
    scores = evaluate(
        args.model,
        questions,
        args.generation,
        args.prompt,
        dict(args.label),
        args.predictions,
        args.scores,
        args.trust_remote_code,
        args.bootstrap or None,
    )
    log.info("accuracy %.3f on %d questions", scores["overall"]["accuracy"], scores["overall"]["n"])


def cmd_evaluate_loglik(args) -> None:
    from .evaluation import evaluate_loglik_protocol

    _set_threads(args.threads)
    settings = {"k": args.k, "seed": args.seed, "batch_size": args.batch_size, "dtype": args.dtype}
    scores = evaluate_loglik_protocol(
        args.model,
        _questions(args.questions),
        _questions(args.pool),
        settings,
        dict(args.label),
        args.predictions,
        args.scores,
        args.trust_remote_code,
        args.bootstrap or None,
    )
    log.info(
        "log-likelihood accuracy %.3f on %d questions",
        scores["overall"]["accuracy"],
        scores["overall"]["n"],
    )


def cmd_contamination(args) -> None:
    from .contamination import write_check

    result = write_check(args.traces, _questions(args.test), args.out, args.n)
    log.info(
        "%d of %d test questions share a %d-gram with %d traces",
        result["flagged"],
        result["test_items"],
        args.n,
        result["traces"],
    )


def cmd_route(args) -> None:
    from .routing import route

    result = route(_questions(args.train), _questions(args.test), args.out, args.seed)
    log.info("router accuracy on the test split: %.3f (n=%d)", result["accuracy"], result["n"])


def cmd_mixture(args) -> None:
    from .mixture import load_routes, score_mixture

    scores = score_mixture(
        _questions(args.questions),
        dict(args.predictions),
        args.groups,
        load_routes(args.routes) if args.routes else None,
        dict(args.label),
        args.predictions_out,
        args.scores,
        args.bootstrap or None,
    )
    log.info("mixture accuracy %.3f", scores["overall"]["accuracy"])


def cmd_table(args) -> None:
    from .tables import write_tables

    rows = write_tables(
        args.scores,
        args.csv,
        args.md,
        chains=args.chains,
        namespace=args.namespace,
        comparison_out=args.comparison,
        routes=args.routes,
    )
    log.info("wrote %d rows to %s and %s", len(rows), args.csv, args.md)
    if args.wandb:
        from .tracking import log_tables

        public = [{k: v for k, v in r.items() if k != "scores_path"} for r in rows]
        log_tables(args.wandb, f"tables-{args.namespace}", {"scores": public}, args.config)


def cmd_plots(args) -> None:
    from collections import defaultdict

    from .plots import make_plots, parameter_count

    params = {name: parameter_count(path) for name, path in args.model}
    traces = defaultdict(list)
    for teacher, path in args.traces:
        traces[teacher].append(path)
    written = make_plots(
        args.scores_csv, {k: v for k, v in params.items() if v}, traces, args.outdir
    )
    log.info("wrote %d figures (SVG + PNG) to %s", len(written), args.outdir)


def cmd_compare(args) -> None:
    from .tables import compare_namespaces

    rows = compare_namespaces(args.tables, args.out)
    log.info("wrote %d rows from %d tables to %s", len(rows), len(args.tables), args.out)


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cmoe",
        description="Cascade mixture-of-experts reasoning distillation. Each subcommand is one "
        "stage of the Snakemake workflow; run `snakemake` for the whole study, or a stage by hand.",
    )
    p.add_argument("--version", action="version", version=f"cmoe {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="STAGE")

    def stage(name, func, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    def model_args(sp):
        sp.add_argument("--model", required=True, help="hub id, local model folder or LoRA adapter")
        sp.add_argument(
            "--trust-remote-code",
            action="store_true",
            help="allow model code from the hub (off unless the config asks)",
        )
        sp.add_argument("--threads", type=int, default=None, help="CPU threads for torch")

    sp = stage("validate-config", cmd_validate_config, "validate config files against the schema")
    sp.add_argument("configfiles", nargs="+", help="YAML files; later ones override earlier ones")

    sp = stage(
        "prepare-data",
        cmd_prepare_data,
        "read ruMMLU (MERA schema), map subjects to domains, dedupe, split train/test",
    )
    sp.add_argument("--settings", type=_json, required=True, help="the config's `data` section")
    sp.add_argument("--train", required=True, help="train split to write (JSONL)")
    sp.add_argument("--test", required=True, help="test split to write (JSONL)")
    sp.add_argument("--summary", required=True, help="counts per split x domain x subject (JSON)")

    sp = stage(
        "make-tiny-model",
        cmd_make_tiny_model,
        "build a tiny random Qwen3 model + BPE tokenizer trained on a corpus (demo/tests)",
    )
    sp.add_argument("--corpus", required=True, help="MERA-schema JSONL whose text trains the BPE")
    sp.add_argument("--spec", type=_json, required=True, help="hidden_size, num_hidden_layers, ...")
    sp.add_argument("--vocab-size", type=int, default=2048)
    sp.add_argument("--out", required=True, help="model folder to write")

    sp = stage("generate", cmd_generate, "answer questions with reasoning; one trace per question")
    model_args(sp)
    sp.add_argument("--questions", required=True, help="split file from prepare-data")
    sp.add_argument("--domain", nargs="+", help="only questions of these domains")
    sp.add_argument("--generation", type=_json, default={}, help="sampling/backend settings")
    sp.add_argument("--prompt", type=_json, required=True, help="the config's `prompt` section")
    sp.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="answer only shard I of N (contiguous blocks of the question order; default 0/1)",
    )
    sp.add_argument(
        "--out",
        required=True,
        help="trace records (JSONL); a killed run resumes from OUT.partial",
    )
    sp.add_argument("--cost-out", help="wall time, device and token counts of this run (JSON)")

    sp = stage("gather", cmd_gather, "concatenate generation shards, in shard order")
    sp.add_argument("--shards", nargs="+", required=True, help="shard files, in order")
    sp.add_argument("--out", required=True)

    sp = stage("filter", cmd_filter, "keep correct traces and write their statistics")
    sp.add_argument("--raw", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--stats", required=True)
    sp.add_argument("--max-length", type=int, required=True, help="training max_length")

    sp = stage("merge-stats", cmd_merge_stats, "combine per-domain filter stats of one teacher")
    sp.add_argument("--stats", type=_label, nargs="+", required=True, help="DOMAIN=stats.json")
    sp.add_argument("--out", required=True)

    sp = stage("train", cmd_train, "fine-tune a model on traces (TRL SFT, LoRA or full)")
    model_args(sp)
    sp.add_argument("--data", nargs="+", required=True, help="trace files (or the train split)")
    sp.add_argument(
        "--source",
        choices=["traces", "reference"],
        default="traces",
        help="'reference' trains on the questions' reference explanations (demo)",
    )
    sp.add_argument("--settings", type=_json, default={}, help="training settings")
    sp.add_argument("--prompt", type=_json, required=True)
    sp.add_argument("--wandb", type=_json, default={})
    sp.add_argument("--run-name", default="sft")
    sp.add_argument("--out", required=True, help="folder for the model or adapter")

    sp = stage("evaluate", cmd_evaluate, "answer the test split and score per domain and overall")
    model_args(sp)
    sp.add_argument("--questions", required=True)
    sp.add_argument("--generation", type=_json, default={})
    sp.add_argument("--prompt", type=_json, required=True)
    sp.add_argument(
        "--label",
        type=_label,
        action="append",
        default=[],
        help="KEY=VALUE stored in scores.json (method, teacher, model)",
    )
    sp.add_argument("--predictions", required=True)
    sp.add_argument("--scores", required=True)
    sp.add_argument("--specialist", help="CMoE: answer only the questions this group serves")
    sp.add_argument(
        "--bootstrap",
        type=_json,
        default={},
        help="confidence intervals: {resamples, seed, level, min_n}",
    )
    sp.add_argument("--groups", type=_json, help="specialist groups: {group: [domains]}")
    sp.add_argument("--routes", help="routes.json from `cmoe route`")

    sp = stage(
        "evaluate-loglik",
        cmd_evaluate_loglik,
        "MERA protocol: k-shot, argmax log-likelihood of ' A'..' D', one pass a question",
    )
    model_args(sp)
    sp.add_argument("--questions", required=True, help="the test split")
    sp.add_argument("--pool", required=True, help="the train split, where shots come from")
    sp.add_argument("--k", type=int, default=5, help="shots from the same subject")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--batch-size", type=int, default=8)
    sp.add_argument("--dtype", default="auto")
    sp.add_argument("--label", type=_label, action="append", default=[])
    sp.add_argument("--bootstrap", type=_json, default={})
    sp.add_argument("--predictions", required=True)
    sp.add_argument("--scores", required=True)

    sp = stage(
        "contamination",
        cmd_contamination,
        "flag test questions whose text appears (as a word n-gram) in training traces",
    )
    sp.add_argument("--traces", nargs="+", required=True, help="kept trace files")
    sp.add_argument("--test", required=True, help="the test split")
    sp.add_argument("--n", type=int, default=8, help="n-gram length in words")
    sp.add_argument("--out", required=True)

    sp = stage(
        "route",
        cmd_route,
        "train a question-text router on the train split and route the test split",
    )
    sp.add_argument("--train", required=True)
    sp.add_argument("--test", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True, help="routes + router accuracy (JSON)")

    sp = stage(
        "mixture",
        cmd_mixture,
        "score the routed mixture of specialists (oracle or learned routing)",
    )
    sp.add_argument("--questions", required=True, help="the test split")
    sp.add_argument(
        "--predictions",
        type=_label,
        nargs="+",
        required=True,
        help="GROUP=predictions.jsonl of each specialist",
    )
    sp.add_argument("--groups", type=_json, required=True)
    sp.add_argument("--routes", help="learned routes; without it, oracle routing by subject")
    sp.add_argument("--label", type=_label, action="append", default=[])
    sp.add_argument("--predictions-out", required=True)
    sp.add_argument("--scores", required=True)
    sp.add_argument(
        "--bootstrap",
        type=_json,
        default={},
        help="confidence intervals: {resamples, seed, level, min_n}",
    )

    sp = stage("table", cmd_table, "collect scores.json files into CSV and Markdown tables")
    sp.add_argument("--scores", nargs="+", required=True)
    sp.add_argument(
        "--chains",
        type=_json,
        default={},
        help="{scores.json: cost chain} for the cost columns (see cmoe.costs)",
    )
    sp.add_argument("--namespace", default="main")
    sp.add_argument("--routes", help="routes.json, for the router accuracy")
    sp.add_argument("--csv", required=True)
    sp.add_argument("--md", required=True)
    sp.add_argument("--comparison", help="method-against-method table (Markdown)")
    sp.add_argument("--wandb", type=_json, default={}, help="wandb settings (mode, project)")
    sp.add_argument(
        "--config",
        type=_json,
        default={},
        help="resolved workflow config to log with the tables (secrets redacted)",
    )

    sp = stage("plots", cmd_plots, "figures for the report (SVG and PNG)")
    sp.add_argument("--scores-csv", required=True)
    sp.add_argument(
        "--model",
        type=_label,
        nargs="*",
        default=[],
        help="NAME=trained model folder (its train_metrics.json gives the size)",
    )
    sp.add_argument(
        "--traces", type=_label, nargs="*", default=[], help="TEACHER=kept-traces.jsonl"
    )
    sp.add_argument("--outdir", required=True)

    sp = stage(
        "compare",
        cmd_compare,
        "put the score tables of several namespaces (ablations) side by side",
    )
    sp.add_argument("tables", nargs="+", help="results/<namespace>/tables/scores.csv files")
    sp.add_argument("--out", required=True, help="Markdown file to write")
    return p


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    from .io import DataError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except (ConfigError, DataError, FileNotFoundError, ValueError) as exc:
        print(f"cmoe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
