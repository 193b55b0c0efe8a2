"""profiles/slurm on a real Slurm: tests/configs/ci.yaml's direct and CMoE chains, every job a
Slurm job on a throwaway single-node cluster (tests/slurm/cluster.py), against the whole graph
run locally (the session's `ci_run`, shared with tests/test_workflow.py).

Skipped where Slurm is not installed (`apt-get install -y slurm-wlm munge`) or not running as root,
unless CMOE_REQUIRE_SLURM=1 (as in CI), which turns that skip into a failure.
"""

import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, ci_config
from slurm import cluster as test_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# Jobs of these rules ask for a GPU in this test (the overlay below); the fake GPUs of the test
# cluster must reach them as CUDA_VISIBLE_DEVICES, and no other job may see one.
GPU_RULES = {"train"}
# The Slurm run covers the direct and CMoE chains of teacher ta and the Qwen3 student (every
# rule kind they use: warm-up, generation in shards, gather, filter, training, routing,
# mixtures, tables), not the other teachers', students', methods' and evaluations' jobs, which
# add time but no new kind of Slurm job.
SLURM_SUBSET = {
    "methods": ["direct", "cmoe"],
    "teachers": {"tb": None},
    "students": {"sl": None, "s2s": None},
    "evaluation": {"benchmarks": [], "loglik": {"enabled": False}},
}
OVERLAY = {
    **SLURM_SUBSET,
    "resources": {
        "default": {"slurm_partition": "debug"},  # through the config, as a site would
        "train": {"gpu": 1},
        "warmup": {"gpu": 1},  # the demo teachers' warm-up is a job of the `train` rule too
    },
}
# Test-only settings on top of profiles/slurm/config.yaml (the cluster has no slurmdbd, no
# accounts, and every job here takes seconds, so status checks start after 2 s, not 40).
PROFILE_OVERRIDES = {
    "jobs": 8,
    "retries": 0,  # a job must succeed in its first Slurm job: the count below is exact
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-status-command": "squeue",
    "slurm-no-account": True,
    "slurm-keep-successful-logs": True,
}
TIMEOUT = 1800


def _unavailable() -> str | None:
    reason = test_cluster.available()
    if reason is None and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        reason = "snakemake-executor-plugin-slurm is not installed (pip install -e '.[dev]')"
    return reason


@pytest.fixture(scope="module")
def cluster():
    reason = _unavailable()
    if reason:
        if os.environ.get("CMOE_REQUIRE_SLURM") == "1":
            pytest.fail(f"CMOE_REQUIRE_SLURM=1 but no Slurm test cluster here: {reason}")
        pytest.skip(reason)
    # not under pytest's tmp folder: the munge user must be able to reach its socket
    root = Path(tempfile.mkdtemp(prefix="cmoe-slurm-"))
    started = test_cluster.up(root, gpus=2)
    yield started
    test_cluster.down(root)
    shutil.rmtree(root, ignore_errors=True)


def _write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _configs(folder: Path) -> list[Path]:
    """tests/configs/ci.yaml as the workflow tests run it, and the GPU/partition overlay."""
    return [ci_config(folder), _write_yaml(folder / "slurm.yaml", OVERLAY)]


def _snakemake(workdir: Path, configs, *extra: str, env=None, **popen) -> subprocess.Popen:
    """This repository's workflow in ``workdir``, with this interpreter as the rules' `python`."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", *map(str, configs), *extra]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, text=True, **popen)


def _planned_jobs(stdout: str) -> Counter:
    """{rule: count} from a dry run's 'Job stats' table."""
    jobs, in_table = Counter(), False
    for line in stdout.splitlines():
        if line.startswith("job "):
            in_table = True
        elif in_table and (m := re.match(r"^(\w+)\s+(\d+)$", line.strip())):
            if m.group(1) == "total":
                break
            jobs[m.group(1)] = int(m.group(2))
    return jobs


@pytest.fixture(scope="module")
def runs(cluster, ci_run, tmp_path_factory):
    """The Slurm run, next to the local run of the same graph that the workflow tests use
    (``ci_run``: tests/configs/ci.yaml; the overlay only adds resources, which change no
    result)."""
    slurm_dir = tmp_path_factory.mktemp("slurm-run")
    configs = _configs(slurm_dir)
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text("utf-8"))
    logdir = slurm_dir / "slurm-logs"
    profile.update(PROFILE_OVERRIDES, **{"slurm-logdir": str(logdir)})
    (slurm_dir / "profile").mkdir()
    _write_yaml(slurm_dir / "profile" / "config.yaml", profile)

    dry = _snakemake(slurm_dir, configs, "--cores", "2", "-n", stdout=subprocess.PIPE)
    planned = _planned_jobs(dry.communicate(timeout=300)[0])
    assert dry.returncode == 0 and planned, "the dry run failed"

    started = time.monotonic()
    slurm_out = open(slurm_dir / "snakemake.out", "w")  # noqa: SIM115 (closed below)
    slurm = _snakemake(
        slurm_dir,
        configs,
        "--profile",
        str(slurm_dir / "profile"),
        env=cluster.client_env(),
        stdout=slurm_out,
        stderr=slurm_out,
    )
    try:
        slurm.wait(timeout=TIMEOUT)
    finally:
        if slurm.poll() is None:  # on a timeout: stop it (Snakemake cancels its jobs)
            slurm.terminate()
            slurm.wait(timeout=60)
        slurm_out.close()
    print(f"\nSlurm run {time.monotonic() - started:.0f} s", file=sys.stderr)
    return {
        "slurm": (slurm_dir, slurm.returncode),
        "local": (ci_run[0], 0),
        "planned": planned,
        "logdir": logdir,
    }


def _tail(path: Path, n=4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path} missing)"


def _rule(comment: str) -> str:
    """The rule of a Slurm job from the comment the plugin gives it: rule_<name>[_wildcards_...]."""
    return re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", comment).group(1)


def _grouped_rules() -> dict[str, str]:
    """{rule: group} of profiles/slurm/config.yaml: the small jobs that share submissions."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text("utf-8"))
    return dict(entry.split("=") for entry in profile["groups"])


def test_small_jobs_share_submissions_and_every_other_job_is_its_own(runs, cluster):
    slurm_dir, rc = runs["slurm"]
    assert rc == 0, _tail(slurm_dir / "snakemake.out") + _tail(
        cluster.root / "log" / "slurmctld.log", 2000
    )
    jobs = cluster.jobs()  # the cluster is fresh: every job it ever had is from this run
    assert jobs, "slurmctld has no jobs"
    for job in jobs:
        assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        assert job["Partition"] == "debug", job  # resources.default.slurm_partition
        assert job["Comment"].startswith("rule_"), job
    planned = runs["planned"] - Counter({"all": runs["planned"]["all"]})  # 'all' runs locally
    groups = _grouped_rules()
    # a group job's comment is rule_<group>_<its rules>
    prefixes = tuple(f"{group}_" for group in set(groups.values()))
    grouped = [job for job in jobs if _rule(job["Comment"]).startswith(prefixes)]
    alone = Counter(_rule(job["Comment"]) for job in jobs if job not in grouped)
    # every job of another rule is a Slurm job of its own, rule by rule
    assert alone == Counter({r: n for r, n in planned.items() if r not in groups})
    # the small jobs of one chain share one: fewer submissions than jobs, none lost (their
    # outputs are compared with the local run's below); a filter whose traces need no gather
    # is a group of one
    small = sum(n for r, n in planned.items() if r in groups)
    assert small >= 10 and 0 < len(grouped) < small, (len(grouped), small)
    # ... and some group job ran jobs of several rules (its comment names them all)
    assert any(len(_rule(job["Comment"]).split("_")) > 2 for job in grouped)
    print(f"\n{len(jobs)} Slurm submissions for {sum(planned.values())} jobs", file=sys.stderr)
    assert cluster.queue() == []
    # and each left its own log under slurm-logdir, named by its job id
    logs = {p.stem for p in runs["logdir"].rglob("*.log")}
    assert logs == {job["JobId"] for job in jobs}


def test_gpu_jobs_got_a_gpu_from_slurm_and_no_other_job_did(runs, cluster):
    assert runs["slurm"][1] == 0
    jobs = {job["JobId"]: job for job in cluster.jobs()}
    gpu_jobs = {i for i, job in jobs.items() if _rule(job["Comment"]) in GPU_RULES}
    assert len(gpu_jobs) == sum(runs["planned"][r] for r in GPU_RULES) > 0
    for i, job in jobs.items():
        assert (job.get("TresPerJob") == "gres:gpu:1") == (i in gpu_jobs), job
    # what each job's step (the rule's command, under srun) found in its environment
    steps = {row["job"]: row for row in cluster.task_env() if row.get("step") == "0"}
    assert set(steps) == set(jobs)
    for i, row in steps.items():
        devices = row["cuda_visible_devices"]
        if i in gpu_jobs:
            assert re.fullmatch(r"\d+", devices), (jobs[i]["Comment"], row)
        else:
            assert devices == "unset", (jobs[i]["Comment"], row)


def _scores(workdir: Path) -> dict[tuple, dict]:
    """scores.csv rows by their key, without the cost columns (measured times differ)."""
    with open(workdir / "results" / "ci" / "tables" / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    key = ("namespace", "method", "teacher", "via", "model")
    return {
        tuple(r[k] for k in key): {c: v for c, v in r.items() if not c.endswith("_h")} for r in rows
    }


def test_score_table_equals_the_local_runs(runs):
    (slurm_dir, slurm_rc), (local_dir, local_rc) = runs["slurm"], runs["local"]
    assert slurm_rc == 0 and local_rc == 0
    slurm, local = _scores(slurm_dir), _scores(local_dir)
    # the subset's rows: the base, direct and cmoe rows of the local run for teacher ta and
    # student st, each equal to it (the base, ta's direct student and generalist, ta's cmoe
    # student and 2 mixtures)
    subset = {"base", *SLURM_SUBSET["methods"]}
    kept = [
        key
        for key in local
        if key[1] in subset
        and key[2] in ("-", "ta")
        and key[4] not in ("sl", "l-model", "s2s-model")
    ]
    assert len(slurm) == len(kept) == 6
    assert "overall" in next(iter(slurm.values()))
    assert slurm == {key: local[key] for key in slurm}


def test_daemons_stop_by_their_pid_files(cluster):
    """Last in this file: stops the cluster (the fixture's teardown then has nothing to do)."""
    pids = cluster.pids()
    assert set(pids) == {"slurmctld", "slurmd", "munged"}
    assert all(test_cluster.alive(pid) for pid in pids.values()), pids
    assert test_cluster.down(cluster.root) == pids
    assert not [d for d, pid in pids.items() if test_cluster.alive(pid)]
