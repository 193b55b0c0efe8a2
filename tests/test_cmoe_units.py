"""Routing (oracle and learned), mixture composition and cost aggregation."""

import json

import pytest

from cmoe.core.io import read_json, read_jsonl
from cmoe.evaluation.subsets import questions_for_specialist, specialist_for
from cmoe.methods.cmoe.mixture import score_mixture
from cmoe.methods.cmoe.routing import misroute, route
from cmoe.methods.roles.specialists import specialist_groups
from cmoe.reporting.costs import chain_cost, chain_files

GROUPS = {d: [d] for d in ("social_humanities", "natural_science", "math_cs", "other")}


def test_default_groups_are_one_per_domain():
    assert specialist_groups({}) == GROUPS
    merged = {"stem": ["natural_science", "math_cs"], "rest": ["social_humanities", "other"]}
    assert specialist_groups({"specialist_groups": merged}) == merged
    assert specialist_for("math_cs", merged) == "stem"
    with pytest.raises(KeyError):
        specialist_for("math_cs", {"x": ["other"]})


def test_learned_router_beats_chance_on_demo_and_writes_routes(demo_questions, tmp_path):
    train, test = demo_questions[::2], demo_questions[1::2]
    result = route(train, test, tmp_path / "routes.json", seed=0)
    assert result == read_json(tmp_path / "routes.json")
    assert set(result["routes"]) == {q["id"] for q in test}
    assert set(result["routes"].values()) <= set(GROUPS)
    assert result["n"] == len(test)
    # 4 balanced-ish domains: chance is about 0.25-0.5; text features do much better
    assert result["accuracy"] > 0.5, result
    again = route(train, test, tmp_path / "again.json", seed=0)
    assert again["routes"] == result["routes"]  # deterministic


def _q(i, domain):
    return {"id": str(i), "domain": domain, "gold": "A"}


def test_specialist_answers_own_domain_and_what_is_routed_to_it():
    questions = [_q(1, "math_cs"), _q(2, "math_cs"), _q(3, "other"), _q(4, "other")]
    routes = {"1": "math_cs", "2": "other", "3": "math_cs", "4": "other"}
    ids = [q["id"] for q in questions_for_specialist(questions, "math_cs", GROUPS, [routes])]
    assert ids == ["1", "2", "3"]
    # with a second routing (the misrouted control), also what that one sends it, once
    misroutes = {"1": "other", "2": "other", "3": "other", "4": "math_cs"}
    both = questions_for_specialist(questions, "math_cs", GROUPS, [routes, misroutes])
    assert [q["id"] for q in both] == ["1", "2", "3", "4"]


def test_misrouting_sends_no_question_to_its_own_group(tmp_path):
    questions = [_q(i, d) for i, d in enumerate(GROUPS)] + [_q(9, "other")]
    result = misroute(questions, GROUPS, tmp_path / "misroutes.json")
    assert result == read_json(tmp_path / "misroutes.json")
    assert result["routes"] == {
        "0": "natural_science",
        "1": "math_cs",
        "2": "other",
        "3": "social_humanities",
        "9": "social_humanities",
    }
    merged = {"stem": ["natural_science", "math_cs"], "rest": ["social_humanities", "other"]}
    routes = misroute(questions, merged, tmp_path / "m.json")["routes"]
    assert all(
        specialist_for(routes[q["id"]], merged) != specialist_for(q["domain"], merged)
        for q in questions
    )
    with pytest.raises(ValueError, match="two specialist groups"):
        misroute(questions, {"all": list(GROUPS)}, tmp_path / "x.json")


def test_mixture_oracle_and_learned_routing(tmp_path):
    questions = [_q(1, "math_cs"), _q(2, "other")]
    # the math specialist is right on both, the other specialist wrong on both
    preds = {}
    for group, answer in (("math_cs", "A"), ("other", "B")):
        p = tmp_path / f"{group}.jsonl"
        p.write_text(
            "".join(
                json.dumps({**q, "answer": answer, "correct": answer == "A"}) + "\n"
                for q in questions
            )
        )
        preds[group] = p
    groups = {"math_cs": ["math_cs"], "other": ["other"]}

    def mixture(questions, routes, out):
        return score_mixture(
            questions=questions,
            predictions=preds,
            groups=groups,
            routes=routes,
            routing="learned" if routes else "oracle",
            predictions_out=tmp_path / f"{out}.jsonl",
            scores_out=tmp_path / f"{out}.json",
        )

    oracle = mixture(questions, None, "o")
    assert oracle["overall"]["accuracy"] == 0.5
    learned = mixture(questions, {"1": "math_cs", "2": "math_cs"}, "l")
    assert learned["overall"]["accuracy"] == 1.0
    assert learned["domains"]["other"]["accuracy"] == 1.0  # scored by the question's domain
    assert [r["routed_to"] for r in read_jsonl(tmp_path / "l.jsonl")] == ["math_cs", "math_cs"]
    with pytest.raises(ValueError, match="no prediction for question 9"):
        mixture([_q(9, "other")], None, "x")


def _cost(tmp_path, name, wall, devices=1, train=False):
    path = tmp_path / name
    if train:
        path.mkdir(parents=True)
        (path / "train_metrics.json").write_text(
            json.dumps(
                {
                    "wall_time_s": wall,
                    "device_count": devices,
                    "tokens_seen": 100,
                    "examples_seen": 10,
                }
            )
        )
    else:
        path.write_text(
            json.dumps(
                {
                    "wall_time_s": wall,
                    "device_count": devices,
                    "prompt_tokens": 5,
                    "completion_tokens": 5,
                    "questions": 2,
                }
            )
        )
    return str(path)


def test_chain_cost_sums_device_hours_and_takes_the_critical_path(tmp_path):
    gen = [_cost(tmp_path, f"g{d}.cost.json", 360, devices=8) for d in range(2)]
    spec = [_cost(tmp_path, f"spec{d}", 3600 * (d + 1), train=True) for d in range(2)]
    student = _cost(tmp_path, "student", 1800, devices=2, train=True)
    chain = {"seq": [{"par": [{"seq": [gen[d], spec[d]]} for d in range(2)]}, student]}
    cost = chain_cost(chain)
    assert cost["device_hours"] == pytest.approx(2 * 0.8 + 1 + 2 + 1.0)
    assert cost["train_device_hours"] == pytest.approx(1 + 2 + 1.0)
    assert cost["critical_path_s"] == pytest.approx(360 + 7200 + 1800)
    assert cost["train_critical_path_s"] == pytest.approx(7200 + 1800)
    assert cost["jobs"] == 5 and cost["tokens"] == 2 * 10 + 3 * 100
    assert sorted(chain_files(chain)) == sorted([*gen, *spec, student])
    with pytest.raises(ValueError, match="bad chain node"):
        chain_cost({"both": [student]})
