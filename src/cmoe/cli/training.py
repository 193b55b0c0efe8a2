"""The training subcommand: fine-tune a model on traces (TRL SFT, or transformers'
Seq2SeqTrainer for an encoder-decoder; LoRA or full)."""

from __future__ import annotations

import logging
import os

from ..core.commands import command, json_object, model_arguments, set_threads, settings_argument
from ..training.seq2seq import Seq2SeqSettings
from ..training.settings import TrainSettings

log = logging.getLogger("cmoe")


def _train_args(p):
    model_arguments(p, prompt=True)
    p.add_argument("--data", nargs="+", required=True, help="trace files (or the train split)")
    p.add_argument(
        "--source",
        choices=["traces", "reference"],
        default="traces",
        help="'reference' trains on the questions' reference explanations (demo)",
    )
    settings_argument(p, "--settings", TrainSettings, "training", "training settings (JSON)")
    settings_argument(
        p,
        "--seq2seq",
        Seq2SeqSettings,
        "seq2seq",
        "target format, alpha, special tokens (JSON); needs --arch seq2seq",
        default=None,
    )
    p.add_argument(
        "--wandb",
        type=json_object,
        default={},
        help="wandb settings (mode, project, entity) over WANDB_MODE/WANDB_PROJECT/WANDB_ENTITY",
    )
    p.add_argument("--run-name", default="sft")
    p.add_argument(
        "--kd",
        type=json_object,
        default=None,
        help="logit distillation (JSON): settings, and stored teacher scores (folders; with "
        "cross_vocab, scores in another vocabulary) with manifests: what each folder's manifest "
        "must say (teacher, model, revision, trust_remote_code), or, on-policy, teachers (model "
        "folders) with data_teacher: the teacher of each --data file",
    )
    p.add_argument("--out", required=True, help="folder for the model or adapter")


@command(
    "train", "fine-tune a model on traces (TRL SFT or Seq2SeqTrainer, LoRA or full)", _train_args
)
def train(args) -> None:
    from ..core.signals import stop_at_boundaries

    # a scheduler's SIGTERM stops it at a boundary, saved (cmoe.core.signals)
    with stop_at_boundaries():
        _train(args)


def _train(args) -> None:
    from dataclasses import asdict

    from ..core.settings import from_dict
    from ..training import WandbSettings, load_training_rows, train

    set_threads(args.threads)
    # stored teacher scores are checked before anything is loaded
    kd = _kd_run(args.kd, args.data) if args.kd else None
    seq2seq = None
    if args.arch == "seq2seq":
        seq2seq = args.seq2seq or Seq2SeqSettings()
    elif args.seq2seq is not None:
        raise ValueError("--seq2seq settings need --arch seq2seq (an encoder-decoder model)")
    wandb = from_dict(WandbSettings, {**asdict(WandbSettings.from_env()), **args.wandb}, "wandb")
    from ..core.models import load_tokenizer

    knowledge: dict = {}  # KARD: retrieved passages are cut to fit max_length, and counted

    def tokenizer():
        return load_tokenizer(args.model, args.trust_remote_code, "right", args.commit)

    if seq2seq is not None:
        from ..training.examples import read_training_records
        from ..training.seq2seq import seq2seq_examples

        rows = seq2seq_examples(
            read_training_records(args.data, args.source), args.prompt, args.source
        )
    else:
        rows = load_training_rows(
            args.data, args.prompt, args.source, tokenizer, args.settings.max_length, knowledge
        )
    if knowledge:
        log.info("knowledge in the prompts: %s", knowledge)
    extra = {"knowledge": knowledge} if knowledge else {}
    if args.kd:
        extra["kd"] = args.kd
    metrics = train(
        args.model,
        rows,
        args.out,
        args.settings,
        wandb=wandb,
        run_name=args.run_name,
        trust_remote_code=args.trust_remote_code,
        extra_metrics=extra or None,
        kd=kd,
        seq2seq=seq2seq,
        revision=args.commit,
    )
    if os.environ.get("RANK", "0") != "0":
        return  # one of several `accelerate launch` processes: the main one reports
    log.info(
        "trained on %d examples in %.1fs, final loss %.3f",
        metrics["examples"],
        metrics["wall_time_s"],
        metrics["final_train_loss"],
    )


def _kd_run(spec: dict, data: list[str]):
    """The KD job's JSON -> KDRun; on-policy, each row's teacher is its trace file's."""
    from ..core.io import read_jsonl
    from ..core.settings import from_dict
    from ..training.kd import KDRun, KDSettings

    settings = from_dict(KDSettings, spec.get("settings"), "kd.settings")
    cross = None
    if spec.get("cross_vocab") is not None:
        from ..training.cross_vocab import CrossVocabSettings

        cross = from_dict(CrossVocabSettings, spec["cross_vocab"], "kd.cross_vocab")
    run = KDRun(
        settings,
        scores=list(spec.get("scores", [])),
        teachers=list(spec.get("teachers", [])),
        cross_vocab=cross,
    )
    if run.on_policy and cross is not None:
        raise ValueError("--kd: on-policy distillation needs the student's own vocabulary")
    if run.scores:
        _check_scores(spec, run)
    if run.on_policy:
        which = spec.get("data_teacher")
        if not isinstance(which, list) or len(which) != len(data):
            raise ValueError("--kd: data_teacher must give the teacher of each --data file")
        # rows keep the files' order and only correct traces (load_training_rows)
        for path, teacher in zip(data, which, strict=True):
            run.row_teacher += [teacher] * sum(bool(r.get("correct")) for r in read_jsonl(path))
    return run


def _check_scores(spec: dict, run) -> None:
    """Each stored scores folder's manifest against what the plan says made it (one line naming
    what differs, before the student is loaded)."""
    from ..training.score_manifest import check_scores, expected

    manifests = spec.get("manifests")
    if not isinstance(manifests, list) or len(manifests) != len(run.scores):
        raise ValueError(
            "--kd: manifests must give, for each scores folder, the teacher that made it "
            "(teacher, model, revision, trust_remote_code)"
        )
    for folder, teacher in zip(run.scores, manifests, strict=True):
        if not isinstance(teacher, dict) or not {"teacher", "model"} <= set(teacher):
            raise ValueError(f"--kd: the manifest of {folder} must give teacher and model")
        check_scores(folder, expected(teacher, run.settings.top_k, run.cross_vocab is not None))
