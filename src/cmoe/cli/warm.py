"""Warm start: jobs fork from one process that has already imported the heavy libraries.

A job on the demo's tiny models spends most of its time importing torch, transformers, PEFT and
TRL (about 12 s on an idle 2-core CPU) and a few seconds working. With ``startup.warm: true``
the workflow exports ``CMOE_WARM=1`` to its jobs, and ``python -m cmoe`` hands its command to a
warm server instead of importing them itself:

- the first job starts the server (:mod:`cmoe.cli.warm_server`): a detached process that
  listens on a Unix socket, then imports the libraries once; that job waits for it as it would
  for its own imports;
- each job sends its arguments, working directory, environment, umask and its standard streams
  (the file descriptors, so output goes where Snakemake redirected it); the server forks, and
  the child runs the command exactly as ``python -m cmoe`` would;
- the server reaps the child and sends its exit status back; the job exits with it. A signal
  the job receives (Snakemake stopping it) is passed on to the child, and a child whose job
  has gone is stopped.

The server is keyed by what a fork inherits and a fresh process would read anew: the
interpreter, its installed packages, the environment and the project's source files (paths,
sizes, modification times). An edit to any of them starts a new server; an idle server exits
after ``startup.idle_s`` seconds. Inside a Slurm job, in ``accelerate launch`` workers and in a
command handed over to the vLLM interpreter, a job starts cold, as without ``CMOE_WARM``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from ..core.resources import StartupSettings

VARIABLE = "CMOE_WARM"
IDLE_VARIABLE = "CMOE_WARM_IDLE_S"
# A job runs cold where a warm server cannot help or must not be used: a Slurm job (its own
# allocation, usually its own node), a distributed worker, a command already handed over.
COLD_WHEN_SET = ("SLURM_JOB_ID", "LOCAL_RANK", "CMOE_VLLM_HANDED_OVER")
# Variables that differ between otherwise identical shells (and pytest's name of the running
# test), read by nothing at import time; left out of the server's key.
VOLATILE = ("_", "PWD", "OLDPWD", "SHLVL", "PYTEST_CURRENT_TEST")
CONNECT_WAIT_S = 30.0


def run(argv: list[str]) -> int | None:
    """Run ``cmoe argv`` in a warm process and return its exit status; None: run it here."""
    if os.environ.get(VARIABLE) != "1" or any(os.environ.get(v) for v in COLD_WHEN_SET):
        return None
    path = socket_path()
    conn = connect(path)
    if conn is None:
        _spawn(path)
        deadline = time.monotonic() + CONNECT_WAIT_S
        while conn is None and time.monotonic() < deadline:
            time.sleep(0.05)
            conn = connect(path)
    if conn is None:
        print(f"cmoe: no warm server at {path} (see {path}.log); starting cold", file=sys.stderr)
        return None
    with conn:
        request = {
            "argv": [sys.argv[0], *argv],
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": _umask(),
        }
        payload = json.dumps(request).encode()
        socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [0, 1, 2])
        conn.sendall(payload)
        return _wait(conn)


def _wait(conn: socket.socket) -> int:
    """Forward signals to the job's process until the server reports how it ended."""
    child: list[int] = []
    pending: list[int] = []

    def forward(signum, _frame):
        if child:
            os.kill(child[0], signum)
        else:
            pending.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    reader = conn.makefile("r", encoding="ascii")
    for line in reader:
        kind, _, value = line.strip().partition(" ")
        if kind == "pid":
            child.append(int(value))
            for signum in pending:
                os.kill(child[0], signum)
        elif kind == "exit":
            return int(value)
    print("cmoe: the warm server ended before the job did (see its log)", file=sys.stderr)
    return 1


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def connect(path: str) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn


def _spawn(path: str) -> None:
    idle = os.environ.get(IDLE_VARIABLE, str(StartupSettings.idle_s))
    with open(f"{path}.log", "a") as log:
        subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.warm_server", path, idle],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the job's process group: it outlives the job
        )


def socket_path() -> str:
    """The socket of the server this process may use: one per interpreter, installed packages,
    environment and project source."""
    package = Path(__file__).resolve().parents[1]
    stats = {str(p): p.stat() for p in package.rglob("*.py")}
    sources = sorted((p, s.st_size, s.st_mtime_ns) for p, s in stats.items())
    purelib = Path(sysconfig.get_paths()["purelib"])
    env = {k: v for k, v in os.environ.items() if k not in VOLATILE}
    key = json.dumps(
        [sys.executable, purelib.stat().st_mtime_ns, sorted(env.items()), sources]
    ).encode()
    folder = Path(tempfile.gettempdir()) / f"cmoe-warm-{os.getuid()}"
    if len(str(folder)) > 60:  # a Unix socket's path has about 100 bytes
        folder = Path("/tmp") / f"cmoe-warm-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return str(folder / f"{hashlib.sha256(key).hexdigest()[:20]}.sock")
