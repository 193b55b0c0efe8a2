"""MERA's ruMMLU log-likelihood protocol (`cmoe.evaluation.loglik`) against lm-evaluation-harness
running MERA's task definition (tests/lmeval_tasks/rummlu_mera), on the same model and items.

Usage: python perf/bench_loglik.py [--hidden 128 --layers 4 --vocab 2048 --threads 2]
The demo's test split (136 questions, seed 13) with the demo's few-shot pool, MERA v1.2's
1-shot prompts, seed 1234, batch 8, float32. Measured:

- scoring only (model loaded before the clock starts): cmoe renders the prompts and scores
  them (`mera_prompts` + `score_letters`); lm-eval's `HFLM.loglikelihood` on the 4 requests per
  question its task built (the task building itself timed separately);
- end to end in one process: `evaluate_loglik` (model loading included) against
  `lm_eval.simple_evaluate(model="hf", ...)` (model loading, task and data set-up, scoring);

with the item-by-item agreement of prompts and predicted letters. Each timing is the median of
--repeats runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEMO_DATA, ROOT

sys.path.insert(0, str(ROOT / "tests"))  # support.lmeval_mera: test scaffolding

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
FEWSHOT = ROOT / "data" / "demo" / "rummlu_demo_fewshot.jsonl"


def median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import lm_eval
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from support.lmeval_mera import TASK, raw_rows, simple_evaluate, write_task

    from cmoe.core.domains import subject_domains
    from cmoe.core.models import load_causal_lm, load_tokenizer
    from cmoe.data.questions import DataSettings, prepare_data, prepare_fewshot, read_questions
    from cmoe.evaluation.loglik import evaluate_loglik, mera_prompts, score_letters

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-loglik-"))
    settings = DataSettings(
        source={"file": str(DEMO_DATA)}, seed=13, fewshot_source={"file": str(FEWSHOT)}
    )
    files = {name: work / f"{name}.jsonl" for name in ("train", "test", "summary")}
    prepare_data(settings, subject_domains(), files)
    prepare_fewshot(settings, subject_domains(), work / "fewshot.jsonl")
    items, pool = read_questions(files["test"]), read_questions(work / "fewshot.jsonl")
    # built in a child process: training the tokenizer in this one leaves the CPU threads in a
    # state that slows every later forward pass here severalfold
    model = str(work / "model")
    spec = {"hidden_size": args.hidden, "num_hidden_layers": args.layers, "seed": 0}
    spec["intermediate_size"] = 3 * args.hidden
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cmoe",
            "make-tiny-model",
            "--corpus",
            str(DEMO_DATA),
            "--spec",
            json.dumps(spec),
            "--vocab-size",
            str(args.vocab),
            "--out",
            model,
        ],
        check=True,
        capture_output=True,
    )
    rows, pool_rows = raw_rows(DEMO_DATA), list(raw_rows(FEWSHOT).values())
    task_dir = write_task([rows[x["id"]] for x in items], pool_rows, work / "task")
    n, k, seed, bs = len(items), 1, 1234, args.batch_size

    # --- scoring only: models loaded first ---------------------------------------------------
    tokenizer = load_tokenizer(model, padding_side="left")
    ours_model = load_causal_lm(model, dtype="float32")

    def ours_scoring():
        return score_letters(ours_model, tokenizer, mera_prompts(items, pool, k, seed), bs)

    ours_score_s, _ = median_time(ours_scoring, args.repeats)

    lm = HFLM(pretrained=model, dtype="float32", device="cpu", batch_size=bs)
    run_s, results = median_time(
        lambda: simple_evaluate(task_dir, lm, [TASK], batch_size=bs), args.repeats
    )
    samples = sorted(results["samples"][TASK], key=lambda s: s["doc_id"])
    requests = [
        Instance("loglikelihood", s["doc"], tuple(arg), i)
        for s in samples
        for i, arg in enumerate(s["arguments"])
    ]
    theirs_score_s, _ = median_time(
        lambda: lm.loglikelihood(requests, disable_tqdm=True), args.repeats
    )

    # --- end to end: model loading included ---------------------------------------------------
    ours_e2e_s, ours = median_time(
        lambda: evaluate_loglik(model, items, pool, k=k, seed=seed, batch_size=bs, dtype="float32"),
        args.repeats,
    )
    theirs_e2e_s, results = median_time(
        lambda: simple_evaluate(task_dir, model, [TASK], batch_size=bs), args.repeats
    )
    samples = sorted(results["samples"][TASK], key=lambda s: s["doc_id"])
    same_prompt = sum(
        s["arguments"][0][0] == r["prompt"] for s, r in zip(samples, ours, strict=True)
    )
    same_answer = 0
    for s, r in zip(samples, ours, strict=True):
        lls = [float(x[0]) for x in s["filtered_resps"]]
        same_answer += "ABCD"[lls.index(max(lls))] == r["answer"]

    print(
        f"{n} questions, MERA v1.2 1-shot, batch {bs}, {args.threads} threads, float32, "
        f"model hidden {args.hidden} x {args.layers} layers, vocab {len(tokenizer)}, "
        f"torch {torch.__version__}, lm-eval {lm_eval.__version__}, median of {args.repeats}"
    )
    print("| measurement | cmoe `mera` s | lm-eval s | cmoe q/s | lm-eval q/s | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, ours_s, theirs_s in (
        ("scoring only (model loaded)", ours_score_s, theirs_score_s),
        ("task + scoring (model loaded)", ours_score_s, run_s),
        ("end to end (model loading included)", ours_e2e_s, theirs_e2e_s),
    ):
        print(
            f"| {name} | {ours_s:.2f} | {theirs_s:.2f} | {n / ours_s:.1f} | {n / theirs_s:.1f} "
            f"| {theirs_s / ours_s:.1f}x |"
        )
    print(f"same prompt: {same_prompt}/{n}; same predicted letter: {same_answer}/{n}")
    print(
        json.dumps(
            {
                "n": n,
                "ours_score_s": ours_score_s,
                "lm_eval_score_s": theirs_score_s,
                "lm_eval_task_and_score_s": run_s,
                "ours_e2e_s": ours_e2e_s,
                "lm_eval_e2e_s": theirs_e2e_s,
            }
        )
    )


if __name__ == "__main__":
    main()
