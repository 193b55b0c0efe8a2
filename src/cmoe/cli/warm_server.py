"""The warm server (see :mod:`cmoe.cli.warm`): imports the heavy libraries once, then forks one
process per job, reaps it and reports its exit status.

    python -m cmoe.cli.warm_server SOCKET IDLE_SECONDS   (started by the first warm job)
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from importlib import import_module
from pathlib import Path

from .warm import connect

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
        if connect(path) is not None:
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
