"""Generation throughput of the openai backend against the local OpenAI-compatible server.

Usage: python perf/bench_openai.py [--questions 64 --max-new-tokens 64 --threads 2]

The server (``tests/support/openai_server.py``) runs in its own process on loopback and generates
one request at a time (a batch of one, like the hf backend at batch 1, which is the reference
row), so client concurrency measures what the HTTP path costs and hides, not server batching.
A last row injects faults (429 and 500, at --fault-rate) to show what retries cost. Every run
must produce the same texts as the reference; the script says so, or exits with an error.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, demo_questions, tiny_model

SERVER_SCRIPT = ROOT / "tests" / "support" / "openai_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, threads: int, fault_rate: float, log_path: Path):
    port = free_port()
    cmd = [sys.executable, str(SERVER_SCRIPT), "--model", model, "--port", str(port)]
    cmd += ["--threads", str(threads), "--served-model-name", "tiny"]
    if fault_rate:
        cmd += ["--fault-rate", str(fault_rate), "--fault-kinds", "429,500"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = open(log_path, "w")  # noqa: SIM115 (closed in stop_server)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, log, f"http://127.0.0.1:{port}/v1"


def stop_server(proc, log, log_path: Path) -> dict:
    import signal

    proc.send_signal(signal.SIGINT)  # the server prints its statistics as it stops
    proc.wait(timeout=30)
    log.close()
    last = log_path.read_text().strip().splitlines()[-1]
    try:
        return json.loads(last)
    except json.JSONDecodeError:
        return {}


def wait_ready(gen, proc, deadline_s: float = 120.0) -> None:
    from cmoe.generation.openai import EndpointError

    t0 = time.perf_counter()
    while True:
        try:
            gen.check_endpoint(timeout_s=2)
            return
        except EndpointError:
            if proc.poll() is not None or time.perf_counter() - t0 > deadline_s:
                raise
            time.sleep(0.2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--questions", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--fault-rate", type=float, default=0.1, help="faulty row (0: none)")
    p.add_argument("--repeats", type=int, default=3, help="rounds, configurations interleaved")
    p.add_argument("--threads", type=int, default=2, help="torch threads (server and reference)")
    args = p.parse_args()

    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.generation import GenerationSettings, make_generator
    from cmoe.generation.runner import answer_questions

    torch.set_num_threads(args.threads)
    questions = demo_questions()[: args.questions]
    model = tiny_model(args.hidden, args.layers)
    prompt = PromptSettings()
    print(
        f"model: hidden={args.hidden} layers={args.layers}, {len(questions)} questions, "
        f"max_new_tokens={args.max_new_tokens}, greedy, threads={args.threads}, "
        f"median of {args.repeats} interleaved rounds",
        file=sys.stderr,
    )

    workdir = Path(tempfile.mkdtemp(prefix="cmoe-bench-openai-"))
    rates = [0.0] + ([args.fault_rate] if args.fault_rate else [])
    servers = {
        rate: start_server(model, args.threads, rate, workdir / f"{rate}.log") for rate in rates
    }
    configs = [("hf", 1, 0.0)] + [("openai", c, 0.0) for c in args.concurrency]
    if args.fault_rate:
        configs.append(("openai", max(args.concurrency), args.fault_rate))
    generators = {}
    try:
        for backend, concurrency, rate in configs:
            if backend == "hf":
                settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
            else:
                proc, _, url = servers[rate]
                settings = GenerationSettings(
                    backend="openai",
                    max_new_tokens=args.max_new_tokens,
                    openai={
                        "base_url": url,
                        "model": "tiny",
                        "concurrency": concurrency,
                        "backoff_s": 0.05,
                        "timeout_s": 600,
                    },
                )
            gen = make_generator(model, settings)
            if backend == "openai":
                wait_ready(gen, proc)
            generators[backend, concurrency, rate] = gen

        walls = {key: [] for key in generators}
        outputs = {}
        for round_ in range(args.repeats):
            for key, gen in generators.items():
                desc = f"round {round_ + 1}: {key[0]} x{key[1]}" + (" faults" if key[2] else "")
                t0 = time.perf_counter()
                records = list(answer_questions(questions, gen, prompt, desc=desc))
                walls[key].append(time.perf_counter() - t0)
                texts = [r["output"] for r in records]
                if outputs.setdefault("ref", texts) != texts:
                    sys.exit(f"{key}: outputs differ from the reference")
                outputs[key] = sum(r["completion_tokens"] for r in records)
    finally:
        stats = {}
        for rate, (proc, log, _) in servers.items():
            stats[rate] = stop_server(proc, log, workdir / f"{rate}.log")

    print(
        "| backend | concurrency | faults | tokens a run | wall s (median, min–max) | tokens/s |"
        " vs hf batch 1 | requests (retries), all rounds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for key, gen in generators.items():
        backend, concurrency, rate = key
        wall = statistics.median(walls[key])
        rate_tps = outputs[key] / wall
        base = base or rate_tps
        if backend == "hf":
            name, conc, faults, reqs = "hf (in process, batch 1)", "-", "-", "-"
        else:
            usage = gen.usage()
            name, conc = "openai (local server)", str(concurrency)
            injected = stats[rate].get("faults", {})
            faults = (
                f"{rate:.0%}: " + ", ".join(f"{n}× {k}" for k, n in sorted(injected.items()))
                if rate
                else "none"
            )
            reqs = f"{usage['requests']} ({usage['retries']})"
        print(
            f"| {name} | {conc} | {faults} | {outputs[key]} | {wall:.2f} "
            f"({min(walls[key]):.2f}–{max(walls[key]):.2f}) | {rate_tps:.0f} "
            f"| {rate_tps / base:.2f}x | {reqs} |"
        )
    print("\nall runs produced the same texts as the hf backend at batch 1", file=sys.stderr)


if __name__ == "__main__":
    main()
