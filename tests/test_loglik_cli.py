import json

from cmoe.cli import main


def test_evaluate_loglik_command_writes_scores_and_provenance(
    tiny_model_dir, demo_questions, tmp_path
):
    test, pool = tmp_path / "test.jsonl", tmp_path / "pool.jsonl"
    test.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in demo_questions[:8]))
    pool.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in demo_questions[8:]))
    rc = main(
        [
            "evaluate-loglik",
            "--model",
            str(tiny_model_dir),
            "--questions",
            str(test),
            "--pool",
            str(pool),
            "--settings",
            '{"k": 1, "batch_size": 4}',
            "--predictions",
            str(tmp_path / "p.jsonl"),
            "--scores",
            str(tmp_path / "s.json"),
        ]
    )
    assert rc == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["protocol"] == "loglik 1-shot" and scores["overall"]["n"] == 8
    # intervals are the tables' work (statistics settings must not re-run a model)
    assert "ci_low" not in scores["overall"]
    assert {"cmoe", "git_commit", "torch", "transformers", "trl", "peft"} <= set(
        scores["provenance"]
    )
    records = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert all(r["answer"] in "ABCD" and set(r["loglik"]) == set("ABCD") for r in records)
    assert all(r["prompt"].endswith("Ответ:") for r in records)  # MERA's layout
