"""How much a base learns from a run's traces: train it (cmoe train) at each setting and seed,
score it on the test split (cmoe evaluate), print one Markdown row per setting.

Usage (after the traces and the split exist, e.g. from the demo's run):

  python perf/learning_grid.py --base data/control/hub/intermediate \
      --traces 'results/main/traces/teacher/tiny-teacher-a/*.jsonl' --test results/data/test.jsonl \
      --grid 20:5e-3 40:5e-3 --seeds 0 1 2 [--jobs 2] [--arch seq2seq [--format step_by_step]]

Each (setting, seed) trains with the demo's training settings otherwise (batch 8, random
batches, cosine, 5% warm-up, max length 512) on one thread, two jobs at a time by default,
under perf/out/learning_grid/. Used for DESIGN's question of why the intermediate learned less
than the student from the same traces (README, "The cascade's shape").
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROMPT = {"template": "{question}\nA) {A}\nB) {B}\nC) {C}\nD) {D}", "system": None,
          "enable_thinking": True}  # fmt: skip  # config/demo.yaml's prompt
GEN = {"temperature": 0.0, "max_new_tokens": 96, "batch_size": 32, "seed": 0}
OUT = Path("perf/out/learning_grid")


def cmoe(args: list[str]) -> float:
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "cmoe", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def one(base: str, traces: list[str], test: str, epochs: int, lr: float, batch: int, seed: int,
        arch: str, domain: str | None, fmt: str = "rationale") -> tuple[float, float]:  # fmt: skip
    """(accuracy, overall or on ``domain``; training seconds) of one setting and seed."""
    tag = hashlib.sha256(f"{Path(base).resolve()} {traces}".encode()).hexdigest()[:6]
    form = "" if fmt == "rationale" else f"-{fmt}"
    out = OUT / f"{Path(base).name}{form}-{tag}-e{epochs}-lr{lr:g}-b{batch}-s{seed}"
    settings = {
        **{"method": "full", "epochs": epochs, "learning_rate": lr, "batch_size": batch},
        **{"max_length": 512, "warmup_ratio": 0.05, "lr_scheduler": "cosine"},
        **{"batching": "random", "seed": seed, "save_steps": 0, "logging_steps": 50},
    }
    extra = ["--arch", arch] + (
        ["--seq2seq", json.dumps({"format": fmt})] if arch == "seq2seq" else []
    )
    seconds = cmoe(["train", "--model", base, "--data", *traces, "--settings", json.dumps(settings),
                    "--prompt", json.dumps(PROMPT), "--threads", "1", "--out", str(out / "model"),
                    *extra])  # fmt: skip
    cmoe(["evaluate", "--model", str(out / "model"), "--questions", test, "--max-length", "512",
          "--generation", json.dumps(GEN), "--prompt", json.dumps(PROMPT), "--threads", "1",
          "--predictions", str(out / "predictions.jsonl"), "--scores", str(out / "scores.json"),
          "--arch", arch])  # fmt: skip
    scores = json.loads((out / "scores.json").read_text())
    cell = scores["domains"][domain] if domain else scores["overall"]
    return cell["accuracy"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="model folder to train from")
    parser.add_argument("--traces", required=True, help="glob of trace files")
    parser.add_argument("--test", required=True, help="the test split (question records)")
    parser.add_argument("--grid", nargs="+", required=True, help="EPOCHS:LR[:BATCH] (batch 8)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--arch", choices=["causal", "seq2seq"], default="causal")
    parser.add_argument("--format", choices=["rationale", "step_by_step"], default="rationale",
                        help="seq2seq: the target format")  # fmt: skip
    parser.add_argument("--domain", help="report the accuracy on this domain (a specialist's)")
    args = parser.parse_args()
    traces = sorted(t for t in glob.glob(args.traces) if not t.endswith(".raw.jsonl"))
    if not traces:
        sys.exit(f"--traces {args.traces}: no trace files")
    grid = []
    for item in args.grid:
        epochs, lr, batch = (item.split(":") + ["8"])[:3]
        try:
            grid.append((int(epochs), float(lr), int(batch)))
        except ValueError:
            sys.exit(f"--grid {item}: expected EPOCHS:LR[:BATCH], e.g. 40:5e-3 or 20:5e-3:2")
    work = [(*g, s) for g in grid for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(
            pool.map(
                lambda w: one(
                    args.base, traces, args.test, *w, args.arch, args.domain, args.format
                ),
                work,
            )
        )
    where = f" on {args.domain}" if args.domain else ""
    seeds = " / ".join(map(str, args.seeds))
    print(f"| base | epochs | lr | batch | accuracy{where}, seeds {seeds} | mean | train s |")
    print("|---|---|---|---|---|---|---|")
    for e, lr, batch in grid:
        got = [r for w, r in zip(work, results, strict=True) if w[:3] == (e, lr, batch)]
        accs = [100 * a for a, _ in got]
        each = " / ".join(f"{a:.1f}" for a in accs)
        mean, seconds = sum(accs) / len(accs), sum(s for _, s in got) / len(got)
        cells = [Path(args.base).name, e, f"{lr:g}", batch, each, f"{mean:.1f}", f"{seconds:.0f}"]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
