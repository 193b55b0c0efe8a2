"""seq2seq: encoder-decoder students (T5 family: FRED-T5, ruT5, VikhrT5) learn from a teacher's
correct traces in two target formats, `seq2seq (rationale)` (the rationale, then the answer,
as one target) and `seq2seq (step-by-step)` (distilling step-by-step, Hsieh et al. 2023; see
cmoe.training.seq2seq).

The cascade variant, `seq2seq (<format>, specialists' traces)`, trains the same students on
the CMoE specialists' own correct traces (via the intermediate), beside the causal `cmoe`
student on the same data: is a weak seq2seq student weak for its architecture or its data?
Each seq2seq row is compared with the causal rows trained on the same data.

The students are the `students` entries whose model is `arch: seq2seq`; no other method
trains them.
"""

from __future__ import annotations

from dataclasses import asdict

from ...core import paths
from ...core.planning import Builder
from ...training.seq2seq import Seq2SeqSettings
from ..roles import BASELINE as DIRECT
from ..roles import SPECIALISTS as CMOE
from ..roles.specialists import specialists
from .settings import settings

NAME = "seq2seq"
LABELS = {"rationale": "rationale", "step_by_step": "step-by-step"}
CASCADE = "specialists' traces"


def label(fmt: str, via: str | None = None) -> str:
    return f"{NAME} ({LABELS[fmt]}{', ' + CASCADE if via else ''})"


def plan(b: Builder) -> None:
    s = settings(b.config)
    if not b.seq2seq_students:
        raise ValueError("method seq2seq: no `students` entry has a model with `arch: seq2seq`")
    for teacher in s.teachers or b.teachers:
        sources = [
            (None, b.teacher_traces(teacher), [{"par": b.teacher_costs(teacher)}], fmt)
            for fmt in s.formats
        ]
        if s.cascade_format:
            for intermediate in b.intermediates:
                planned = specialists(b, teacher, intermediate)
                chain = [{"par": [{"seq": sp["branch"]} for sp in planned]}]
                traces = [sp["traces"] for sp in planned]
                sources.append((intermediate, traces, chain, s.cascade_format))
        for via, traces, chain, fmt in sources:
            for student in b.seq2seq_students:
                _plan_student(b, s, teacher, via, student, traces, chain, fmt)


def _plan_student(b: Builder, s, teacher, via, student, traces, chain, fmt) -> None:
    base = b.config["students"][student]["model"]
    run = [NAME, fmt.replace("_", "-"), teacher, *([via] if via else []), student]
    tokens = b.config["models"][base].get("special_tokens", [])
    seq2seq = Seq2SeqSettings(format=fmt, alpha=s.alpha, special_tokens=list(tokens))
    model = b.train(
        paths.models(b.ns, f"student/{NAME}", *run[1:]),
        base,
        traces,
        "students",
        student,
        s.train,
        run_name="-".join(run),
        options={"--seq2seq": asdict(seq2seq)},
    )
    labels = {"method": label(fmt, via), "teacher": teacher, "via": via or "-", "model": student}
    key = paths.evaluation(b.ns, f"student/{NAME}", *run[1:])
    b.row(key, model, labels, {"seq": [*chain, model.path]})
    # against the causal rows trained on the same data: a gap is the architecture's
    same_data = CMOE if via else DIRECT
    data = f"{via} specialists' traces" if via else "teacher traces"
    for causal in b.rows_where(method=same_data, teacher=teacher, via=via or "-"):
        b.pair(
            f"{student}, {labels['method']} − {causal.model}, {same_data} (same {data}, {teacher})",
            tuple(labels.values()),
            tuple(causal.labels.values()),
        )
