import json

from cmoe.cli import main


def _write(path, questions):
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions))
    return path


def test_evaluate_loglik_command_writes_scores_and_provenance(
    tiny_model_dir, demo_questions, tmp_path
):
    test = _write(tmp_path / "test.jsonl", demo_questions[:8])
    pool = _write(tmp_path / "pool.jsonl", demo_questions[8:])
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
    assert scores["protocol"] == "mera 1-shot" and scores["overall"]["n"] == 8
    # intervals are the tables' work (statistics settings must not re-run a model)
    assert "ci_low" not in scores["overall"]
    assert {"cmoe", "git_commit", "torch", "transformers", "trl", "peft"} <= set(
        scores["provenance"]
    )
    records = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert all(r["answer"] in "ABCD" and set(r["loglik"]) == set("ABCD") for r in records)
    assert all(r["prompt"].endswith("Ответ:") for r in records)  # MERA's layout


def test_mera_gen_command_and_a_short_pool_fail_or_run_as_meant(
    tiny_model_dir, demo_questions, tmp_path, capsys
):
    test = _write(tmp_path / "test.jsonl", demo_questions[:3])
    pool = _write(tmp_path / "pool.jsonl", demo_questions[3:])
    out = ["--predictions", str(tmp_path / "p.jsonl"), "--scores", str(tmp_path / "s.json")]
    common = ["evaluate-loglik", "--model", str(tiny_model_dir), "--questions", str(test)]
    gen = ["--protocol", "mera_gen", "--settings", '{"max_new_tokens": 3}']
    assert main([*common, "--pool", str(pool), *gen, *out]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["protocol"] == "mera_gen 1-shot" and scores["overall"]["n"] == 3
    # a pool without the question's subject: one line naming the subject, before any model
    subject = demo_questions[0]["subject"]
    short = _write(tmp_path / "short.jsonl", [x for x in demo_questions if x["subject"] != subject])
    assert main([*common, "--pool", str(short), "--settings", "{}", *out]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"0 question(s) of subject {subject!r}; 1 shot(s) need 1" in err
    assert main([*common, "--pool", str(pool), "--settings", '{"kk": 1}', *out]) != 0
    assert "--settings: unknown key kk" in capsys.readouterr().err
