"""seq2seq: encoder-decoder students (T5 family: FRED-T5, ruT5, VikhrT5) learn from a teacher's
correct traces in two target formats, `seq2seq (rationale)` (the rationale, then the answer,
as one target) and `seq2seq (step-by-step)` (distilling step-by-step, Hsieh et al. 2023; see
cmoe.training.seq2seq).

The cascade variant, `seq2seq (<format>, specialists' traces)`, trains the same students on
the CMoE specialists' own correct traces (via the intermediate), beside the causal `cmoe`
student on the same data: is a weak seq2seq student weak for its architecture or its data?

The students are the `students` entries whose model is `arch: seq2seq`; no other method
trains them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..config.sections import from_dict
from ..training.seq2seq import FORMATS, Seq2SeqSettings
from .cmoe import specialists

NAME = "seq2seq"
LABELS = {"rationale": "rationale", "step_by_step": "step-by-step"}
CASCADE = "specialists' traces"


@dataclass
class Seq2SeqMethodSettings:
    """The `seq2seq` config section."""

    formats: list[str] = field(default_factory=lambda: list(FORMATS))
    alpha: float = 0.5  # step_by_step: alpha * L_predict + (1 - alpha) * L_explain
    teachers: list[str] | None = None  # None: every teacher
    # the cascade variant's target format; null: no cascade rows
    cascade_format: str | None = "step_by_step"
    train: dict = field(default_factory=dict)  # over the students' own `train`


def settings(config: dict) -> Seq2SeqMethodSettings:
    s = from_dict(Seq2SeqMethodSettings, config.get("seq2seq"), "seq2seq")
    for fmt in [*s.formats, *([s.cascade_format] if s.cascade_format else [])]:
        if fmt not in FORMATS:
            raise ValueError(f"seq2seq: format {fmt!r} is not one of {', '.join(FORMATS)}")
    unknown = sorted(set(s.teachers or []) - set(config["teachers"]))
    if unknown:
        raise ValueError(f"seq2seq.teachers: {unknown[0]!r} is not a `teachers` entry")
    return s


def label(fmt: str, via: str | None = None) -> str:
    return f"{NAME} ({LABELS[fmt]}{', ' + CASCADE if via else ''})"


def plan(b) -> None:
    s = settings(b.config)
    ns = b.plan.namespace
    if not b.seq2seq_students:
        raise ValueError("method seq2seq: no `students` entry has a model with `arch: seq2seq`")
    for teacher in s.teachers or b.teachers:
        sources = [
            (None, b.teacher_traces(teacher), [{"par": b.teacher_costs(teacher)}], fmt)
            for fmt in s.formats
        ]
        if s.cascade_format:
            for intermediate in b.intermediates:
                planned = specialists(b, teacher, intermediate, evaluate=False)
                chain = [{"par": [{"seq": sp["branch"]} for sp in planned]}]
                traces = [sp["traces"] for sp in planned]
                sources.append((intermediate, traces, chain, s.cascade_format))
        for via, traces, chain, fmt in sources:
            for student in b.seq2seq_students:
                _plan_student(b, s, ns, teacher, via, student, traces, chain, fmt)


def _plan_student(b, s, ns, teacher, via, student, traces, chain, fmt) -> None:
    base = b.config["students"][student]["model"]
    run = [NAME, fmt.replace("_", "-"), teacher, *([via] if via else []), student]
    where = "/".join(run[1:])
    tokens = b.config["models"][base].get("special_tokens", [])
    seq2seq = Seq2SeqSettings(format=fmt, alpha=s.alpha, special_tokens=list(tokens))
    model = b.train(
        f"{ns}/models/student/{NAME}/{where}",
        base,
        traces,
        "students",
        student,
        s.train,
        run_name="-".join(run),
        seq2seq=asdict(seq2seq),
    )
    labels = {"method": label(fmt, via), "teacher": teacher, "via": via or "-", "model": student}
    b.row(f"{ns}/eval/student/{NAME}/{where}", model, labels, {"seq": [*chain, model.path]})
