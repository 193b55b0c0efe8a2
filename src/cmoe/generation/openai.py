# Over 300 lines as one module: its settings, retry policy and client are one unit.
"""The ``openai`` generation backend: any OpenAI-compatible chat endpoint.

A vLLM or SGLang server (``vllm serve MODEL``), a hosted API, or the local test server
``tests/support/openai_server.py``. Conversations go out as
``POST {base_url}/chat/completions``, up to ``concurrency`` at a time, and come back in input
order. The chat template is applied by the server, so a record's ``prompt`` is the JSON of the
messages sent.

Its settings (``generation.openai`` in the config) and what each means are declared once, in
:class:`cmoe.generation.base.OpenAISettings`: ``base_url`` and ``model`` (required), the
``api_key_env`` whose variable holds the key (never logged, put in an error message, a record or
``usage()``), ``concurrency``, ``timeout_s``, the retry policy (``max_retries``, ``backoff_s``,
``max_backoff_s``: exponential backoff with full jitter; a ``Retry-After`` header, in seconds or
an HTTP date, replaces the jittered sleep, capped at ``max_backoff_s``), ``price_per_million``,
``send_enable_thinking`` and ``extra_body``.

Reasoning that a server returns apart from the answer (``message.reasoning_content`` from
vLLM's reasoning parser, or ``message.reasoning``) is put back as
``<think>\\nREASONING\\n</think>\\n\\nANSWER``, the format the hf backend produces, so the
answer extractor and the reasoning splitter see the same text whichever backend ran.

Sampling: ``temperature`` (0 = greedy), ``top_p`` and ``max_new_tokens`` (``max_tokens``) come
from the generation settings, and every request carries its conversation's ``seed``: a server
that honours seeds (vLLM does) gives the same output on a resumed or sharded run.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from email.utils import parsedate_to_datetime

from ..core.settings import from_dict
from .base import Completion, GenerationSettings, OpenAISettings

log = logging.getLogger(__name__)

CONFIG_PATH = "generation.openai"
RETRYABLE_STATUS = frozenset({408, 429})


class EndpointError(RuntimeError):
    """An OpenAI-compatible endpoint failed for good (unreachable, refused, retries spent)."""


class _Retryable(Exception):
    """One failed attempt that may succeed if tried again."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def resolve_settings(raw: dict | None) -> dict:
    """``generation.openai`` with defaults filled in (unknown keys, wrong types, values out of
    range and missing required keys raise a one-line SettingsError naming the key)."""
    cfg = asdict(from_dict(OpenAISettings, raw, CONFIG_PATH))
    cfg["base_url"] = cfg["base_url"].rstrip("/")
    price = cfg["price_per_million"]
    if price is not None:
        cfg["price_per_million"] = {k: float(price.get(k, 0.0)) for k in ("prompt", "completion")}
    return cfg


def backoff_delay(attempt: int, backoff_s: float, max_backoff_s: float, rng: random.Random):
    """Full-jitter exponential backoff before retry ``attempt`` (0 = the first retry)."""
    cap = min(max_backoff_s, backoff_s * 2.0 ** min(attempt, 60))
    return rng.uniform(0.0, cap)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def completion_text(message: dict) -> str:
    """The text of a chat message, with separately returned reasoning put back in think tags.

    Raises KeyError/TypeError for a message without ``content`` (a broken response). A null
    content next to reasoning is a model that ran out of tokens while thinking: the think block
    is left open, as the hf backend leaves it."""
    if not isinstance(message, dict) or "content" not in message:
        raise KeyError("choices[0].message.content")
    content = message["content"]
    if content is not None and not isinstance(content, str):
        raise TypeError("choices[0].message.content is not a string")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not isinstance(reasoning, str):
        reasoning = None
    if reasoning:
        if content is None:
            return f"<think>\n{reasoning}"
        return f"<think>\n{reasoning}\n</think>\n\n{content}"
    return content or ""


class OpenAIGenerator:
    """Conversations → Completions through an OpenAI-compatible chat endpoint (see module doc)."""

    def __init__(
        self, model_path: str, settings: GenerationSettings, *, transport=None, sleep=time.sleep
    ):
        import httpx

        self.model_name = str(model_path)
        self.settings = settings
        self.cfg = resolve_settings(settings.openai)
        self.base_url = self.cfg["base_url"]
        self.concurrency = self.cfg["concurrency"]
        self.chunk_size = max(settings.batch_size, 4 * self.concurrency)
        headers = {"Content-Type": "application/json"}
        self._secret = None
        env = self.cfg["api_key_env"]
        if env:
            key = os.environ.get(env, "")
            if not key.strip():
                raise ValueError(
                    f"{CONFIG_PATH}.api_key_env names the environment variable {env}, "
                    f"which is not set or empty: export {env}=<your API key>"
                )
            self._secret = key.strip()
            headers["Authorization"] = f"Bearer {self._secret}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(
                self.cfg["timeout_s"],
                connect=self.cfg["connect_timeout_s"] or self.cfg["timeout_s"],
            ),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            transport=transport,
        )
        self._sleep = sleep
        self._jitter = random.Random()  # its own stream: sampling seeds stay untouched
        self._lock = threading.Lock()
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "retries": 0}

    # -- bookkeeping ---------------------------------------------------------------------------

    def usage(self) -> dict:
        with self._lock:
            usage = dict(self._usage)
        price = self.cfg["price_per_million"]
        if price is not None:
            cost = usage["prompt_tokens"] * price["prompt"]
            cost += usage["completion_tokens"] * price["completion"]
            usage["api_cost_usd"] = round(cost / 1e6, 8)
        return usage

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                self._usage[key] += value

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def _auth_hint(self) -> str:
        env = self.cfg["api_key_env"]
        if env:
            return f"; check the API key in the environment variable {env}"
        return (
            f"; the endpoint wants a key: set {CONFIG_PATH}.api_key_env to the NAME of a variable"
        )

    def check_endpoint(self, timeout_s: float = 10.0) -> list[str]:
        """GET ``{base_url}/models`` once, quickly; raise EndpointError if it does not answer.

        Returns the served model ids. Run it before a long job, so that a wrong URL or key
        fails in seconds rather than after ``max_retries`` backoffs."""
        import httpx

        url = f"{self.base_url}/models"
        try:
            response = self._client.get(url, timeout=min(timeout_s, self.cfg["timeout_s"]))
        except httpx.HTTPError as exc:
            raise EndpointError(
                f"cannot reach the OpenAI-compatible endpoint {self.base_url} "
                f"({type(exc).__name__}: {self._redact(str(exc)) or 'no detail'}); "
                f"check {CONFIG_PATH}.base_url and that the server is running"
            ) from None
        if response.status_code != 200:
            hint = self._auth_hint() if response.status_code in (401, 403) else ""
            raise EndpointError(
                f"GET {url} answered HTTP {response.status_code}: "
                f"{self._redact(response.text[:300])}{hint} ({CONFIG_PATH}.base_url)"
            )
        try:
            ids = [m["id"] for m in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            ids = []
        if ids and self.cfg["model"] not in ids:
            log.warning(
                "%s does not list the model %r (%s.model); it serves: %s",
                self.base_url,
                self.cfg["model"],
                CONFIG_PATH,
                ", ".join(ids[:10]),
            )
        return ids

    def _body(self, messages: list[dict], enable_thinking: bool, seed: int) -> dict:
        s = self.settings
        body = {
            "model": self.cfg["model"],
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
            "seed": int(seed),
            "n": 1,
        }
        if self.cfg["send_enable_thinking"]:
            body["chat_template_kwargs"] = {"enable_thinking": bool(enable_thinking)}
        if self.cfg["extra_body"]:
            body.update(self.cfg["extra_body"])
        return body

    def _attempt(self, url: str, body: dict) -> tuple[str, int, int]:
        import httpx

        self._count(requests=1)
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.cfg['timeout_s']:g} s ({exc!r})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            raise _Retryable(
                f"HTTP {status}: {response.text[:200]}",
                parse_retry_after(response.headers.get("retry-after")),
            )
        if status != 200:
            hint = self._auth_hint() if status in (401, 403) else ""
            raise EndpointError(
                f"POST {url} answered HTTP {status} (not retried): "
                f"{self._redact(response.text[:300])}{hint}"
            )
        try:
            payload = response.json()
            text = completion_text(payload["choices"][0]["message"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(
                f"broken response ({type(exc).__name__}: {exc}): {response.text[:120]!r}"
            ) from None
        usage = payload.get("usage") or {}
        try:
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (TypeError, ValueError, AttributeError):
            prompt_tokens = completion_tokens = 0
        return text, prompt_tokens, completion_tokens

    def complete(self, messages: list[dict], enable_thinking: bool, seed: int) -> Completion:
        """One conversation, retried as the settings say (tenacity runs the attempts)."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        url = f"{self.base_url}/chat/completions"
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(self.cfg["max_retries"] + 1),
            wait=self._delay,
            sleep=self._sleep,
            before_sleep=lambda state: self._before_retry(url, state),
            retry_error_callback=lambda state: self._give_up(url, state),
        )
        body = self._body(messages, enable_thinking, seed)
        text, prompt_tokens, completion_tokens = retrying(self._attempt, url, body)
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return Completion(
            prompt=json.dumps(messages, ensure_ascii=False),
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def _delay(self, state) -> float:
        """The sleep before the next attempt: ``Retry-After`` when the server sent one, else
        :func:`backoff_delay` from the generator's own random stream (tenacity's random waits
        draw from the global one, which would move other code's random numbers)."""
        cfg, exc = self.cfg, state.outcome.exception()
        if exc.retry_after is not None:
            return min(exc.retry_after, cfg["max_backoff_s"])
        n = state.attempt_number - 1
        return backoff_delay(n, cfg["backoff_s"], cfg["max_backoff_s"], self._jitter)

    def _before_retry(self, url: str, state) -> None:
        error = self._redact(str(state.outcome.exception()))
        delay = state.next_action.sleep
        log.info("%s: %s; retry %d in %.2f s", url, error, state.attempt_number, delay)
        self._count(retries=1)

    def _give_up(self, url: str, state):
        error = self._redact(str(state.outcome.exception()))
        raise EndpointError(
            f"POST {url} failed after {state.attempt_number} attempts "
            f"({self.cfg['max_retries']} retries); last error: {error}"
        ) from None

    def generate(
        self, conversations: Sequence[list[dict]], enable_thinking: bool, seeds: Sequence[int]
    ) -> Iterator[Completion]:
        """Yield one Completion per conversation, in input order; ``concurrency`` in flight.

        A request that fails for good raises when its turn to be yielded comes; requests not
        started yet are cancelled, so a failure (or a caller that stops early) ends the run."""
        if len(seeds) != len(conversations):
            raise ValueError(f"{len(conversations)} conversations but {len(seeds)} seeds")
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")
        try:
            futures = [
                pool.submit(self.complete, messages, enable_thinking, seed)
                for messages, seed in zip(conversations, seeds, strict=True)
            ]
            for future in futures:
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
