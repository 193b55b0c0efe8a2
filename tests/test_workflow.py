"""The real Snakemake graph, end to end, on a config smaller than the demo."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def _config(tmp_path: Path, **teacher_b_generation) -> Path:
    config = yaml.safe_load((ROOT / "tests" / "configs" / "ci.yaml").read_text("utf-8"))
    config["data"]["source"]["file"] = str(ROOT / "data" / "demo" / "rummlu_demo.jsonl")
    config["tiny_models"]["corpus"] = config["data"]["source"]["file"]
    config["teachers"]["tb"]["generation"].update(teacher_b_generation)
    path = tmp_path / f"config-{len(teacher_b_generation)}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return path


def snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # the rules call the `cmoe` console script: make this interpreter's bin dir visible
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


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
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wf")
    config = _config(workdir)
    proc = snakemake(workdir, config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir, config


def test_workflow_produces_table_with_trained_and_base_rows(finished_run):
    workdir, _ = finished_run
    csv = (workdir / "results/tables/scores.csv").read_text().splitlines()
    assert csv[0].startswith("method,teacher,model,social_humanities")
    rows = [line.split(",") for line in csv[1:]]
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("base", "-", "st"),
        ("direct", "ta", "st"),
        ("direct", "tb", "st"),
    ]
    test_split = (workdir / "results/data/test.jsonl").read_text("utf-8")
    n_test = sum(1 for line in test_split.splitlines() if line.strip())
    for r in rows:
        assert int(r[-1]) == n_test
        assert 0.0 <= float(r[-2]) <= 1.0
    for log in ("prepare_data.log", "score_table.log"):
        assert (workdir / "results/logs" / log).exists()
    assert list((workdir / "results/benchmarks").rglob("*.tsv"))


def test_second_dry_run_schedules_nothing(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, config, "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_one_teachers_sampling_reruns_only_its_downstream(finished_run):
    workdir, _ = finished_run
    changed = _config(workdir, temperature=0.9)
    proc = snakemake(workdir, changed, "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_jobs(proc) == {
        "generate_teacher": 4,
        "filter_teacher": 4,
        "teacher_stats": 1,
        "train_direct_student": 1,
        "evaluate_student": 1,
        "score_table": 1,
        "all": 1,
    }
    outputs = [
        line.split(":", 1)[1]
        for line in proc.stdout.splitlines()
        if line.strip().startswith("output:")
    ]
    assert outputs and all("/tb/" in o or "tables/" in o for o in outputs), outputs
