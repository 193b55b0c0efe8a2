"""wandb never blocks on a login and never sees a secret."""

import pytest

from cmoe.prompting import PromptSettings
from cmoe.training import TrainSettings, WandbSettings, setup_wandb, sft_examples, train


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
        WandbSettings(mode="offline", project="cmoe-test"),
        run_name="wandb-test",
    )
    files = [p for p in (tmp_path / "wandb").rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)  # the offline run was written
    for p in files + [tmp_path / "m" / "train_metrics.json"]:
        assert secret.encode() not in p.read_bytes(), p


def test_redact_hides_secret_looking_keys():
    from cmoe.tracking import redact

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
    from cmoe.tracking import log_tables

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
