"""The plan: which jobs and table rows a config implies, tested without Snakemake."""

from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT

from cmoe.config import load_config
from cmoe.core.domains import DOMAINS
from cmoe.methods import REGISTRY
from cmoe.plan import build_plan
from cmoe.plan.rules import key_pattern, tables_config, wandb_exports, write_resolved_config
from cmoe.reporting.costs import chain_files

CONFIG = ROOT / "config"


def plan_of(*files):
    return build_plan(load_config(*files))


def produced(plan) -> set[str]:
    """Every file or folder some planned job writes (the workflow's own outputs)."""
    out = {job.out for job in plan.trains.values()}
    for job in plan.generations.values():
        out |= {f"results/{job.key}.raw.jsonl", f"results/{job.key}.cost.json"}
    for kind in ("index", "retrieve"):  # KARD's jobs: cost files beside their outputs
        out |= {f"results/{key}.cost.json" for key in plan.jobs_of(kind)}
    out |= {f"results/{key}" for key in plan.jobs_of("reranker")}
    out |= {f"results/{key}.cost.json" for key in plan.jobs_of("score_teacher")}
    return out | set(specialist_traces(plan, ".raw.jsonl", ".cost.json"))


def specialist_traces(plan, *suffixes) -> list[str]:
    """The files of CMoE's specialists served together (one engine writes every group's)."""
    jobs = plan.jobs_of("specialist_traces").values()
    return [f"results/{j.folder}/{g}{s}" for j in jobs for g in j.groups for s in suffixes]


# the demo, and its vLLM overlay (specialists served together)
DEMOS = [
    (CONFIG / "demo_rummlu.yaml",),
    (CONFIG / "demo_rummlu.yaml", CONFIG / "ablations/vllm_cpu.yaml"),
]


def test_demo_plan_has_every_job_of_the_study():
    plan = plan_of(CONFIG / "demo_rummlu.yaml")
    kinds = Counter(key.split("/")[2] for key in plan.trains if key.startswith("main/"))
    # per teacher: one direct student, one generalist, a specialist per domain, two chained,
    # one KARD student; for teacher a only, 3 KD students (direct-kd, cmoe-kd, on-policy), the
    # Llama student's direct-kd across vocabularies and the seq2seq student in two formats
    kd = 3 + 1
    assert kinds == {"student": 2 * 4 + kd + 2, "generalist": 2, "specialist": 2 * len(DOMAINS)}
    # each in a folder named by the fingerprint of its training job
    assert sorted(k.rsplit("/", 1)[0] for k in plan.trains if k.startswith("models/warmup/")) == [
        "models/warmup/tiny-teacher-a",
        "models/warmup/tiny-teacher-b",
    ]
    # teacher a in 2 shards per domain, teacher b in one; generalist per domain; specialists
    assert len(plan.generations) == 4 * 2 + 4 + 2 * 4 + 2 * 4
    assert len(plan.gathers) == 2 * len(DOMAINS)
    # three base rows (the Qwen3, the Llama and the T5 student), + KARD's two rows, + the KD
    # rows, + the two seq2seq rows
    assert len(plan.evaluations) == 3 + 2 * 4 + 2 * len(DOMAINS) + 2 * 2 + kd + 2
    assert len(plan.jobs_of("mixture")) == 2 * 2
    # MERA's protocol and its generative variant, each once per row it scores
    n_rows = len([r for r in plan.rows if r.loglik])
    protocols = Counter(job.protocol for job in plan.logliks.values())
    assert protocols == {"mera": n_rows, "mera_gen": n_rows} and n_rows == 17
    mera = plan.logliks["main/eval_loglik/base/tiny-student/eval"]
    gen = plan.logliks["main/eval_mera_gen/base/tiny-student/eval"]
    assert mera.pool == gen.pool == "results/data/fewshot.jsonl"  # never the train split
    assert mera.settings == {
        "k": 1,  # MERA v1.2: 1 shot
        "seed": 1234,
        "same_split": False,
        "batch_size": 8,
        "dtype": "auto",
    }
    assert gen.settings == {**mera.settings, "max_new_tokens": 8}
    assert [n.file for n in plan.comparisons.notes] == ["results/main/router/routes.json"]
    assert plan.filter_max_length == 512


def test_rows_carry_their_labels_as_fields():
    plan = plan_of(CONFIG / "demo_rummlu.yaml")
    labels = {(r.method, r.teacher, r.via, r.model) for r in plan.rows}
    assert len(labels) == len(plan.rows) == 25
    for method in ("direct-kd", "cmoe-kd", "cmoe-kd (on-policy)"):
        assert (method, "tiny-teacher-a", "tiny-intermediate", "tiny-student") in labels
    # the Llama student (students.tiny-llama-student.methods): its base and one KD row, from
    # the Qwen3 generalist's scores in the generalist's own vocabulary
    xv = ("direct-kd (cross-vocab)", "tiny-teacher-a", "tiny-intermediate", "tiny-llama-student")
    assert {x for x in labels if x[3] == "tiny-llama-student"} == {
        ("base", "-", "-", "tiny-llama-student"),
        xv,
    }
    assert ("base", "-", "-", "tiny-student") in labels
    for t in ("tiny-teacher-a", "tiny-teacher-b"):
        assert ("direct", t, "-", "tiny-student") in labels
        assert ("direct", t, "-", "tiny-intermediate") in labels  # the generalist
        for method in ("cascade", "cmoe"):
            assert (method, t, "tiny-intermediate", "tiny-student") in labels
        for routing in ("oracle", "learned"):
            assert ("cmoe", t, "tiny-intermediate", f"mixture:{routing}") in labels
    # the seq2seq student, teacher a only (the demo's `seq2seq.teachers`)
    assert ("base", "-", "-", "tiny-t5") in labels  # what the seq2seq rows must beat
    for method in ("seq2seq (rationale)", "seq2seq (step-by-step)"):
        assert (method, "tiny-teacher-a", "-", "tiny-t5") in labels
        for method in ("kard", "kard (no reranker)"):
            assert (method, t, "-", "tiny-student") in labels
    mixtures = [r for r in plan.rows if r.model.startswith("mixture:")]
    assert mixtures and not any(r.loglik for r in mixtures)


@pytest.mark.parametrize("files", DEMOS)
def test_every_cost_in_a_chain_is_a_planned_output(files):
    plan = plan_of(*files)
    outputs = produced(plan)
    for row in plan.rows:
        if row.method == "base":
            assert row.chain is None
            continue
        files = chain_files(row.chain)
        assert files and set(files) <= outputs, row
    # the cmoe student's chain holds every specialist and its traces
    cmoe = next(r for r in plan.rows if r.method == "cmoe" and r.model.startswith("tiny-student"))
    assert sum("/models/specialist/" in f for f in chain_files(cmoe.chain)) == len(DOMAINS)


@pytest.mark.parametrize("files", DEMOS)
def test_training_data_are_planned_outputs_or_filtered_traces(files):
    plan = plan_of(*files)
    raw = {f"results/{k}.raw.jsonl" for k in [*plan.generations, *plan.gathers]}
    raw |= set(specialist_traces(plan, ".raw.jsonl"))
    retrieved = {f"results/{k}.jsonl" for k in plan.jobs_of("retrieve")}  # KARD's traces
    for job in plan.trains.values():
        for f in job.data:
            assert (
                f == "results/data/train.jsonl"
                or plan.raw_of(f.removesuffix(".jsonl")) in raw  # curated from generated
                or f in retrieved
                or f == plan.extra_traces  # the curated extra sources (rule curate_extra)
            )


def test_extra_sources_go_to_every_student_and_nothing_else():
    """Every student of direct, cascade and CMoE; KARD's learn with retrieved passages that
    extra rows do not have, KD students from teacher-scored traces (extra rows have no teacher
    scores), seq2seq students from the traces' question records, and intermediates learn from
    traces only."""
    plan = plan_of(CONFIG / "demo_rummlu.yaml")
    assert plan.extra_traces and plan.extra_traces.startswith("results/data/extra/")
    kd_students = 0
    for job in plan.trains.values():
        kd_students += job.option("--kd") is not None
        student = (
            "/models/student/" in job.key and "/student/kard/" not in job.key and not job.options
        )
        assert (plan.extra_traces in job.data) == student, job.key
    assert kd_students > 0


def test_samples_per_question_reaches_only_its_teachers_generation():
    plan = plan_of(CONFIG / "demo_rummlu.yaml")
    for key, job in plan.generations.items():
        expected = 2 if key.startswith("traces/teacher/tiny-teacher-b/") else None
        assert job.generation.get("samples_per_question") == expected, key
    assert plan.curation["teachers.tiny-teacher-b"]["select"] == "shortest"
    # the demo's teachers and intermediate override the steps (no `length`); the default keeps it
    assert "length" in plan.curation[""]["steps"]
    for path in (
        "results/main/traces/teacher/tiny-teacher-a/other",
        "results/main/traces/generalist/tiny-teacher-a/tiny-intermediate/other",
        "results/main/traces/specialist/tiny-teacher-b/tiny-intermediate/math_cs",
    ):
        assert "length" not in plan.curation_for(path)["steps"], path


def test_methods_are_plug_ins_and_the_schema_knows_them():
    from cmoe.config.schema import schema

    assert schema()["properties"]["methods"]["items"]["enum"] == list(REGISTRY)
    # each method's own sections come from its folder
    assert {"kd", "kard", "knowledge", "seq2seq", "router", "specialist_groups"} <= set(
        schema()["properties"]
    )
    config = load_config(CONFIG / "demo_rummlu.yaml")
    config["methods"] = ["direct"]
    plan = build_plan(config)
    assert {r.method for r in plan.rows} == {"base", "direct"}
    assert not plan.jobs_of("mixture") and not plan.comparisons.notes
    assert not any("/specialist/" in k for k in plan.trains)


@pytest.mark.parametrize("config", ["config.yaml", "demo.yaml", "demo_rummlu.yaml"])
def test_plan_is_a_pure_function_of_the_config(config):
    a, b = plan_of(CONFIG / config), plan_of(CONFIG / config)
    assert a == b
    assert [r.eval_dir for r in a.rows] == [r.eval_dir for r in b.rows]


def test_real_study_plan():
    plan = plan_of(CONFIG / "config.yaml")
    assert plan.namespace == "main"
    teachers = set(plan.teacher_traces)
    assert teachers == {"qwen3-235b", "llama3.3-70b"}
    # no warm-up outside the demo; LoRA everywhere; the real teachers ask for GPUs
    assert not any(k.startswith("models/warmup/") for k in plan.trains)
    assert all(j.settings["method"] == "lora" for j in plan.trains.values())
    assert all(j.resources["gpu"] >= 1 for j in plan.generations.values())


def _real_study_models(config: dict) -> int:
    """Models of config/config.yaml counted from the config itself: every student of every
    method and teacher, each teacher's generalist and specialists, and the distinct bases."""
    models = config["models"]
    seq2seq = [
        s for s, e in config["students"].items() if models[e["model"]].get("arch") == "seq2seq"
    ]
    teachers, students = len(config["teachers"]), len(config["students"]) - len(seq2seq)
    intermediates = len(config["intermediates"])
    groups = len(config.get("specialist_groups") or DOMAINS)
    causal_methods = [m for m in config["methods"] if m != "seq2seq"]
    trained = students * teachers * len(causal_methods)  # one causal student per method
    on_policy = config.get("kd", {}).get("on_policy", {}).get("enabled", True)
    trained += students * teachers * ("cmoe-kd" in config["methods"] and on_policy)
    # direct-kd: one student per scorer of a teacher's traces (kd.direct_teacher)
    if "direct-kd" in config["methods"]:
        from cmoe.methods.kd.settings import direct_scorers, settings

        kd = settings(config)
        for teacher in config["teachers"]:
            scorers = direct_scorers(kd, teacher)
            per_student = intermediates * ("generalist" in scorers) + ("teacher" in scorers)
            trained += students * (per_student - 1)  # one is counted with the methods
    trained += teachers * intermediates * (1 + groups)  # generalist + specialists
    # seq2seq students: each format on the teachers' traces, one on the specialists' traces
    trained += len(seq2seq) * teachers * (len(config["seq2seq"]["formats"]) + intermediates)
    roles = ("students", "intermediates")
    bases = {entry["model"] for role in roles for entry in config[role].values()}
    return trained + len(bases)


def test_real_study_plans_every_benchmark_on_every_model():
    config = load_config(CONFIG / "config.yaml")
    plan = build_plan(config)
    tasks = [b if isinstance(b, str) else b["task"] for b in config["evaluation"]["benchmarks"]]
    assert len(tasks) >= 2
    models = _real_study_models(config)
    assert len(plan.benchmarks) == models * len(tasks)
    for task in tasks:
        jobs = [j for j in plan.benchmarks.values() if j.task == task]
        assert len({j.label for j in jobs}) == models
        assert all(j.key == f"main/eval_bench/{task}/{j.label}/eval" for j in jobs)
    # every trained model is evaluated from the folder its training job writes
    trained = {t.out for t in plan.trains.values() if t.stage == "train"}
    assert {j.model.path for j in plan.benchmarks.values() if "/models/" in j.model.path} == trained


@pytest.mark.slow
def test_real_study_dry_run_plans_evaluate_benchmark_per_model_and_task(tmp_path):
    import re
    import subprocess
    import sys

    config = load_config(CONFIG / "config.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
        + ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(CONFIG / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    tasks = len(config["evaluation"]["benchmarks"])
    assert int(counts["evaluate_benchmark"]) == _real_study_models(config) * tasks
    assert int(counts["benchmark_table"]) == 1


def test_ci_plan(tmp_path):
    from conftest import ci_config

    plan = plan_of(ci_config(tmp_path))
    assert plan.namespace == "ci"
    assert {r.teacher for r in plan.rows} == {"-", "ta", "tb"}
    # MERA's log-likelihood protocol once per scored model, without its generative variant
    assert {j.protocol for j in plan.logliks.values()} == {"mera"}
    assert len(plan.logliks) == len([r for r in plan.rows if r.loglik])


def test_ablation_overlay_plans_in_its_own_namespace():
    main = plan_of(CONFIG / "config.yaml")
    merged = plan_of(CONFIG / "config.yaml", CONFIG / "ablations/merged_domains.yaml")
    assert merged.namespace == "ablation-2-specialists"
    specialists = [k for k in merged.trains if "/specialist/" in k]
    assert len(specialists) == 2 * len(merged.teacher_traces)
    # teacher traces are shared with the main run; everything trained is namespaced
    assert merged.generations.keys() & main.generations.keys()
    assert all(k.startswith("ablation-2-specialists/") for k in specialists)


SWEEP = ROOT / "perf" / "configs" / "sweep.yaml"


def test_sweep_plan_scales():
    plan = plan_of(CONFIG / "config.yaml", SWEEP)
    assert len(plan.teacher_traces) == 4
    assert len([k for k in plan.generations if "/shards/" in k]) == 4 * len(DOMAINS) * 8
    assert len([k for k in plan.trains if "/generalist/" in k]) == 4 * 3


@pytest.mark.slow
def test_no_command_line_grows_with_a_sweep(tmp_path):
    """Every job's shell command of the sweep stays far below Linux's 128 KiB per argument."""
    import re
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-p",
            "--cores",
            "1",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(CONFIG / "config.yaml"),
            str(SWEEP),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = [line for line in proc.stdout.splitlines() if " -m cmoe " in line]
    jobs = re.search(r"^total\s+(\d+)$", proc.stdout, re.M)
    assert jobs and len(commands) == int(jobs.group(1)) - 1  # every job but `all` printed
    longest = max(commands, key=len)
    assert len(longest.encode()) < 8 * 1024, longest[:300]


def test_wildcard_patterns_match_exactly_the_keys():
    import re

    keys = ["a/b", "a/b.c", "a/b/c", "x/y-1", "x/y-10"]
    pattern = re.compile(key_pattern(keys))
    assert all(pattern.fullmatch(k) for k in keys)
    for other in ("a/bxc", "a", "a/b/", "a/b/c/d", "x/y-", "x", "y-1", "a/c"):
        assert not pattern.fullmatch(other), other
    assert not re.compile(key_pattern([])).fullmatch("")
    # every key of the real study's plan, and nothing next to them
    plan = plan_of(CONFIG / "config.yaml")
    for jobs in (plan.trains, plan.generations, plan.evaluations, plan.gathers):
        compiled = re.compile(key_pattern(jobs))
        assert all(compiled.fullmatch(k) for k in jobs)
        assert not any(compiled.fullmatch(k + "x") or compiled.fullmatch(k + "/x") for k in jobs)


def test_rule_resources_are_constants_where_jobs_agree():
    from cmoe.plan.rules import rule_resources

    plan = plan_of(CONFIG / "config.yaml")
    evaluate = rule_resources(plan.evaluations)
    assert all(not callable(v) for v in evaluate.values())  # one stage, one set of resources
    train = rule_resources(plan.trains)
    assert callable(train["gpu"])  # a 4-GPU intermediate and 1-GPU students
    gpus = {train["gpu"](type("WC", (), {"job": k})) for k in plan.trains}
    assert gpus == {1, 4}


def test_runtime_and_logging_never_reach_the_tables_config(tmp_path):
    config = load_config(CONFIG / "demo_rummlu.yaml")
    before = write_resolved_config(config, tmp_path)
    config["resources"]["default"]["threads"] = 8
    config["wandb"]["project"] = "renamed"
    assert write_resolved_config(config, tmp_path) == before
    config["evaluation"]["bootstrap"]["min_n"] = 5
    after = write_resolved_config(config, tmp_path)
    assert after != before and Path(after).exists()
    assert "resources" not in tables_config(config) and "wandb" not in tables_config(config)
    assert "WANDB_PROJECT=renamed" in wandb_exports(config)


def test_per_job_values():
    from cmoe.plan.rules import per_job

    class WC:
        def __init__(self, job):
            self.job = job

    jobs = {"a": {"x": 1, "t": "{q}"}, "b": {"x": 2, "t": "{q}"}}
    assert per_job({"a": {"x": 1}, "b": {"x": 1}}, lambda j: j["x"]) == 1  # shared: a constant
    varying = per_job(jobs, lambda j: j["x"])
    assert varying(WC("a")) == 1 and varying(WC("b")) == 2
    # a string with braces stays a function (Snakemake would format a constant one)
    assert per_job(jobs, lambda j: j["t"])(WC("a")) == "{q}"
    assert callable(per_job({}, lambda j: j))  # a rule with no jobs: never called


def test_mera_version_sets_the_shots_and_a_pool_equal_to_the_source_excludes_itself(tmp_path):
    from conftest import ci_config

    def v11(config):
        config["data"]["mera_version"] = "v1.1"
        config["data"]["fewshot_source"] = dict(config["data"]["source"])

    plan = plan_of(ci_config(tmp_path, edit=v11))
    settings = {j.settings["k"]: j.settings["same_split"] for j in plan.logliks.values()}
    assert settings == {5: True}

    def explicit_k(config):
        config["evaluation"]["loglik"]["k"] = 0

    plan = plan_of(ci_config(tmp_path, name="k0", edit=explicit_k))
    assert {j.settings["k"] for j in plan.logliks.values()} == {0}


def test_a_student_listing_its_methods_is_trained_by_those_alone(tmp_path):
    """The CI config's Llama student lists direct, cmoe and direct-kd: no cascade, KARD or
    cmoe-kd rows (its direct-kd row crosses vocabularies: test_kd_cross_vocab.py)."""
    from cmoe.config import validate_config
    from cmoe.core.errors import ConfigError

    config = load_config(ROOT / "tests" / "configs" / "ci.yaml")
    plan = build_plan(config)
    sl = {r.method for r in plan.rows if r.model == "sl"}
    assert sl == {"direct", "cmoe", "direct-kd (cross-vocab)"}
    assert {"cascade", "kard", "direct-kd"} <= {r.method for r in plan.rows if r.model == "st"}
    assert not any("/sl" in key for key in plan.jobs_of("retrieve"))
    config["students"]["sl"]["methods"] = ["direct", "cascade-kd"]
    with pytest.raises(ConfigError, match=r"students\.sl\.methods: 'cascade-kd' is not a method"):
        validate_config(config)
    # every method: cmoe-kd's on-policy student cannot cross vocabularies
    del config["students"]["sl"]["methods"]
    with pytest.raises(ConfigError, match="on-policy KD needs one vocabulary"):
        validate_config(config)


def test_control_demo_plans_every_method_its_controls_and_its_comparisons():
    plan = plan_of(CONFIG / "demo.yaml")
    methods = {r.method for r in plan.rows}
    assert {"base", "teacher", *REGISTRY} <= {m.partition(" (")[0] for m in methods}
    assert "kard (shuffled passages)" in methods
    # every model comes from the hub, pretrained (the T5 and the Llama 3 with a vocabulary of
    # its own too): no warm-up, nothing built at random
    assert not any(k.startswith("models/warmup/") for k in plan.trains)
    assert not any("/tiny/" in t.model.path for t in plan.trains.values())
    assert "direct-kd (cross-vocab)" in methods
    mixtures = {r.model for r in plan.rows if r.method == "cmoe" and ":" in r.model}
    assert mixtures == {"mixture:oracle", "mixture:learned", "mixture:misrouted"}
    pairs = [p.name for p in plan.comparisons.pairs]
    assert any("oracle − misrouted" in p for p in pairs)
    assert any("learned − oracle" in p for p in pairs)
    assert any("kard (no reranker) − kard (shuffled passages)" in p for p in pairs)
    # every trained causal student row is compared with its untrained base
    students = [
        r for r in plan.rows if r.model == "tiny-student" and r.method not in ("base", "teacher")
    ]
    with_base = {tuple(p.a) for p in plan.comparisons.pairs if p.b[0] == "base"}
    assert students and all((r.method, r.teacher, r.via, r.model) in with_base for r in students)
    # ... and so is every seq2seq row, with the pretrained T5's
    t5 = {r.method for r in plan.rows if r.model == "tiny-t5"}
    assert {"base", "seq2seq (rationale)", "seq2seq (step-by-step)"} <= t5
    assert {p.a[0] for p in plan.comparisons.pairs if p.b == ("base", "-", "-", "tiny-t5")} == (
        t5 - {"base"}
    )
    # logit distillation against SFT alone of the same student, across vocabularies too
    controls = {(p.a[0], p.b[0], p.a[3]) for p in plan.comparisons.pairs if p.control}
    for method, student in [("direct-kd", "tiny-student"),
                            ("direct-kd (cross-vocab)", "tiny-llama-student")]:  # fmt: skip
        assert (method, "direct", student) in controls
    # KARD's controls on the knowledge questions, where passages matter
    shuffled = [p for p in plan.comparisons.pairs if "shuffled" in p.b[0]]
    assert shuffled and all(p.control and p.items == ("kind", ("knowledge",)) for p in shuffled)


def test_controls_are_switches_off_by_default():
    plan = plan_of(CONFIG / "config.yaml")
    assert not plan.jobs_of("misroute") and "misrouted" not in {
        j.routing for j in plan.jobs_of("mixture").values()
    }
    assert not any(r.method == "kard (shuffled passages)" for r in plan.rows)
    assert not any(r.method == "teacher" for r in plan.rows)


def test_the_unfiltered_overlay_plans_the_correctness_filter_control():
    """config/ablations/unfiltered_traces.yaml: teacher b's traces curated twice; each direct
    row of the filtered teacher is a control against the unfiltered one, and a teacher that
    re-curates without dropping `correct` gets a plain comparison."""
    overlay = CONFIG / "ablations" / "unfiltered_traces.yaml"
    plan = plan_of(CONFIG / "demo.yaml", overlay)
    filtered = [p for p in plan.comparisons.pairs if p.b[1] == "tiny-teacher-b-unfiltered"]
    assert {p.a[3] for p in filtered if p.control and p.a[0] == "direct"} == {
        "tiny-student",
        "tiny-llama-student",
        "tiny-intermediate",
    }
    assert all(p.a[1] == "tiny-teacher-b" for p in filtered if p.a[0] == "direct")
    # generated once: the unfiltered teacher curates teacher b's raw traces
    assert not any("tiny-teacher-b-unfiltered" in k for k in plan.generations)
    config = load_config(CONFIG / "demo.yaml", overlay)
    config["teachers"]["tiny-teacher-b-unfiltered"]["curation"]["steps"].insert(0, "correct")
    plan = build_plan(config)
    again = [p for p in plan.comparisons.pairs if p.b[1] == "tiny-teacher-b-unfiltered"]
    assert again and not any(p.control for p in again if p.a[0] == "direct")
