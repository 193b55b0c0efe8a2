"""Multi-process training through `accelerate launch`, and resuming a killed training job."""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from cmoe.core.prompting import PromptSettings
from cmoe.core.settings import from_dict
from cmoe.training import TrainSettings, load_training_rows, train
from cmoe.training.checkpoints import (
    COMPLETE,
    FINGERPRINT,
    checkpoint_dir,
    prepare_checkpoint_dir,
    training_fingerprint,
)
from cmoe.training.launch import CONFIG_DIR, launcher_prefix

# --- the launcher prefix the workflow puts before `train ...` -------------------------------------


def test_single_process_is_plain_python():
    assert launcher_prefix("none", 4) == "python -m cmoe"
    assert launcher_prefix() == "python -m cmoe"


def test_fsdp_on_four_gpus():
    words = shlex.split(launcher_prefix("fsdp", 4))
    assert words[:2] == ["accelerate", "launch"]
    assert words[words.index("--config_file") + 1] == str(CONFIG_DIR / "fsdp.yaml")
    assert words[words.index("--num_processes") + 1] == "4"
    assert words[words.index("--num_machines") + 1] == "1"
    assert (
        words[words.index("--main_process_port") + 1] == "0"
    )  # a free port: jobs may share a node
    assert words[-2:] == ["-m", "cmoe"] and "--cpu" not in words


def test_explicit_process_count_and_relative_config(tmp_path):
    prefix = launcher_prefix("ddp", 0, num_processes=2, relative_to=ROOT)
    assert "--config_file config/accelerate/ddp.yaml --num_processes 2 " in prefix


@pytest.mark.parametrize("gpus", [0, 1])
def test_distributed_needs_two_processes(gpus):
    with pytest.raises(ValueError, match="at least 2 processes.*resources.gpu"):
        launcher_prefix("zero3", gpus)


def test_unknown_distributed_setting():
    with pytest.raises(ValueError, match="expected one of none, ddp, fsdp, zero3"):
        launcher_prefix("deepspeed", 8)


@pytest.mark.parametrize(
    "name,kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("zero3", "DEEPSPEED")]
)
def test_accelerate_configs_load_with_accelerate(name, kind):
    """FSDP and ZeRO-3 need GPUs (and deepspeed) to run; here accelerate's own loader checks
    that the files hold only keys it knows and the expected distributed type."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIG_DIR / f"{name}.yaml"))
    assert config.distributed_type.value == kind
    assert config.num_machines == 1 and not config.use_cpu
    if name == "fsdp":
        fsdp = config.fsdp_config
        assert fsdp["fsdp_version"] == 2 and fsdp["fsdp_reshard_after_forward"] is True
        assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
        # what Trainer.save_model needs to write a whole model (or adapter) from rank 0
        assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
        assert not fsdp.get("fsdp_activation_checkpointing")  # gradient_checkpointing does it
    if name == "zero3":
        ds = config.deepspeed_config
        assert ds["zero_stage"] == 3 and ds["zero3_save_16bit_model"] is True


def test_schema_knows_the_new_train_keys():
    import yaml

    from cmoe.config import validate_config
    from cmoe.core.errors import ConfigError

    config = yaml.safe_load((ROOT / "config" / "demo_rummlu.yaml").read_text("utf-8"))
    config.setdefault("training", {}).update(distributed="ddp", save_steps=0, save_total_limit=3)
    # DDP needs at least 2 GPUs per training job (the teachers' warm-ups are training jobs)
    config["resources"]["train"] = config["resources"]["warmup"] = {"gpu": 2}
    validate_config(config)
    config["training"]["distributed"] = "deepspeed"
    with pytest.raises(ConfigError, match="training.distributed"):
        validate_config(config)
    config["training"].update(distributed="none", save_total_limit=1)
    with pytest.raises(ConfigError, match="training.save_total_limit"):
        validate_config(config)


# --- checkpoint folder bookkeeping ----------------------------------------------------------------


def test_checkpoints_of_other_settings_are_discarded(tmp_path):
    rows = [{"prompt": [{"role": "user", "content": "q"}], "completion": []}]
    a = training_fingerprint("some/hub-id", rows, TrainSettings(), 1)
    ckpt = checkpoint_dir(tmp_path / "model")
    assert ckpt == tmp_path / "model.checkpoints"  # a sibling: Snakemake never deletes it
    assert prepare_checkpoint_dir(ckpt, a) is None
    for step, complete in ((4, True), (8, True), (12, False)):  # 12: killed while writing it
        (ckpt / f"checkpoint-{step}").mkdir()
        if complete:
            (ckpt / f"checkpoint-{step}" / COMPLETE).write_text("{}")
    assert prepare_checkpoint_dir(ckpt, a) == ckpt / "checkpoint-8"
    assert not (ckpt / "checkpoint-12").exists()
    # save_steps/save_total_limit do not change what is trained: still resumable
    same = training_fingerprint("some/hub-id", rows, TrainSettings(save_steps=7), 1)
    assert same["sha256"] == a["sha256"]
    # anything else does: other data, settings, or number of processes
    for other in (
        training_fingerprint("some/hub-id", rows * 2, TrainSettings(), 1),
        training_fingerprint("some/hub-id", rows, TrainSettings(learning_rate=1.0), 1),
        training_fingerprint("some/hub-id", rows, TrainSettings(), 2),
    ):
        assert other["sha256"] != a["sha256"]
    b = training_fingerprint("some/hub-id", rows, TrainSettings(epochs=1), 1)
    assert prepare_checkpoint_dir(ckpt, b) is None
    assert json.loads((ckpt / FINGERPRINT).read_text())["sha256"] == b["sha256"]


# --- real runs (subprocesses, CPU) ----------------------------------------------------------------


def _trace_file(questions, path: Path) -> Path:
    rows = [
        {**q, "reasoning": q["explanation"], "answer": q["gold"], "correct": True}
        for q in questions
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    # `accelerate` and `python` of this interpreter's environment, as the workflow's rules see them
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _train_cmd(prefix, model, data, out, settings):
    return [
        *shlex.split(prefix.replace("python ", f"{sys.executable} ", 1)),
        "train",
        "--source",
        "traces",
        "--model",
        str(model),
        "--data",
        str(data),
        "--settings",
        json.dumps(settings),
        "--prompt",
        "{}",
        "--threads",
        "1",
        "--out",
        str(out),
    ]


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


# 16 examples / batch 2 = 8 steps per epoch, 24 in all; a checkpoint every 4 steps.
# group_by_length (the default batching) draws each epoch's order from the global RNG.
RESUME_SETTINGS = {
    "method": "full",
    "epochs": 3,
    "batch_size": 2,
    "max_length": 256,
    "learning_rate": 1e-3,
    "logging_steps": 1,
    "save_steps": 4,
    "batching": "group_by_length",
}


def _kill_at_checkpoint(cmd, out: Path, step: int, log: Path):
    """Start ``cmd`` and SIGKILL it right after its checkpoint-``step`` is complete.

    Returns the watcher thread (join it) and a dict that says, once joined, whether the kill
    came in time (before the run ended). The attempt's stderr goes to ``log``.
    """
    target = checkpoint_dir(out) / f"checkpoint-{step}" / COMPLETE
    with log.open("w") as err:
        victim = subprocess.Popen(cmd, env=_env(), stderr=err)
    outcome = {}

    def kill():
        deadline = time.monotonic() + 300
        while not target.exists() and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        outcome["killed_in_time"] = victim.poll() is None and target.exists()
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    watcher = threading.Thread(target=kill)
    watcher.start()
    return watcher, outcome


def _train_here(model_dir, data: Path, out: Path, settings: dict) -> None:
    """The uninterrupted reference run, in this process (one thread, like --threads 1)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = load_training_rows([str(data)], PromptSettings(), "traces")
        train(str(model_dir), rows, out, from_dict(TrainSettings, settings, "training"))
    finally:
        torch.set_num_threads(threads)


def _assert_same_run(resumed: Path, whole: Path) -> dict:
    """A resumed run's output is the uninterrupted run's; returns the resumed metrics."""
    got = json.loads((resumed / "train_metrics.json").read_text())
    want = json.loads((whole / "train_metrics.json").read_text())
    assert want["resumed_from_step"] == 0
    # Bit-identical on CPU: the checkpoint restores weights, optimizer, scheduler and RNG, the
    # trainer skips the batches of the epoch already trained, and cmoe restores the RNG state the
    # epoch's data order was drawn from. The loss curve before the kill comes from the
    # checkpoint's trainer state, after it from the resumed run.
    assert [p["step"] for p in got["loss_curve"]] == list(range(1, 25))
    assert got["loss_curve"] == want["loss_curve"]
    # the mean over all 24 steps, whichever attempt trained them
    mean = sum(p["loss"] for p in want["loss_curve"]) / 24
    assert want["final_train_loss"] == pytest.approx(mean, rel=1e-9)
    assert got["final_train_loss"] == pytest.approx(want["final_train_loss"], rel=1e-12)
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # cost accounting covers the killed attempts up to their checkpoint, not only the rerun
    assert got["wall_time_s"] > got["train_runtime_s"]
    return got


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_checkpoint(tiny_model_dir, demo_questions, tmp_path):
    data = _trace_file(demo_questions[::17][:16], tmp_path / "traces.jsonl")
    settings = RESUME_SETTINGS
    ref, out = tmp_path / "uninterrupted", tmp_path / "resumed"
    cmd = _train_cmd("python -m cmoe", tiny_model_dir, data, out, settings)
    # Kill it in the middle of the second epoch, right after checkpoint-12 is complete;
    # meanwhile, the uninterrupted reference run.
    watcher, outcome = _kill_at_checkpoint(cmd, out, 12, tmp_path / "attempt1.log")
    _train_here(tiny_model_dir, data, ref, settings)
    watcher.join()
    assert outcome["killed_in_time"], "the run ended before checkpoint-12 was written"
    assert not out.exists()  # killed before the end: no output, as Snakemake would see it

    rerun = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from checkpoint-12" in rerun.stderr
    assert not checkpoint_dir(out).exists() and not checkpoint_dir(ref).exists()
    assert _assert_same_run(out, ref)["resumed_from_step"] == 12


@pytest.mark.slow
def test_training_killed_twice_reports_the_whole_runs_loss(
    tiny_model_dir, demo_questions, tmp_path
):
    """Each resumed attempt's checkpoints carry the loss sum of every earlier attempt: after
    two kills the final loss is still the mean over all steps, not only the last attempts'."""
    data = _trace_file(demo_questions[::17][:16], tmp_path / "traces.jsonl")
    settings = RESUME_SETTINGS
    ref, out = tmp_path / "uninterrupted", tmp_path / "resumed"
    cmd = _train_cmd("python -m cmoe", tiny_model_dir, data, out, settings)
    # First kill at the end of epoch 1 (checkpoint-8), while the reference run trains here.
    watcher, outcome = _kill_at_checkpoint(cmd, out, 8, tmp_path / "attempt1.log")
    _train_here(tiny_model_dir, data, ref, settings)
    watcher.join()
    assert outcome["killed_in_time"], "the first attempt ended before checkpoint-8"
    # Second kill mid-run again: the rerun resumes from checkpoint-8, dies after checkpoint-16.
    second = tmp_path / "attempt2.log"
    watcher, outcome = _kill_at_checkpoint(cmd, out, 16, second)
    watcher.join()
    assert outcome["killed_in_time"], "the second attempt ended before checkpoint-16"
    assert "resuming from checkpoint-8" in second.read_text()
    assert not out.exists()

    rerun = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resuming from checkpoint-16" in rerun.stderr
    assert not checkpoint_dir(out).exists()
    assert _assert_same_run(out, ref)["resumed_from_step"] == 16


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_model_dir, demo_questions, tmp_path):
    data = _trace_file(demo_questions[::17][:16], tmp_path / "traces.jsonl")
    settings = {
        "method": "full",
        "epochs": 1,
        "batch_size": 2,
        "max_length": 256,
        "logging_steps": 1,
        "save_steps": 2,
        "distributed": "ddp",
    }
    # gloo processes through torchrun; on GPUs the process count is the job's resources.gpu
    prefix = launcher_prefix("ddp", 0, num_processes=2)
    out = tmp_path / "model"
    proc = subprocess.run(
        _train_cmd(prefix, tiny_model_dir, data, out, settings),
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["num_processes"] == 2 and metrics["device_count"] == 2
    assert metrics["distributed_type"] == "MULTI_CPU"
    # 16 examples / (2 per process x 2 processes) = 4 optimizer steps, each logged once
    assert [p["step"] for p in metrics["loss_curve"]] == [1, 2, 3, 4]
    # exactly one model, no leftovers: no checkpoints, no temporary folders of other ranks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "traces.jsonl"]
    assert len(list(out.glob("*.safetensors"))) == 1
    assert proc.stderr.count("trained on 16 examples") == 1  # reported by the main process only
