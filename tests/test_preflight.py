"""Mistakes that used to pass the dry run and fail hours later: each stops before any job, with
one line naming the file, line or config key."""

import socket

import pytest
import yaml
from conftest import ROOT, ci_config, run_snakemake

from cmoe.cli import main
from cmoe.config import load_config, preflight, validate_config
from cmoe.core.errors import ConfigError

DEMO = (ROOT / "config" / "demo_rummlu.yaml").read_text("utf-8")


def _demo():
    return yaml.safe_load(DEMO)


def _error(call) -> str:
    with pytest.raises(ConfigError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_key_given_twice_names_both_lines(tmp_path):
    # the second teacher block renamed to the first's name: YAML would silently keep one
    text = DEMO.replace("  tiny-teacher-b:\n    model: tiny-teacher-b\n", "  tiny-teacher-a:\n", 1)
    (tmp_path / "dup.yaml").write_text(text, "utf-8")
    message = _error(lambda: load_config(tmp_path / "dup.yaml"))
    first, second = [
        i for i, line in enumerate(text.splitlines(), 1) if line == "  tiny-teacher-a:"
    ]
    assert f"dup.yaml: key 'tiny-teacher-a' appears twice (lines {first} and {second})" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    methods = next(x for x in DEMO.splitlines() if x.startswith("methods: ["))
    text = DEMO.replace(methods, "methods: [direct, cascade")
    (tmp_path / "bad.yaml").write_text(text, "utf-8")
    # the parser notices the unclosed list at the next line that is neither blank nor a comment
    lines = text.splitlines()
    start = lines.index("methods: [direct, cascade") + 1
    after = next(i for i in range(start, len(lines)) if lines[i].strip()[:1] not in ("", "#"))
    message = _error(lambda: load_config(tmp_path / "bad.yaml"))
    assert f"bad.yaml, line {after + 1}: not valid YAML" in message


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["prompt"].update(template="{subject}: {A} {B} {C} {D}"),
            "config key prompt.template: it never shows {question}",
        ),
        (
            lambda c: c["prompt"].update(template="{question}\nA) {A}\nB) {B}"),
            "config key prompt.template: it never shows {C}, {D}",
        ),
        (
            lambda c: c["data"].update(domain_map={"astronomi": "other"}),
            "config key data.domain_map.astronomi: not an MMLU subject key (did you mean "
            "astronomy?)",
        ),
        (
            lambda c: c["models"].update({"tiny-student": {"path": "/no/such/model/folder"}}),
            "config key models.tiny-student.path: '/no/such/model/folder' looks like a local "
            "folder but does not exist",
        ),
        (
            lambda c: c["models"].update({"tiny-student": {"path": str(ROOT / "README.md")}}),
            f"config key models.tiny-student.path: '{ROOT / 'README.md'}' is a file, not a model "
            "folder",
        ),
        (
            lambda c: c["data"].update(mera_version="v1.3"),
            "config key data.mera_version: 'v1.3' is not one of ['v1.1', 'v1.2']",
        ),
        (
            lambda c: c["data"].update(
                source={"hub": {"path": "ai-forever/MERA", "name": "rummlu", "split": "train"}}
            ),
            "config key data.source.hub.path: ai-forever/MERA is MERA v1.1, but "
            "data.mera_version is v1.2",
        ),
        (
            lambda c: c["data"].update(fewshot_source={"file": "data/demo/no_such_pool.jsonl"}),
            "config key data.fewshot_source.file: data/demo/no_such_pool.jsonl does not exist",
        ),
        (
            lambda c: c["data"].update(fewshot_source=None),
            "config key evaluation.loglik.enabled: MERA's protocol needs data.fewshot_source",
        ),
    ],
)
def test_static_mistakes_stop_validation(mutate, message):
    config = _demo()
    mutate(config)
    assert message in _error(lambda: validate_config(config))


def test_unknown_scheduler_is_caught_before_training():
    config = _demo()
    config["students"]["tiny-student"]["train"]["lr_scheduler"] = "cosin"
    message = _error(lambda: preflight(validate_config(config)))
    assert "config key students.tiny-student.lr_scheduler: 'cosin' is not a transformers" in message
    assert "cosine" in message


def _local_lora_config(tiny_model_dir, targets):
    config = _demo()
    # logit distillation pairs the tiny intermediate with this student: another vocabulary
    config["methods"] = [m for m in config["methods"] if not m.endswith("-kd")]
    config["models"]["local-student"] = {"path": str(tiny_model_dir)}
    config["students"]["tiny-student"] = {
        "model": "local-student",
        "train": {"method": "lora", "lora": {"target_modules": targets}},
    }
    return validate_config(config)


@pytest.mark.slow
def test_lora_targets_are_checked_against_a_local_model(tiny_model_dir):
    preflight(_local_lora_config(tiny_model_dir, ["q_proj", "v_proj"]))
    bad = _local_lora_config(tiny_model_dir, ["q_projj"])
    message = _error(lambda: preflight(bad))
    assert (
        "students.tiny-student.lora.target_modules: q_projj not in model local-student" in message
    )
    assert "q_proj" in message  # the model's own projections are listed


def test_uncached_hub_id_offline_says_how_to_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = _demo()
    config["models"]["tiny-student"] = {"path": "nobody/no-such-model"}
    # a path student and tiny intermediates cross vocabularies: no on-policy KD between them
    config["kd"]["on_policy"]["enabled"] = False
    message = _error(lambda: preflight(validate_config(config)))
    assert "hub id 'nobody/no-such-model' is not in the local cache and HF_HUB_OFFLINE" in message
    assert "huggingface-cli download nobody/no-such-model" in message


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            lambda tmp: "nobody/no-such-model",
            "hub id 'nobody/no-such-model' is not in the local cache and HF_HUB_OFFLINE is set",
        ),
        (lambda tmp: str(tmp), "model folder '{path}' has no config.json"),
    ],
    ids=["uncached-hub-id", "folder-without-config"],
)
def test_an_unreadable_student_is_named_before_its_vocabulary(
    where, message, tmp_path, capsys, monkeypatch
):
    # the demo's tiny intermediates and a `path` student cross vocabularies, and cmoe-kd's
    # on-policy student is on: the vocabulary error would be true, but not the first cause
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = where(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    config = _demo()
    config["models"]["tiny-student"] = {"path": path}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config), "utf-8")
    assert main(["check", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    expected = f"config key models.tiny-student.path: {message.format(path=path)}"
    assert err[0].startswith(f"cmoe check: error: {expected}"), err[0]


def test_a_model_folder_without_its_config_stops_the_preflight(tmp_path):
    # no KD: nothing at validation looks at the student, and preflight names it first
    config = _demo()
    config["methods"] = [m for m in config["methods"] if not m.endswith("-kd")]
    config["models"]["tiny-student"] = {"path": str(tmp_path)}
    config["students"]["tiny-student"]["train"] |= {"lr_scheduler": "cosin"}
    message = _error(lambda: preflight(validate_config(config)))
    assert (
        message
        == f"config key models.tiny-student.path: model folder '{tmp_path}' has no config.json"
    )


@pytest.mark.slow
def test_a_readable_student_still_gets_its_vocabulary_error(tiny_model_dir, capsys):
    config = _demo()
    config["models"]["tiny-student"] = {"path": str(tiny_model_dir)}
    message = _error(lambda: validate_config(config))
    assert message.startswith("config key kd.on_policy.enabled: cmoe-kd's on-policy student")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openai_teacher(base_url: str):
    config = _demo()
    config["models"]["api-model"] = {"path": "api-model"}
    config["teachers"]["tiny-teacher-b"] = {
        "model": "api-model",
        "generation": {"backend": "openai", "openai": {"base_url": base_url, "model": "m"}},
    }
    return validate_config(config)


@pytest.mark.slow
def test_endpoints_are_tried_at_start(tiny_model_dir):
    from support.openai_server import serving

    unreachable = _openai_teacher(f"http://127.0.0.1:{_free_port()}/v1")
    message = _error(lambda: preflight(unreachable))
    assert "config key teachers.tiny-teacher-b.generation.openai: cannot reach" in message
    with serving(tiny_model_dir) as (_, base_url):
        preflight(_openai_teacher(base_url))


def test_cmoe_check_is_one_line(tmp_path, capsys):
    text = DEMO.replace("lr_scheduler: cosine", "lr_scheduler: cosin")
    (tmp_path / "c.yaml").write_text(text, "utf-8")
    assert main(["check", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cmoe check: error: config key training.lr_scheduler: 'cosin'")
    assert len(err.splitlines()) == 1
    assert main(["check", str(ROOT / "config" / "demo_rummlu.yaml")]) == 0


def test_snakemake_stops_on_a_duplicated_key_before_any_job(tmp_path):
    config = ci_config(tmp_path)
    text = config.read_text("utf-8")
    # ci_config writes sorted YAML: the `tb` teacher block renamed to `ta`
    config.write_text(text.replace("\n  tb:\n", "\n  ta:\n", 1), "utf-8")
    proc = run_snakemake(tmp_path, config, extra=["-n"])
    assert proc.returncode != 0
    assert "key 'ta' appears twice" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("./no/such/folder", "model folder './no/such/folder' does not exist"),
        ("nobody/no-such-model", "cannot load model 'nobody/no-such-model': no such local folder"),
    ],
)
def test_a_model_that_cannot_load_is_one_line(model, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    questions = tmp_path / "q.jsonl"
    questions.write_text("")
    argv = ["generate", "--model", model, "--questions", str(questions), "--prompt", "{}"]
    assert main([*argv, "--out", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
