"""The openai backend: request format, retries, ordering, accounting, secrets, and runs through a
local OpenAI-compatible server that injects faults (tests/support/openai_server.py)."""

import json
import random
import signal
import socket
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from support.openai_server import FaultPlan, serving

from cmoe.core.answers import extract_answer, split_reasoning
from cmoe.core.prompting import PromptSettings
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.openai import (
    EndpointError,
    OpenAIGenerator,
    backoff_delay,
    completion_text,
    parse_retry_after,
    resolve_settings,
)
from cmoe.generation.runner import answer_questions, generate_resumable, run_cost

BASE = "http://api.test/v1"
SECRET = "sk-test-SECRET-value-0123456789"
KEY_ENV = "CMOE_TEST_OPENAI_KEY"
SERVER_SCRIPT = str(Path(__file__).parent / "support" / "openai_server.py")


def settings(base_url=BASE, model="served", **openai):
    return GenerationSettings(
        backend="openai",
        temperature=0.8,
        max_new_tokens=12,
        batch_size=4,
        openai={"base_url": base_url, "model": model, "backoff_s": 0.0, **openai},
    )


def ok_response(content="Ответ: B", prompt_tokens=10, completion_tokens=5, **message):
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"role": "assistant", "content": content, **message}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


def mock_generator(handler, sleeps=None, **openai):
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return OpenAIGenerator(
        "models/teacher", settings(**openai), transport=httpx.MockTransport(handler), sleep=sleep
    )


def conversations(n):
    return [[{"role": "user", "content": f"Вопрос {i}"}] for i in range(n)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- settings ---------------------------------------------------------------------------------


def test_settings_defaults_unknown_keys_and_required():
    cfg = resolve_settings({"base_url": BASE + "/", "model": "m"})
    assert cfg["base_url"] == BASE and cfg["concurrency"] == 8 and cfg["timeout_s"] == 600
    assert cfg["max_retries"] == 8 and cfg["send_enable_thinking"] is True
    with pytest.raises(ValueError, match=r"generation\.openai\.api_key"):
        resolve_settings({"base_url": BASE, "model": "m", "api_key": SECRET})
    with pytest.raises(ValueError, match=r"generation\.openai\.model: is required"):
        resolve_settings({"base_url": BASE})
    with pytest.raises(ValueError, match="base_url"):
        resolve_settings({"base_url": "localhost:8000", "model": "m"})
    gen = mock_generator(lambda r: ok_response(), concurrency=3)
    assert gen.model_name == "models/teacher"
    assert gen.chunk_size == 12  # max(batch_size 4, 4 * concurrency)


def test_connect_timeout_is_its_own():
    """connect_timeout_s bounds only the connection; without it, timeout_s bounds both."""
    gen = mock_generator(lambda r: ok_response(), timeout_s=600, connect_timeout_s=2)
    assert (gen._client.timeout.connect, gen._client.timeout.read) == (2, 600)
    gen = mock_generator(lambda r: ok_response(), timeout_s=600)
    assert (gen._client.timeout.connect, gen._client.timeout.read) == (600, 600)


def test_missing_key_variable_is_named(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=KEY_ENV):
        mock_generator(lambda r: ok_response(), api_key_env=KEY_ENV)
    monkeypatch.setenv(KEY_ENV, "  ")
    with pytest.raises(ValueError, match=KEY_ENV):
        mock_generator(lambda r: ok_response(), api_key_env=KEY_ENV)


def test_make_generator_picks_the_openai_backend():
    gen = make_generator("models/teacher", settings())
    assert isinstance(gen, OpenAIGenerator)


# -- requests ---------------------------------------------------------------------------------


def test_request_body_headers_and_prompt(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    seen = []

    def handler(request):
        seen.append((request.url, request.headers, json.loads(request.content)))
        return ok_response()

    gen = mock_generator(handler, api_key_env=KEY_ENV, extra_body={"top_k": 20})
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Привет"}]
    (c,) = gen.generate([msgs], enable_thinking=False, seeds=[1234])
    url, headers, body = seen[0]
    assert str(url) == f"{BASE}/chat/completions"
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert body == {
        "model": "served",
        "messages": msgs,
        "temperature": 0.8,
        "top_p": 1.0,
        "max_tokens": 12,
        "seed": 1234,
        "n": 1,
        "chat_template_kwargs": {"enable_thinking": False},
        "top_k": 20,
    }
    assert c.prompt == json.dumps(msgs, ensure_ascii=False) and "Привет" in c.prompt
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("Ответ: B", 10, 5)
    assert SECRET not in repr(gen.usage())

    seen.clear()
    plain = mock_generator(handler, send_enable_thinking=False)
    list(plain.generate([msgs], True, [1]))
    assert "authorization" not in seen[0][1] and "chat_template_kwargs" not in seen[0][2]


def test_output_is_in_input_order_whatever_finishes_first():
    def handler(request):
        body = json.loads(request.content)
        time.sleep(random.Random(body["seed"]).uniform(0, 0.02))  # answers finish out of order
        return ok_response(content=f"seed {body['seed']}")

    gen = mock_generator(handler, concurrency=8)
    seeds = list(range(40))
    assert [c.text for c in gen.generate(conversations(40), True, seeds)] == [
        f"seed {s}" for s in seeds
    ]
    assert gen.usage()["requests"] == 40


# -- retries ----------------------------------------------------------------------------------


def test_backoff_is_full_jitter_within_exponential_bounds():
    rng = random.Random(0)
    for attempt in range(12):
        cap = min(5.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 5.0, rng) for _ in range(400)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.9 * cap and min(delays) < 0.1 * cap  # the whole range is used
    assert backoff_delay(10_000, 1.0, 60.0, rng) <= 60.0  # no overflow on huge attempts
    assert backoff_delay(3, 0.0, 60.0, rng) == 0.0


def test_retry_after_is_honoured_and_capped():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10.5

    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "120"}, json={"error": "later"})
        return ok_response()

    sleeps = []
    gen = mock_generator(handler, sleeps, max_backoff_s=30.0)
    list(gen.generate(conversations(1), True, [0]))
    assert sleeps == [7.0, 30.0]
    assert gen.usage()["requests"] == 3 and gen.usage()["retries"] == 2


@pytest.mark.parametrize(
    "broken",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(503, text="overloaded"),
        httpx.Response(408, text="request timeout"),
        httpx.Response(200, text='{"choices": [{"mess'),  # truncated JSON
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"choices": [{"message": {"role": "assistant"}}]}),
        "timeout",
        "connect",
    ],
)
def test_retryable_failures_are_retried(broken):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            if broken == "timeout":
                raise httpx.ReadTimeout("read timed out", request=request)
            if broken == "connect":
                raise httpx.ConnectError("connection refused", request=request)
            return broken
        return ok_response(content="fine")

    sleeps = []
    gen = mock_generator(handler, sleeps, backoff_s=0.25)
    (c,) = gen.generate(conversations(1), True, [0])
    assert c.text == "fine"
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 0.25
    assert gen.usage()["retries"] == 1 and gen.usage()["requests"] == 2


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_fail_at_once(status):
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(status, json={"error": {"message": "bad field"}})

    gen = mock_generator(handler)
    with pytest.raises(EndpointError) as err:
        list(gen.generate(conversations(1), True, [0]))
    assert f"HTTP {status}" in str(err.value) and BASE in str(err.value)
    assert len(calls) == 1 and gen.usage()["retries"] == 0


def test_exhausted_retries_name_the_url_and_last_error():
    gen = mock_generator(lambda r: httpx.Response(502, text="bad gateway"), max_retries=3)
    with pytest.raises(EndpointError) as err:
        list(gen.generate(conversations(1), True, [0]))
    msg = str(err.value)
    assert f"{BASE}/chat/completions" in msg and "4 attempts" in msg and "HTTP 502" in msg
    assert gen.usage()["requests"] == 4 and gen.usage()["retries"] == 3


def test_unreachable_endpoint_fails_check_endpoint_quickly():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    gen = OpenAIGenerator("m", settings(base_url=url))
    t0 = time.perf_counter()
    with pytest.raises(EndpointError) as err:
        gen.check_endpoint(timeout_s=2)
    assert time.perf_counter() - t0 < 5
    assert url in str(err.value) and "generation.openai.base_url" in str(err.value)


# -- responses and accounting -----------------------------------------------------------------


def test_separate_reasoning_is_put_back_in_think_tags():
    text = completion_text({"content": "Ответ: C", "reasoning_content": "шаг 1\nшаг 2"})
    assert text == "<think>\nшаг 1\nшаг 2\n</think>\n\nОтвет: C"
    assert split_reasoning(text) == ("шаг 1\nшаг 2", "Ответ: C")
    assert extract_answer(text) == "C"
    assert (
        completion_text({"content": "Ответ: A", "reasoning": "r"})
        == "<think>\nr\n</think>\n\nОтвет: A"
    )
    assert completion_text({"content": "Ответ: D", "reasoning_content": None}) == "Ответ: D"
    # out of tokens while thinking: vLLM sends content null; the think block stays open
    unfinished = completion_text({"content": None, "reasoning_content": "ещё думаю"})
    assert unfinished == "<think>\nещё думаю" and extract_answer(unfinished) is None
    with pytest.raises(KeyError):
        completion_text({"role": "assistant"})

    gen = mock_generator(lambda r: ok_response(content="Ответ: B", reasoning_content="потому"))
    (c,) = gen.generate(conversations(1), True, [0])
    assert c.text == "<think>\nпотому\n</think>\n\nОтвет: B"


def test_usage_tokens_requests_and_price():
    def handler(request):
        return ok_response(prompt_tokens=100, completion_tokens=50)

    gen = mock_generator(handler, price_per_million={"prompt": 2.0, "completion": 10.0})
    list(gen.generate(conversations(3), True, [0, 1, 2]))
    usage = gen.usage()
    assert usage == {
        "prompt_tokens": 300,
        "completion_tokens": 150,
        "requests": 3,
        "retries": 0,
        "api_cost_usd": pytest.approx((300 * 2.0 + 150 * 10.0) / 1e6),
    }
    cost = run_cost([{"prompt_tokens": 100, "completion_tokens": 50}] * 3, 1.0, usage)
    assert cost["requests"] == 3 and cost["retries"] == 0
    assert cost["api_cost_usd"] == pytest.approx(0.0021)
    assert "api_cost_usd" not in mock_generator(handler).usage()  # no price, no cost
    # a response without usage counts zero tokens, and still one request
    bare = mock_generator(
        lambda r: httpx.Response(200, json={"choices": [{"message": {"content": "x"}}]})
    )
    (c,) = bare.generate(conversations(1), True, [0])
    assert (c.prompt_tokens, c.completion_tokens) == (0, 0) and bare.usage()["requests"] == 1


def test_fault_plan_is_deterministic():
    plan = FaultPlan(["429", "timeout"], rate=0.3, kinds=["500", "badjson"], seed=7)
    faults = [plan.fault(i) for i in range(200)]
    assert faults[:2] == ["429", "timeout"]
    assert faults == [
        FaultPlan(["429", "timeout"], 0.3, ["500", "badjson"], 7).fault(i) for i in range(200)
    ]
    assert set(faults[2:]) == {"ok", "500", "badjson"}
    assert 0.15 < sum(f != "ok" for f in faults[2:]) / 198 < 0.45
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan(["explode"])


def test_server_cli_help():
    out = subprocess.run(
        [sys.executable, SERVER_SCRIPT, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "--model" in out.stdout and "--faults" in out.stdout and "badjson" in out.stdout


# -- against the local server with a real (tiny) model ----------------------------------------

FAULT_MIX = ["429", "500", "timeout", "badjson", "ok", "503", "nochoices", "drop", "429", "badjson"]
PROMPT = PromptSettings()
# What the client waits, and so what each injected timeout costs. Long enough that on a busy
# 2-core machine a request queued behind the others still answers in time (if not, it is
# retried, and the records are still the same).
TIMEOUT_S = 3.0


def server_settings(base_url, model_dir, **openai):
    return settings(base_url=base_url, model=model_dir.name, **openai)


@pytest.mark.slow
def test_faults_do_not_change_the_records(tiny_model_dir, demo_questions):
    questions = demo_questions[:12]
    with serving(tiny_model_dir) as (server, url):
        clean_gen = OpenAIGenerator(str(tiny_model_dir), server_settings(url, tiny_model_dir))
        clean_gen.check_endpoint()
        clean = list(answer_questions(questions, clean_gen, PROMPT, seed=5))
        assert server.stats()["faults"] == {} and clean_gen.usage()["retries"] == 0
    assert [r["id"] for r in clean] == [q["id"] for q in questions]
    assert all(r["completion_tokens"] > 0 and r["prompt_tokens"] > 0 for r in clean)
    assert clean[0]["model"] == str(tiny_model_dir)
    assert len({r["output"] for r in clean}) > 1  # sampled, seeded per question

    with serving(tiny_model_dir, FAULT_MIX, timeout_sleep_s=30, retry_after=0) as (server, url):
        gen = OpenAIGenerator(
            str(tiny_model_dir),
            server_settings(
                url, tiny_model_dir, concurrency=4, timeout_s=TIMEOUT_S, backoff_s=0.01
            ),
        )
        faulty = list(answer_questions(questions, gen, PROMPT, seed=5))
        stats = server.stats()
    assert faulty == clean  # complete, in order, no duplicates, same text
    assert len({r["id"] for r in faulty}) == len(questions)
    injected = {f: FAULT_MIX.count(f) for f in FAULT_MIX if f != "ok"}
    assert stats["faults"] == injected
    assert gen.usage()["retries"] >= sum(injected.values())
    assert gen.usage()["requests"] == gen.usage()["retries"] + len(questions)
    # every fault and every answer arrived (a request lost on a dropped connection may not)
    assert len(questions) + sum(injected.values()) <= stats["requests"] <= gen.usage()["requests"]
    assert gen.usage()["completion_tokens"] == sum(r["completion_tokens"] for r in clean)


@pytest.mark.slow
def test_resumable_output_is_byte_identical_through_faults(
    tiny_model_dir, demo_questions, tmp_path
):
    questions = demo_questions[:12]
    outs = []
    for name, faults in (("clean", None), ("faulty", FAULT_MIX)):
        with serving(tiny_model_dir, faults, timeout_sleep_s=30) as (server, url):
            gen = OpenAIGenerator(
                str(tiny_model_dir),
                server_settings(
                    url, tiny_model_dir, concurrency=3, timeout_s=TIMEOUT_S, backoff_s=0.01
                ),
            )
            assert gen.chunk_size == 12
            out = tmp_path / name / "traces.jsonl"
            records = generate_resumable(questions, gen, PROMPT, out, seed=9)
            assert len(records) == len(questions)
            assert bool(server.stats()["faults"]) == (faults is not None)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert len(outs[0].splitlines()) == len(questions)


@pytest.mark.slow
def test_wrong_key_fails_fast_and_never_shows_the_key(
    tiny_model_dir, demo_questions, tmp_path, monkeypatch, caplog
):
    caplog.set_level("DEBUG")
    monkeypatch.setenv(KEY_ENV, SECRET)
    # The server wants another key and, like some real APIs, echoes the one it got.
    with serving(tiny_model_dir, api_key="the-right-key") as (server, url):
        gen = OpenAIGenerator(
            str(tiny_model_dir), server_settings(url, tiny_model_dir, api_key_env=KEY_ENV)
        )
        with pytest.raises(EndpointError) as check:
            gen.check_endpoint()
        out = tmp_path / "traces.jsonl"
        t0 = time.perf_counter()
        with pytest.raises(EndpointError) as run:
            generate_resumable(demo_questions[:4], gen, PROMPT, out)
        assert time.perf_counter() - t0 < 10
        assert server.stats()["requests"] == 0  # refused before any fault or model run
    for err in (check.value, run.value):
        msg = str(err)
        assert "401" in msg and KEY_ENV in msg and url in msg
        assert SECRET not in msg and SECRET not in repr(err)
    # not retried: at most one request per question (those not started yet are cancelled)
    assert gen.usage()["retries"] == 0 and 1 <= gen.usage()["requests"] <= 4
    assert SECRET not in json.dumps(gen.usage()) and SECRET not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_server_is_deterministic_and_exhausts_retries(tiny_model_dir):
    msgs = conversations(6)
    with serving(tiny_model_dir) as (server, url):
        one = OpenAIGenerator("m", server_settings(url, tiny_model_dir, concurrency=1))
        many = OpenAIGenerator("m", server_settings(url, tiny_model_dir, concurrency=6))
        seeds = [11, 12, 13, 14, 15, 16]
        a = list(one.generate(msgs, True, seeds))
        b = list(many.generate(msgs, True, seeds))
        assert a == b and len({c.text for c in a}) > 1
        # thinking off changes the prompt the server renders, so the output
        off = list(one.generate(msgs[:1], False, seeds[:1]))
        assert off[0].prompt_tokens > a[0].prompt_tokens

        server.set_faults(["500"] * 10)
        capped = OpenAIGenerator(
            "m", server_settings(url, tiny_model_dir, max_retries=2, backoff_s=0.01)
        )
        with pytest.raises(EndpointError) as err:
            list(capped.generate(msgs[:1], True, [1]))
        assert f"{url}/chat/completions" in str(err.value) and "HTTP 500" in str(err.value)
        assert server.stats()["faults"] == {"500": 3}

        server.set_faults(None)
        wrong = OpenAIGenerator("m", server_settings(url, tiny_model_dir.parent))
        with pytest.raises(EndpointError, match="HTTP 404"):
            list(wrong.generate(msgs[:1], True, [1]))


@pytest.mark.slow
def test_reasoning_parser_round_trip(tiny_model_dir, monkeypatch):
    # The tiny model writes no think tags; make its output contain them to test the parser.
    with serving(tiny_model_dir, reasoning_parser=True) as (server, url):
        real = server.generator.generate

        def fake(conversations, enable_thinking, seeds):
            for c in real(conversations, enable_thinking, seeds):
                c.text = "<think>\nшаг\n</think>\n\nОтвет: B"
                yield c

        monkeypatch.setattr(server.generator, "generate", fake)
        gen = OpenAIGenerator("m", server_settings(url, tiny_model_dir))
        (c,) = gen.generate(conversations(1), True, [0])
    assert c.text == "<think>\nшаг\n</think>\n\nОтвет: B"
    assert extract_answer(c.text) == "B"


@pytest.mark.slow
def test_server_command_line_serves_and_reports_faults(tiny_model_dir):
    cmd = [sys.executable, SERVER_SCRIPT, "--model", str(tiny_model_dir)]
    cmd += ["--port", "0", "--faults", "500,badjson", "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("serving "):
                url = line.split(" at ")[-1].strip()
                break
        else:
            pytest.fail("the server never said where it serves")
        gen = OpenAIGenerator("m", server_settings(url, tiny_model_dir, backoff_s=0.01))
        assert gen.check_endpoint() == [tiny_model_dir.name]
        (c,) = gen.generate(conversations(1), True, [3])
        assert c.completion_tokens > 0 and gen.usage()["retries"] == 2
        gen.close()  # no keep-alive connection left open while the server shuts down
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0
    stats = json.loads(rest.strip().splitlines()[-1])
    assert stats["faults"] == {"500": 1, "badjson": 1} and stats["requests"] == 3
