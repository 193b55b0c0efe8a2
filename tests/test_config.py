import pytest
import yaml
from conftest import ROOT, run_snakemake

from cmoe.config import load_config, validate_config
from cmoe.core.errors import ConfigError


def _demo():
    return yaml.safe_load((ROOT / "config" / "demo_rummlu.yaml").read_text("utf-8"))


@pytest.mark.parametrize("name", ["demo.yaml", "demo_rummlu.yaml", "config.yaml"])
def test_shipped_configs_are_valid(name):
    load_config(ROOT / "config" / name)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["teachers"]["tiny-teacher-a"].update(temprature=0.5),
            "unknown config key teachers.tiny-teacher-a.temprature",
        ),
        (lambda c: c.update(extra_section={}), "unknown config key extra_section"),
        (
            lambda c: c["teachers"]["tiny-teacher-a"]["generation"].update(temperature="hot"),
            "config key teachers.tiny-teacher-a.generation.temperature: "
            "'hot' is not of type 'number'",
        ),
        (
            lambda c: c["training"].update(max_length="4096"),
            "config key training.max_length: '4096' is not of type 'integer'",
        ),
        (lambda c: c.pop("students"), "missing required config key students"),
        (lambda c: c["data"].pop("source"), "missing required config key data.source"),
        (
            lambda c: c["students"]["tiny-student"].update(model="nope"),
            "config key students.tiny-student.model: 'nope' is not defined in models",
        ),
        (
            lambda c: c["prompt"].update(template="{question} {E}"),
            "config key prompt.template: bad placeholder",
        ),
        (lambda c: c["data"].update(on_bad_row="ignore"), "config key data.on_bad_row"),
        (
            lambda c: c.update(specialist_groups={"a": ["math_cs"], "b": ["math_cs"]}),
            "config key specialist_groups.b: domain math_cs is already in group a",
        ),
        (
            lambda c: c.update(specialist_groups={"a": ["math_cs"]}),
            "config key specialist_groups: no group serves social_humanities",
        ),
        (
            lambda c: c.pop("intermediates"),
            "config key intermediates: required by method cascade",
        ),
        (
            lambda c: c["intermediates"]["tiny-intermediate"].update(
                specialists={"maths": {"train": {"epochs": 1}}}
            ),
            "intermediates.tiny-intermediate.specialists.maths: no such specialist group",
        ),
        (
            lambda c: c.update(methods=["direct", "distill"]),
            "config key methods.1: 'distill' is not one of",
        ),
        (
            lambda c: c["models"].update({"x": {"path": "a", "tiny": "student"}}),
            "give exactly one of 'path' or 'tiny'",
        ),
    ],
)
def test_bad_config_gives_one_clear_message(mutate, message):
    config = _demo()
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_yaml_overlays_merge_deeply(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training:\n  max_length: 256\n", "utf-8")
    config = load_config(ROOT / "config" / "demo_rummlu.yaml", overlay)
    assert config["training"]["max_length"] == 256
    assert config["training"]["lr_scheduler"] == "cosine"  # untouched keys survive


def test_invalid_yaml_names_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml, line 2: not valid YAML"):
        load_config(bad)


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    """The workflow itself validates at start: the message names the key, nothing runs."""
    config = _demo()
    config["students"]["tiny-student"]["train"]["epochz"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    proc = run_snakemake(tmp_path, path, extra=["-n"])
    assert proc.returncode != 0
    assert "unknown config key students.tiny-student.train.epochz" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_distributed_training_needs_at_least_two_gpus():
    from cmoe.config import load_config, validate_config
    from cmoe.core.errors import ConfigError

    config = load_config(ROOT / "config" / "config.yaml")
    config["intermediates"]["qwen3-14b"]["resources"]["gpu"] = 1
    with pytest.raises(ConfigError, match=r"intermediates\.qwen3-14b: training.distributed"):
        validate_config(config)


def test_entry_resources_have_per_stage_overrides():
    from cmoe.config import load_config
    from cmoe.core.resources import stage_resources

    config = load_config(ROOT / "config" / "config.yaml")
    entry = config["intermediates"]["qwen3-14b"]
    assert stage_resources(config, "train", entry)["gpu"] == 4
    assert stage_resources(config, "generate", entry)["gpu"] == 1
    assert stage_resources(config, "generate", entry)["mem_mb"] == 128000
    teacher = config["teachers"]["qwen3-235b"]
    assert stage_resources(config, "generate", teacher)["gpu"] == 8
    assert stage_resources(config, "train", config["students"]["qwen3-1.7b"])["gpu"] == 1


def test_an_overlay_removes_a_methods_named_entry_by_null(tmp_path):
    """`specialist_groups` is a section of named entries (the shared roles' NAMED_SECTIONS): an
    overlay removes a group by setting it to null, as it removes a teacher."""
    overlay = tmp_path / "regroup.yaml"
    groups = {"stem": None, "all_but_humanities": ["natural_science", "math_cs", "other"]}
    groups["humanities_other"] = ["social_humanities"]
    overlay.write_text(yaml.safe_dump({"specialist_groups": groups}), "utf-8")
    merged = ROOT / "config" / "ablations" / "merged_domains.yaml"
    config = load_config(ROOT / "config" / "demo.yaml", merged, overlay)
    assert config["specialist_groups"] == {
        "humanities_other": ["social_humanities"],
        "all_but_humanities": ["natural_science", "math_cs", "other"],
    }


def test_a_specialists_own_training_is_checked_by_the_methods_that_train_it():
    """A specialist's overrides (the shared roles' `specialists` key) are checked where the
    specialists are planned: distributed training over the GPUs its job asks for on every
    parse, its scheduler before the first job; a config whose methods train no specialist
    does not read them."""
    from cmoe.config import preflight

    config = load_config(ROOT / "config" / "demo.yaml")
    specialists = {"math_cs": {"train": {"distributed": "ddp"}}}
    config["intermediates"]["tiny-intermediate"]["specialists"] = specialists
    key = r"intermediates\.tiny-intermediate\.specialists\.math_cs\.train: training.distr"
    with pytest.raises(ConfigError, match=key):
        validate_config(config)
    specialists["math_cs"]["train"] = {"lr_scheduler": "cosine_warm"}
    with pytest.raises(ConfigError, match=r"specialists\.math_cs\.train\.lr_scheduler: 'cosin"):
        preflight(validate_config(config))
    config["methods"] = ["direct", "cascade"]  # no method trains a specialist
    preflight(validate_config(config))
