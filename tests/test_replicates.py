"""Training replicates (`replicates`): what they plan, and the intervals that cover them."""

import json

import numpy as np
import pytest
from conftest import ROOT

from cmoe.config import load_config
from cmoe.core.jobs import Pair, Row
from cmoe.core.stats import paired_bootstrap_diff, replicate_bootstrap
from cmoe.plan import build_plan
from cmoe.reporting.claims import ClaimsError, judge, load_claims
from cmoe.reporting.comparison import control_lines
from cmoe.reporting.tables import table_rows

DEMO = ROOT / "config" / "demo.yaml"


def plan_with(replicates: int):
    config = load_config(DEMO)
    config["replicates"] = replicates
    return build_plan(config)


def test_each_replicate_trains_every_seeded_model_with_its_own_seed_and_path():
    one, three = plan_with(1), plan_with(3)
    base = {k: j for k, j in one.trains.items() if k.startswith("main/")}
    assert base  # the demo trains students, generalists and specialists
    for k, seed in ((1, 1), (2, 2)):
        for key, job in base.items():
            twin = three.trains[key.replace("main/", f"main/seed-{k}/", 1)]
            assert twin.settings["seed"] == job.settings["seed"] + k == seed
            assert twin.run_name == job.run_name
            # the replicate learns from its own chain's traces, or the shared teachers'
            for data in twin.data:
                assert "/seed-" not in data or f"/seed-{k}/" in data
    # KARD's rerankers are trained too
    rerankers = three.jobs_of("reranker")
    seeds = sorted(j.kard["reranker"]["seed"] for j in rerankers.values())
    assert seeds == [0, 0, 1, 1, 2, 2]


def test_one_replicate_plans_exactly_what_it_planned_before():
    one = plan_with(1)
    assert not any("/seed-" in k for k in [*one.trains, *one.evaluations, *one.logliks])
    assert all(r.replicate == 0 for r in one.rows)


def test_what_no_training_seed_changes_is_planned_once():
    one, three = plan_with(1), plan_with(3)
    # teacher traces, the knowledge base and its retriever-only retrievals, the router
    assert three.generations.keys() - one.generations.keys() == {
        k for k in three.generations if "/seed-" in k
    }
    assert three.jobs_of("knowledge").keys() == one.jobs_of("knowledge").keys()
    assert three.jobs_of("index").keys() == one.jobs_of("index").keys()
    shared = {k for k in three.jobs_of("retrieve") if "/seed-" not in k}
    assert shared == one.jobs_of("retrieve").keys()
    # untrained bases and teachers: one row each; every trained row three times
    for row in three.rows:
        copies = [r for r in three.rows if r.labels == row.labels]
        assert len(copies) == (1 if row.method in ("base", "teacher") else 3)
    assert [b.title for b in three.comparisons.blocks] == [b.title for b in one.comparisons.blocks]


def test_adding_a_replicate_plans_only_its_chains():
    three, four = plan_with(3), plan_with(4)
    for table in ("trains", "generations", "evaluations", "logliks", "benchmarks"):
        old, new = getattr(three, table), getattr(four, table)
        assert old.items() <= new.items(), table  # every job as it was
        assert all("main/seed-3/" in k for k in new.keys() - old.keys()), table
    assert len(four.trains) - len(three.trains) == len(three.trains) // 3


def test_the_mixture_of_a_replicate_is_made_of_its_own_specialists():
    three = plan_with(3)
    for key, job in three.jobs_of("mixture").items():
        prefix = key.split("/eval/")[0]
        assert all(p.startswith(f"results/{prefix}/eval/") for p in job.predictions.values())


def test_replicates_must_be_a_positive_integer(tmp_path):
    from cmoe.core.errors import ConfigError

    text = DEMO.read_text("utf-8") + "\nreplicates: 0\n"
    config = tmp_path / "c.yaml"
    config.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match="replicates"):
        load_config(config)


# --- the statistics ---------------------------------------------------------------------------


def _rows(rng, rates, n=200):
    return (rng.random((len(rates), n)) < np.array(rates)[:, None]).astype(float)


def test_the_two_level_interval_covers_the_seeds_where_the_one_level_one_does_not():
    rng = np.random.default_rng(0)
    spread = _rows(rng, [0.45, 0.6, 0.75])
    both = replicate_bootstrap(spread, resamples=2000)
    assert both["value"] == pytest.approx(spread.mean())
    # three replicates: the extremes are drawn alone in 1 of 27 draws each, near the 2.5% tails
    assert both["ci_low"] < spread[0].mean() + 0.03 and both["ci_high"] > spread[2].mean() - 0.03
    # the same items scored by one replicate: an interval over questions only is far narrower
    one = replicate_bootstrap(spread[1:2], resamples=2000)
    assert both["ci_high"] - both["ci_low"] > 1.5 * (one["ci_high"] - one["ci_low"])


def test_one_replicate_each_is_the_paired_item_bootstrap():
    rng = np.random.default_rng(1)
    a, b = _rows(rng, [0.6]), _rows(rng, [0.4])
    two = replicate_bootstrap(a, b, resamples=1000, seed=3)
    one = paired_bootstrap_diff(a[0], b[0], resamples=1000, seed=3)
    assert two["value"] == pytest.approx(one["diff"])
    assert two["ci_high"] - two["ci_low"] == pytest.approx(one["ci_high"] - one["ci_low"], 0.2)


def test_replicates_of_two_rows_are_paired_by_index():
    # b is a minus a fixed few items in every replicate: paired by replicate, the difference
    # is the same in every draw's replicates; unpaired, the seed spread would widen it
    rng = np.random.default_rng(2)
    a = _rows(rng, [0.3, 0.6, 0.9])
    b = a.copy()
    b[:, :20] = 0
    d = replicate_bootstrap(a, b, resamples=1000)
    assert d["ci_low"] > 0 and d["ci_high"] - d["ci_low"] < 0.1
    assert d["p_value"] == 0.0


# --- tables, controls and claims on replicated rows --------------------------------------------


def _write(folder, correct):
    folder.mkdir(parents=True)
    records = [
        {"id": f"q{i}", "domain": "math_cs", "correct": bool(c), "answer": "A", "reasoning": ""}
        for i, c in enumerate(correct)
    ]
    (folder / "predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), "utf-8"
    )
    return str(folder)


def _plan_rows(tmp_path, method, model, matrix):
    return [
        Row(
            eval_dir=_write(tmp_path / method / str(k), correct),
            method=method,
            teacher="t" if method != "base" else "-",
            via="-",
            model=model,
            replicate=k,
        )
        for k, correct in enumerate(matrix)
    ]


def test_a_replicated_row_is_the_mean_and_its_interval_covers_the_seeds(tmp_path):
    rng = np.random.default_rng(4)
    trained = _rows(rng, [0.5, 0.65, 0.8], n=150)
    base = _rows(rng, [0.25], n=150)
    plan_rows = _plan_rows(tmp_path, "direct", "s", trained) + _plan_rows(
        tmp_path, "base", "s0", base
    )
    rows = table_rows(plan_rows)
    by = {r["method"]: r for r in rows}
    assert by["direct"]["replicates"] == 3 and by["base"]["replicates"] == 1
    assert by["direct"]["overall"] == pytest.approx(trained.mean())
    assert by["direct"]["overall_by_replicate"] == pytest.approx(list(trained.mean(axis=1)))
    low, high = by["direct"]["overall_ci_low"], by["direct"]["overall_ci_high"]
    assert low < trained[0].mean() + 0.03 and high > trained[2].mean() - 0.03

    pair = Pair("direct − base", ("direct", "t", "-", "s"), ("base", "-", "-", "s0"), True)
    key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    [line] = control_lines([pair], key)
    assert line.startswith("- recovered") and "over seeds and questions" in line
    assert "3×1 replicates" in line


def test_claims_are_judged_in_their_direction(tmp_path):
    rng = np.random.default_rng(5)
    strong, weak = _rows(rng, [0.8, 0.82, 0.78], 150), _rows(rng, [0.4, 0.45, 0.5], 150)
    plan_rows = _plan_rows(tmp_path, "kard", "s", weak) + _plan_rows(
        tmp_path, "direct", "s", strong
    )
    rows = table_rows(plan_rows)
    claims = [c for c in load_claims() if c["a_method"] == "kard"]
    [record] = judge(rows, {"students": {"s": {}}, "intermediates": {}}, claims)
    assert record["verdict"] == "reproduced" and record["value"] < 0
    claims[0]["relation"] = "above"
    [record] = judge(rows, {"students": {"s": {}}, "intermediates": {}}, claims)
    assert record["verdict"] == "opposite"


def test_a_bad_claims_file_names_its_line_and_column(tmp_path):
    bad = tmp_path / "claims.csv"
    text = (ROOT / "data" / "study_claims.csv").read_text("utf-8")
    bad.write_text(text.replace(",below,", ",beneath,", 1), "utf-8")
    with pytest.raises(ClaimsError, match=r"claims.csv:\d+: column relation: 'beneath'"):
        load_claims(bad)
