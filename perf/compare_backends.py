"""Where two runs of one config that differ only in their generation backend (vLLM against hf)
give different answers, job by job.

    python perf/compare_backends.py RUN_A LOG_A RUN_B [--namespaces NS_A:NS_B] [--out FILE.md]

RUN_A and RUN_B are two finished checkouts of the same config (config/ablations/vllm_cpu.yaml,
and the same with config/ablations/vllm_cpu_hf.yaml on top); LOG_A is RUN_A's Snakemake log
(``--printshellcmds``, as profiles/local sets), from which every ``generate`` and ``evaluate``
job and its model are read. A job's outputs are compared record by record (question id and
sample) only where its model's weights are byte-identical in both runs: otherwise the two
backends answered with different models (e.g. students trained on differently sampled traces),
and only their accuracies are shown. Greedy jobs should agree; sampled ones draw from different
random streams, so only their accuracies are comparable. Where the two configs have different
result namespaces (an overlay against its base config), ``--namespaces`` maps A's to B's. A
teacher's traces lie in a folder named by the fingerprint of its generation settings, the
backend among them: A's are compared with B's one folder of that teacher.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import shell_commands  # noqa: E402

WEIGHTS = (".safetensors", ".bin")


def jobs(log: Path) -> list[dict]:
    """Each generate/evaluate job: rule, model, output file, greedy or not."""
    out = []
    for rule, commands in shell_commands(log).items():
        if rule not in ("generate", "evaluate"):
            continue
        for command in commands:
            argv = shlex.split(command)
            opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
            settings = json.loads(opts.get("--generation", "{}"))
            output = opts.get("--out") or opts.get("--predictions")
            if output:
                out.append(
                    {
                        "rule": rule,
                        "model": opts["--model"],
                        "output": output,
                        "greedy": settings.get("temperature", 0.0) == 0.0,
                    }
                )
    return out


def weights_digest(run: Path, model: str) -> str | None:
    """A digest of a model folder's weights; a LoRA adapter's include its base model's."""
    folder = run / model
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.suffix in WEIGHTS:
            digest.update(f.relative_to(folder).as_posix().encode())
            digest.update(f.read_bytes())
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        base = json.loads(adapter.read_text("utf-8"))["base_model_name_or_path"]
        digest.update((weights_digest(run, base) or base).encode())
    return digest.hexdigest()


def records(path: Path) -> dict[tuple, dict]:
    from cmoe.core.io import iter_jsonl

    return {(r["id"], r.get("sample", 0)): r for _, r in iter_jsonl(path)}


def kind(job: dict) -> str:
    """What a job's output is: a role's traces (teacher, generalist, specialist) or an
    evaluation (a specialist's: a LoRA adapter, unmerged on vLLM and merged on hf)."""
    parts = Path(job["output"]).parts
    if job["rule"] == "generate":
        return f"{parts[parts.index('traces') + 1]} traces"
    if "specialist" in parts:
        return "specialist evaluation"
    return (
        "MERA gen evaluation" if any(p.startswith("eval_mera_gen") for p in parts) else "evaluation"
    )


def compare(run_a: Path, log_a: Path, run_b: Path, namespaces: tuple[str, str] | None) -> dict:
    def in_b(path: str) -> str:
        parts = Path(path).parts
        if parts[:3] == ("results", "traces", "teacher") and len(parts) > 5:
            # results/traces/teacher/<teacher>/<fingerprint>/...: B's fingerprint differs
            found = sorted(run_b.glob(str(Path(*parts[:4], "*", *parts[5:]))))
            return str(found[0].relative_to(run_b)) if len(found) == 1 else path
        if namespaces:
            ns_a, ns_b = namespaces
            return path.replace(f"results/{ns_a}/", f"results/{ns_b}/", 1)
        return path

    table: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    for job in jobs(log_a):
        a, b = run_a / job["output"], run_b / in_b(job["output"])
        if not (a.is_file() and b.is_file()):
            continue
        digest_b = weights_digest(run_b, in_b(job["model"]))
        same_model = weights_digest(run_a, job["model"]) == digest_b
        basis = ("same model, " if same_model else "different model, ") + (
            "greedy" if job["greedy"] else "sampled"
        )
        row = table[(kind(job), basis)]
        ra, rb = records(a), records(b)
        row["jobs"] += 1
        row["records"] += len(ra)
        row["correct_a"] += sum(bool(r.get("correct")) for r in ra.values())
        row["correct_b"] += sum(bool(r.get("correct")) for r in rb.values())
        if same_model and job["greedy"]:
            keys = ra.keys() & rb.keys()
            row["missing"] += len(ra.keys() ^ rb.keys())
            row["answer_differs"] += sum(ra[k].get("answer") != rb[k].get("answer") for k in keys)
            row["output_differs"] += sum(ra[k].get("output") != rb[k].get("output") for k in keys)
    return table


def render(table: dict) -> str:
    head = (
        "| outputs | models, decoding | jobs | records | answers differ | outputs differ "
        "| correct, A | correct, B |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for (k, basis), row in sorted(table.items()):
        compared = basis == "same model, greedy"
        differs = (
            (f"{row['answer_differs']}", f"{row['output_differs']}") if compared else ("–", "–")
        )
        if compared and row["missing"]:
            differs = (f"{differs[0]} (+{row['missing']} unmatched)", differs[1])
        lines.append(
            f"| {k} | {basis} | {row['jobs']} | {row['records']} | {differs[0]} | {differs[1]} "
            f"| {row['correct_a']} | {row['correct_b']} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_a", type=Path, help="checkout of the first run (e.g. vLLM)")
    p.add_argument("log_a", type=Path, help="its Snakemake log, with shell commands")
    p.add_argument("run_b", type=Path, help="checkout of the second run (e.g. hf)")
    p.add_argument(
        "--namespaces",
        metavar="NS_A:NS_B",
        help="result namespaces of A and B, where they differ (results/NS_A/... in A is "
        "results/NS_B/... in B)",
    )
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args()
    for path in (args.run_a, args.log_a, args.run_b):
        if not path.exists():
            p.error(f"{path} does not exist")
    namespaces = tuple(args.namespaces.split(":", 1)) if args.namespaces else None
    if namespaces and (len(namespaces) != 2 or not all(namespaces)):
        p.error(f"--namespaces: expected NS_A:NS_B, got {args.namespaces!r}")
    text = render(compare(args.run_a, args.log_a, args.run_b, namespaces))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
