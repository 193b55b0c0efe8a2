import json

from cmoe.reporting.plots import make_plots
from cmoe.reporting.tables import COLUMNS


def test_make_plots_writes_svg_and_png(tmp_path):
    rows = []
    for method, model, acc in (("base", "s", 0.1), ("direct", "s", 0.4), ("cmoe", "s", 0.5)):
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            namespace="main",
            method=method,
            teacher="t",
            via="-",
            model=model,
            overall=str(acc),
            overall_ci_low=str(acc - 0.1),
            overall_ci_high=str(acc + 0.1),
            math_cs=str(acc),
            n="10",
            train_device_h="" if method == "base" else "0.5",
        )
        rows.append(row)
    csv_path = tmp_path / "scores.csv"
    csv_path.write_text(
        ",".join(COLUMNS) + "\n" + "".join(",".join(r[c] for c in COLUMNS) + "\n" for r in rows)
    )
    traces = tmp_path / "t.jsonl"
    traces.write_text("".join(json.dumps({"completion_tokens": n}) + "\n" for n in (5, 9, 12)))
    written = make_plots(csv_path, {"s": 1000}, {"t": [str(traces)]}, tmp_path / "plots")
    names = sorted(p.stem for p in written)
    assert names == ["accuracy_by_domain", "accuracy_vs_cost", "accuracy_vs_size", "trace_lengths"]
    for svg in written:
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
        png = svg.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert not list((tmp_path / "plots").glob(".*tmp*"))  # no temporary files left
