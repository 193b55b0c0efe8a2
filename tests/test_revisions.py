"""Hub revisions, offline: a local Hugging Face cache holding two snapshots of a tiny model and
of a small dataset (refs/main -> B, the tag v1 -> A, as huggingface_hub writes its refs), read
with HF_HUB_OFFLINE=1. Revisions A and B load different bytes, outputs record the commit,
`cmoe pin` writes commits into a config, and switching a revision reruns exactly its chain."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_snakemake

from cmoe.core.errors import ConfigError

CONTROL = ROOT / "data" / "control"
SHA_A, SHA_B = "a" * 39 + "1", "b" * 39 + "2"  # the model's two commits
SHA_S, SHA_S2 = "c" * 39 + "3", "f" * 39 + "6"  # the student's two commits
DATA_A, DATA_B = "d" * 39 + "4", "e" * 39 + "5"  # the dataset's two commits


def _repo(hub: Path, folder: str, snapshots: dict, refs: dict) -> None:
    for sha, fill in snapshots.items():
        fill(hub / folder / "snapshots" / sha)
    for ref, sha in refs.items():
        path = hub / folder / "refs" / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sha)


def _copy(source: Path):
    return lambda dest: shutil.copytree(source, dest)


def _rows(lines: list[str]):
    def fill(dest: Path):
        (dest / "data").mkdir(parents=True)
        (dest / "data" / "test.jsonl").write_text("".join(lines), "utf-8")

    return fill


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    """HF_HOME with org/teacher (A: teacher-a's weights, B: teacher-b's), org/student and the
    dataset org/control (A: the first half of the control questions, B: the second half)."""
    home = tmp_path_factory.mktemp("hf")
    hub = home / "hub"
    _repo(
        hub,
        "models--org--teacher",
        {SHA_A: _copy(CONTROL / "hub" / "teacher-a"), SHA_B: _copy(CONTROL / "hub" / "teacher-b")},
        {"main": SHA_B, "v1": SHA_A},
    )
    student = _copy(CONTROL / "hub" / "student")
    _repo(hub, "models--org--student", {SHA_S: student, SHA_S2: student}, {"main": SHA_S})
    lines = (CONTROL / "control_tasks.jsonl").read_text("utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    _repo(
        hub,
        "datasets--org--control",
        {DATA_A: _rows(lines[:half]), DATA_B: _rows(lines[half:])},
        {"main": DATA_B, "v1": DATA_A},
    )
    return home


@pytest.fixture
def offline(hf_home, monkeypatch):
    """This process and its children read the local cache only."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hf_home


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_a_tag_a_branch_and_a_commit_resolve_from_the_cache(offline):
    from cmoe.core.revisions import job_revision, resolve_revision

    assert resolve_revision("org/teacher", "v1") == SHA_A
    assert resolve_revision("org/teacher", None) == SHA_B  # main
    assert resolve_revision("org/teacher", SHA_A) == SHA_A
    assert resolve_revision("org/control", "v1", "dataset") == DATA_A
    assert job_revision(str(CONTROL / "hub" / "student"), None) is None  # a local folder
    with pytest.raises(OSError, match="'org/teacher' revision 'v2' is not in the local cache"):
        resolve_revision("org/teacher", "v2")
    with pytest.raises(OSError, match="not in the local cache and HF_HUB_OFFLINE is set"):
        resolve_revision("org/missing", None)


def test_revisions_a_and_b_load_different_model_bytes_and_dataset_rows(offline):
    """Weights, tokenizer and rows through the loaders every job uses (a fresh process: the
    loaders' own caches see only this HF_HOME)."""
    out = _python(
        """
import json, hashlib
from cmoe.core.models import load_causal_lm, load_tokenizer
from cmoe.core.revisions import resolve_revision
from cmoe.data.hub import load_hub_split
result = {}
for rev in ("v1", "main"):
    commit = resolve_revision("org/teacher", rev)
    model = load_causal_lm("org/teacher", "float32", revision=commit)
    weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
    tok = load_tokenizer("org/teacher", revision=commit)
    rows = load_hub_split({"path": "org/control", "split": "test", "revision": rev})
    result[rev] = {
        "commit": commit,
        "weights": hashlib.sha256(weights).hexdigest(),
        "vocab": len(tok),
        "rows": [r["inputs"]["text"] for r in rows],
    }
print(json.dumps(result))
"""
    )
    result = json.loads(out.strip().splitlines()[-1])
    a, b = result["v1"], result["main"]
    assert (a["commit"], b["commit"]) == (SHA_A, SHA_B)
    assert a["weights"] != b["weights"]
    lines = [
        json.loads(x) for x in (CONTROL / "control_tasks.jsonl").read_text("utf-8").splitlines()
    ]
    half = len(lines) // 2
    assert a["rows"] == [r["inputs"]["text"] for r in lines[:half]]
    assert b["rows"] == [r["inputs"]["text"] for r in lines[half:]]


PIN_CONFIG = """\
# a header comment
data:
  source:
    hub: {path: org/control, split: test}  # the questions
models:
  # the teacher
  teacher: {path: org/teacher, vocabulary: t}
  student:
    path: org/student  # block style
    arch: causal
  pinned: {path: org/teacher, revision: v1}
  local: {path: %s}
teachers:
  t: {model: teacher}
students:
  s: {model: student}
methods: [direct]
prompt: {template: "{question} {A} {B} {C} {D}"}
evaluation: {}
"""


def test_pin_writes_commits_in_place_keeping_comments_and_layout(offline, tmp_path):
    from cmoe.config import load_config
    from cmoe.config.revisions import pin, unpinned_warnings
    from cmoe.core.revisions import resolve_revision

    path = tmp_path / "config.yaml"
    path.write_text(PIN_CONFIG % (CONTROL / "hub" / "student"), "utf-8")
    before = path.read_text("utf-8").splitlines()
    config = load_config(path)
    warnings = unpinned_warnings(config)
    assert warnings == [
        "models.teacher: hub id org/teacher has no revision; results may change when the hub "
        "repo does (`cmoe pin` writes its commit into the config)",
        "models.student: hub id org/student has no revision; results may change when the hub "
        "repo does (`cmoe pin` writes its commit into the config)",
        "data.source.hub: hub id org/control has no revision; results may change when the hub "
        "repo does (`cmoe pin` writes its commit into the config)",
    ]
    done = pin([path], config, lambda repo, kind: resolve_revision(repo, None, kind))
    assert sorted(k for _, k, _ in done) == ["data.source.hub", "models.student", "models.teacher"]
    after = path.read_text("utf-8").splitlines()
    # three lines changed or added, every other line (comments included) as it was
    assert (
        after[3]
        == f"    hub: {{path: org/control, revision: {DATA_B}, split: test}}  # the questions"
    )
    assert after[6] == f"  teacher: {{path: org/teacher, revision: {SHA_B}, vocabulary: t}}"
    assert after[8:10] == ["    path: org/student  # block style", f"    revision: {SHA_S}"]
    assert [line for line in after if line not in before] == [after[3], after[6], after[9]]
    assert len(after) == len(before) + 1
    pinned = load_config(path)
    assert pinned["models"]["pinned"]["revision"] == "v1"  # a given revision stays
    assert unpinned_warnings(pinned) == []
    assert pin([path], pinned, resolve_revision) == []  # nothing left to pin


def test_pin_fails_in_one_line_naming_the_key_when_an_id_does_not_resolve(offline, tmp_path):
    path = tmp_path / "config.yaml"
    text = (PIN_CONFIG % (CONTROL / "hub" / "student")).replace("org/student", "org/absent")
    path.write_text(text, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "cmoe", "pin", "--configfile", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cmoe pin: error: config key models.student: model 'org/absent' revision 'main' is not "
        "in the local cache and HF_HUB_OFFLINE is set; download it or unset HF_HUB_OFFLINE"
    ]
    assert path.read_text("utf-8") == text  # nothing written


def test_a_revision_on_a_local_folder_is_a_config_error_naming_its_key(tmp_path):
    from cmoe.config import load_config

    path = tmp_path / "config.yaml"
    text = PIN_CONFIG % (CONTROL / "hub" / "student")
    path.write_text(text.replace("local: {path: ", "local: {revision: v1, path: "), "utf-8")
    with pytest.raises(ConfigError, match=r"^config key models\.local\.revision: a revision"):
        load_config(path)
    folder = tmp_path / "ds"
    folder.mkdir()
    text = text.replace("org/control", f"{folder}, revision: v1")
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=r"^config key data\.source\.hub\.revision: a revision"):
        load_config(path)


def test_the_demo_warns_of_no_unpinned_hub_id():
    from cmoe.config import load_config
    from cmoe.config.revisions import unpinned_warnings

    assert unpinned_warnings(load_config(ROOT / "config" / "demo.yaml")) == []
    real = unpinned_warnings(load_config(ROOT / "config" / "config.yaml"))
    assert any(w.startswith("models.qwen3-4b: hub id Qwen/Qwen3-4B has no revision") for w in real)


def test_the_revision_reaches_every_job_of_the_model_as_a_flag():
    """The rerun key: a model's jobs carry its revision in their params (`flags`)."""
    from cmoe.core.jobs import Model
    from cmoe.plan.rules import model_flags

    assert model_flags(Model("t", "org/teacher", revision="v1")) == "--revision v1"
    assert model_flags(Model("t", "org/teacher")) == ""
    # the shared, fingerprinted folders (a teacher's generation) are told apart by revision;
    # an unpinned model's keep the names they had
    assert Model("t", "org/teacher", revision="v1").identity[-1] == "v1"
    assert Model("t", "org/teacher").identity == ["org/teacher", False, "causal"]
    # a cross-vocabulary score job reads its student's tokenizer at the student's revision
    from cmoe.methods.kd.jobs import ScoreJob

    student = Model("s", "org/student", revision="v2")
    job = ScoreJob("k", Model("t", "org/teacher"), ("d",), {}, {}, {}, student=student)
    assert job.score_flags == "--teacher t --student org/student --student-revision v2"


# --- the workflow -------------------------------------------------------------------------------


def _workflow_config(folder: Path, name: str, teacher: str, data: str, student=SHA_S) -> Path:
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text("utf-8"))
    config = {
        "data": {
            "source": {"hub": {"path": "org/control", "split": "test", "revision": data}},
            "test_fraction": 0.5,
            "seed": 3,
            "max_per_subject": 1,
        },
        "prompt": demo["prompt"],
        "models": {
            "teacher": {"path": "org/teacher", "revision": teacher},
            "student": {"path": "org/student", "revision": student},
        },
        "teachers": {
            "t": {
                "model": "teacher",
                "generation": {"temperature": 0.0, "max_new_tokens": 32, "batch_size": 16},
                "curation": {"steps": ["correct"]},
            }
        },
        "students": {
            "s": {
                "model": "student",
                "train": {"method": "full", "epochs": 1, "learning_rate": 1.0e-3, "batch_size": 8},
            }
        },
        "methods": ["direct"],
        "namespace": "rev",
        "training": {"max_length": 256},
        "evaluation": {
            "generation": {"temperature": 0.0, "max_new_tokens": 16, "batch_size": 16},
            "evaluate_base": True,  # the student's hub base, evaluated at its revision
        },
        "wandb": {"mode": "disabled"},
        "startup": {"warm": True},
        "resources": {"default": {"threads": 1, "mem_mb": 1000, "runtime": 10}},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return path


def _jobs(proc) -> dict[str, int]:
    from test_workflow import planned_jobs

    return planned_jobs(proc)


def _outputs(proc) -> list[str]:
    from test_workflow import _outputs

    return _outputs(proc)


# the report's jobs, rerun by any change to a score (as in tests/test_workflow.py)
REPORT = {"table": 1, "plots": 1, "study_comparison": 1, "summary": 1, "all": 1}


@pytest.mark.slow
@pytest.mark.workflow
def test_switching_a_revision_reruns_exactly_its_chain(offline, tmp_path):
    workdir = tmp_path / "wf"
    workdir.mkdir()
    config = _workflow_config(workdir, "config", "v1", "v1")
    proc = run_snakemake(
        workdir, config, timeout=int(os.environ.get("CMOE_WORKFLOW_TIMEOUT", 1500))
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ran = _jobs(
        run_snakemake(workdir, _workflow_config(tmp_path, "all", "v1", "v1"), extra=["-n", "-F"])
    )
    results = workdir / "results"
    # provenance: the commit each output was made from
    summary = json.loads((results / "data" / "summary.json").read_text())
    assert summary["source"]["hub"]["revision"] == DATA_A
    costs = list((results / "traces" / "teacher" / "t").glob("**/*.cost.json"))
    assert costs and all(
        json.loads(c.read_text())["model"] == {"path": "org/teacher", "revision": SHA_A}
        for c in costs
    )
    metrics = next(results.glob("rev/models/student/**/train_metrics.json"))
    assert json.loads(metrics.read_text())["base_revision"] == SHA_S
    models = [
        json.loads(p.read_text())["provenance"]["model"]
        for p in results.glob("rev/eval/**/scores.json")
    ]
    assert {"path": "org/student", "revision": SHA_S} in models  # the base, at its commit
    assert len(models) == 2  # and the trained student (a folder: no revision)
    # nothing to do again
    again = run_snakemake(workdir, _workflow_config(tmp_path, "same", "v1", "v1"), extra=["-n"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert _jobs(again) == {}, again.stdout[-2000:]
    # the teacher's revision: its traces and everything below them, not the data split
    teacher = run_snakemake(
        workdir, _workflow_config(tmp_path, "teacher", "main", "v1"), extra=["-n"]
    )
    assert teacher.returncode == 0, teacher.stderr[-2000:]
    # the student's revision: its training, its evaluation and the tables
    student = run_snakemake(
        workdir, _workflow_config(tmp_path, "student", "v1", "v1", SHA_S2), extra=["-n"]
    )
    assert student.returncode == 0, student.stderr[-2000:]
    # the dataset's revision: the split and everything after it
    data = run_snakemake(workdir, _workflow_config(tmp_path, "data", "v1", "main"), extra=["-n"])
    assert data.returncode == 0, data.stderr[-2000:]
    print(
        "jobs:", ran, "teacher:", _jobs(teacher), "student:", _jobs(student), "data:", _jobs(data)
    )
    assert sum(ran.values()) == 26
    # all but the split, the contamination index and the student's base evaluation
    unchanged = {"prepare_data": 1, "contamination_index": 1, "evaluate": 1}
    expected = {k: v - unchanged.get(k, 0) for k, v in ran.items()}
    assert _jobs(teacher) == {k: v for k, v in expected.items() if v}
    assert sum(_jobs(teacher).values()) == 23
    # the student trained, its base evaluated, both scored in the tables
    assert _jobs(student) == {"train": 1, "evaluate": 2, **REPORT}
    assert _jobs(data) == ran  # every job reads the questions
    # the student's switch: no trace of the teacher is made again
    assert not any("/traces/" in out for out in _outputs(student))
