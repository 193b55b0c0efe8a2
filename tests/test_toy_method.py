"""A new method is one folder plus one registry line: a toy method, added to a copy of the
package, gets its own job kind, rule and subcommand, and Snakemake plans it in a dry run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import yaml
from conftest import ROOT

TOY = {
    "__init__.py": '''"""toy: counts each teacher's kept traces (a job kind of its own)."""

from ..base import Method

METHOD = Method(name="toy", package=__name__)
''',
    "plan.py": """from dataclasses import dataclass

from ...core.paths import results_path


@dataclass(frozen=True)
class CountJob:
    key: str
    traces: tuple[str, ...]


def plan(b) -> None:
    for teacher in b.teachers:
        traces = tuple(b.teacher_traces(teacher))
        job = b.add_job("toy_count", CountJob(f"{b.ns}/toy/{teacher}", traces))
        b.target(results_path(job.key) + ".json")
""",
    "commands.py": """from ...core.commands import command


def _args(p):
    p.add_argument("--traces", nargs="+", required=True)
    p.add_argument("--out", required=True)


@command("toy-count", "count kept traces", _args)
def toy_count(args) -> None:
    import json

    n = sum(1 for path in args.traces for _ in open(path, encoding="utf-8"))
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"traces": n}, fh)
""",
    "rules.smk": """TOY_COUNT = PLAN.jobs_of("toy_count")


rule toy_count:
    input:
        per_job(TOY_COUNT, lambda job: job.traces),
    output:
        "results/{job}.json",
    log:
        "results/logs/toy_count/{job}.log",
    wildcard_constraints:
        job=key_pattern(TOY_COUNT),
    shell:
        "python -m cmoe toy-count --traces {input:q} --out {output:q} > {log:q} 2>&1"
""",
}


def test_a_toy_method_is_one_folder_and_one_registry_line(tmp_path):
    repo = tmp_path / "repo"
    skip = shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "__pycache__", "tests")
    shutil.copytree(ROOT, repo, ignore=skip)
    folder = repo / "src" / "cmoe" / "methods" / "toy"
    folder.mkdir()
    for name, text in TOY.items():
        (folder / name).write_text(text, "utf-8")
    registry = repo / "src" / "cmoe" / "methods" / "__init__.py"
    text = registry.read_text("utf-8")
    assert '    "seq2seq",\n)' in text
    registry.write_text(text.replace('    "seq2seq",\n)', '    "seq2seq",\n    "toy",\n)'), "utf-8")

    config = yaml.safe_load((ROOT / "tests" / "configs" / "ci.yaml").read_text("utf-8"))
    config["methods"] = ["direct", "toy"]
    (repo / "toy.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1"]
        + ["--configfile", "toy.yaml"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    out = dry.stdout + dry.stderr
    assert "rule toy_count:" in out
    for teacher in config["teachers"]:
        assert f"--out results/ci/toy/{teacher}.json" in out
    # the schema's method list and the CLI come from the registry too
    help_text = subprocess.run(
        [sys.executable, "-m", "cmoe", "--help"], cwd=repo, env=env, capture_output=True, text=True
    ).stdout
    assert "toy-count" in help_text
    check = subprocess.run(
        [sys.executable, "-m", "cmoe", "check", "--schema-only", "toy.yaml"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert json.dumps("toy") in json.dumps(config["methods"])
