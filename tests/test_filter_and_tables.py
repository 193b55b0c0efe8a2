import json

from cmoe.core.io import read_json, read_jsonl
from cmoe.core.jobs import Block, Comparisons, Pair, Row
from cmoe.core.scoring import percentiles, score
from cmoe.reporting.tables import write_tables
from cmoe.traces.curation import filter_traces, merge_stats


def rec(i, domain, answer, gold="A", completion_tokens=10, prompt_tokens=50):
    return {
        "id": str(i),
        "domain": domain,
        "subject": f"{domain}_subject",
        "answer": answer,
        "gold": gold,
        "correct": answer == gold,
        "completion_tokens": completion_tokens,
        "prompt_tokens": prompt_tokens,
        "output": f"Ответ: {answer}" if answer else "<think>и тут закончились токены",
    }


def test_score_counts_unparseable_as_wrong():
    s = score([rec(1, "math_cs", "A"), rec(2, "math_cs", None), rec(3, "other", "B")])
    assert s["overall"] == {
        "n": 3,
        "correct": 1,
        "accuracy": 1 / 3,
        "unparseable": 1,
        "unparseable_rate": 1 / 3,
    }
    assert s["domains"]["math_cs"]["accuracy"] == 0.5
    assert s["domains"]["other"]["accuracy"] == 0.0
    assert "natural_science" not in s["domains"]


def test_percentiles():
    p = percentiles(list(range(1, 101)))
    assert p["p50"] == 50 and p["max"] == 100 and p["mean"] == 50.5
    assert percentiles([]) == {}


def test_filter_keeps_correct_and_counts_over_length(tmp_path):
    raw = tmp_path / "raw.jsonl"
    records = [
        rec(1, "math_cs", "A", completion_tokens=500),
        rec(2, "math_cs", "C"),
        rec(3, "math_cs", None),
        rec(4, "math_cs", "A"),
    ]
    raw.write_text("".join(json.dumps(r) + "\n" for r in records))
    stats = filter_traces(raw, tmp_path / "kept.jsonl", tmp_path / "stats.json", max_length=100)
    kept = read_jsonl(tmp_path / "kept.jsonl")
    assert [r["id"] for r in kept] == ["1", "4"]
    assert stats["kept"] == 2 and stats["over_max_length"] == 1
    assert stats["overall"]["accuracy"] == 0.5 and stats["overall"]["unparseable"] == 1
    assert stats["subjects"]["math_cs_subject"]["n"] == 4
    assert stats["over_max_length_rate"] == 0.5 and stats["unfinished_reasoning"] == 1
    merged = merge_stats({"math_cs": tmp_path / "stats.json"}, tmp_path / "all.json")
    assert merged["overall"]["kept"] == 2 and merged == read_json(tmp_path / "all.json")


def _row(tmp_path, name, records, labels, chain=None):
    """A plan row whose evaluation wrote ``records``."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "scores.json").write_text(json.dumps(score(records)))
    return Row(eval_dir=str(folder), chain=chain, **{"via": "-", **labels})


def test_tables_have_one_row_per_model_domain_columns_and_costs(tmp_path):
    cost = tmp_path / "gen.cost.json"
    cost.write_text(json.dumps({"wall_time_s": 1800, "device_count": 2}))
    records = [rec(1, "math_cs", "A"), rec(2, "other", "A")]
    labels = {"method": "direct", "teacher": "t1", "model": "s"}
    direct = _row(tmp_path, "d", records, labels, chain={"seq": [str(cost)]})
    base = _row(
        tmp_path,
        "b",
        [records[0], rec(2, "other", "B")],
        {"method": "base", "teacher": "-", "model": "s"},
    )
    rows = write_tables([direct, base], tmp_path / "t.csv", tmp_path / "t.md", namespace="abl")
    assert [r["method"] for r in rows] == ["base", "direct"]  # base rows first
    csv_lines = (tmp_path / "t.csv").read_text().splitlines()
    assert csv_lines[0].startswith(
        "namespace,method,teacher,via,model,social_humanities,natural_science,math_cs,other,"
        "overall,n,device_h,train_device_h,critical_path_h,train_critical_path_h,api_usd,"
        "social_humanities_ci_low,social_humanities_ci_high,"
    )
    assert csv_lines[1].startswith("abl,base,-,-,s,,,1.0000,0.0000,0.5000,2,,,,,")
    assert csv_lines[2].startswith("abl,direct,t1,-,s,,,1.0000,1.0000,1.0000,2,1,0,0.5,0,0")
    md = (tmp_path / "t.md").read_text()
    assert (
        "| direct | t1 | - | s |  |  | 100.0 [100.0, 100.0] n=1 † | 100.0 [100.0, 100.0] n=1 † "
        "| 100.0 [100.0, 100.0] † | 2 | 1 | 0 | 0.5 | 0 | 0 |" in md
    )


def test_markdown_shows_intervals_and_flags_small_cells(tmp_path):
    records = [rec(i, "math_cs", "A" if i % 2 else "B") for i in range(40)]
    records += [rec(100 + i, "other", "A") for i in range(5)]
    boot = {"resamples": 200, "seed": 0, "level": 0.95, "min_n": 30}
    row = _row(tmp_path, "m", records, {"method": "direct", "teacher": "t", "model": "s"})
    write_tables([row], tmp_path / "t.csv", tmp_path / "t.md", bootstrap=boot, footer="made by X")
    assert (tmp_path / "t.md").read_text().endswith("\nmade by X\n")
    assert "made by X" not in (tmp_path / "t.csv").read_text()
    row = [line for line in (tmp_path / "t.md").read_text().splitlines() if line][-2]
    cells = [c.strip() for c in row.split("|")]
    math_cs, other = cells[7], cells[8]
    assert math_cs.startswith("50.0 [") and not math_cs.endswith("†")
    assert other == "100.0 [100.0, 100.0] n=5 †"  # 5 items: flagged as too few


def test_comparison_has_paired_test_and_cost_ratio(tmp_path):
    items = [("math_cs", i) for i in range(20)]
    direct = [rec(i, d, "A" if i < 10 else "B") for d, i in items]
    mixture = [rec(i, d, "A" if i < 18 else "B") for d, i in items]
    cost_d = tmp_path / "direct_train"
    cost_d.mkdir()
    (cost_d / "train_metrics.json").write_text(json.dumps({"wall_time_s": 3600}))
    cost_m = tmp_path / "spec_train"
    cost_m.mkdir()
    (cost_m / "train_metrics.json").write_text(json.dumps({"wall_time_s": 900}))
    p_direct = _row(
        tmp_path,
        "gen",
        direct,
        {"method": "direct", "teacher": "t", "via": "-", "model": "im"},
        chain=str(cost_d),
    )
    p_mix = _row(
        tmp_path,
        "mix",
        mixture,
        {"method": "cmoe", "teacher": "t", "via": "im", "model": "mixture:oracle"},
        chain={"par": [str(cost_m)] * 4},
    )
    # the comparison as the cmoe method plans it (cmoe.methods.cmoe.plan)
    generalist, oracle = ("direct", "t", "-", "im"), ("cmoe", "t", "im", "mixture:oracle")
    block = Block(
        title="Teacher `t`, intermediate `im`",
        lines=(("direct: im on undivided data", generalist), ("CMoE mixture", oracle)),
        delta=("Δ CMoE (oracle) − direct, points", oracle, generalist),
        pair=Pair("CMoE (oracle) − direct", oracle, generalist),
        cost=("Training cost, direct ÷ CMoE", generalist, oracle),
    )
    write_tables(
        [p_direct, p_mix],
        tmp_path / "t.csv",
        tmp_path / "t.md",
        comparison_out=tmp_path / "c.md",
        comparisons=Comparisons(blocks=[block]),
    )
    text = (tmp_path / "c.md").read_text()
    assert "| Δ CMoE (oracle) − direct, points |" in text
    assert "CMoE (oracle) − direct: +40.0 points, paired-bootstrap 95% CI [+20.0, +60.0]" in text
    assert "McNemar exact p = 0.00781 (8 items only the first got right, 0 only the second" in text
    assert "device-hours 1.00×, critical path 4.00×" in text


def test_question_kinds_are_scored_apart_and_controls_judged_on_theirs(tmp_path):
    """Questions with a kind (the control tasks' meta.kind): each row is scored per kind in
    comparison.md, and a control with ``items`` compares the two rows on those questions only
    (a KARD effect planted in the knowledge questions, diluted by the rule ones overall)."""
    from cmoe.reporting.comparison import control_lines

    def kinded(i, answer, kind):
        return {**rec(i, "other", answer), "kind": kind}

    # 10 knowledge questions the trained row gets right and the other does not; 30 rule
    # questions both get right and wrong alike
    rule = [("rule", i, "A" if i % 2 else "B") for i in range(10, 40)]
    a = [kinded(i, "A", "knowledge") for i in range(10)] + [kinded(i, x, k) for k, i, x in rule]
    b = [kinded(i, "B", "knowledge") for i in range(10)] + [kinded(i, x, k) for k, i, x in rule]
    s = score(a)
    assert s["kinds"]["knowledge"]["accuracy"] == 1.0 and s["kinds"]["rule"]["accuracy"] == 0.5
    assert "kinds" not in score([rec(1, "other", "A")])  # data without kinds: no such cells
    labels = {"teacher": "t", "model": "s"}
    pa, pb = ("kard", "t", "-", "s"), ("direct", "t", "-", "s")
    knowledge = ("kind", ("knowledge",))
    rows = write_tables(
        [
            _row(tmp_path, "a", a, {"method": "kard", **labels}),
            _row(tmp_path, "b", b, {"method": "direct", **labels}),
        ],
        tmp_path / "t.csv",
        tmp_path / "t.md",
        comparison_out=tmp_path / "c.md",
        comparisons=Comparisons(pairs=[Pair("kard − direct", pa, pb, items=knowledge)]),
    )
    text = (tmp_path / "c.md").read_text()
    # a comparison (not a control) on its items too
    assert "- kard − direct, on the knowledge questions: +100.0 points" in text
    assert "## Every row by question kind" in text
    assert "| kard: t → s | 100.0 [100.0, 100.0] n=10 † | 50.0 [" in text
    key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    [on_kind] = control_lines([Pair("kard − direct", pa, pb, True, knowledge)], key)
    assert on_kind.startswith("- recovered: kard − direct, on the knowledge questions: +100.0")
    assert "n = 10)" in on_kind
    [overall] = control_lines([Pair("kard − direct", pa, pb, True)], key)
    assert "+25.0 points" in overall and "n = 40)" in overall
    # on data without the field, every question is compared
    plain = [_row(tmp_path, n, [rec(i, "other", x) for i in range(40)], {"method": m, **labels})
             for n, m, x in [("pa", "kard", "A"), ("pb", "direct", "B")]]  # fmt: skip
    rows = write_tables(plain, tmp_path / "p.csv", tmp_path / "p.md")
    key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    [line] = control_lines([Pair("kard − direct", pa, pb, True, knowledge)], key)
    assert "on the knowledge" not in line and "n = 40)" in line
