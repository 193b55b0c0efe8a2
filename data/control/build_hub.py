"""Build the local hub of tiny models the control demo starts from (run once; ship hub/ in git).

Every step runs the project's own code: cmoe.data.tiny builds the BPE tokenizer and the random
models, `python -m cmoe train --source reference` (TRL SFTTrainer, full fine-tuning) trains them,
`python -m cmoe evaluate` (hf backend, greedy) checks them. Usage, from this folder, with the
project installed (first `python make_control_tasks.py`, which writes hub_data/):

  python build_hub.py random                  # tokenizer + random student/intermediate/teacher
  python build_hub.py random t5               # a random T5 on the hub's tokenizer, or llama: a
                                              #   Llama 3 with a BPE vocabulary of its own
  python build_hub.py pretrain student        # lookup pretraining -> hub/student (likewise
                                              #   intermediate, teacher, t5)
  python build_hub.py pretrain-more NAME EPOCHS LR   # continue it (cosine) if it fell short
  python build_hub.py read NAME EPOCHS LR     # then lookup + passage reading (student, intermediate)
  python build_hub.py random intermediate     # (rebuild one base on the hub's tokenizer, as above)
  python build_hub.py teacher a               # hub/teacher -> hub/teacher-a on the 4 rules
  python build_hub.py teacher b               #   (b: on teacher b's noisy explanations)
  python build_hub.py check NAME              # held-out lookup + control test accuracy

Each step appends what it did (steps, seconds, accuracy) to hub/BUILD.log. One thread per job:
run at most two steps at a time on a 2-core machine.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HUB, DATA, WORK = HERE / "hub", HERE / "hub_data", HERE / "hub_work"
PY = [sys.executable, "-m", "cmoe"]
# The control demo's prompt (proposed config `prompt.template`): short prompts train faster.
TEMPLATE = "{question}\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
PROMPT = {"template": TEMPLATE, "system": None, "enable_thinking": True}
VOCAB = 2048
SPECS = {  # the sizes the demo's random tiny models had before the control tasks
    "student": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, intermediate_size=192, seed=2),
    # 2 layers of 128, heads of 16 as the student's: the earlier 3 layers of 96 (heads of 24)
    # learned the demo's traces far more slowly than the 0.23M student (README, "The cascade's
    # shape"), so the cascade ran upside down
    "intermediate": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=8,
                         num_key_value_heads=4, intermediate_size=384, seed=3),
    "teacher": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                    num_key_value_heads=2, intermediate_size=384, seed=1),
    "t5": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=192, seed=4, arch="t5"),
    # the cross-vocabulary student: logit distillation from the hub's (Qwen3) models crosses
    # vocabularies, as a Llama student's from a Qwen teacher does
    "llama": dict(family="llama3", vocab_size=1536, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, intermediate_size=192, seed=2),
}  # fmt: skip
ON_HUB_TOKENIZER = ("student", "intermediate", "teacher", "t5")  # `random` builds these four
# Training of each step: (epochs over its data, AdamW lr), batch 8, 5% warm-up, random batches;
# pretraining keeps the lr constant after warm-up, the teachers decay it (cosine)
PRETRAIN = {"student": (8, 5e-3), "intermediate": (8, 5e-3), "teacher": (6, 3e-3), "t5": (8, 5e-3),
            "llama": (8, 5e-3)}
TEACHER = (8, 3e-3)  # cosine; teacher a/b on hub_data/teacher_train(_noisy).jsonl from hub/teacher
GEN = {"temperature": 0.0, "max_new_tokens": 96, "batch_size": 32, "seed": 0}


def log(line: str) -> None:
    HUB.mkdir(exist_ok=True)
    with open(HUB / "BUILD.log", "a", encoding="utf-8") as fh:
        fh.write(line.rstrip() + "\n")
    print(line, flush=True)


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(PY + args, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - t0


def questions(name: str, src: Path) -> Path:
    """MERA rows -> the project's question records (cmoe.data), as a split file."""
    from cmoe.core.domains import subject_domains
    from cmoe.data.questions import DataSettings, load_questions

    out = WORK / f"{name}.jsonl"
    if not out.exists():
        WORK.mkdir(exist_ok=True)
        qs, bad = load_questions(DataSettings(source={"file": str(src)}), subject_domains())
        assert not bad, bad[:3]
        passages = {}  # the passage rows' `knowledge` (cmoe.data keeps MERA's fields only)
        for line in open(src, encoding="utf-8"):
            row = json.loads(line)
            if "knowledge" in row:
                passages[str(row["meta"]["id"])] = row["knowledge"]
        qs = [{**q, "knowledge": passages[q["id"]]} if q["id"] in passages else q for q in qs]
        out.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in qs), "utf-8")
    return out


def control_split() -> tuple[Path, Path]:
    """The control tasks split as the demo splits them (cmoe prepare-data, seed 13)."""
    train, test = WORK / "control_train.jsonl", WORK / "control_test.jsonl"
    if not test.exists():
        WORK.mkdir(exist_ok=True)
        settings = {"source": {"file": str(HERE / "control_tasks.jsonl")}, "seed": 13}
        run(["prepare-data", "--settings", json.dumps(settings), "--train", str(train),
             "--test", str(test), "--summary", str(WORK / "control_summary.json")])  # fmt: skip
    return train, test


def corpus() -> list[str]:
    """Every text the demo feeds these models: all task files (capital forms included), the
    passages, the prompt template and the answer lines."""
    from cmoe.core.prompting import KNOWLEDGE_HEADER
    from cmoe.data.tiny import corpus_texts

    texts = [TEMPLATE, KNOWLEDGE_HEADER]
    for f in ["control_tasks.jsonl", "control_tasks_noisy.jsonl", "control_fewshot.jsonl",
              "hub_data/lookup_train.jsonl", "hub_data/teacher_train.jsonl"]:  # fmt: skip
        texts += corpus_texts(HERE / f)
    texts += [json.loads(line)["text"] for line in open(HERE / "knowledge.jsonl", encoding="utf-8")]
    rows = [json.loads(line) for line in open(HERE / "control_tasks.jsonl", encoding="utf-8")]
    texts += sorted({r["instruction"] for r in rows})  # MERA's per-row instructions
    return texts


def build_random(only: str | None = None) -> None:
    """The hub's tokenizer and random student/intermediate/teacher; or one model, `only`: the
    T5 on the tokenizer of hub/student (already built), the Llama on a BPE of its own."""
    import torch
    from transformers import AutoTokenizer

    from cmoe.core.prompting import PLAIN_TEMPLATE
    from cmoe.data.tiny import TinyModelSpec, build_tiny_model, train_tokenizer

    torch.set_num_threads(1)
    names = [only] if only else [n for n in ON_HUB_TOKENIZER if n != "t5"]
    hub_tokenizer = None
    for name in names:
        spec = SPECS[name]
        if name in ON_HUB_TOKENIZER:
            if hub_tokenizer is None:
                hub_tokenizer = (AutoTokenizer.from_pretrained(HUB / "student") if only
                                 else train_tokenizer(corpus(), VOCAB, "qwen3"))  # fmt: skip
            tok = hub_tokenizer
        else:
            tok = train_tokenizer(corpus(), spec["vocab_size"], spec["family"])
        if spec.get("arch") == "t5":
            tok = copy.deepcopy(tok)
            tok.chat_template = PLAIN_TEMPLATE
        model = build_tiny_model(tok, TinyModelSpec(**spec))
        out = WORK / "random" / name
        model.save_pretrained(out)
        tok.save_pretrained(out)
        n = sum(p.numel() for p in model.parameters())
        log(f"random {name}: {n:,} parameters, spec {spec}, vocabulary {len(tok)}")


def train(base: Path, data: Path | list[Path], out: Path, epochs: float, lr: float, seq2seq: bool,
          scheduler: str = "constant_with_warmup") -> dict:  # fmt: skip
    # Random batches: group_by_length (the demo's CPU default) puts rows of one answer letter
    # together (the walk stops at "да", so length follows the letter) and the student never
    # learned the lookup (25%, always "C", after 4,000 steps); constant lr: the breakthrough
    # comes late, and cosine had decayed by then.
    settings = {"method": "full", "epochs": epochs, "learning_rate": lr, "batch_size": 8,
                "max_length": 256, "warmup_ratio": 0.05, "save_steps": 0, "logging_steps": 50,
                "seed": 0, "batching": "random", "lr_scheduler": scheduler}  # fmt: skip
    data = data if isinstance(data, list) else [data]
    args = ["train", "--source", "reference", "--model", str(base), "--data", *map(str, data),
            "--settings", json.dumps(settings), "--prompt", json.dumps(PROMPT), "--threads", "1",
            "--out", str(out)]  # fmt: skip
    if seq2seq:
        args += ["--arch", "seq2seq", "--seq2seq", json.dumps({"format": "rationale"})]
    run(args)
    return json.loads((out / "train_metrics.json").read_text())


def evaluate(model: Path, qs: Path, tag: str, seq2seq: bool = False) -> dict:
    out = WORK / "eval" / model.name / tag
    out.mkdir(parents=True, exist_ok=True)
    args = ["evaluate", "--model", str(model), "--questions", str(qs), "--max-length", "256", "--generation",
            json.dumps(GEN), "--prompt", json.dumps(PROMPT), "--threads", "1",
            "--predictions", str(out / "predictions.jsonl"), "--scores", str(out / "scores.json")]  # fmt: skip
    if seq2seq:
        args += ["--arch", "seq2seq"]
    seconds = run(args)
    scores = json.loads((out / "scores.json").read_text())
    per = {d: round(v["accuracy"], 3) for d, v in scores.get("domains", {}).items()}
    return {"accuracy": round(scores["overall"]["accuracy"], 3), "per_domain": per,
            "n": scores["overall"]["n"], "seconds": round(seconds, 1)}  # fmt: skip


def describe(name: str, metrics: dict) -> str:
    steps = -(-metrics["examples"] // metrics["settings"]["batch_size"]) * metrics["epochs"]
    return (f"{name}: {metrics['examples']} examples x {metrics['epochs']} epochs, batch "
            f"{metrics['settings']['batch_size']} ({steps:.0f} steps), final loss "
            f"{metrics['final_train_loss']:.3f}, {metrics['train_runtime_s']:.0f} s training "
            f"({metrics['wall_time_s']:.0f} s wall), 1 thread")  # fmt: skip


def check(name: str) -> None:
    seq2seq = name == "t5"
    model = HUB / name
    if (model / "READS").exists():
        held = evaluate(model, questions("passage_heldout", DATA / "passage_heldout.jsonl"), "passage")
        log(f"check {name}: held-out passage reading {held['accuracy']:.3f} (n={held['n']}, {held['seconds']} s)")
    held = evaluate(model, questions("lookup_heldout", DATA / "lookup_heldout.jsonl"), "lookup", seq2seq)
    _, test = control_split()
    ctl = evaluate(model, test, "control_test", seq2seq)
    log(f"check {name}: held-out lookup {held['accuracy']:.3f} (n={held['n']}, {held['seconds']} s); "
        f"control test {ctl['accuracy']:.3f} (n={ctl['n']}, {ctl['seconds']} s) per domain {ctl['per_domain']}")  # fmt: skip


def pretrain(name: str) -> None:
    epochs, lr = PRETRAIN[name]
    data = questions("lookup_train", DATA / "lookup_train.jsonl")
    metrics = train(WORK / "random" / name, data, HUB / name, epochs, lr, name == "t5")
    log("pretrain " + describe(name, metrics) + f", lr {lr} constant after 5% warm-up, random batches")
    check(name)


def pretrain_more(name: str, epochs: float, lr: float) -> None:
    """Continue a base's lookup pretraining (cosine to zero) when its check fell short of 95%."""
    import shutil

    data = questions("lookup_train", DATA / "lookup_train.jsonl")
    prev = WORK / f"{name}-stage1"
    if prev.exists():
        shutil.rmtree(prev)
    shutil.move(HUB / name, prev)
    metrics = train(prev, data, HUB / name, epochs, lr, name == "t5", "cosine")
    log("pretrain (continued) " + describe(name, metrics) + f", lr {lr} cosine, random batches")
    check(name)


def read(name: str, epochs: float, lr: float) -> None:
    """Teach a lookup base to read a passage: continue it (cosine) on the lookup rows mixed
    with the passage rows (the word named only in a "Знания:" passage)."""
    import shutil

    data = [questions("lookup_train", DATA / "lookup_train.jsonl"),
            questions("passage_train", DATA / "passage_train.jsonl")]  # fmt: skip
    prev = WORK / f"{name}-lookup-only"
    if (HUB / name).exists():  # else a previous `read` moved it there and was stopped
        if prev.exists():
            shutil.rmtree(prev)
        shutil.move(HUB / name, prev)
    metrics = train(prev, data, HUB / name, epochs, lr, False, "cosine")
    (HUB / name / "READS").write_text("pretrained on lookup + passage reading (build_hub.py read)\n")
    log("read " + describe(name, metrics) + f", lr {lr} cosine, random batches")
    check(name)


def teacher(which: str) -> None:
    epochs, lr = TEACHER
    src = "teacher_train.jsonl" if which == "a" else "teacher_train_noisy.jsonl"
    data = questions(f"teacher_{which}", DATA / src)
    metrics = train(HUB / "teacher", data, HUB / f"teacher-{which}", epochs, lr, False, "cosine")
    log(f"teacher {which} from hub/teacher on {src}: " + describe(f"teacher-{which}", metrics) + f", lr {lr} cosine, random batches")
    check(f"teacher-{which}")


if __name__ == "__main__":
    step, *rest = sys.argv[1:]
    log(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} build_hub.py {' '.join(sys.argv[1:])}")
    {"random": lambda: build_random(*rest[:1]), "pretrain": lambda: pretrain(rest[0]),
     "pretrain-more": lambda: pretrain_more(rest[0], float(rest[1]), float(rest[2])),
     "read": lambda: read(rest[0], float(rest[1]), float(rest[2])),
     "teacher": lambda: teacher(rest[0]), "check": lambda: check(rest[0])}[step]()  # fmt: skip
