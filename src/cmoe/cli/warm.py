"""Warm start: jobs fork from one process that has already imported the heavy libraries.

A job on the demo's tiny models spends most of its time importing torch, transformers, PEFT and
TRL (about 12 s on an idle 2-core CPU) and a few seconds working. With ``startup.warm: true``
the workflow exports ``CMOE_WARM=1`` to its jobs, and ``python -m cmoe`` hands its command to a
warm server instead of importing them itself:

- the first job starts the server: a detached process that listens on a Unix socket, then
  imports the libraries once (:data:`PRELOAD`); that job waits for it as it would for its own
  imports;
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

import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib import import_module
from pathlib import Path

VARIABLE = "CMOE_WARM"
IDLE_VARIABLE = "CMOE_WARM_IDLE_S"
# A job runs cold where a warm server cannot help or must not be used: a Slurm job (its own
# allocation, usually its own node), a distributed worker, a command already handed over.
COLD_WHEN_SET = ("SLURM_JOB_ID", "LOCAL_RANK", "CMOE_VLLM_HANDED_OVER")
# Variables that differ between otherwise identical shells (and pytest's name of the running
# test), read by nothing at import time; left out of the server's key.
VOLATILE = ("_", "PWD", "OLDPWD", "SHLVL", "PYTEST_CURRENT_TEST")
# What every model job imports: "module" or "module:attribute" (the libraries load lazily).
PRELOAD = (
    "torch",
    "transformers:AutoModelForCausalLM",
    "transformers:AutoTokenizer",
    "transformers.modeling_utils",
    "transformers.masking_utils",
    "transformers:Trainer",
    "peft",
    "trl:SFTTrainer",
    "datasets",
)
CONNECT_WAIT_S = 30.0


# ---- the job's side ------------------------------------------------------------------------


def run(argv: list[str]) -> int | None:
    """Run ``cmoe argv`` in a warm process and return its exit status; None: run it here."""
    if os.environ.get(VARIABLE) != "1" or any(os.environ.get(v) for v in COLD_WHEN_SET):
        return None
    path = socket_path()
    conn = _connect(path)
    if conn is None:
        _spawn(path)
        deadline = time.monotonic() + CONNECT_WAIT_S
        while conn is None and time.monotonic() < deadline:
            time.sleep(0.05)
            conn = _connect(path)
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


def _connect(path: str) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    return conn


def _spawn(path: str) -> None:
    idle = os.environ.get(IDLE_VARIABLE, "120")
    with open(f"{path}.log", "a") as log:
        subprocess.Popen(
            [sys.executable, "-m", __name__, path, idle],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the job's process group: it outlives the job
        )


def socket_path() -> str:
    """The socket of the server this process may use: one per interpreter, installed packages,
    environment and project source."""
    package = Path(__file__).resolve().parents[1]
    sources = sorted(
        (str(p), s.st_size, s.st_mtime_ns) for p in package.rglob("*.py") if (s := p.stat())
    )
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


# ---- the server ----------------------------------------------------------------------------


def serve(path: str, idle_s: float) -> int:
    listener = _listen(path)
    if listener is None:
        return 0  # another server has this key
    started = time.monotonic()
    for entry in PRELOAD:
        module, _, attribute = entry.partition(":")
        try:
            loaded = import_module(module)
            if attribute:
                getattr(loaded, attribute)
        except Exception as exc:  # an optional library missing: its jobs import it themselves
            print(f"preload {entry}: {type(exc).__name__}: {exc}", flush=True)
    from . import build_parser

    build_parser()  # every stage's and method's commands registered once
    print(f"ready in {time.monotonic() - started:.1f} s: {path}", flush=True)
    return _loop(listener, path, idle_s)


def _listen(path: str) -> socket.socket | None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    except OSError:
        if _connect(path) is not None:
            return None
        Path(path).unlink(missing_ok=True)  # a server that died left its socket
        listener.bind(path)
    listener.listen(64)
    return listener


def _loop(listener: socket.socket, path: str, idle_s: float) -> int:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector when a child ends
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}  # a job's process -> its job's connection
    idle_since = time.monotonic()
    while running or time.monotonic() - idle_since < idle_s:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                pid = _start(conn, listener, running, (wake_r, wake_w))
                if pid:
                    running[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
            elif key.fileobj == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
            elif not key.fileobj.recv(1):  # the job has gone: stop its process
                selector.unregister(key.fileobj)
                _kill(key.data)
        for pid, status in _reaped():
            conn = running.pop(pid, None)
            if conn is None:
                continue
            if conn in (k.fileobj for k in selector.get_map().values()):
                selector.unregister(conn)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                conn.sendall(f"exit {128 - code if code < 0 else code}\n".encode())
            conn.close()
        if running:
            idle_since = time.monotonic()
    listener.close()
    if Path(path).exists():
        Path(path).unlink()
    return 0


def _reaped():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _start(conn, listener, running, wake) -> int | None:
    """Read one job's request and fork its process; the pid, or None for a bad request."""
    conn.settimeout(10)
    header, fds = b"", []
    try:
        while len(header) < 8:
            data, got, _, _ = socket.recv_fds(conn, 8 - len(header), 3)
            if not data and not header:  # a connection that only checked the server is there
                conn.close()
                return None
            if not data:
                raise ConnectionError("request ended early")
            header, fds = header + data, fds + got
        size, payload = int.from_bytes(header, "big"), b""
        while len(payload) < size:
            chunk = conn.recv(size - len(payload))
            if not chunk:
                raise ConnectionError("request ended early")
            payload += chunk
        request = json.loads(payload)
        if len(fds) != 3:
            raise ConnectionError(f"expected 3 file descriptors, got {len(fds)}")
    except (OSError, ValueError) as exc:
        print(f"bad request: {exc}", flush=True)
        for fd in fds:
            os.close(fd)
        conn.close()
        return None
    conn.settimeout(None)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for other in running.values():
            other.close()
        listener.close()
        _child(conn, request, fds, wake)  # never returns
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    return pid


def _child(conn, request: dict, fds: list[int], wake) -> None:
    """Become the job's process: its streams, directory, environment and arguments."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in wake:
            os.close(fd)
        conn.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        sys.path[0] = request["cwd"]  # `python -m` puts the working directory first
        from . import main

        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()  # what a process's normal exit runs (logging, wandb, ...)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], float(sys.argv[2])))
