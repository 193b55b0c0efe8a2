"""The HTML report's opening page (`cmoe summary`) and its landing text."""

import json
from pathlib import Path

from docutils.core import publish_parts
from test_plots import synthetic_scores

from cmoe.cli import main
from cmoe.reporting.summary import FIGURES, TABLES, landing_text, report_tables


def _data_summary(path):
    splits = {
        name: {"total": total, "domains": {"math_cs": {"total": total, "subjects": {}}}}
        for name, total in (("train", 8000), ("test", 2000))
    }
    summary = {"splits": splits, "test_fraction": 0.2, "seed": 13}
    path.write_text(json.dumps(summary), "utf-8")
    return path


def test_summary_page_renders_with_split_counts_and_headline(tmp_path, monkeypatch):
    scores, differences, _ = synthetic_scores(tmp_path)
    config = {
        "namespace": "main",
        "teachers": {"qwen3-235b": {}},
        "students": {"qwen3-4b": {}},
        "intermediates": {"qwen3-14b": {}},
        "methods": ["direct", "cmoe"],
        "data": {"source": {"hub": {"path": "MERA-evaluation/MERA", "name": "rummlu"}}},
        # MERA's protocol without its generative variant; one benchmark
        "evaluation": {"loglik": {"enabled": True, "mera_gen": False}, "benchmarks": ["x"]},
    }
    (tmp_path / "config.json").write_text(json.dumps(config), "utf-8")
    study = tmp_path / "study.md"
    study.write_text("# x\n\n**None of this run's models is one of the study's (`tiny:a`).**\n")
    out = tmp_path / "summary.rst"
    main(
        ["summary", "--config", str(tmp_path / "config.json")]
        + ["--data-summary", str(_data_summary(tmp_path / "data.json"))]
        + ["--scores-csv", str(scores), "--differences", str(differences)]
        + ["--study", str(study), "--out", str(out)]
    )
    # the report defines a link target per result file (as Snakemake's report does)
    tables = report_tables(config)
    assert [name for name, _ in tables[len(TABLES) :]] == ["scores_loglik.csv", "benchmarks.csv"]
    targets = "".join(f"\n.. _{name}: #{name}" for name, _ in [*tables, *FIGURES])
    html = publish_parts(out.read_text("utf-8") + targets, writer="html")["html_body"]
    assert "system-message" not in html  # valid reStructuredText
    for phrase in ("8000 train questions", "2000 held-out test questions", "Best cmoe row"):
        assert phrase in html, phrase
    assert "None of this run’s models" in html or "None of this run's models" in html
    assert "scores_mera_gen.csv" not in html
    for name, _ in [*tables, *FIGURES]:
        assert f'href="#{name}">{name}</a>' in html, name

    monkeypatch.chdir(tmp_path)
    fallback = "workflow/report/workflow.rst"
    assert landing_text(tmp_path / "missing.rst", [], fallback) == fallback
    landing = landing_text(out, ["/x/config/demo.yaml"], fallback)
    text = Path(landing).read_text("utf-8")
    assert text.startswith("cmoe run ``main``\n") and "**Config files**: ``demo.yaml``." in text
    assert landing_text(out, ["/x/config/demo.yaml"], fallback) == landing  # written once
