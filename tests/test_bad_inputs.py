"""Inputs that used to fail only in their job, or not at all: a missing, empty or non-UTF-8 file, a
config file that is not YAML, a knowledge row without its text, a tiny model shape that cannot be
built, a misspelt LoRA target. Each stops before any job with one line naming the config key, the
file and line, in `cmoe check` and, where a dry run looks (the checks of every parse), in
`snakemake -n`."""

import pytest
import yaml
from conftest import DEMO_DATA, ROOT, ci_config, run_snakemake

from cmoe.cli import main
from cmoe.config import load_config, load_yaml, preflight, validate_config
from cmoe.core.errors import CmoeError, ConfigError

KB = ROOT / "data" / "demo" / "knowledge_demo.jsonl"


def _raw(path):
    """A config file as written (relative data paths: the tests run in the repository root)."""
    return yaml.safe_load(path.read_text("utf-8"))


CI = ROOT / "tests" / "configs" / "ci.yaml"
DEMO = ROOT / "config" / "demo_rummlu.yaml"


def _check(capsys, *files) -> str:
    """`cmoe check`'s error: exactly one line."""
    assert main(["check", *map(str, files)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _error(call) -> str:
    with pytest.raises(CmoeError) as err:
        call()
    assert "\n" not in str(err.value)
    return str(err.value)


def _cp1251(path, first_lines):
    """``first_lines`` of a UTF-8 file, then a third line saved in Windows-1251."""
    head = b"".join(first_lines.read_bytes().splitlines(keepends=True)[:2])
    path.write_bytes(head + '{"text": "Ответ"}\n'.encode("cp1251"))
    return path


# --- missing files: every parse, so `snakemake -n` stops with the same line ---------------------


def _set_source(section, file):
    return lambda c: c[section].update(source={"file": str(file)})


def _shape(c):
    c["tiny_models"]["specs"]["student"].update(hidden_size=30, num_attention_heads=2)


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (
            _set_source("data", "{tmp}/none.jsonl"),
            "config key data.source.file: {tmp}/none.jsonl does not exist",
        ),
        (
            _set_source("knowledge", "{tmp}/none.jsonl"),
            "config key knowledge.source.file: {tmp}/none.jsonl does not exist",
        ),
        (
            _set_source("data", "{tmp}/cp1251.jsonl"),
            "config key data.source.file: {tmp}/cp1251.jsonl:3: not UTF-8 (byte 0xce",
        ),
        (_shape, "config key tiny_models.specs.student: head dimension 30 / 2 = 15 is odd"),
    ],
    ids=["missing-data", "missing-knowledge", "not-utf8", "odd-head-dim"],
)
def test_check_and_dry_run_stop_on_the_same_line(edit, line, tmp_path, capsys):
    _cp1251(tmp_path / "cp1251.jsonl", DEMO_DATA)

    def edit_here(config):
        edit(config)
        for section in ("data", "knowledge"):
            source = config[section]["source"]
            source["file"] = source["file"].format(tmp=tmp_path)

    config = ci_config(tmp_path, edit=edit_here)
    line = line.format(tmp=tmp_path)
    assert line in _check(capsys, config)
    proc = run_snakemake(tmp_path, config, extra=["-n"])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"Invalid workflow config: {line}" in out, out[-2000:]
    assert "MissingInputException" not in out and not (tmp_path / "results").exists()


# --- empty and non-UTF-8 input files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "empty_line"),
    [
        (("data", "source"), "config key data.source.file: {f} is empty"),
        (("data", "fewshot_source"), "config key data.fewshot_source.file: {f} is empty"),
        (("data", "extra_sources", 0), "extra source demo_pairs.file: {f} is empty"),
        (("knowledge", "source"), "knowledge.source.file: {f} is empty"),
    ],
    ids=["source", "fewshot", "extra", "knowledge"],
)
def test_an_empty_or_non_utf8_file_is_named(where, empty_line, tmp_path):
    def run(file=None):
        config = _raw(CI)
        entry = config
        for part in where:
            entry = entry[part]
        if file is None:  # the source's own rows, then a line in Windows-1251
            file = _cp1251(tmp_path / "cp1251.jsonl", ROOT / entry["file"])
        entry["file"] = str(file)
        preflight(validate_config(config))

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n \n", "utf-8")
    assert empty_line.format(f=empty) in _error(lambda: run(empty))
    line = f"{tmp_path}/cp1251.jsonl:3: not UTF-8 (byte 0xce, the line's byte 11)"
    assert line in _error(run)


def test_the_data_job_names_an_empty_or_non_utf8_file(tmp_path):
    from support.questions import load_questions

    from cmoe.core.domains import subject_domains
    from cmoe.data.settings import DataSettings

    empty, cp1251 = tmp_path / "empty.jsonl", _cp1251(tmp_path / "cp1251.jsonl", DEMO_DATA)
    empty.write_text("", "utf-8")
    for file, message in [
        (empty, f"data.source.file: {empty} is empty"),
        (cp1251, f"{cp1251}:3: not UTF-8 (byte 0xce"),
    ]:
        settings = DataSettings(source={"file": str(file)})
        assert message in _error(lambda s=settings: load_questions(s, subject_domains()))


# --- config files that are not YAML -------------------------------------------------------------

NOT_YAML = {
    "syntax": ("data:\n  source: {file: x.jsonl\nprompt: {}\n", "line 3: not valid YAML"),
    "tab": ("data:\n\tsource: {file: x.jsonl}\n", "line 2: not valid YAML (found character '\\t'"),
    "list": ("# a list\n- data\n- prompt\n", "line 2: the top level must be a mapping of config"),
}


@pytest.mark.parametrize("case", list(NOT_YAML))
def test_a_config_file_that_is_not_yaml_names_its_line(case, tmp_path, capsys):
    text, problem = NOT_YAML[case]
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "config.yaml"
    path.write_text(text, "utf-8")
    assert f"{path}, {problem}" in _error(lambda: load_yaml(path))
    assert f"cmoe check: error: {path}, {problem}" in _check(capsys, path)
    # the workflow's default config file (no --configfile) is read strictly before Snakemake's
    # own loader, which names neither file nor line
    proc = run_snakemake(tmp_path, extra=["-n"])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"Invalid workflow config: config/config.yaml, {problem}" in out, out[-2000:]


def test_a_config_file_snakemake_reads_itself_stops_before_any_job(tmp_path):
    # --configfile is read by Snakemake before the workflow runs: its own message, no job
    path = tmp_path / "tab.yaml"
    path.write_text(NOT_YAML["tab"][0], "utf-8")
    proc = run_snakemake(tmp_path, path, extra=["-n"])
    assert proc.returncode != 0 and "not valid JSON or YAML" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_a_config_file_not_in_utf8_names_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes("data: {}\nprompt: {template: Ответ}\n".encode("cp1251"))
    assert f"{path}:2: not UTF-8 (byte 0xce" in _error(lambda: load_yaml(path))


# --- knowledge rows, checked before the first job -----------------------------------------------


def test_a_knowledge_row_without_its_text_names_its_line(tmp_path, capsys):
    kb = tmp_path / "kb.jsonl"
    head = KB.read_text("utf-8").splitlines(keepends=True)[:2]
    kb.write_text("".join(head) + '{"title": "Без текста", "body": "..."}\n', "utf-8")
    config = ci_config(tmp_path, edit=_set_source("knowledge", kb))
    line = f"{kb}:3: no text field 'text' (knowledge.text_field)"
    assert line in _error(lambda: preflight(load_config(config)))
    assert line in _check(capsys, config)


# --- tiny model shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"hidden_size": 64, "num_attention_heads": 5},
            "hidden_size 64 does not split into 5 attention heads",
        ),
        (
            {"hidden_size": 60, "num_attention_heads": 4},
            "head dimension 60 / 4 = 15 is odd; rotary position embeddings",
        ),
        (
            {"num_attention_heads": 4, "num_key_value_heads": 3},
            "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
        ),
    ],
)
def test_a_tiny_spec_that_cannot_be_built_is_rejected(spec, message):
    config = _raw(DEMO)
    config["tiny_models"]["specs"]["student"].update(spec)
    assert f"config key tiny_models.specs.student: {message}" in _error(
        lambda: validate_config(config)
    )


def test_an_odd_head_dimension_is_fine_for_t5():
    config = _raw(DEMO)
    config["tiny_models"]["specs"]["t5"].update(hidden_size=60, num_attention_heads=4)
    validate_config(config)


# --- LoRA targets, wherever they are given ------------------------------------------------------


def _lora(targets):
    return {"method": "lora", "lora": {"target_modules": targets}}


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (
            lambda c, t: c["teachers"]["ta"]["warmup"].update(_lora(t)),
            "teachers.ta.warmup.lora.target_modules",
        ),
        (
            lambda c, t: c["students"]["st"].update(train=_lora(t)),
            "students.st.lora.target_modules",
        ),
        (
            lambda c, t: c["intermediates"]["im"].update(train=_lora(t)),
            "intermediates.im.lora.target_modules",
        ),
        (
            lambda c, t: c["kard"]["reranker"].update(lora=True, lora_target_modules=t),
            "kard.reranker.lora_target_modules",
        ),
    ],
    ids=["warmup", "student", "intermediate", "reranker"],
)
def test_a_misspelt_lora_target_of_a_tiny_model_is_rejected(edit, key):
    def config(targets):
        c = _raw(CI)
        edit(c, targets)
        return validate_config(c)

    preflight(config(["q_proj", "self_attn.v_proj"]))  # a name, or its dotted tail, as PEFT
    message = _error(lambda: preflight(config(["q_proj", "v_porj"])))
    assert message.startswith(f"config key {key}: v_porj not in model ")
    assert "(its linear layers: down_proj, gate_proj, k_proj" in message


@pytest.mark.slow
def test_a_misspelt_lora_target_stops_the_job_that_loads_the_model(tiny_model_dir):
    # a hub model's modules are known once its job loads it: the training and reranker jobs
    from cmoe.methods.kard.knowledge.reranker import build_model
    from cmoe.methods.kard.knowledge.settings import RerankerSettings
    from cmoe.training.settings import TrainSettings
    from cmoe.training.sft import build_trainer

    rows = [
        {
            "prompt": [{"role": "user", "content": "2+2?"}],
            "completion": [{"role": "assistant", "content": "4"}],
        }
    ]
    settings = TrainSettings(method="lora")
    settings.lora.target_modules = ["q_projj"]
    with pytest.raises(ConfigError, match=r"^config key lora.target_modules: q_projj not in"):
        build_trainer(str(tiny_model_dir), rows, settings, "unused")
    reranker = RerankerSettings(lora=True, lora_target_modules=["q_projj"])
    with pytest.raises(
        ConfigError, match=r"^config key kard.reranker.lora_target_modules: q_projj not in"
    ):
        build_model(str(tiny_model_dir), reranker)
