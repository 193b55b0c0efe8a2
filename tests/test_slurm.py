"""profiles/slurm on a real Slurm: tests/configs/ci.yaml's direct and CMoE chains, every job a
Slurm job on a throwaway single-node cluster (tests/slurm/cluster.py), against the whole graph
run locally (the session's `ci_run`, shared with tests/test_workflow.py).

Skipped where Slurm is not installed (`apt-get install -y slurm-wlm munge`) or not running as root,
unless CMOE_REQUIRE_SLURM=1 (as in CI), which turns that skip into a failure.
"""

import csv
import importlib.util
import json
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


# ---- Preemption and the signal ahead of a time limit -------------------------------------------
# Teacher ta's warm-up (a training job) and one of its generation shards, run twice: locally,
# uninterrupted, and on the cluster, where the warm-up is preempted (PreemptMode=REQUEUE: SIGTERM,
# KillWait, SIGKILL, back to the queue) and the shard gets what `--signal=TERM@120` sends ahead
# of a time limit (`scancel --signal=TERM`: SIGTERM to the job's steps), each part-way through.
# No periodic checkpoint (save_steps above the run's steps): a resume from a step > 0 can only
# come from the checkpoint the signal made. Batches of 1 question: the shard has several chunks.
PREEMPT_STEP = 40  # preempt the warm-up once its log shows this many steps
SIGNAL_ROWS = 1  # signal the shard once its partial file holds this many answers
PREEMPT_TIMEOUT = 1200


def _preempt_edit(config: dict) -> None:
    """ci.yaml for teacher ta's warm-up and shards alone (one student: the config needs one)."""
    config["methods"] = ["direct"]
    for role, names in (("teachers", ("tb",)), ("students", ("sl", "s2s"))):
        for name in names:
            config[role].pop(name)
    config["evaluation"].update(benchmarks=[], loglik={"enabled": False})
    ta = config["teachers"]["ta"]
    ta["warmup"]["save_steps"] = 100000
    # long enough that the preemption lands mid-run on an idle machine too (240 steps took
    # 8.5 s there, finished before Slurm's preemption arrived), and a shard of many chunks
    ta["warmup"]["epochs"] = 5 * ta["warmup"].get("epochs", 60)
    ta["shards"] = 1
    ta["generation"]["batch_size"] = 1
    config["resources"]["default"]["slurm_partition"] = "debug"


def _dry_outputs(workdir: Path, configs) -> dict[str, list[str]]:
    """{rule: [first output of each job]} of a dry run up to the generation jobs."""
    dry = _snakemake(
        workdir, configs, "--cores", "1", "-n", "--until", "generate", stdout=subprocess.PIPE
    )
    out, outputs, rule = dry.communicate(timeout=300)[0], {}, None
    assert dry.returncode == 0, out[-3000:]
    for line in out.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"^\s+output: ([^,\s]+)", line)):
            outputs.setdefault(rule, []).append(m.group(1))
            rule = None
    return {rule: sorted(paths) for rule, paths in outputs.items()}


def _steps_done(log: Path) -> int:
    """The last step the trainer's progress bar shows in a training job's log (the bars
    after its first logged loss: the data's preparation has bars too)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    _, loss, training = text.partition("{'loss'")
    found = re.findall(r"(\d+)/(\d+) \[", training) if loss else []
    return int(found[-1][0]) if found else 0


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def _sha256(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.glob("*.safetensors"))
    }


def _run_jobs(cluster, first: int) -> dict[str, dict[str, str]]:
    """Snakemake's jobs of this run (ids from ``first`` on), by id."""
    return {
        j["JobId"]: j
        for j in cluster.jobs()
        if int(j["JobId"]) >= first and j.get("Comment", "").startswith("rule_")
    }


def _running(cluster, first: int, rule: str) -> dict | None:
    for job in _run_jobs(cluster, first).values():
        if job["JobState"] == "RUNNING" and _rule(job["Comment"]) == rule:
            return job
    return None


def test_preempted_and_signalled_jobs_resume_to_the_same_bytes(cluster, tmp_path):
    started = time.monotonic()
    local_dir, slurm_dir = tmp_path / "local", tmp_path / "slurm"
    configs = {}
    for d in (local_dir, slurm_dir):
        d.mkdir()
        configs[d] = [ci_config(d, edit=_preempt_edit)]
    outputs = _dry_outputs(local_dir, configs[local_dir])
    (model,) = outputs["train"]  # the warm-up
    shard = outputs["generate"][0]  # a .raw.jsonl
    targets = [model, shard]

    local = _snakemake(
        local_dir,
        configs[local_dir],
        "--cores",
        "2",
        *targets,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    local_out = local.communicate(timeout=PREEMPT_TIMEOUT)[0]
    assert local.returncode == 0, local_out[-3000:]

    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text("utf-8"))
    profile.update(PROFILE_OVERRIDES, retries=1, **{"slurm-logdir": str(slurm_dir / "slurm-logs")})
    (slurm_dir / "profile").mkdir()
    _write_yaml(slurm_dir / "profile" / "config.yaml", profile)
    first = 1 + max((int(j["JobId"]) for j in cluster.jobs()), default=0)
    log_file = open(slurm_dir / "snakemake.out", "w")  # noqa: SIM115 (closed below)
    slurm = _snakemake(
        slurm_dir,
        configs[slurm_dir],
        "--profile",
        str(slurm_dir / "profile"),
        *targets,
        env=cluster.client_env(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    train_log = (
        slurm_dir / "results" / "logs" / "train" / f"{Path(model).relative_to('results')}.log"
    )
    gen_log = (
        slurm_dir
        / "results"
        / "logs"
        / "generate"
        / (str(Path(shard).relative_to("results")).removesuffix(".raw.jsonl") + ".log")
    )
    partial = slurm_dir / f"{shard}.partial"
    events: dict = {}
    try:
        deadline = time.monotonic() + PREEMPT_TIMEOUT
        while slurm.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if "preempted" not in events:
                job = _running(cluster, first, "train")
                if job and _steps_done(train_log) >= PREEMPT_STEP:
                    # a job of the higher-priority partition that needs the whole node
                    urgent = [
                        "-p",
                        "urgent",
                        "--exclusive",
                        f"--output={cluster.root}/log/urgent.out",
                    ]
                    cluster.run("sbatch", *urgent, "--wrap", "sleep 1")
                    events["preempted"] = (job["JobId"], _steps_done(train_log))
            elif "released" not in events:
                job = _run_jobs(cluster, first)[events["preempted"][0]]
                if job["JobState"] == "PENDING" and job.get("Restarts") == "1":
                    # the model folder never appeared: only its checkpoints are on disk
                    events["output_after_stop"] = (slurm_dir / model).exists()
                    events["stopped_log"] = train_log.read_text(errors="replace")
                    # Slurm holds a requeued job for 2 min (BeginTime); no need to wait here
                    cluster.run("scontrol", "update", f"JobId={job['JobId']}", "StartTime=now")
                    events["released"] = True
            if "signalled" not in events:
                job = _running(cluster, first, "generate")
                if job and _lines(partial) >= SIGNAL_ROWS:
                    cluster.run("scancel", "--signal=TERM", job["JobId"])
                    events["signalled"] = (job["JobId"], _lines(partial))
            elif "gen_stopped" not in events:
                job = _run_jobs(cluster, first)[events["signalled"][0]]
                if job["JobState"] not in ("RUNNING", "COMPLETING"):
                    events["gen_stopped"] = job
                    events["gen_output_after_stop"] = (slurm_dir / shard).exists()
                    events["gen_stopped_log"] = gen_log.read_text(errors="replace")
    finally:
        if slurm.poll() is None:
            slurm.terminate()
            slurm.wait(timeout=60)
        log_file.close()
    wall = time.monotonic() - started
    out = _tail(slurm_dir / "snakemake.out", 6000)
    assert slurm.returncode == 0, out
    assert "slurm_extra=--signal=TERM@120" in (slurm_dir / "snakemake.out").read_text()
    jobs = _run_jobs(cluster, first)

    # the warm-up: preempted part-way, saved at the step in hand, requeued by Slurm under its
    # job id, resumed from that checkpoint
    train_id, preempted_at = events["preempted"]
    assert events.get("released") and not events["output_after_stop"], events
    stopped = re.search(
        r"stopped by SIGTERM at step (\d+) of (\d+) \(checkpoint-\1 saved\)", events["stopped_log"]
    )
    assert stopped, events["stopped_log"][-3000:]
    step, total = int(stopped.group(1)), int(stopped.group(2))
    assert preempted_at <= step < total
    assert jobs[train_id]["JobState"] == "COMPLETED" and jobs[train_id]["Restarts"] == "1"
    assert [j for j in jobs.values() if _rule(j["Comment"]) == "train"] == [jobs[train_id]]
    metrics = json.loads((slurm_dir / model / "train_metrics.json").read_text())
    assert metrics["resumed_from_step"] == step
    assert f"resuming from checkpoint-{step}" in train_log.read_text(errors="replace")

    # the shard: signalled part-way, the chunk in hand written, failed, retried by Snakemake
    # (another Slurm job), resumed from the answers on disk
    gen_id, rows_at_signal = events["signalled"]
    assert events["gen_stopped"]["JobState"] == "FAILED", events["gen_stopped"]
    assert not events["gen_output_after_stop"]
    stopped = re.search(
        r"stopped by SIGTERM with (\d+) of (\d+) answers", events["gen_stopped_log"]
    )
    assert stopped, events["gen_stopped_log"][-3000:]
    rows, questions = int(stopped.group(1)), int(stopped.group(2))
    assert rows_at_signal <= rows < questions
    gen_jobs = [j for j in jobs.values() if _rule(j["Comment"]) == "generate"]
    assert [j["JobState"] for j in gen_jobs] == ["FAILED", "COMPLETED"], gen_jobs
    assert f"resuming, {rows} of {questions} questions already answered" in gen_log.read_text()

    # ... and both end as the uninterrupted run did, to the byte
    assert (slurm_dir / shard).read_bytes() == (local_dir / shard).read_bytes()
    assert _sha256(slurm_dir / model) == _sha256(local_dir / model) != {}
    local_metrics = json.loads((local_dir / model / "train_metrics.json").read_text())
    for key in ("final_train_loss", "loss_curve"):
        assert metrics[key] == local_metrics[key], key
    assert not Path(f"{slurm_dir / model}.checkpoints").exists() and not partial.exists()
    print(
        f"\npreemption: warm-up preempted at step {preempted_at}, saved checkpoint-{step} of "
        f"{total}, requeued, resumed; shard signalled at {rows_at_signal} answers, wrote {rows} "
        f"of {questions}, retried, resumed; byte-identical; {wall:.0f} s",
        file=sys.stderr,
    )


def test_daemons_stop_by_their_pid_files(cluster):
    """Last in this file: stops the cluster (the fixture's teardown then has nothing to do)."""
    pids = cluster.pids()
    assert set(pids) == {"slurmctld", "slurmd", "munged"}
    assert all(test_cluster.alive(pid) for pid in pids.values()), pids
    assert test_cluster.down(cluster.root) == pids
    assert not [d for d, pid in pids.items() if test_cluster.alive(pid)]
