"""Warm start (cmoe.cli.warm): a job forked from the warm server behaves as the same job started
cold: its output, its streams, its exit status, its one-line errors, and signals reach it.

One server serves this module (its key is this interpreter, environment and source); it was
started by the first warm job and exits a few seconds after the last.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from cmoe.cli import warm

pytestmark = pytest.mark.slow  # the server imports torch, transformers, PEFT and TRL once


def _env(warm_on: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("CMOE_WARM", None)
    if warm_on:
        env.update(CMOE_WARM="1", CMOE_WARM_IDLE_S="20")
    return env


def _cmoe(args, cwd, warm_on, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cmoe", *args],
        cwd=cwd,
        env=_env(warm_on),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _run(args, cwd, warm_on) -> tuple[int, str, str]:
    proc = _cmoe(args, cwd, warm_on)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The warm server for this module's environment, started by a first warm job."""
    folder = tmp_path_factory.mktemp("warm")
    code, out, _ = _run(["--version"], folder, warm_on=True)
    assert code == 0 and out.startswith("cmoe ")
    env = _env(True)
    path = subprocess.run(
        [sys.executable, "-c", "from cmoe.cli.warm import socket_path; print(socket_path())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(path).is_socket()
    return path


def _children(parent_pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent_pid:
            found.add(int(stat.parent.name))
    return found


def _server_pid(path: str) -> int:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cmoe.cli.warm_server" in argv and path.encode() in argv:
            return int(cmdline.parent.name)
    raise AssertionError(f"no server process for {path}")


def test_a_warm_job_writes_what_a_cold_one_writes(server, tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(f'{{"shard": "{name}"}}\n')
    results = {}
    for warm_on in (False, True):
        out = f"out-{warm_on}.jsonl"
        code, stdout, stderr = _run(
            ["-v", "gather", "--shards", "a.jsonl", "b.jsonl", "--out", out], tmp_path, warm_on
        )
        results[warm_on] = (code, (tmp_path / out).read_bytes(), stdout)
        assert "gathered 2 shards" in stderr  # the job's log reaches the job's own stderr
    assert results[True] == results[False]
    assert results[True][0] == 0


def test_the_exit_status_and_the_one_line_error_are_the_jobs(server, tmp_path):
    args = ["gather", "--shards", "missing.jsonl", "--out", "x.jsonl"]
    cold, warm_run = _run(args, tmp_path, False), _run(args, tmp_path, True)
    assert cold[0] == warm_run[0] == 2
    assert cold[2] == warm_run[2]  # `cmoe gather: error: ...` on one line
    assert len(warm_run[2].strip().splitlines()) == 1 and "missing.jsonl" in warm_run[2]


def test_jobs_reuse_one_server(server, tmp_path):
    pid = _server_pid(server)
    assert _run(["--version"], tmp_path, True)[0] == 0
    assert _server_pid(server) == pid
    log = Path(f"{server}.log").read_text()
    assert log.count("ready in") >= 1


def _blocked_job(tmp_path, server):
    """A warm job that waits: `cmoe check` opening a FIFO nobody writes to."""
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    before = _children(_server_pid(server))
    job = _cmoe(["check", str(fifo)], tmp_path, True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = _children(_server_pid(server)) - before
        if started:
            return job, started.pop()
        time.sleep(0.1)
    raise AssertionError("the job's process did not start")


def _gone(pid: int, within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet reaped
            return True
        time.sleep(0.1)
    return False


def test_a_signal_to_the_job_reaches_its_process(server, tmp_path):
    job, child = _blocked_job(tmp_path, server)
    job.send_signal(signal.SIGTERM)
    job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM
    assert _gone(child)


def test_a_job_that_disappears_takes_its_process_along(server, tmp_path):
    job, child = _blocked_job(tmp_path, server)
    job.kill()  # SIGKILL: the job cannot pass anything on
    job.communicate(timeout=60)
    assert _gone(child)


def test_where_warm_start_does_not_apply_the_job_runs_cold(monkeypatch):
    monkeypatch.setenv("CMOE_WARM", "1")
    for variable in warm.COLD_WHEN_SET:
        monkeypatch.setenv(variable, "1")
        assert warm.run(["--version"]) is None
        monkeypatch.delenv(variable)
    monkeypatch.delenv("CMOE_WARM")
    assert warm.run(["--version"]) is None


def test_the_server_key_follows_the_environment_but_not_a_shells_bookkeeping(monkeypatch):
    path = warm.socket_path()
    monkeypatch.setenv("SHLVL", "7")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "another test")
    assert warm.socket_path() == path
    monkeypatch.setenv("HF_HUB_OFFLINE", "0" if os.environ.get("HF_HUB_OFFLINE") == "1" else "1")
    assert warm.socket_path() != path
