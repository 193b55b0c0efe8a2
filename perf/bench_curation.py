"""The curation chain (cmoe.traces.curation) on synthetic traces: traces/s and peak memory at two
sizes, and whether time grows linearly with the number of traces.

    python perf/bench_curation.py                       # 50,000 and 200,000 traces
    python perf/bench_curation.py --sizes 5000 --length tokenizer

Each size runs in its own process, so its peak RSS is its own. The synthetic set has 4 samples
per question (question ids shared by the samples), ~75% correct, ~5% English reasoning, ~10%
repeated samples (greedy repeats, for dedup), and 0.5% traces quoting one of 10,000 synthetic
test questions (for decontamination). The chain is the full one: correct, length, language,
dedup, decontaminate, select (shortest). ``--length words`` counts whitespace words (the chain's
own cost); ``--length tokenizer`` counts the student's tokens as training does (a tiny demo
tokenizer with the chat template: the per-trace cost of tokenisation added).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

WORDS_RU = [
    "вопрос",
    "ответ",
    "вариант",
    "условие",
    "число",
    "функция",
    "энергия",
    "закон",
    "право",
    "история",
    "рынок",
    "цена",
    "клетка",
    "белок",
    "реакция",
    "сила",
    "масса",
    "скорость",
    "время",
    "пространство",
    "общество",
    "государство",
    "договор",
    "норма",
    "процесс",
    "система",
    "элемент",
    "множество",
    "значение",
    "переменная",
    "уравнение",
    "решение",
    "проверка",
    "вывод",
    "поэтому",
    "следовательно",
    "однако",
    "значит",
    "рассмотрим",
    "каждый",
    "первый",
    "второй",
    "третий",
    "верный",
    "неверный",
]
WORDS_EN = [
    "the",
    "answer",
    "option",
    "first",
    "second",
    "check",
    "because",
    "therefore",
    "value",
    "force",
    "market",
]


def synthetic(n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(traces, test questions): ``n`` traces, 4 samples per question."""
    rng = random.Random(seed)
    test = [
        {
            "id": f"t{i}",
            "question": " ".join(rng.choices(WORDS_RU, k=18)) + f" {i}",
            "options": {k: rng.choice(WORDS_RU) for k in "ABCD"},
        }
        for i in range(10_000)
    ]
    traces = []
    for i in range(n):
        q, k = divmod(i, 4)
        if k and rng.random() < 0.1:  # a repeated sample
            traces.append({**traces[-1], "sample": k})
            continue
        words = WORDS_EN if rng.random() < 0.05 else WORDS_RU
        reasoning = " ".join(rng.choices(words, k=rng.randint(30, 300)))
        if rng.random() < 0.005:
            reasoning = rng.choice(test)["question"] + " " + reasoning
        correct = rng.random() < 0.75
        traces.append(
            {
                "id": f"q{q}",
                "sample": k,
                "domain": "other",
                "subject": "global_facts",
                "question": " ".join(rng.choices(WORDS_RU, k=20)) + f" номер {q}",
                "options": {"A": "а", "B": "б", "C": "в", "D": "г"},
                "reasoning": reasoning,
                "output": reasoning,
                "answer": "A" if correct else "B",
                "gold": "A",
                "correct": correct,
                "prompt_tokens": 60,
                "completion_tokens": len(reasoning.split()),
            }
        )
    return traces, test


def one(n: int, length_kind: str) -> dict:
    from cmoe.traces.contamination import ContaminationIndex, evaluated_items
    from cmoe.traces.curation import Chain, CurationSettings

    traces, test = synthetic(n)
    length = None
    if length_kind == "tokenizer":
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
        from _common import tiny_model

        from cmoe.core.prompting import PromptSettings
        from cmoe.traces.curation import student_length

        length = student_length(tiny_model(32, 1), PromptSettings())
    else:

        def length(r):
            return r["prompt_tokens"] + len(r["reasoning"].split())

    settings = CurationSettings(
        steps=["correct", "length", "language", "dedup", "decontaminate", "select"],
        select="shortest",
        max_tokens=320,
    )
    t0 = time.perf_counter()
    index = ContaminationIndex(evaluated_items(test, {}), settings.decontaminate_n)
    chain = Chain(settings, 4096, length, index)
    kept, steps = chain.run(traces)
    wall = time.perf_counter() - t0
    return {
        "traces": n,
        "kept": len(kept),
        "wall_s": round(wall, 2),
        "traces_per_s": round(n / wall),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "steps": {s["step"]: s["dropped"] for s in steps},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    p.add_argument("--length", choices=["words", "tokenizer"], default="words")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.length)))
        return
    results = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--length", args.length]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print("| traces | kept | wall s | traces/s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        cells = (r["traces"], r["kept"], r["wall_s"], r["traces_per_s"], r["peak_rss_mb"])
        print("| " + " | ".join(map(str, cells)) + " |")
    if len(results) > 1:
        a, b = results[0], results[-1]
        ratio = (b["wall_s"] / a["wall_s"]) / (b["traces"] / a["traces"])
        print(f"\ntime per trace at {b['traces']} / at {a['traces']}: {ratio:.2f} (1.00 = linear)")


if __name__ == "__main__":
    main()
