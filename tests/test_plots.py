import csv
import json
import random

from conftest import ROOT

from cmoe.methods import REGISTRY
from cmoe.reporting import paired, plots
from cmoe.reporting.plots import (
    MIN_FONT_PT,
    PLOTS,
    label_overlaps,
    make_plots,
    method_styles,
    pareto_front,
    small_fonts,
)
from cmoe.reporting.tables import COLUMNS

METHODS = ["base", "direct", "cascade", "cmoe", "kard", "seq2seq", "kd", "mix-a", "mix-b", "cot"]
TEACHERS = ["qwen3-235b", "llama3.3-70b"]
STUDENTS = ["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b"]


def _write_csv(path, columns, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def synthetic_scores(tmp_path, methods=METHODS, seed=0):
    """A score table of len(methods) × 2 teachers × 3 students rows (60 by default), and the
    paired differences of every non-direct row, with random accuracies and costs."""
    rng = random.Random(seed)
    rows, diffs = [], []
    for method in methods:
        for teacher in TEACHERS:
            for student in STUDENTS:
                acc = rng.uniform(0.2, 0.85)
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    namespace="main",
                    method=method,
                    teacher=teacher,
                    via="qwen3-14b" if method in ("cascade", "cmoe") else "-",
                    model=student,
                    overall=f"{acc:.4f}",
                    overall_ci_low=f"{acc - 0.03:.4f}",
                    overall_ci_high=f"{acc + 0.03:.4f}",
                    n="2000",
                    train_device_h="" if method == "base" else f"{rng.uniform(5, 400):.4g}",
                )
                for d in ("social_humanities", "natural_science", "math_cs", "other"):
                    row[d] = f"{min(1.0, max(0.0, acc + rng.uniform(-0.1, 0.1))):.4f}"
                rows.append(row)
                if method not in ("base", "direct"):
                    diff = rng.uniform(-0.1, 0.1)
                    diffs.append(
                        {
                            **{k: row[k] for k in ("method", "teacher", "via", "model")},
                            "reference": f"direct / {teacher} / {student}",
                            "diff": f"{diff:.4f}",
                            "ci_low": f"{diff - 0.04:.4f}",
                            "ci_high": f"{diff + 0.04:.4f}",
                            "level": "0.95",
                            "p_value": "0.5",
                            "b10": "10",
                            "b01": "12",
                            "n": "2000",
                        }
                    )
    scores = _write_csv(tmp_path / "scores.csv", COLUMNS, rows)
    differences = _write_csv(tmp_path / "differences.csv", paired.COLUMNS, diffs)
    return scores, differences, rows


def _traces(tmp_path):
    traces = tmp_path / "t.jsonl"
    traces.write_text("".join(json.dumps({"completion_tokens": n}) + "\n" for n in (5, 9, 12)))
    return {"t": [str(traces)]}


def _assert_written(outdir, layout):
    assert sorted(layout) == sorted(PLOTS)
    for name in PLOTS:
        svg = outdir / f"{name}.svg"
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
        png = svg.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert json.loads((outdir / "layout.json").read_text()) == layout
    assert not list(outdir.glob(".*tmp*"))  # no temporary files left


def test_sixty_rows_render_with_no_overlapping_labels_and_legible_fonts(tmp_path):
    scores, differences, rows = synthetic_scores(tmp_path)
    assert len(rows) == 60
    params = {"qwen3-0.6b": 6e8, "qwen3-1.7b": 1.7e9, "qwen3-4b": 4e9}
    outdir = tmp_path / "plots"
    layout = make_plots(scores, params, _traces(tmp_path), outdir, differences)
    _assert_written(outdir, layout)
    for name, checks in layout.items():
        assert checks["overlaps"] == [], (name, checks["overlaps"][:5])
        assert checks["small_fonts"] == [], (name, checks["small_fonts"][:5])
        assert checks["min_font_pt"] >= MIN_FONT_PT, name
    # the forest has one labelled line per row (and one header per method)
    svg = (outdir / "accuracy_forest.svg").read_text()
    assert svg.count("qwen3-235b → qwen3-14b → qwen3-4b") == 2  # cascade and cmoe


def test_few_rows_and_no_differences_still_render(tmp_path):
    scores, _, _ = synthetic_scores(tmp_path, methods=["base", "direct"])
    outdir = tmp_path / "plots"
    layout = make_plots(scores, {}, _traces(tmp_path), outdir, None)
    _assert_written(outdir, layout)
    assert all(not c["overlaps"] and not c["small_fonts"] for c in layout.values())


def test_text_measurement_finds_overlaps_and_small_fonts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "first label", fontsize=9)
    ax.text(0.52, 0.51, "second label", fontsize=9)
    ax.text(0.1, 0.1, "tiny", fontsize=6)
    assert ("first label", "second label") in label_overlaps(fig)
    assert small_fonts(fig) == [("tiny", 6)]
    plt.close(fig)


def test_pareto_front_and_one_style_per_method():
    points = [(1.0, 30.0), (2.0, 50.0), (2.0, 40.0), (3.0, 45.0), (4.0, 60.0), (0.5, 10.0)]
    assert pareto_front(points) == [5, 0, 1, 4]
    plots.REGISTERED[:] = list(REGISTRY)  # what `cmoe plots --methods` passes from the rule
    styles = method_styles(METHODS)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == len(METHODS)
    # a registered method keeps its style whichever subset of methods a table holds
    assert method_styles(["cmoe", "direct"])["cmoe"] == styles["cmoe"]


def test_every_row_is_compared_with_the_baseline_row_of_its_teacher_and_model():
    from cmoe.config import load_config
    from cmoe.plan import build_plan

    plan = build_plan(load_config(ROOT / "config" / "demo_rummlu.yaml"))
    references = {(r.method, r.teacher, r.via, r.model): r.reference for r in plan.rows}
    t, im, st = "tiny-teacher-a", "tiny-intermediate", "tiny-student"
    assert references[("cmoe", t, im, "mixture:oracle")] == ("direct", t, "-", im)
    assert references[("cascade", t, im, st)] == ("direct", t, "-", st)
    assert references[("direct", t, "-", st)] is None
    assert references[("base", "-", "-", st)] is None


def test_seq2seq_rows_render_with_their_own_styles_after_the_causal_methods(tmp_path):
    from cmoe.methods import method_rank

    rows_of = [
        "base",
        "direct",
        "cmoe",
        "kard",
        "kard (no reranker)",
        "seq2seq (rationale)",
        "seq2seq (step-by-step)",
        "seq2seq (step-by-step, specialists' traces)",
    ]
    scores, differences, _ = synthetic_scores(tmp_path, methods=rows_of)
    outdir = tmp_path / "plots"
    layout = make_plots(scores, {}, _traces(tmp_path), outdir, differences, list(REGISTRY))
    _assert_written(outdir, layout)
    for name, checks in layout.items():
        assert checks["overlaps"] == [] and checks["small_fonts"] == [], name
    svg = (outdir / "accuracy_forest.svg").read_text()
    for method in rows_of[5:]:
        assert method.replace("'", "&#39;") in svg or method in svg, method
    styles = method_styles(rows_of)
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == len(rows_of)
    ranks = [method_rank(m) for m in rows_of]
    assert ranks == sorted(ranks) and method_rank("seq2seq (rationale)") > method_rank("kard")
