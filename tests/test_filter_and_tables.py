import json

from cmoe.filtering import filter_traces, merge_stats
from cmoe.io import read_json, read_jsonl
from cmoe.scoring import percentiles, score
from cmoe.tables import write_tables


def rec(i, domain, answer, gold="A", completion_tokens=10, prompt_tokens=50):
    return {
        "id": str(i),
        "domain": domain,
        "answer": answer,
        "gold": gold,
        "correct": answer == gold,
        "completion_tokens": completion_tokens,
        "prompt_tokens": prompt_tokens,
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
    merged = merge_stats({"math_cs": tmp_path / "stats.json"}, tmp_path / "all.json")
    assert merged["overall"]["kept"] == 2 and merged == read_json(tmp_path / "all.json")


def test_tables_have_one_row_per_model_domain_columns_and_costs(tmp_path):
    paths, chains = [], {}
    cost = tmp_path / "gen.cost.json"
    cost.write_text(json.dumps({"wall_time_s": 1800, "device_count": 2}))
    for i, (method, teacher) in enumerate([("direct", "t1"), ("base", "-")]):
        s = score([rec(1, "math_cs", "A"), rec(2, "other", "B" if i else "A")])
        s["labels"] = {"method": method, "teacher": teacher, "model": "s"}
        p = tmp_path / f"{i}.json"
        p.write_text(json.dumps(s))
        paths.append(p)
    chains[str(paths[0])] = {"seq": [str(cost)]}
    rows = write_tables(paths, tmp_path / "t.csv", tmp_path / "t.md", chains, "abl")
    assert [r["method"] for r in rows] == ["base", "direct"]  # base rows first
    csv_lines = (tmp_path / "t.csv").read_text().splitlines()
    assert csv_lines[0] == (
        "namespace,method,teacher,via,model,social_humanities,natural_science,math_cs,other,"
        "overall,n,device_h,train_device_h,critical_path_h,train_critical_path_h"
    )
    assert csv_lines[1] == "abl,base,-,-,s,,,1.0000,0.0000,0.5000,2,,,,"
    assert csv_lines[2] == "abl,direct,t1,-,s,,,1.0000,1.0000,1.0000,2,1,0,0.5,0"
    md = (tmp_path / "t.md").read_text()
    assert "| direct | t1 | - | s |  |  | 100.0 | 100.0 | 100.0 | 2 | 1 | 0 | 0.5 | 0 |" in md
