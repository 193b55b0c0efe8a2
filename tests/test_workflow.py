"""The real Snakemake graph, end to end, on a config smaller than the demo."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ci_config, run_snakemake

from cmoe.domains import DOMAINS

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


@pytest.fixture(scope="module")
def finished_run(ci_run):
    return ci_run


def _rows(workdir):
    lines = (workdir / "results/ci/tables/scores.csv").read_text().splitlines()
    header = lines[0].split(",")
    return header, [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


def test_workflow_produces_every_method_with_plausible_scores_and_costs(finished_run):
    workdir, _ = finished_run
    header, rows = _rows(workdir)
    assert header[:5] == ["namespace", "method", "teacher", "via", "model"]
    keys = sorted((r["method"], r["teacher"], r["via"], r["model"]) for r in rows)
    expected = [("base", "-", "-", "s-model")]
    for t in ("ta", "tb"):
        expected += [
            ("cascade", t, "im", "st"),
            ("cmoe", t, "im", "mixture:learned"),
            ("cmoe", t, "im", "mixture:oracle"),
            ("cmoe", t, "im", "st"),
            ("direct", t, "-", "im"),  # the generalist: direct into the intermediate
            ("direct", t, "-", "st"),
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
                (workdir / f"results/ci/eval/mixture/{t}/im/{routing}/scores.json").read_text()
            )
            assert {d: c["n"] for d, c in scores["domains"].items()} == per_domain
    routes = json.loads((workdir / "results/ci/router/routes.json").read_text())
    assert 0.0 <= routes["accuracy"] <= 1.0 and routes["n"] == len(test)
    comparison = (workdir / "results/ci/tables/comparison.md").read_text()
    assert "CMoE mixture, oracle routing" in comparison and "Training cost, direct" in comparison
    assert (workdir / "results/logs/prepare_data.log").exists()
    assert list((workdir / "results/ci/benchmarks").rglob("*.tsv"))


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
        "train_specialist": 2,
        "generate_specialist": 2,
        "filter_traces": 2,
        "train_chained_student": 2,
        "evaluate_model": 2,
        "evaluate_specialist": 2,
        "score_mixture": 4,
        "score_table": 1,
        "plots": 1,
        "all": 1,
    }
    for out in _outputs(proc):
        assert any(k in out for k in ("/math_cs", "/cmoe/", "/mixture/", "tables/", "plots/")), out


def test_changing_one_teachers_sampling_reruns_only_its_downstream(finished_run):
    workdir, _ = finished_run

    def edit(config):
        config["teachers"]["tb"]["generation"]["temperature"] = 0.9

    proc = snakemake(workdir, _config(workdir, "teacher-edit", edit), "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_jobs(proc) == {
        "generate_teacher": 4,  # tb has one shard per domain
        "gather_teacher_traces": 4,
        "filter_traces": 4 + 4 + 4,  # teacher, generalist and specialist traces of tb
        "teacher_stats": 1,
        "train_direct_student": 1,
        "train_generalist": 1,
        "generate_generalist": 4,
        "train_specialist": 4,
        "generate_specialist": 4,
        "train_chained_student": 2,
        "evaluate_model": 4,  # direct, generalist, cascade and cmoe students of tb
        "evaluate_specialist": 4,
        "score_mixture": 2,
        "score_table": 1,
        "plots": 1,
        "contamination_check": 1,
        "all": 1,
    }
    outputs = _outputs(proc)
    assert outputs and all(any(k in o for k in ("/tb/", "tables/", "plots/")) for o in outputs)


def test_html_report_collects_tables_and_plots(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, config, "--report", str(workdir / "report.html"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (workdir / "report.html").read_text("utf-8", errors="replace")
    for name in ("accuracy_by_domain.svg", "trace_lengths.svg", "scores.csv", "comparison.md"):
        assert name in html
