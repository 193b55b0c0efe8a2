"""The vllm backend. Without a GPU it is tested against a stand-in `vllm` module that records
what the backend asks of vLLM's API; the `gpu` tests run the real engine where one exists."""

import importlib.machinery
import importlib.util
import json
import sys
import types

import pytest
from conftest import ROOT

from cmoe.config import check_runtime, load_config
from cmoe.core.errors import ConfigError
from cmoe.core.prompting import PromptSettings
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.runner import answer_questions

HAVE_GPU_VLLM = importlib.util.find_spec("vllm") is not None and (
    __import__("torch").cuda.is_available()
)
gpu = pytest.mark.skipif(not HAVE_GPU_VLLM, reason="needs vLLM and a CUDA GPU")


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in for the parts of vLLM's API the backend uses; records every call."""
    calls = {}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LoRARequest:
        def __init__(self, name, int_id, path):
            self.args = (name, int_id, path)

    class LLM:
        def __init__(self, **kw):
            from transformers import AutoTokenizer

            calls["engine"] = kw
            tokenizer = AutoTokenizer.from_pretrained(kw["model"])
            self.answer = tokenizer("Ответ: B", add_special_tokens=False)["input_ids"]
            calls["answer_ids"] = self.answer

        def generate(self, prompts, params, lora_request=None, use_tqdm=True):
            calls["generate"] = {"prompts": prompts, "params": params, "lora": lora_request}
            return [
                types.SimpleNamespace(
                    outputs=[types.SimpleNamespace(text="Ответ: B", token_ids=self.answer)]
                )
                for _ in prompts
            ]

    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)  # "installed"
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", lora)
    monkeypatch.setitem(sys.modules, "vllm.lora.request", request)
    return calls


def test_vllm_base_model_engine_tokens_and_seeds(fake_vllm, tiny_model_dir, demo_questions):
    settings = GenerationSettings(
        backend="vllm",
        temperature=0.6,
        top_p=0.95,
        max_new_tokens=32,
        seed=5,
        vllm={"tensor_parallel_size": 8, "max_model_len": 4096, "gpu_memory_utilization": 0.85},
    )
    gen = make_generator(str(tiny_model_dir), settings)
    records = list(answer_questions(demo_questions[:3], gen, PromptSettings(), seed=5))
    engine = fake_vllm["engine"]
    assert engine["model"] == str(tiny_model_dir) and "enable_lora" not in engine
    assert engine["tensor_parallel_size"] == 8 and engine["max_model_len"] == 4096
    assert engine["gpu_memory_utilization"] == 0.85 and engine["trust_remote_code"] is False

    # the same prompt tokens as the hf backend, as ids (no second BOS), one seed per request
    hf = make_generator(str(tiny_model_dir), GenerationSettings(max_new_tokens=1))
    sent, n_answer = fake_vllm["generate"], len(fake_vllm["answer_ids"])
    for rec, prompt in zip(records, sent["prompts"], strict=True):
        ids = hf.tokenizer(rec["prompt"], add_special_tokens=False)["input_ids"]
        assert prompt["prompt_token_ids"] == ids
        assert rec["prompt_tokens"] == len(ids) and rec["completion_tokens"] == n_answer
        assert rec["answer"] == "B"
    seeds = [p.kw["seed"] for p in sent["params"]]
    assert len(set(seeds)) == 3
    assert all(p.kw["max_tokens"] == 32 and p.kw["temperature"] == 0.6 for p in sent["params"])
    assert sent["lora"] is None
    assert gen.usage()["completion_tokens"] == 3 * n_answer


def test_vllm_serves_a_lora_adapter_without_merging(fake_vllm, tiny_model_dir, tmp_path):
    adapter = tmp_path / "specialist"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(tiny_model_dir), "r": 32})
    )
    for f in tiny_model_dir.iterdir():  # the tokenizer travels with the adapter
        if "token" in f.name or f.name == "chat_template.jinja":
            (adapter / f.name).write_bytes(f.read_bytes())
    gen = make_generator(str(adapter), GenerationSettings(backend="vllm"))
    engine = fake_vllm["engine"]
    assert engine["model"] == str(tiny_model_dir)
    assert engine["enable_lora"] is True and engine["max_lora_rank"] == 32
    list(gen.generate([[{"role": "user", "content": "x"}]], True, [1]))
    # named by its full path: vLLM tells adapters apart by name (two `specialist` folders)
    assert fake_vllm["generate"]["lora"].args == (str(adapter.resolve()), 1, str(adapter))
    assert gen.model_name == str(adapter)


def test_unknown_vllm_key_is_named(fake_vllm, tiny_model_dir):
    with pytest.raises(ValueError, match="unknown key generation.vllm.tensor_paralel"):
        make_generator(
            str(tiny_model_dir), GenerationSettings(backend="vllm", vllm={"tensor_paralel": 2})
        )


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_missing_vllm_is_a_clear_error(tiny_model_dir):
    with pytest.raises(RuntimeError, match="vLLM is not installed.*--sdm conda"):
        make_generator(str(tiny_model_dir), GenerationSettings(backend="vllm"))


# --- the checks the workflow runs at start ---------------------------------------------------


def _real_config():
    return load_config(ROOT / "config" / "config.yaml")


NO_VENV = {"CMOE_VLLM_PYTHON": "/nonexistent/venv/bin/python"}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_selected_but_absent_stops_the_workflow_at_start():
    config = _real_config()
    with pytest.raises(
        ConfigError,
        match=r"^config key teachers\.qwen3-235b\.generation\.backend: backend vllm: no vLLM "
        r"environment at /nonexistent/venv/bin/python; build it .*--sdm conda$",
    ):
        check_runtime(config, uses_conda=False, environ=NO_VENV)
    check_runtime(config, uses_conda=True)  # the conda env brings vLLM


def test_gpu_build_of_vllm_without_a_gpu_is_refused():
    config = _real_config()
    config["teachers"]["qwen3-235b"]["resources"]["gpu"] = 0
    with pytest.raises(
        ConfigError, match=r"teachers\.qwen3-235b: this vLLM is a GPU build and needs a GPU"
    ):
        check_runtime(config, uses_conda=True)  # envs/generate-vllm.yaml: the GPU build


def test_missing_api_key_variable_is_named_never_its_value():
    config = _real_config()
    config["teachers"]["qwen3-235b"]["generation"] = {
        "backend": "openai",
        "openai": {
            "base_url": "https://api.example/v1",
            "model": "m",
            "api_key_env": "TEACHER_KEY",
        },
    }
    with pytest.raises(ConfigError, match="environment variable TEACHER_KEY is not set"):
        check_runtime(config, uses_conda=True, environ={})
    warnings = check_runtime(config, uses_conda=True, environ={"TEACHER_KEY": "sk-secret"})
    assert any("price_per_million" in w for w in warnings)
    assert not any("sk-secret" in w for w in warnings)


# --- the real engine, where a GPU and vLLM exist -----------------------------------------------


@gpu
@pytest.mark.slow
def test_vllm_greedy_matches_hf_on_the_same_prompts(tiny_model_dir, demo_questions):
    questions = demo_questions[:16]
    common = {"max_new_tokens": 24, "batch_size": 16, "dtype": "float32"}
    vllm_records = list(
        answer_questions(
            questions,
            make_generator(
                str(tiny_model_dir),
                GenerationSettings(backend="vllm", vllm={"gpu_memory_utilization": 0.3}, **common),
            ),
            PromptSettings(),
        )
    )
    hf_records = list(
        answer_questions(
            questions,
            make_generator(str(tiny_model_dir), GenerationSettings(**common)),
            PromptSettings(),
        )
    )
    assert [r["prompt"] for r in vllm_records] == [r["prompt"] for r in hf_records]
    same = sum(a["output"] == b["output"] for a, b in zip(vllm_records, hf_records, strict=True))
    assert same >= 14  # float32 greedy: kernels may break a near-tie now and then


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_workflow_stops_before_the_first_job_when_vllm_is_absent(tmp_path, monkeypatch):
    from conftest import run_snakemake

    monkeypatch.setenv("CMOE_VLLM_PYTHON", NO_VENV["CMOE_VLLM_PYTHON"])
    proc = run_snakemake(tmp_path, ROOT / "config" / "config.yaml", timeout=300)
    assert proc.returncode != 0
    assert "backend vllm: no vLLM environment at /nonexistent/venv/bin/python" in proc.stderr
    assert not (tmp_path / "results").exists()  # not even data preparation ran
