# Over 300 lines as one module: every call into lm-eval's API in one place.
"""Benchmarks beyond ruMMLU: lm-evaluation-harness tasks run on every trained and base model.

`evaluation.benchmarks` lists lm-eval tasks: built-in names (``mmlu_prox_ru``) or tasks defined
in a local folder (``{task: mamuramu_localscore, path: MERA/benchmark_tasks}``). Each model ×
task is one job (`cmoe evaluate-benchmark`), run through lm-eval's Python API offline: an
``HFLM`` (a LoRA adapter is given to it as ``peft=`` over its base), ``simple_evaluate`` and a
``TaskManager`` that indexes only the local folder when the task is local.

Task names are checked at validation (:func:`check_benchmarks`): indexing lm-eval's ~15,000
built-in task files takes seconds, so it happens only when the config names a built-in task,
and the sorted names are cached per lm-eval installation (:func:`builtin_task_names`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.errors import ConfigError, DataError
from ..core.io import atomic_write_json, atomic_write_jsonl
from ..core.settings import Settings, setting

log = logging.getLogger(__name__)


@dataclass
class BenchmarkSettings(Settings):
    """One entry of `evaluation.benchmarks` (a bare string is ``{task: <string>}``); checked
    here, with one-line errors, not by the config's schema."""

    task: str = setting(help="the lm-eval task, group or tag name", required=True)
    path: str | None = setting(
        None,
        "folder of a local task (lm-eval's `TaskManager(include_path=...)`; built-in tasks are "
        "then not indexed); null: a built-in task",
    )
    num_fewshot: int | None = setting(None, "shots; null: the task's own default")
    limit: int | None = setting(None, "score at most this many items per task (quick runs)")
    metric: str | None = setting(
        None, "the metric reported; null: `acc` if the task has it, else its first"
    )
    batch_size: int = setting(8, "lm-eval batch size")
    dtype: str = setting("auto", "as for training")
    seed: int = setting(1234, "lm-eval's `--seed`: Python, NumPy, torch and the few-shot sampler")


class BenchmarkError(ConfigError):
    """A benchmark that cannot run (unknown task, missing folder); one line naming it."""


def benchmark_specs(config: dict) -> list[BenchmarkSettings]:
    """`evaluation.benchmarks` as typed settings, in config order."""
    from ..core.settings import from_dict

    specs = []
    for i, entry in enumerate(config.get("evaluation", {}).get("benchmarks") or []):
        raw = {"task": entry} if isinstance(entry, str) else entry
        if isinstance(raw, dict) and "task" not in raw:
            raise BenchmarkError(
                f"config key evaluation.benchmarks[{i}]: a mapping needs `task` (the lm-eval task "
                "name), with `path` for a task defined in a local folder"
            )
        specs.append(from_dict(BenchmarkSettings, raw, f"evaluation.benchmarks[{i}]"))
    return specs


# --- validation -----------------------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cmoe"


def builtin_task_names(cache_dir: str | Path | None = None) -> set[str]:
    """Every name lm-eval's built-in TaskManager knows (tasks, groups, tags).

    Building the index reads every task YAML of the installation (about 8 s on 2 CPU cores), so
    the names are cached in a file keyed by lm-eval's version and install folder.
    """
    import lm_eval

    tasks_dir = Path(lm_eval.__file__).resolve().parent / "tasks"
    version = getattr(lm_eval, "__version__", "unknown")
    key = hashlib.sha256(f"{version}:{tasks_dir}".encode()).hexdigest()[:16]
    cache = Path(cache_dir or _cache_dir()) / f"lm_eval_tasks-{key}.json"
    try:
        return set(json.loads(cache.read_text("utf-8")))
    except (OSError, ValueError):
        pass
    from lm_eval.tasks import TaskManager

    names = sorted(TaskManager().all_tasks)
    with contextlib.suppress(OSError):  # a read-only home: validate without the cache
        atomic_write_json(cache, names)
    return set(names)


def local_task_names(path: str | Path) -> set[str]:
    """Names a local task folder defines (lm-eval's built-in tasks are not indexed)."""
    from lm_eval.tasks import TaskManager

    return set(TaskManager(include_path=str(path), include_defaults=False).all_tasks)


def _bad_value(spec: BenchmarkSettings) -> str | None:
    """What is wrong with one entry's values (its types are checked by from_dict)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", spec.task):
        return f"task: {spec.task!r} is not a task name (letters, digits, _, . and -)"
    if spec.num_fewshot is not None and spec.num_fewshot < 0:
        return f"num_fewshot: must be >= 0, got {spec.num_fewshot}"
    if spec.limit is not None and spec.limit < 1:
        return f"limit: must be >= 1, got {spec.limit}"
    if spec.batch_size < 1:
        return f"batch_size: must be >= 1, got {spec.batch_size}"
    if spec.dtype not in ("auto", "bfloat16", "float16", "float32"):
        return f"dtype: {spec.dtype!r} is not one of auto, bfloat16, float16, float32"
    return None


def check_benchmarks(config: dict, builtin=builtin_task_names) -> None:
    """Raise BenchmarkError (one line naming the key) for a task lm-eval would not find."""
    import difflib

    specs = benchmark_specs(config)
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        where = f"evaluation.benchmarks[{i}]"
        problem = _bad_value(spec)
        if problem:
            raise BenchmarkError(f"config key {where}.{problem}")
        if spec.task in seen:
            raise BenchmarkError(f"config key {where}: task {spec.task!r} is listed twice")
        seen.add(spec.task)
        if spec.path is not None:
            if not Path(spec.path).expanduser().is_dir():
                raise BenchmarkError(
                    f"config key {where}.path: local task folder {spec.path!r} does not exist"
                )
            known = local_task_names(Path(spec.path).expanduser())
            if spec.task not in known:
                raise BenchmarkError(
                    f"config key {where}.task: {spec.task!r} is not defined in {spec.path} "
                    f"(it defines: {', '.join(sorted(known)[:10]) or 'no tasks'})"
                )
    builtin_specs = [(i, s) for i, s in enumerate(specs) if s.path is None]
    if builtin_specs:
        names = builtin()
        for i, spec in builtin_specs:
            if spec.task not in names:
                close = difflib.get_close_matches(spec.task, sorted(names), n=3, cutoff=0.8)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise BenchmarkError(
                    f"config key evaluation.benchmarks[{i}]: {spec.task!r} is not an lm-eval "
                    f"task{hint}; a local task needs {{task: NAME, path: FOLDER}}"
                )


# --- running one model on one task --------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_task(spec: BenchmarkSettings):
    """(task manager, the task objects to evaluate); data problems are one-line DataErrors
    naming the task and where its data comes from, raised before any model is loaded."""
    from lm_eval.tasks import TaskManager

    if spec.path is not None:
        folder = Path(spec.path).expanduser()
        if not folder.is_dir():
            raise BenchmarkError(f"benchmark {spec.task}: task folder {folder} does not exist")
        manager = TaskManager(include_path=str(folder.resolve()), include_defaults=False)
    else:
        manager = TaskManager()
    entry = manager.task_index.get(spec.task)
    if entry is None:
        where = f"in {spec.path}" if spec.path else "among lm-eval's built-in tasks"
        raise BenchmarkError(f"benchmark {spec.task}: no such task {where}")
    try:
        loaded = manager.load([spec.task])
    except Exception as exc:  # datasets raises many kinds; all mean "no data here"
        source = entry.yaml_path or spec.path or "lm-eval"
        raise DataError(
            f"benchmark {spec.task} (defined in {source}): its data could not be loaded: "
            f"{_first_line(exc)}"
        ) from exc
    if spec.task in loaded["groups"]:
        objects = [loaded["groups"][spec.task]]
    else:
        objects = list(loaded["tasks"].values())
    return manager, objects


def _model_args(model: str, revision: str | None = None) -> dict:
    """HFLM arguments: a LoRA adapter folder is ``peft=`` over its base model (at the base's
    commit it records); a hub id at ``revision``."""
    from ..core.models import adapter_base, adapter_revision, is_adapter

    if is_adapter(model):
        args = {"pretrained": adapter_base(model), "peft": str(model)}
        if (Path(model) / "tokenizer_config.json").exists():
            args["tokenizer"] = str(model)  # the tokenizer the adapter was trained with
        revision = adapter_revision(model)  # the base's commit it was trained on
    else:
        args = {"pretrained": str(model)}
    return {**args, **({"revision": revision} if revision else {})}


def _pick_metric(results: dict, wanted: str | None) -> str:
    metrics = [k.split(",")[0] for k in results if "," in k and "_stderr" not in k]
    if wanted:
        if wanted not in metrics:
            raise BenchmarkError(
                f"metric {wanted!r} not reported by the task (it reports {', '.join(metrics)})"
            )
        return wanted
    if "acc" in metrics:
        return "acc"
    if not metrics:
        raise BenchmarkError("the task reported no metric")
    return metrics[0]


def _leaf_tasks(objects) -> list[str]:
    from lm_eval.api.group import Group

    names = []
    for obj in objects:
        if isinstance(obj, Group):
            names += [t.task_name for t in obj.get_all_tasks()]
        else:
            names.append(obj.task_name)
    return names


def evaluate_benchmark(
    *,
    model: str,
    spec: BenchmarkSettings,
    scores_out: str | Path,
    samples_out: str | Path,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> dict:
    """Run one lm-eval task on one model (``revision``: a hub id's commit); write scores.json
    and samples.jsonl atomically."""
    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM

    from ..core.models import check_model_source, device
    from ..core.provenance import provenance
    from ..core.revisions import model_provenance

    t0 = time.perf_counter()
    manager, objects = load_task(spec)  # before the model: missing data fails in seconds
    check_model_source(model)
    lm = HFLM(
        **_model_args(model, revision),
        dtype=spec.dtype,
        batch_size=spec.batch_size,
        device=device(),
        trust_remote_code=trust_remote_code,
    )
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=objects,
        task_manager=manager,
        num_fewshot=spec.num_fewshot,
        limit=spec.limit,
        log_samples=True,
        random_seed=spec.seed,
        numpy_random_seed=spec.seed,
        torch_random_seed=spec.seed,
        fewshot_random_seed=spec.seed,
    )
    task_results = results["results"][spec.task]
    metric = _pick_metric(task_results, spec.metric)
    value = task_results.get(f"{metric},none")
    stderr = task_results.get(f"{metric}_stderr,none")
    leaves = _leaf_tasks(objects)
    n = sum(results["n-samples"][t]["effective"] for t in leaves if t in results["n-samples"])
    samples = [
        {
            "task": t,
            "doc_id": s["doc_id"],
            "target": s["target"],
            "prediction": s["filtered_resps"],
            **{m: s[m] for m in (metric,) if m in s},
        }
        for t in leaves
        for s in results["samples"].get(t, [])
    ]
    atomic_write_jsonl(samples_out, samples)
    scores = {
        "model_path": str(model),
        "task": spec.task,
        "metric": metric,
        "value": value,
        "stderr": stderr if isinstance(stderr, (int, float)) else None,
        "n": n,
        "subtasks": len(leaves),
        "settings": asdict(spec),
        "lm_eval_version": getattr(lm_eval, "__version__", "unknown"),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "results": {k: v for k, v in task_results.items() if k != "alias"},
        "provenance": {**provenance(), "model": model_provenance(model, revision)},
    }
    atomic_write_json(scores_out, scores)
    return scores


def benchmark_texts(spec: BenchmarkSettings) -> list[str]:
    """Every evaluated document of a benchmark task as the model is shown it (the prompt text,
    then the answer choices), for decontaminating training data against it."""
    from lm_eval.api.group import Group

    _, objects = load_task(spec)
    tasks = [
        t for obj in objects for t in (obj.get_all_tasks() if isinstance(obj, Group) else [obj])
    ]
    texts = []
    for task in tasks:
        for doc in task.eval_docs:
            text = task.doc_to_text(doc)
            choices = task.doc_to_choice(doc) if task.OUTPUT_TYPE == "multiple_choice" else []
            if isinstance(text, int):  # an index into the choices (rare, e.g. cloze tasks)
                text = ""
            texts.append(" ".join([str(text), *(str(c) for c in choices)]))
    return texts
