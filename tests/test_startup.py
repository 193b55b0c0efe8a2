"""Light jobs stay light: a job that only reads and writes JSON (gather, a filter without the
`length` step, merge_stats, the tables, the data card, the summary) imports no torch,
transformers, TRL, PEFT or datasets. Each is the CI run's own job, run again on a copy of that
run with its command from Snakemake's log; what it imported is read from `sys.modules` when it
has finished."""

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "lm_eval", "vllm")
LIGHT_RULES = (
    "gather",
    "filter",
    "merge_stats",
    "contamination",
    "table",
    "loglik_table",
    "data_card",
    "teacher_economics",
    "study_comparison",
    "summary",
)
# Runs `cmoe` as `python -m cmoe` does, then reports its exit status and the heavy modules.
RUN_AND_REPORT = f"""
import json, runpy, sys
sys.argv = ["cmoe", *sys.argv[1:]]
try:
    runpy.run_module("cmoe", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _bench_startup():
    path = ROOT / "perf" / "bench_startup.py"
    spec = importlib.util.spec_from_file_location("bench_startup", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imports(workdir, command: str) -> dict:
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "cmoe"], command
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *argv[3:]],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def light_jobs(ci_run, tmp_path_factory):
    """A copy of the CI run (the jobs rewrite their outputs) and one command per light rule."""
    workdir = tmp_path_factory.mktemp("light") / "run"
    shutil.copytree(ci_run[0], workdir, symlinks=True)
    commands = _bench_startup().shell_commands(workdir / "snakemake.log")
    chosen = {rule: commands[rule][0] for rule in LIGHT_RULES if commands.get(rule)}
    if "filter" in chosen:
        chosen["filter"] = _without_length(chosen["filter"])
    return workdir, chosen


def _without_length(command: str) -> str:
    """The same filter job without the `length` step, which loads the student's tokenizer
    (and so transformers): the chain every other step of which only reads and writes JSON."""
    argv = shlex.split(command)
    at = argv.index("--curation") + 1
    curation = json.loads(argv[at])
    curation["steps"] = [step for step in curation["steps"] if step != "length"]
    argv[at] = json.dumps(curation)
    if "--tokenizer" in argv:
        at = argv.index("--tokenizer")
        del argv[at : at + 2]
    return shlex.join(argv)


def test_the_ci_run_has_light_jobs_of_every_kind(light_jobs):
    _, chosen = light_jobs
    assert set(chosen) == set(LIGHT_RULES)


@pytest.mark.parametrize("rule", LIGHT_RULES)
def test_a_light_job_imports_no_heavy_library(light_jobs, rule):
    workdir, chosen = light_jobs
    if rule not in chosen:
        pytest.skip(f"the CI run has no {rule} job (the test above fails)")
    report = _imports(workdir, chosen[rule])
    assert report["code"] == 0
    assert report["heavy"] == [], f"{rule} imported {report['heavy']}: {chosen[rule][:200]}"
