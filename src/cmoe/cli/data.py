"""The data stage's subcommands: prepare-data, prepare-fewshot, make-tiny-model."""

from __future__ import annotations

import logging

from ..core.commands import command, settings_argument
from ..data.settings import DataSettings
from ..data.tiny import TinyModelSpec, TinyModelsSettings

log = logging.getLogger("cmoe")


def _prepare_data_args(p):
    settings_argument(
        p, "--settings", DataSettings, "data", "the config's `data` section (JSON)", required=True
    )
    p.add_argument("--train", required=True, help="train split to write (JSONL)")
    p.add_argument("--test", required=True, help="test split to write (JSONL)")
    p.add_argument("--summary", required=True, help="counts per split x domain x subject (JSON)")


@command(
    "prepare-data",
    "read ruMMLU (MERA schema), map subjects to domains, dedupe, split train/test",
    _prepare_data_args,
)
def prepare_data(args) -> None:
    from ..core.domains import subject_domains
    from ..data.questions import prepare_data

    args.settings = _resolved(args.settings, "source")
    outputs = {"train": args.train, "test": args.test, "summary": args.summary}
    summary = prepare_data(args.settings, subject_domains(args.settings.domain_map), outputs)
    counts = {k: v["total"] for k, v in summary["splits"].items()}
    log.info(
        "wrote %s (duplicates removed: %d, bad rows skipped: %d)",
        counts,
        summary["removed_duplicates"],
        summary["skipped_bad_rows"],
    )


def _resolved(data: DataSettings, key: str) -> DataSettings:
    """The data settings with the hub source ``key`` (the one the command reads) resolved to
    the commit it loads."""
    from dataclasses import replace

    from ..data.hub import resolve_hub

    source = getattr(data, key)
    if not (source and "hub" in source):
        return data
    return replace(data, **{key: {**source, "hub": resolve_hub(source["hub"])}})


def _prepare_fewshot_args(p):
    settings_argument(
        p,
        "--settings",
        DataSettings,
        "data",
        "the config's `data` section (JSON); reads data.fewshot_source",
        required=True,
    )
    p.add_argument("--out", required=True, help="the few-shot pool to write (JSONL)")


@command(
    "prepare-fewshot",
    "read MERA's few-shot pool (its train split, data.fewshot_source) into its own file",
    _prepare_fewshot_args,
)
def prepare_fewshot(args) -> None:
    from ..core.domains import subject_domains
    from ..data.questions import prepare_fewshot

    args.settings = _resolved(args.settings, "fewshot_source")
    summary = prepare_fewshot(args.settings, subject_domains(args.settings.domain_map), args.out)
    log.info(
        "wrote %s: %d questions in %d subjects",
        args.out,
        summary["total"],
        len(summary["subjects"]),
    )


def _make_tiny_model_args(p):
    p.add_argument("--corpus", required=True, help="MERA-schema JSONL whose text trains the BPE")
    settings_argument(
        p,
        "--spec",
        TinyModelSpec,
        "tiny_models.specs",
        "hidden_size, num_hidden_layers, ... (JSON)",
        required=True,
    )
    p.add_argument("--vocab-size", type=int, default=TinyModelsSettings().vocab_size)
    p.add_argument("--out", required=True, help="model folder to write")


@command(
    "make-tiny-model",
    "build a tiny random Qwen3 or Llama 3 model + BPE tokenizer trained on a corpus (demo/tests)",
    _make_tiny_model_args,
)
def make_tiny_model(args) -> None:
    from ..data.tiny import make_tiny_model

    n = make_tiny_model(args.corpus, args.out, args.spec, args.vocab_size)
    log.info("wrote %s (%.2fM parameters)", args.out, n / 1e6)
