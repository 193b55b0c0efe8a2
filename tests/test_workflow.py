"""The real Snakemake graph, end to end, on a config smaller than the demo."""

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ci_config, run_snakemake

from cmoe.core.domains import DOMAINS
from cmoe.reporting.plots import PLOTS
from cmoe.reporting.summary import TABLES

REPORT_FIGURES = [f"{name}.svg" for name in PLOTS]
# the CI config asks for MERA's log-likelihood protocol and one lm-eval benchmark
REPORT_TABLES = [name for name, _ in TABLES] + ["scores_loglik.csv", "benchmarks.csv"]

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def _config(tmp_path: Path, name="config", edit=None) -> Path:
    return ci_config(tmp_path, name, edit)


def snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, configfile, extra=extra)


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    jobs, in_table = {}, False
    for line in proc.stdout.splitlines():
        if line.startswith("job "):
            in_table = True
            continue
        if in_table:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                jobs[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return jobs


# The report's jobs, re-run by any change to a score: tables, figures, the study comparison, the
# report's summary page, and the target `all`.
REPORT = {"table": 1, "plots": 1, "study_comparison": 1, "summary": 1, "all": 1}


@pytest.fixture(scope="module")
def finished_run(ci_run):
    return ci_run


def _rows(workdir):
    # a CSV reader: labels such as "seq2seq (step-by-step, specialists' traces)" hold commas
    with open(workdir / "results/ci/tables/scores.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_workflow_produces_every_method_with_plausible_scores_and_costs(finished_run):
    workdir, _ = finished_run
    header, rows = _rows(workdir)
    assert header[:5] == ["namespace", "method", "teacher", "via", "model"]
    keys = sorted((r["method"], r["teacher"], r["via"], r["model"]) for r in rows)
    # the students' bases, the seq2seq student's T5 among them
    expected = [("base", "-", "-", m) for m in ("s-model", "l-model", "s2s-model")]
    for t in ("ta", "tb"):
        expected += [
            ("cmoe", t, "im", "mixture:learned"),
            ("cmoe", t, "im", "mixture:oracle"),
            ("direct", t, "-", "im"),  # the generalist: direct into the intermediate
        ]
        expected += [
            ("cascade", t, "im", "st"),
            ("kard", t, "-", "st"),  # question retrieval, reranked
            ("kard (no reranker)", t, "-", "st"),
        ]
        for s in ("st", "sl"):  # the Qwen3 and the Llama 3 student (students.sl.methods)
            expected += [("cmoe", t, "im", s), ("direct", t, "-", s)]
    # logit distillation, for teacher ta only (kd.teachers): the Qwen3 student from the
    # generalist and the specialists; the Llama student from the generalist's scores in its
    # own vocabulary (sl's methods)
    expected += [
        ("direct-kd", "ta", "im", "st"),
        ("direct-kd (cross-vocab)", "ta", "im", "sl"),
        ("cmoe-kd", "ta", "im", "st"),
        ("cmoe-kd (on-policy)", "ta", "im", "st"),
    ]
    # the seq2seq student: teacher ta only, one format and its cascade variant (ci.yaml)
    expected += [
        ("seq2seq (step-by-step)", "ta", "-", "s2s"),
        ("seq2seq (step-by-step, specialists' traces)", "ta", "im", "s2s"),
    ]
    assert keys == sorted(expected)
    test = [json.loads(x) for x in (workdir / "results/data/test.jsonl").read_text().splitlines()]
    per_domain = {d: sum(q["domain"] == d for q in test) for d in DOMAINS}
    for r in rows:
        assert r["namespace"] == "ci"
        assert int(r["n"]) == len(test)
        assert 0.0 <= float(r["overall"]) <= 1.0
        for d in DOMAINS:
            assert 0.0 <= float(r[d]) <= 1.0
        if r["method"] != "base":
            assert float(r["device_h"]) > 0 and float(r["train_device_h"]) > 0
            assert float(r["critical_path_h"]) <= float(r["device_h"]) + 1e-9
    for t in ("ta", "tb"):
        for routing in ("oracle", "learned"):
            scores = json.loads(
                (workdir / f"results/ci/eval/mixture/{t}/im/{routing}/eval/scores.json").read_text()
            )
            assert {d: c["n"] for d, c in scores["domains"].items()} == per_domain
    routes = json.loads((workdir / "results/ci/router/routes.json").read_text())
    assert 0.0 <= routes["accuracy"] <= 1.0 and routes["n"] == len(test)
    comparison = (workdir / "results/ci/tables/comparison.md").read_text()
    assert "CMoE mixture, oracle routing" in comparison and "Training cost, direct" in comparison
    assert (workdir / "results/logs/prepare_data.log").exists()
    # MERA's protocol: one job per scored model (21, the T5's base among them), shots from
    # the few-shot pool's own file
    assert len((workdir / "results/ci/tables/scores_loglik.csv").read_text().splitlines()) == 22
    pool = (workdir / "results/data/fewshot.jsonl").read_text().splitlines()
    shots = {json.loads(x)["question"] for x in pool}
    base = workdir / "results/ci/eval_loglik/base/s-model/eval/predictions.jsonl"
    for line in base.read_text().splitlines():
        prompt = json.loads(line)["prompt"]
        assert any(text in prompt for text in shots) and prompt.count("Ответ:") == 2
    assert list((workdir / "results/benchmarks").rglob("*.tsv"))
    # KARD: each evaluated question records the passages its student was shown
    for folder in ("kard", "kard-no-reranker"):
        predictions = workdir / f"results/ci/eval/student/{folder}/ta/st/eval/predictions.jsonl"
        records = [json.loads(x) for x in predictions.read_text("utf-8").splitlines()]
        assert len(records) == len(test)
        shown = [r["knowledge"] for r in records]
        assert all(len(k) <= 1 for k in shown) and sum(map(len, shown)) > len(records) / 2
        assert all({"pid", "text", "score"} <= set(p) for k in shown for p in k)
    # the Llama student's teacher scores: the Qwen3 generalist's, stored in its own vocabulary
    scores = workdir / "results/ci/kd/scores/direct/ta/im-xv-sl"
    index = json.loads((scores / "index.json").read_text())
    assert index["format"] == 2 and index["cross_vocab"]["vocab_size"] == 1026
    student = workdir / "results/ci/models/student/direct-kd/ta/im/sl/model"
    alignment = json.loads((student / "train_metrics.json").read_text())["kd_alignment"]
    assert alignment["units"] > 0.5 * alignment["student_tokens"]
    recall = json.loads((workdir / "results/ci/knowledge/reranker/ta/recall.json").read_text())
    assert set(recall["reranker"]) == {"recall@1", "recall@3", "recall@5"}


def test_llama_student_keeps_its_family_through_the_workflow(finished_run):
    """The Llama 3 student is trained and evaluated with Llama 3's template and end-of-turn
    token, and learns reasoning without <think> tags (its template has none)."""
    from transformers import AutoTokenizer

    from cmoe.data.tiny import chat_template

    workdir, _ = finished_run
    student = workdir / "results/ci/models/student/direct/ta/sl/model"
    tok = AutoTokenizer.from_pretrained(student)
    assert tok.chat_template == chat_template("llama3.jinja") and tok.eos_token == "<|eot_id|>"
    for folder in ("direct/ta/sl", "cmoe/ta/im/sl"):
        path = workdir / f"results/ci/eval/student/{folder}/eval/predictions.jsonl"
        records = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
        assert all(
            r["prompt"].startswith("<|begin_of_text|><|start_header_id|>system")
            and r["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
            for r in records
        )
        assert not any("<think>" in r["output"] for r in records)


def test_golden_dataset_card_and_teacher_economics(finished_run):
    """The demo extra source is curated visibly (every step removes something), mixed into the
    students' data by weight, and listed with its licence; tb answered twice per question."""
    workdir, _ = finished_run
    (stats_file,) = (workdir / "results/data/extra").glob("*.stats.json")
    extra = json.loads(stats_file.read_text("utf-8"))
    assert {s["step"]: s["dropped"] > 0 for s in extra["curation"]} == dict.fromkeys(
        ("length", "language", "dedup", "decontaminate"), True
    )
    (source,) = extra["sources"]
    assert source["rows"] == 57 and 0 < source["in_training"] < source["kept"] < 57
    card = (workdir / "results/ci/data/card.md").read_text("utf-8")
    assert "| demo_pairs | extra source" in card and "| CC0-1.0 | 0.25 |" in card
    assert "## Removed as contaminated" in card and "| extra | demo_pairs/" in card
    tb = json.loads((workdir / "results/ci/traces/teacher/tb/stats.json").read_text())
    assert tb["overall"]["samples_per_question"] == 2
    assert tb["overall"]["generated"] == 2 * tb["overall"]["n"]
    student = json.loads(
        (workdir / "results/ci/models/student/direct/tb/st/model/train_metrics.json").read_text()
    )
    assert student["examples"] == tb["overall"]["kept"] + source["in_training"]
    economics = (workdir / "results/ci/tables/teacher_economics.csv").read_text().splitlines()
    rows = [
        dict(zip(economics[0].split(","), line.split(","), strict=True)) for line in economics[1:]
    ]
    assert [(r["teacher"], r["samples_per_question"]) for r in rows] == [("ta", "1"), ("tb", "2")]
    assert all(float(r["device_hours_per_1k_correct"]) > 0 for r in rows)


def test_every_trained_and_base_model_has_its_benchmark_result(finished_run):
    workdir, _ = finished_run
    lines = (workdir / "results/ci/tables/benchmarks.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    trained = {
        str(p.relative_to(workdir / "results/ci/models"))
        for p in (workdir / "results/ci/models").glob("**/train_metrics.json")
    }
    trained = {str(Path(t).parent.parent) for t in trained}  # the label: without /model
    bases = {"base/s-model", "base/l-model", "base/i-model", "base/s2s-model"}
    assert {r["model"] for r in rows} == trained | bases
    for r in rows:
        assert r["task"] == "ru_mc_demo" and r["metric"] == "acc" and int(r["n"]) == 30
        assert 0.0 <= float(r["value"]) <= 1.0 and float(r["stderr"]) > 0
    assert "ru_mc_demo (acc)" in (workdir / "results/ci/tables/benchmarks.md").read_text()


def test_second_dry_run_schedules_nothing(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, config, "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _outputs(proc):
    return [
        line.split(":", 1)[1]
        for line in proc.stdout.splitlines()
        if line.strip().startswith("output:")
    ]


def test_editing_one_specialist_reruns_exactly_its_branch(finished_run):
    """A LoRA-rank edit of the math_cs specialist schedules: that specialist (per teacher), its
    traces and their filter, the CMoE students trained on the union and their evaluations, the
    specialist's own evaluation and the two routed mixtures it is part of, and the tables and
    the figures drawn from them."""
    workdir, _ = finished_run

    def edit(config):
        config["intermediates"]["im"]["specialists"] = {"math_cs": {"train": {"lora": {"r": 8}}}}

    proc = snakemake(workdir, _config(workdir, "specialist-edit", edit), "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_jobs(proc) == {
        # the specialist and the two CMoE students, per teacher; for ta also the students that
        # learn from its specialists: cmoe-kd, its on-policy variant and seq2seq's cascade
        "train": 2 + 2 * 2 + 3,
        "generate": 2,
        "filter": 2,
        "score_teacher": 1,  # ta's math_cs specialist scores its own traces again (cmoe-kd)
        "evaluate": 2 * 2 + 2 + 3,  # the students and the specialist itself
        "evaluate_loglik": 2 * 2 + 3,  # the students, under MERA's protocol
        "loglik_table": 1,
        "evaluate_benchmark": 2 * 2 + 2 + 3,  # the same models
        "benchmark_table": 1,
        "mixture": 4,
        **REPORT,
    }
    for out in _outputs(proc):
        # the specialist, what learns from it (cmoe, cmoe-kd and its on-policy variant, the
        # seq2seq student of the specialists' traces), the mixtures and the report
        keys = ("/math_cs", "/cmoe/", "/cmoe-kd", "/ta/im/s2s", "/mixture/", "tables/", "plots/")
        keys += ("report/",)
        assert any(k in out for k in keys), out


def test_changing_one_teachers_sampling_reruns_only_its_downstream(finished_run):
    workdir, _ = finished_run

    def edit(config):
        config["teachers"]["tb"]["generation"]["temperature"] = 0.9

    proc = snakemake(workdir, _config(workdir, "teacher-edit", edit), "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_jobs(proc) == {
        # tb: one shard per domain, then the generalist's and the specialists' traces
        "generate": 4 + 4 + 4,
        "gather": 4,
        "filter": 4 + 4 + 4,  # teacher, generalist and specialist traces of tb
        "merge_stats": 1,
        # generalist, 4 specialists; st: direct, cascade, cmoe, kard; sl: direct, cmoe
        "train": 1 + 4 + 4 + 2,
        # generalist, its 4 specialists; st: direct, cascade, cmoe and kard (2 rows); sl: 2
        "evaluate": 1 + 4 + 5 + 2,
        # kard: tb's rationales retrieved for training, its reranker, the reranked questions
        "retrieve": 2,
        "train_reranker": 1,
        # every model trained on tb's traces (the kard students included)
        "evaluate_benchmark": 1 + 4 + 4 + 2,
        "benchmark_table": 1,
        # the generalist; tb's direct, cascade and cmoe students (st), direct and cmoe (sl)
        "evaluate_loglik": 1 + 3 + 2,
        "loglik_table": 1,
        "mixture": 2,
        "contamination": 1,
        # the golden dataset's card and the teacher economics table read every teacher's stats
        "data_card": 1,
        "teacher_economics": 1,
        **REPORT,
    }
    outputs = _outputs(proc)
    # KARD's files of tb: knowledge/train/tb.jsonl, knowledge/reranker/tb, ...
    pattern = r"/tb(/|\.|,|$)|tables/|plots/|report/|data/card\.md"
    assert outputs and all(re.search(pattern, o) for o in outputs)


def _set(path: str, value):
    def edit(config):
        *parents, key = path.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value

    return edit


# What a setting may re-run: logging and runtime settings nothing at all, statistics and display
# settings only the tables (and the figures, the study comparison and the summary drawn from them).
TABLES_ONLY = {**REPORT, "loglik_table": 1}


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("wandb.project", "renamed-project", {}),
        ("wandb.mode", "offline", {}),
        ("resources.default.threads", 2, {}),
        ("resources.default.mem_mb", 3000, {}),
        ("resources.default.runtime", 99, {}),
        ("resources.train.slurm_partition", "gpu-long", {}),
        ("evaluation.bootstrap.min_n", 5, TABLES_ONLY),
        ("evaluation.bootstrap.resamples", 500, TABLES_ONLY),
        # MERA's shot seed: every model's log-likelihood job and the tables (all tables read
        # one resolved config, so the generative table is rebuilt too, with the same numbers)
        ("evaluation.loglik.seed", 7, {"evaluate_loglik": 21, **TABLES_ONLY}),
        # the control: a training setting re-runs that model and what depends on it
        ("students.st.train.learning_rate", 1.0e-3, None),
    ],
)
def test_each_setting_reruns_exactly_what_it_changes(finished_run, path, value, expected):
    workdir, _ = finished_run
    name = "rerun-" + path.replace(".", "-")
    proc = snakemake(workdir, _config(workdir, name, _set(path, value)), "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = planned_jobs(proc)
    if expected is None:
        # 2 direct + 2 cascade + 2 cmoe + 2 kard + 3 KD students, their evaluations (kard: 2
        # each; MERA's protocol: not kard's), their benchmarks, the tables; the stored teacher
        # scores stay
        assert jobs == {
            "train": 11,
            "evaluate": 13,
            "evaluate_loglik": 9,
            "evaluate_benchmark": 11,
            "benchmark_table": 1,
            "loglik_table": 1,
            **REPORT,
        }
    else:
        assert jobs == expected, proc.stdout[-3000:]


def test_html_report_collects_tables_and_plots(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, config, "--report", str(workdir / "report.html"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (workdir / "report.html").read_text("utf-8", errors="replace")
    for name in (*REPORT_FIGURES, *REPORT_TABLES):
        assert name in html, name
    # the figures were drawn with no overlapping text and no text below 7 pt
    layout = json.loads((workdir / "results/ci/plots/layout.json").read_text())
    for name, checks in layout.items():
        assert not checks["overlaps"] and not checks["small_fonts"], (name, checks)
    # the study comparison says that the tiny models are not the study's
    study = (workdir / "results/ci/tables/study_comparison.md").read_text("utf-8")
    assert "None of this run's models is one of the study's" in study
