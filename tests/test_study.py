"""study_comparison.md: the run's rows beside the study's numbers (data/study_reference.csv)."""

import csv
import json
import random
from pathlib import Path

import pytest

from cmoe.cli import main
from cmoe.config import load_config
from cmoe.plan import build_plan
from cmoe.plan.rules import tables_config
from cmoe.reporting.study import (
    StudyReferenceError,
    compare,
    load_reference,
    match,
    size_of,
)
from cmoe.reporting.tables import COLUMNS

CONFIG = Path(__file__).resolve().parents[1] / "config"


def _scores_for(plan, path: Path, seed=0) -> Path:
    """A synthetic scores.csv with one row per row of the plan."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in plan.rows:
            acc = rng.uniform(0.3, 0.8)
            cells = dict.fromkeys(COLUMNS, "")
            cells.update(namespace=plan.namespace, **row.labels, n="2000")
            for c in ("social_humanities", "natural_science", "math_cs", "other", "overall"):
                cells.update({c: acc, f"{c}_ci_low": acc - 0.02, f"{c}_ci_high": acc + 0.02})
            writer.writerow(cells)
    return path


def test_study_reference_holds_the_studys_numbers():
    ref = load_reference()
    by = {(s["method"], s["model"]): s for s in ref}
    assert by[("direct", "Qwen/Qwen3-14B")]["overall"] == 72.2
    mixture = by[("cmoe", "mixture:oracle")]
    assert (mixture["overall"], mixture["social_humanities"], mixture["other"]) == (
        79.3,
        82.90,
        77.97,
    )
    assert (mixture["math_cs"], mixture["natural_science"]) == (70.70, 85.58)
    assert by[("cmoe", "Qwen/Qwen3-1.7B")]["overall"] == 60.93
    assert by[("cmoe", "Qwen/Qwen3-4B")]["overall"] == 81.3
    assert by[("kard", "")]["overall"] == 33.4
    assert [by[("seq2seq (rationale)", m)]["overall"] for m in ("ai-forever/FRED-T5-1.7B",)] == [25]
    assert by[("seq2seq (rationale)", "ai-forever/ruT5-large")]["overall"] == 27.91
    assert by[("seq2seq (rationale)", "Vikhrmodels/VikhrT5-3b")]["overall"] == 0.33


def test_bad_reference_is_one_line_naming_file_line_and_column(tmp_path):
    bad = tmp_path / "ref.csv"
    src = (CONFIG.parent / "data" / "study_reference.csv").read_text("utf-8").splitlines()
    bad.write_text("\n".join([src[0], src[1].replace(",72.2,", ",72.2%,")]) + "\n", "utf-8")
    with pytest.raises(StudyReferenceError, match=r"ref\.csv:2: column overall"):
        load_reference(bad)


def test_sizes_and_roles():
    assert size_of("Qwen/Qwen3-1.7B") == 1.7e9
    assert size_of("Qwen/Qwen3-235B-A22B") == 235e9
    assert size_of("ai-forever/ruT5-large") is None
    config = {
        "models": {"big": {"path": "Qwen/Qwen3-235B-A22B"}, "s4": {"path": "other/Llama-4B"}},
        "teachers": {"t": {"model": "big"}},
        "students": {"st": {"model": "s4"}},
    }
    study = {s["model"]: s for s in load_reference() if s["method"] == "cmoe"}
    row = {"method": "cmoe", "teacher": "t", "via": "im", "model": "st"}
    assert match(row, study["Qwen/Qwen3-4B"], config).startswith("same size, other student")
    assert match(row, study["Qwen/Qwen3-1.7B"], config) is None
    assert match({**row, "method": "cascade"}, study["Qwen/Qwen3-4B"], config) is None
    mixture = {**row, "model": "mixture:oracle"}
    assert match(mixture, study["mixture:oracle"], config) == "the study's routing"
    assert match({**mixture, "model": "mixture:learned"}, study["mixture:oracle"], config) is None


def test_study_comparison_of_the_full_configs_plan(tmp_path):
    """The plan of config/config.yaml (a dry run: nothing trained), a synthetic score table for
    its rows, and `cmoe study-comparison` on them."""
    config = load_config(CONFIG / "config.yaml")
    plan = build_plan(config)
    scores = _scores_for(plan, tmp_path / "scores.csv")
    resolved = tmp_path / "config.json"
    resolved.write_text(json.dumps(tables_config(config)), "utf-8")
    out = tmp_path / "study_comparison.md"
    main(
        ["study-comparison", "--config", str(resolved), "--scores-csv", str(scores)]
        + ["--out", str(out)]
    )
    text = out.read_text("utf-8")
    assert "None of this run's models" not in text
    with open(scores, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    result = compare(rows, config, load_reference())
    roles = {(r["method"], r["teacher"], r["model"], s["overall"]) for r, s, _ in result["pairs"]}
    # the study's Qwen3-235B rows: the direct 14B, the routed mixture, the 1.7B and 4B students;
    # its KARD number names no models, so every run row of the method (with the reranker) meets it
    seq2seq = {"fred-t5-1.7b": 25.0, "rut5-large": 27.91, "vikhrt5-3b": 0.33}
    unnamed = {
        ("kard", teacher, student, 33.4)
        for teacher in config["teachers"]
        for student in config["students"]
        if student not in seq2seq
    }
    # the study's seq2seq students name no teacher: every run row of theirs in the study's
    # format (rationale, on the teacher's traces) meets them
    unnamed |= {
        ("seq2seq (rationale)", teacher, student, value)
        for teacher in config["teachers"]
        for student, value in seq2seq.items()
    }
    assert roles == {
        ("direct", "qwen3-235b", "qwen3-14b", 72.2),
        ("cmoe", "qwen3-235b", "mixture:oracle", 79.3),
        ("cmoe", "qwen3-235b", "qwen3-1.7b", 60.93),
        ("cmoe", "qwen3-235b", "qwen3-4b", 81.3),
        *unnamed,
    }
    for line in ("| 72.2 |", "| 79.3 |", "| 60.93 |", "| 81.3 |", "| 82.9 | 85.58 | 70.7 |"):
        assert line in text, line
    # Llama's rows, the bases and cascade have no study counterpart and are listed as such
    assert "llama3.3-70b / qwen3-4b" in text.split("## Run rows without")[1]
    assert "| 33.4 |" in text and "the study names neither teacher nor student" in text


def test_study_comparison_says_plainly_when_the_models_are_not_the_studys(tmp_path):
    config = load_config(CONFIG / "demo_rummlu.yaml")
    plan = build_plan(config)
    scores = _scores_for(plan, tmp_path / "scores.csv")
    resolved = tmp_path / "config.json"
    resolved.write_text(json.dumps(tables_config(config)), "utf-8")
    out = tmp_path / "study_comparison.md"
    main(
        ["study-comparison", "--config", str(resolved), "--scores-csv", str(scores)]
        + ["--out", str(out)]
    )
    text = out.read_text("utf-8")
    assert "None of this run's models is one of the study's (`tiny:" in text
    # only KARD's study number, which names no models, has a role the tiny rows can fill
    with open(scores, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pairs = compare(rows, config, load_reference())["pairs"]
    assert pairs and {(r["method"], s["method"]) for r, s, _ in pairs} == {("kard", "kard")}
    # the study's table marks every study row but KARD's as absent from this run
    study_table = text.split("## The study's numbers")[1]
    assert study_table.count("| no |") == len(load_reference()) - 1
