"""How a job runs (threads, memory, GPUs, time, partition), never what it computes: editing
these re-runs nothing. Resolved here once for the plan, the checks and the rules."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .settings import Settings, from_dict, setting

STAGES = ("train", "generate", "warmup", "evaluate")  # stages a model entry's resources override
# the `resources` section's keys: every job's defaults, then each kind of job's own
SECTION_KEYS = ("default", "prepare_data", "make_tiny_model", "warmup", "generate", "filter")
SECTION_KEYS += ("train", "evaluate", "table")


@dataclass
class ResourceSettings(Settings):
    """`resources.<stage>` and a model entry's `resources` (which may also hold a `STAGES`
    key: that stage's own)."""

    threads: int = setting(1, "CPU threads (Slurm `--cpus-per-task`)", minimum=1)
    mem_mb: int = setting(4000, "memory", minimum=1)
    runtime: int = setting(60, "minutes (Slurm `--time`)", minimum=1)
    gpu: int = setting(
        0,
        "GPUs (Slurm `--gpus`; with `profiles/local`, a resource that limits concurrency)",
        minimum=0,
    )
    gpu_model: str = setting(
        "",
        "Slurm GPU type, e.g. `a100` (`--gpus=a100:N`); empty: any",
        pattern="^[A-Za-z0-9_.]*$",
    )
    slurm_partition: str = setting(
        "", "Slurm partition for this stage or model; empty: the cluster's default"
    )


@dataclass
class StartupSettings(Settings):
    """`startup`: how jobs start. Like resources, it changes no result and re-runs nothing."""

    warm: bool = setting(
        False,
        "fork every job from one warm process that has imported torch, transformers, PEFT and "
        "TRL once (`cmoe.cli.warm`), instead of each job importing them: on tiny models that "
        "import is most of a job's time. The demo and the test configs turn it on; jobs of a "
        "Slurm run always start cold",
    )
    idle_s: int = setting(120, "a warm process with no job for this many seconds exits", minimum=1)


def startup_exports(config: dict) -> str:
    """Shell exports that turn warm start on for every job of a run (nothing when off)."""
    settings = from_dict(StartupSettings, config.get("startup"), "startup")
    if not settings.warm:
        return ""
    return f"export CMOE_WARM=1; export CMOE_WARM_IDLE_S={int(settings.idle_s)}; "


def stage_resources(config: dict, stage: str, entry: dict | None = None) -> dict:
    """A job's resources: ResourceSettings' defaults, `resources.default`, `resources.<stage>`,
    then the model entry's own `resources` (so a 235B teacher asks for 8 GPUs and a student
    for 1), then the entry's per-stage override (`resources.generate` of a 14B trained on 4)."""
    res = asdict(ResourceSettings())
    res.update(config.get("resources", {}).get("default", {}))
    res.update(config.get("resources", {}).get(stage, {}))
    own = dict((entry or {}).get("resources", {}))
    per_stage = {k: own.pop(k) for k in STAGES if isinstance(own.get(k), dict)}
    res.update(own)
    res.update(per_stage.get(stage, {}))
    return res
