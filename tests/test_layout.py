"""The results/ layout: any model in any set of roles without one output inside another, and
shared stages that a config makes otherwise written beside the main run's, never over them."""

from itertools import chain, combinations, product

import pytest
from conftest import ROOT, ci_config, run_snakemake

from cmoe.config import load_config
from cmoe.core import paths
from cmoe.core.errors import ConfigError
from cmoe.plan import build_plan
from cmoe.plan.layout import outputs

CONFIG = ROOT / "config"
ROLES = ("teachers", "intermediates", "students")
# two models that take every subset of the roles (none, one, two or all three) beside the CI
# config's own teacher ta, intermediate im and students
MODELS = ("qa", "qb")
SUBSETS = [s for n in range(len(ROLES) + 1) for s in combinations(ROLES, n)]
COMBINATIONS = [c for c in product(SUBSETS, repeat=len(MODELS)) if any(c)]


def _roles(config: dict, assignment) -> dict:
    """The CI config with each of MODELS in its roles (one `models` entry in all of them), every
    method on every teacher, and direct-kd distilling both the teacher's and the generalist's
    logits: every chain a method plans, for every role a model takes."""
    config["teachers"] = {"ta": config["teachers"]["ta"]}
    for name, roles in zip(MODELS, assignment, strict=True):
        config["models"][f"{name}-model"] = {"tiny": "intermediate"}
        entries = {
            "teachers": {**config["teachers"]["ta"], "model": f"{name}-model"},
            "intermediates": {**config["intermediates"]["im"], "model": f"{name}-model"},
            "students": {**config["students"]["st"], "model": f"{name}-model"},
        }
        for role in roles:
            config[role][name] = entries[role]
    config["kd"].pop("teachers")
    config["kd"]["direct_teacher"] = ["generalist", "teacher"]
    config["seq2seq"].pop("teachers")
    return config


def _nested(plan) -> list[tuple[str, str]]:
    """Pairs of outputs of which one is the other or lies inside it (checked apart from the
    plan's own check)."""
    keys = sorted({key for key, _, _ in outputs(plan)}, key=lambda k: k.split("/"))
    found = [(a, b) for a, b in zip(keys, keys[1:], strict=False) if b.startswith(a + "/")]
    counts = {}
    for key, _, _ in outputs(plan):
        counts[key] = counts.get(key, 0) + 1
    return found + [(k, k) for k, n in counts.items() if n > 1] + plan.collisions


def _ci(tmp_path, assignment):
    name = "roles-" + "-".join("+".join(r[0] for r in roles) or "none" for roles in assignment)
    path = ci_config(tmp_path, name, lambda c: _roles(c, assignment))
    return path, load_config(path)


def test_every_set_of_roles_plans_without_nested_outputs(tmp_path):
    """Each of two models in every subset of teacher, intermediate and student (63
    combinations): no output of the plan is another's or lies inside it."""
    assert len(COMBINATIONS) == 63
    for assignment in COMBINATIONS:
        _, config = _ci(tmp_path, assignment)
        plan = build_plan(config)
        assert not _nested(plan), (assignment, _nested(plan)[:2])
        for name, roles in zip(MODELS, assignment, strict=True):
            if "students" in roles:  # the model is trained as a student
                trained = [k for k in plan.trains if "/student/" in k]
                assert any(name in k.split("/") for k in trained), (assignment, name)


@pytest.mark.slow
def test_snakemake_accepts_a_model_in_every_role(tmp_path):
    """Snakemake builds the whole DAG (dry run) with both models teacher, intermediate and
    student at once: the old layout stopped it with ChildIOException."""
    path, _ = _ci(tmp_path, (ROLES, ROLES))
    proc = run_snakemake(tmp_path, path, extra=["-n"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ChildIOException" not in proc.stderr


def test_the_old_layout_nests_and_the_plan_says_so(tmp_path, monkeypatch):
    """Without the leaves, qa as intermediate and student nests direct-kd's students (the
    teacher's logits: .../ta/qa) around those distilled through qa (.../ta/qa/st): the plan
    stops with one line naming both outputs and their entries."""
    monkeypatch.setattr(paths, "MODEL", "")
    monkeypatch.setattr(paths, "EVAL", "")
    _, config = _ci(tmp_path, (("intermediates", "students"), ()))
    with pytest.raises(ConfigError) as err:
        build_plan(config)
    message = str(err.value)
    assert "\n" not in message and "is a parent of" in message, message
    assert "students.qa" in message and "intermediates.qa" in message, message


def test_two_jobs_of_one_output_are_refused(tmp_path):
    """An intermediate named `teacher`: direct-kd's scores of its generalist and of the teacher
    itself would be one folder; the plan refuses it before any job."""

    def edit(config):
        _roles(config, ((), ()))
        config["intermediates"]["teacher"] = config["intermediates"].pop("im")

    config = load_config(ci_config(tmp_path, "teacher-named", edit))
    with pytest.raises(ConfigError, match=r"^two different score_teacher jobs write results/ci/"):
        build_plan(config)


def test_cmoe_check_runs_the_layout_check(tmp_path, capsys):
    from cmoe.cli import main

    def edit(config):
        _roles(config, ((), ()))
        config["intermediates"]["teacher"] = config["intermediates"].pop("im")

    assert main(["check", "--schema-only", str(ci_config(tmp_path, "teacher-named", edit))]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "two different score_teacher jobs write" in err, err


@pytest.mark.slow
def test_snakemake_stops_a_colliding_config_with_one_line(tmp_path):
    def edit(config):
        _roles(config, ((), ()))
        config["intermediates"]["teacher"] = config["intermediates"].pop("im")

    proc = run_snakemake(tmp_path, ci_config(tmp_path, "teacher-named", edit), extra=["-n"])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out and "Building DAG" not in out
    lines = [line for line in out.splitlines() if "two different" in line]
    assert len(lines) == 1 and "intermediates.teacher" in lines[0], out[-2000:]
    assert lines[0].startswith("Invalid workflow config: two different score_teacher jobs")


# --- shared stages: beside the main run's when made otherwise, shared when made alike ----------


def _shared(plan) -> dict[str, set[str]]:
    """The plan's outputs outside any namespace: tiny models, warm-ups, teachers' generations."""
    tiny = set(plan.tiny_models)
    warmups = {k for k in plan.trains if k.startswith("models/warmup/")}
    generated = {k for k in chain(plan.generations, plan.gathers) if k.startswith("traces/")}
    return {"tiny": tiny, "warmup": warmups, "generated": generated}


def _plans(base, overlay, edit=None):
    config = load_config(*base)
    main = build_plan(config)
    other = load_config(*base, *([overlay] if overlay else []))
    if edit:
        edit(other)
    return _shared(main), _shared(build_plan(other))


def test_vllm_teachers_overlay_writes_its_traces_beside_the_demos():
    """config/ablations/vllm_cpu_teachers.yaml changes only how the demo's teachers generate:
    their traces go to folders of their own, the models they are made from stay shared."""
    main, vllm = _plans([CONFIG / "demo.yaml"], CONFIG / "ablations/vllm_cpu_teachers.yaml")
    assert main["generated"] and not main["generated"] & vllm["generated"]
    assert main["tiny"] == vllm["tiny"] and main["warmup"] == vllm["warmup"]
    # the same teachers, each in a folder named by the fingerprint of its generation
    teachers = {k.split("/")[2] for k in vllm["generated"]}
    assert teachers == {k.split("/")[2] for k in main["generated"]}


@pytest.mark.parametrize(
    "overlay", ["lora_rank", "merged_domains", "specialist_size", "teacher_swap", "extra_sources"]
)
def test_an_ablation_of_training_reuses_the_main_runs_traces(overlay):
    main, ablation = _plans([CONFIG / "config.yaml"], CONFIG / f"ablations/{overlay}.yaml")
    assert ablation["generated"] and ablation["generated"] <= main["generated"]


def test_a_changed_build_setting_moves_exactly_what_it_makes():
    """A tiny model's spec moves that model, the teacher warmed up from it and the traces that
    teacher generates; a warm-up setting moves the warm-up and its traces, not the tiny model."""
    demo = [CONFIG / "demo_rummlu.yaml"]

    def spec(config):
        config["tiny_models"]["specs"]["teacher"]["seed"] += 1

    def warmup(config):
        config["teachers"]["tiny-teacher-a"]["warmup"]["epochs"] += 1

    main, other = _plans(demo, None, spec)
    moved = {k.split("/")[2] for k in main["tiny"] ^ other["tiny"]}
    assert moved == {"tiny-teacher-a", "tiny-teacher-b"}  # the two models of that spec
    assert not main["warmup"] & other["warmup"] and not main["generated"] & other["generated"]
    main, other = _plans(demo, None, warmup)
    assert main["tiny"] == other["tiny"]
    moved = {k.split("/")[2] for k in main["warmup"] ^ other["warmup"]}
    assert moved == {"tiny-teacher-a"}
    moved = {k.split("/")[2] for k in main["generated"] ^ other["generated"]}
    assert moved == {"tiny-teacher-a"}


def test_two_overlays_of_one_teacher_entry_share_its_generation():
    """samples_per_question.yaml and selection_policy.yaml define the same four-sample teacher:
    it is generated once for both, and selection_policy's curation-only teachers read it."""
    base = [CONFIG / "config.yaml"]
    _, samples = _plans(base, CONFIG / "ablations/samples_per_question.yaml")
    _, selection = _plans(base, CONFIG / "ablations/selection_policy.yaml")
    n4 = {k for k in samples["generated"] if k.split("/")[2] == "qwen3-235b-n4"}
    assert n4 and n4 <= selection["generated"]
    plan = build_plan(load_config(*base, CONFIG / "ablations/selection_policy.yaml"))
    sources = {raw.split("/")[3] for raw in plan.raw_traces.values()}
    assert sources == {"qwen3-235b-n4"}  # the `traces_from` teachers generate nothing
