"""A local OpenAI-compatible chat server with fault injection, for tests and benchmarks.

It serves one model folder through :class:`cmoe.generation.hf.HFGenerator`, one request at a time
(a batch of one, under a lock), seeding each request with its ``seed`` field. The same request
therefore gets the same answer however many clients call at once, which is what lets the tests
compare a run through faults with a clean one record for record.

Endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions`` (``messages``, ``temperature``,
``top_p``, ``max_tokens``, ``seed``, ``n: 1``, ``chat_template_kwargs.enable_thinking``).

Faults are injected per chat request, in arrival order, from a :class:`FaultPlan`: a list of
fault names used first (then ``ok`` forever), optionally followed by a deterministic rate-based
plan. Fault names:

- ``ok``: a normal answer;
- a status code, e.g. ``429``, ``500``, ``503``, ``401``: that HTTP error (429 carries
  ``Retry-After`` if the server was given ``retry_after``);
- ``timeout``: wait ``timeout_sleep_s`` before answering normally, longer than the client waits;
- ``badjson``: HTTP 200 with the JSON body cut in half;
- ``nochoices``: HTTP 200 with valid JSON but an empty ``choices`` list;
- ``drop``: close the connection without answering.

``server.stats()`` reports how many requests arrived, how many answers the model produced, and
each fault injected, so tests can check that the faults really happened.

Python::

    with serving("models/tiny", faults=["429", "timeout", "badjson"]) as (server, base_url):
        ...  # base_url is http://127.0.0.1:PORT/v1

Command line (Ctrl-C stops it and prints the statistics)::

    python tests/support/openai_server.py --model models/tiny --port 8000 --faults 429,500,timeout
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import select
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cmoe.generation import GenerationSettings
from cmoe.generation.hf import HFGenerator

log = logging.getLogger(__name__)

NAMED_FAULTS = ("ok", "timeout", "badjson", "nochoices", "drop")
DEFAULT_RATE_KINDS = ("429", "500", "timeout", "badjson")


def check_fault(name: str) -> str:
    name = str(name).strip().lower()
    if name in NAMED_FAULTS or (re.fullmatch(r"[1-5]\d\d", name) and name != "200"):
        return name
    raise ValueError(
        f"unknown fault {name!r}: use {', '.join(NAMED_FAULTS)} or an HTTP status such as 429"
    )


class FaultPlan:
    """Which fault the n-th chat request (from 0, in arrival order) gets.

    ``sequence`` is used first; after it, each request gets a fault from ``kinds`` with
    probability ``rate``, decided by ``(seed, n)`` alone (so a plan is reproducible)."""

    def __init__(
        self,
        sequence: Sequence[str] = (),
        rate: float = 0.0,
        kinds: Sequence[str] = DEFAULT_RATE_KINDS,
        seed: int = 0,
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {rate}")
        self.sequence = [check_fault(f) for f in sequence]
        self.rate = float(rate)
        self.kinds = [check_fault(f) for f in kinds]
        if self.rate > 0 and not self.kinds:
            raise ValueError("a fault rate needs at least one fault kind")
        self.seed = seed

    def fault(self, index: int) -> str:
        if index < len(self.sequence):
            return self.sequence[index]
        if self.rate > 0:
            rng = random.Random(f"{self.seed}:{index}")
            if rng.random() < self.rate:
                return rng.choice(self.kinds)
        return "ok"


def _as_plan(faults) -> FaultPlan:
    if faults is None:
        return FaultPlan()
    if isinstance(faults, FaultPlan):
        return faults
    if isinstance(faults, str):
        faults = [f for f in faults.split(",") if f.strip()]
    return FaultPlan(faults)


class OpenAIServer(ThreadingHTTPServer):
    """The HTTP server; one thread per connection, one model run at a time."""

    daemon_threads = True
    request_queue_size = 128  # the default listen backlog (5) resets bursts of new connections
    block_on_close = False  # threads asleep in a "timeout" fault are woken by stop() instead

    def __init__(
        self,
        model_path: str | Path,
        faults=None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        served_model_name: str | None = None,
        timeout_sleep_s: float = 30.0,
        retry_after: float | None = None,
        api_key: str | None = None,
        reasoning_parser: bool = False,
        max_tokens_default: int = 256,
        dtype: str = "auto",
    ):
        self.model_path = str(model_path)
        self.served_model_name = served_model_name or Path(self.model_path).name
        self.generator = HFGenerator(
            self.model_path, GenerationSettings(batch_size=1, max_new_tokens=16, dtype=dtype)
        )
        self.base_settings = self.generator.settings
        self.plan = _as_plan(faults)
        self.timeout_sleep_s = float(timeout_sleep_s)
        self.retry_after = retry_after
        self._api_key = api_key
        self.reasoning_parser = reasoning_parser
        self.max_tokens_default = max_tokens_default
        self._model_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._arrivals = 0
        self._completions = 0
        self._faults: Counter[str] = Counter()
        self._log: list[dict] = []
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- bookkeeping ---------------------------------------------------------------------------

    def set_faults(self, faults) -> None:
        """Replace the fault plan and restart arrival numbering (statistics are kept)."""
        with self._stats_lock:
            self.plan = _as_plan(faults)
            self._arrivals = 0

    def _next_fault(self, seed) -> tuple[int, str]:
        with self._stats_lock:
            index = self._arrivals
            self._arrivals += 1
            fault = self.plan.fault(index)
            if fault != "ok":
                self._faults[fault] += 1
            self._log.append({"index": index, "fault": fault, "seed": seed})
            return index, fault

    def stats(self) -> dict:
        """Requests that arrived, answers the model produced, faults injected, and a log."""
        with self._stats_lock:
            return {
                "requests": len(self._log),
                "completions": self._completions,
                "faults": dict(self._faults),
                "log": list(self._log),
            }

    def authorized(self, header: str | None) -> bool:
        return self._api_key is None or header == f"Bearer {self._api_key}"

    # -- the model -----------------------------------------------------------------------------

    def complete(self, body: dict, abandoned=lambda: False) -> dict | None:
        """A chat.completion response for one request body (ValueError for a bad request).

        None, without running the model, if the server is stopping or ``abandoned()`` says the
        client has gone (it timed out while waiting its turn): a retry storm would otherwise
        queue dead requests ahead of live ones."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in messages
        ):
            raise ValueError("messages must be a list of {role, content} objects")
        if int(body.get("n") or 1) != 1:
            raise ValueError("only n=1 is supported")
        temperature = float(1.0 if body.get("temperature") is None else body["temperature"])
        top_p = float(1.0 if body.get("top_p") is None else body["top_p"])
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        max_tokens = int(max_tokens or self.max_tokens_default)
        if temperature < 0 or not 0 < top_p <= 1 or max_tokens < 1:
            raise ValueError("need temperature >= 0, 0 < top_p <= 1 and max_tokens >= 1")
        seed = int(body.get("seed") or 0)
        kwargs = body.get("chat_template_kwargs") or {}
        enable_thinking = bool(kwargs.get("enable_thinking", True))
        settings = replace(
            self.base_settings,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_tokens,
            batch_size=1,
        )
        with self._model_lock:
            if self._stopping.is_set() or abandoned():
                return None
            self.generator.settings = settings
            (completion,) = list(self.generator.generate([messages], enable_thinking, [seed]))
        with self._stats_lock:
            self._completions += 1
        message = {"role": "assistant", "content": completion.text}
        if self.reasoning_parser and "<think>" in completion.text:
            # like vLLM's reasoning parser: the reasoning apart, content null if never closed
            after = completion.text.split("<think>", 1)[1]
            if "</think>" in after:
                reasoning, content = after.split("</think>", 1)
                message = {
                    "role": "assistant",
                    "content": content.strip(),
                    "reasoning_content": reasoning.strip(),
                }
            else:
                message = {"role": "assistant", "content": None, "reasoning_content": after.strip()}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
        length = completion.completion_tokens >= max_tokens
        return {
            "id": f"chatcmpl-{digest}",
            "object": "chat.completion",
            "created": 0,
            "model": self.served_model_name,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "length" if length else "stop"}
            ],
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        }

    # -- running -------------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        """Serve in a background (daemon) thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake requests asleep in a timeout fault, and close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        with self._model_lock:  # a model run in progress ends before stop() returns
            pass


def _error(status: int, message: str) -> dict:
    kind = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError"}
    return {
        "error": {
            "message": message,
            "type": kind.get(status, "RateLimitError" if status == 429 else "InternalServerError"),
            "code": status,
        }
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and clients use
    server: OpenAIServer

    def log_message(self, format, *args):
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
        data = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout fault)

    def _client_gone(self) -> bool:
        """Whether the client closed the connection (readable, and nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _check_auth(self) -> bool:
        header = self.headers.get("Authorization")
        if self.server.authorized(header):
            return True
        # Echo what was sent, as some real APIs partly do: the client must keep it out of errors.
        sent = header.split(" ", 1)[1] if header and " " in header else header
        self._send(401, _error(401, f"Incorrect API key provided: {sent}"))
        return False

    def do_GET(self):
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, _error(404, f"no route {self.path}"))
            return
        if not self._check_auth():
            return
        model = {"id": self.server.served_model_name, "object": "model", "owned_by": "cmoe"}
        self._send(200, {"object": "list", "data": [model]})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(404, f"no route {self.path}"))
            return
        if not self._check_auth():
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            self._send(400, _error(400, f"invalid JSON body: {exc}"))
            return
        if body.get("model") != self.server.served_model_name:
            message = f"The model `{body.get('model')}` does not exist."
            self._send(404, _error(404, message))
            return
        _, fault = self.server._next_fault(body.get("seed"))
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "timeout":
            if self.server._stopping.wait(self.server.timeout_sleep_s):
                self.close_connection = True
                return
        elif fault not in ("ok", "badjson", "nochoices"):
            status = int(fault)
            headers = {}
            if status == 429 and self.server.retry_after is not None:
                headers["Retry-After"] = f"{self.server.retry_after:g}"
            self._send(status, _error(status, f"injected fault {fault}"), headers)
            return
        if fault == "nochoices":
            self._send(200, {"id": "chatcmpl-broken", "object": "chat.completion", "choices": []})
            return
        try:
            response = self.server.complete(body, self._client_gone)
        except (ValueError, TypeError) as exc:
            self._send(400, _error(400, str(exc)))
            return
        except Exception as exc:  # a real server error: report it, keep serving
            log.exception("completion failed")
            self._send(500, _error(500, f"{type(exc).__name__}: {exc}"))
            return
        if response is None:
            self.close_connection = True
            return
        if fault == "badjson":
            data = json.dumps(response, ensure_ascii=False).encode("utf-8")
            self._send(200, data[: len(data) // 2])
            return
        self._send(200, response)


def start_server(model_path: str | Path, faults=None, **kwargs) -> tuple[OpenAIServer, str]:
    """Start a server in a background thread; returns it and its base URL. ``server.stop()``."""
    server = OpenAIServer(model_path, faults, **kwargs).start()
    return server, server.base_url


@contextlib.contextmanager
def serving(model_path: str | Path, faults=None, **kwargs) -> Iterator[tuple[OpenAIServer, str]]:
    """``start_server`` as a context manager that always stops the server."""
    server, base_url = start_server(model_path, faults, **kwargs)
    try:
        yield server, base_url
    finally:
        server.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python tests/support/openai_server.py",
        description=(
            "Serve a local model folder through an OpenAI-compatible chat API (GET /v1/models, "
            "POST /v1/chat/completions), optionally injecting faults, for testing the openai "
            "generation backend. One request runs at a time; each is seeded by its 'seed' field."
        ),
        epilog=(
            "faults: ok, timeout (answer after --timeout-sleep s), badjson (200, truncated JSON),"
            " nochoices (200, empty choices), drop (close without answering), or an HTTP status"
            " such as 429, 500, 503, 401. Example: --faults 429,500,timeout,ok,badjson"
        ),
    )
    p.add_argument("--model", required=True, help="model folder (transformers format)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    p.add_argument("--served-model-name", help="the name clients ask for (default: folder name)")
    p.add_argument("--faults", default="", help="comma-separated faults for the first requests")
    p.add_argument("--fault-rate", type=float, default=0.0, help="after --faults: fault rate")
    p.add_argument(
        "--fault-kinds",
        default=",".join(DEFAULT_RATE_KINDS),
        help="faults --fault-rate draws from (default: %(default)s)",
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the rate-based plan")
    p.add_argument("--timeout-sleep", type=float, default=30.0, help="seconds a timeout waits")
    p.add_argument("--retry-after", type=float, help="Retry-After seconds sent with a 429")
    p.add_argument(
        "--api-key-env",
        help="NAME of an environment variable holding the key clients must send (default: none)",
    )
    p.add_argument(
        "--reasoning-parser",
        action="store_true",
        help="return <think> reasoning in message.reasoning_content, as vLLM's parser does",
    )
    p.add_argument("--max-tokens-default", type=int, default=256)
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            p.error(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    try:
        plan = FaultPlan(
            [f for f in args.faults.split(",") if f.strip()],
            rate=args.fault_rate,
            kinds=[f for f in args.fault_kinds.split(",") if f.strip()],
            seed=args.fault_seed,
        )
    except ValueError as exc:
        p.error(str(exc))
    server = OpenAIServer(
        args.model,
        plan,
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name,
        timeout_sleep_s=args.timeout_sleep,
        retry_after=args.retry_after,
        api_key=api_key,
        reasoning_parser=args.reasoning_parser,
        max_tokens_default=args.max_tokens_default,
        dtype=args.dtype,
    )
    print(
        f"serving {args.model} as {server.served_model_name!r} at {server.base_url}",
        file=sys.stderr,
        flush=True,
    )
    # Ctrl-C and SIGTERM (what Slurm, Kubernetes and test harnesses send) both stop cleanly.
    # SIGINT's handler is set explicitly: a parent that ignores SIGINT would make it ignored
    # here too, and the server would never stop on it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server._stopping.set()
        server.server_close()
        with server._model_lock:  # let a model run in progress end before the interpreter does
            pass
        stats = server.stats()
        stats.pop("log")
        print(json.dumps(stats), file=sys.stderr)


if __name__ == "__main__":
    main()
