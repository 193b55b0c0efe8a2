"""wandb never blocks on a login and never sees a secret; its settings come from the environment."""

import pytest

from cmoe.core.prompting import PromptSettings
from cmoe.core.tracking import WandbSettings, log_tables, redact, setup_wandb
from cmoe.training import TrainSettings, sft_examples, train

WANDB_VARS = ("WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_SILENT")


@pytest.fixture(autouse=True)
def wandb_env(monkeypatch):
    """setup_wandb writes wandb's variables into os.environ: give them back after each test, so
    later tests (and the `cmoe train` subprocesses they start) see the session's environment."""
    for name in WANDB_VARS:
        monkeypatch.setenv(name, "placeholder")  # registers the original value for restoring
        monkeypatch.delenv(name)


def test_settings_from_env():
    assert WandbSettings.from_env({}) == WandbSettings(mode="disabled", project="cmoe")
    env = {"WANDB_MODE": "offline", "WANDB_PROJECT": "p", "WANDB_ENTITY": "team"}
    assert WandbSettings.from_env(env) == WandbSettings("offline", "p", "team")
    # empty values are unset ones
    unset = WandbSettings.from_env({"WANDB_MODE": "", "WANDB_ENTITY": ""})
    assert unset == WandbSettings(mode="disabled")  # outside the workflow: no logging


def test_settings_from_os_environ(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_PROJECT", "renamed")
    assert WandbSettings.from_env() == WandbSettings(mode="online", project="renamed")


@pytest.mark.parametrize("mode", ["bogus", "Online", "dryrun"])
def test_settings_from_env_rejects_unknown_mode(mode):
    secret = "sk-test-not-in-the-error"
    with pytest.raises(ValueError, match="WANDB_MODE=.*expected one of disabled, offline, online"):
        WandbSettings.from_env({"WANDB_MODE": mode, "WANDB_API_KEY": secret})
    try:
        WandbSettings.from_env({"WANDB_MODE": mode, "WANDB_API_KEY": secret})
    except ValueError as exc:
        assert secret not in str(exc)


def test_disabled_reports_nowhere(monkeypatch):
    assert setup_wandb(WandbSettings(mode="disabled")) == ["none"]


def test_online_without_key_falls_back_to_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    assert setup_wandb(WandbSettings(mode="online", project="p")) == ["wandb"]
    import os

    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_PROJECT"] == "p"


@pytest.mark.slow
def test_offline_run_logs_curves_without_the_key(
    monkeypatch, tmp_path, tiny_model_dir, demo_questions
):
    secret = "sk-test-0123456789-do-not-log"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    rows = sft_examples(demo_questions[:4], PromptSettings(), source="reference")
    train(
        str(tiny_model_dir),
        rows,
        tmp_path / "m",
        TrainSettings(method="full", epochs=1, batch_size=2, logging_steps=1),
        wandb=WandbSettings(mode="offline", project="cmoe-test"),
        run_name="wandb-test",
    )
    files = [p for p in (tmp_path / "wandb").rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)  # the offline run was written
    for p in files + [tmp_path / "m" / "train_metrics.json"]:
        assert secret.encode() not in p.read_bytes(), p


def test_redact_hides_secret_looking_keys():
    cfg = {
        "teachers": {"x": {"api_key_env": "GIGACHAT_KEY", "model": "m"}},
        "token": "abc",
        "list": [{"password": "p"}],
    }
    out = redact(cfg)
    assert out["teachers"]["x"]["api_key_env"] == "<redacted>" and out["token"] == "<redacted>"
    assert out["teachers"]["x"]["model"] == "m" and out["list"][0]["password"] == "<redacted>"


@pytest.mark.slow
def test_tables_logged_offline_as_wandb_table(monkeypatch, tmp_path):
    secret = "sk-test-table-secret"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    run_dir = log_tables(
        {"mode": "offline", "project": "cmoe-test"},
        "tables-test",
        {"scores": [{"model": "s", "overall": 0.5}]},
        {"namespace": "t", "secret_token": secret},
    )
    assert run_dir is not None
    files = [p for p in (tmp_path / "wandb").rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    for p in files:
        assert secret.encode() not in p.read_bytes(), p


def test_tables_follow_the_environment(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert log_tables({}, "tables-test", {"scores": [{"model": "s"}]}) is None
    assert log_tables(None, "tables-test", {"scores": [{"model": "s"}]}) is None
    monkeypatch.setenv("WANDB_MODE", "bogus")
    with pytest.raises(ValueError, match="WANDB_MODE"):
        log_tables({}, "tables-test", {"scores": [{"model": "s"}]})
