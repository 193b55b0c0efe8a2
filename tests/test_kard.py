"""KARD: knowledge base, Qdrant index (resumable), rationale/question retrieval, prompts that fit
max_length, the reranker's KL training, the plan's rows, and bad knowledge input."""

import json
import multiprocessing
import os
import signal
import time

import pytest
from conftest import ROOT

from cmoe.core.prompting import PromptSettings, build_messages, fit_knowledge
from cmoe.methods.kard.knowledge import (
    KnowledgeError,
    KnowledgeSettings,
    QdrantSettings,
    build_knowledge_base,
)
from cmoe.methods.kard.knowledge.index import Retriever, build_index
from cmoe.methods.kard.knowledge.queries import question_query
from cmoe.methods.kard.knowledge.retrieve import attach_knowledge, shuffle_knowledge

DEMO_KB = ROOT / "data" / "demo" / "knowledge_demo.jsonl"


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kb")
    settings = KnowledgeSettings(source={"file": str(DEMO_KB)}, batch_size=128)
    build_knowledge_base(settings, folder / "passages.jsonl")
    build_index(folder / "passages.jsonl", folder / "index", settings)
    return folder, settings


def _trace(q, reasoning):
    return {**q, "reasoning": reasoning, "answer": q["gold"], "correct": True}


def test_training_queries_by_rationale_and_inference_by_question(demo_index, demo_questions):
    folder, settings = demo_index
    # The question asks about one fact, the rationale about another: retrieval must follow the
    # rationale at training time and the question at inference, never the other way round.
    q = next(q for q in demo_questions if "Ромул" in q["question"])
    rationale = "Великую хартию вольностей король Иоанн подписал в 1215 году под давлением баронов."
    with Retriever(folder / "index", settings) as retriever:
        [train] = attach_knowledge(
            [_trace(q, rationale)], retriever, query="rationale", n_knowledge=1
        )
        [test] = attach_knowledge([q], retriever, query="question", n_knowledge=2)
    assert "хартию" in train["knowledge"][0]["text"] and train["knowledge_query"] == "rationale"
    assert "Ромула" in test["knowledge"][0]["text"] and test["knowledge_query"] == "question"
    assert len(test["knowledge"]) == 2
    assert question_query(q).startswith(q["question"])


def test_shuffled_control_gives_every_question_another_questions_passages():
    records = [{"id": str(i), "knowledge": [{"pid": i, "text": f"p{i}"}]} for i in range(7)]
    shuffled = shuffle_knowledge(records, seed=0)
    assert [r["id"] for r in shuffled] == [r["id"] for r in records]
    mine = [r["knowledge"][0]["pid"] for r in shuffled]
    assert sorted(mine) == list(range(7))  # the same passages, moved
    assert all(pid != i for i, pid in enumerate(mine))  # none keeps its own
    assert shuffle_knowledge(records, seed=0) == shuffled  # seeded
    assert records[0]["knowledge"][0]["pid"] == 0  # the input is left as it was


def _build_and_kill(passages, out, settings):
    build_index(passages, out, settings, stop_after=2)
    os.kill(os.getpid(), signal.SIGKILL)  # die mid-build, without cleaning up


def test_index_resumes_after_a_kill(tmp_path):
    settings = KnowledgeSettings(source={"file": str(DEMO_KB)}, batch_size=64)
    build_knowledge_base(settings, tmp_path / "passages.jsonl")
    out = tmp_path / "index"
    proc = multiprocessing.get_context("fork").Process(
        target=_build_and_kill, args=(tmp_path / "passages.jsonl", out, settings)
    )
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL
    assert not out.exists()  # nothing complete-looking after a kill
    progress = json.loads((tmp_path / "index.partial" / "progress.json").read_text())
    assert progress["done"] == 128
    manifest = build_index(tmp_path / "passages.jsonl", out, settings)
    assert manifest["resumed_from"] == 128 and manifest["passages"] == 438
    assert not (tmp_path / "index.partial").exists()
    fresh = build_index(tmp_path / "passages.jsonl", tmp_path / "fresh", settings)
    query = ["Кто низложил Ромула Августула?", "ферментация молока"]
    with Retriever(out, settings) as a:
        resumed = a.search(query, 5)
    with Retriever(tmp_path / "fresh", settings) as b:
        assert b.search(query, 5) == resumed
    assert fresh["digest"] == manifest["digest"]
    # a changed chunking (or tokenizer, or encoder) is another index, not a resumed one
    other = KnowledgeSettings(source={"file": str(DEMO_KB)}, bm25_k1=1.5)
    assert build_index(tmp_path / "passages.jsonl", out, other)["digest"] != manifest["digest"]


def test_prompt_has_exactly_the_selected_passages_within_max_length(tiny_model_dir):
    from cmoe.core.models import load_tokenizer
    from cmoe.training.examples import fit_records_knowledge

    tokenizer = load_tokenizer(tiny_model_dir, padding_side="right")
    prompt = PromptSettings()
    passages = [
        {"pid": i, "text": f"Абзац номер {i}: " + "слово " * 60, "score": 1.0} for i in range(3)
    ]
    record = {
        "id": "q1",
        "subject": "astronomy",
        "subject_name": "Астрономия",
        "domain": "natural_science",
        "question": "Какая планета ближе всего к Солнцу?",
        "options": {"A": "Меркурий", "B": "Венера", "C": "Марс", "D": "Юпитер"},
        "gold": "A",
        "reasoning": "Меркурий — ближайшая к Солнцу планета.",
        "answer": "A",
        "correct": True,
        "knowledge": passages,
    }
    content = build_messages(record, prompt)[0]["content"]
    assert content.startswith("Знания: ")
    assert [p["text"] in content for p in passages] == [True, True, True]

    from cmoe.training.examples import example_lengths, sft_examples

    full = example_lengths(tokenizer, sft_examples([record], prompt, "traces"))[0][1]
    for max_length in (full, full - 40, full - 150, 10):
        [fitted], stats = fit_records_knowledge([record], prompt, "traces", tokenizer, max_length)
        length = example_lengths(tokenizer, sft_examples([fitted], prompt, "traces"))[0][1]
        kept = fitted["knowledge"]
        text = build_messages(fitted, prompt)[0]["content"]
        assert all(p["text"] in text for p in kept)
        assert [p["pid"] for p in kept] == [p["pid"] for p in passages][: len(kept)]
        dropped = stats.get("passages_dropped", 0)
        assert dropped == 3 - len(kept), stats
        if max_length >= length or kept:
            assert length <= max_length or not kept
        if max_length == full:
            assert stats["examples_cut"] == 0 and len(kept) == 3
        else:
            assert stats["examples_cut"] == 1
    assert not kept and "Знания" not in text  # 10 tokens: no room for any passage


def test_fit_knowledge_cuts_the_last_passage_word_by_word():
    record = {"knowledge": [{"text": "a b c d e f g h"}, {"text": "x y"}]}

    def length(r):
        return sum(len(p["text"].split()) for p in r.get("knowledge", []))

    fitted, stats = fit_knowledge(record, length, 5)
    assert fitted["knowledge"] == [{"text": "a b c d e"}]
    assert stats == {"passages_dropped": 1, "passages_cut": 1}
    assert fit_knowledge(record, length, 100) == (
        record,
        {"passages_dropped": 0, "passages_cut": 0},
    )


def test_reranker_training_step_reduces_the_kl_loss(tiny_model_dir):
    import torch

    from cmoe.methods.kard.knowledge.reranker import build_model, train_step
    from cmoe.methods.kard.knowledge.settings import RerankerSettings

    settings = RerankerSettings(learning_rate=1e-3, compression_dim=16, max_length=32)
    model = build_model(str(tiny_model_dir), settings)
    model.train(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    batch = [
        {
            "question": "Кто низложил Ромула Августула?",
            "docs": [
                "Одоакр низложил Ромула",
                "Фермер моет коврики",
                "Пекарь печёт хлеб",
                "Меркурий",
            ],
            "labels": [0.9, 0.1, 0.0, 0.05],
        },
        {
            "question": "Какая планета ближе всего к Солнцу?",
            "docs": ["Фермер моет коврики", "Меркурий ближе всего к Солнцу", "Пекарь", "Одоакр"],
            "labels": [0.0, 0.8, 0.1, 0.1],
        },
    ]
    losses = [train_step(model, optimizer, batch, settings) for _ in range(8)]
    assert losses[-1] < losses[0] * 0.8, losses


def test_batched_reranking_scores_as_the_training_model_does(tiny_model_dir):
    import torch

    from cmoe.methods.kard.knowledge.reranker import Reranker, build_model
    from cmoe.methods.kard.knowledge.settings import RerankerSettings

    model = build_model(str(tiny_model_dir), RerankerSettings(compression_dim=16, max_length=32))
    reranker = Reranker(model, batch_size=3)
    texts = ["Одоакр низложил Ромула", "Фермер моет коврики", "Пекарь печёт хлеб " * 5, "Меркурий"]
    questions = ["Кто низложил Ромула Августула?", "Какая планета ближе всего к Солнцу?"]
    candidates = [[0, 1, 2, 3], [3, 2, 0, 1]]  # passages shared by both questions: encoded once
    ranked = reranker.rank(
        questions, [[{"pid": i, "text": texts[i]} for i in c] for c in candidates]
    )
    with torch.no_grad():
        for question, c, scores in zip(questions, candidates, ranked, strict=True):
            expected = model.scores([question], [texts[i] for i in c], len(c))[0]
            assert torch.allclose(torch.tensor(scores), expected, rtol=1e-4, atol=1e-3)
    assert reranker.rank(["x"], [[]]) == [[]]


def test_plan_has_both_kard_rows_with_index_and_reranker_in_their_chains():
    from cmoe.config import load_config
    from cmoe.plan import build_plan
    from cmoe.reporting.costs import chain_files

    plan = build_plan(load_config(ROOT / "config" / "demo_rummlu.yaml"))
    rows = [r for r in plan.rows if r.method.startswith("kard")]
    assert sorted({r.method for r in rows}) == ["kard", "kard (no reranker)"]
    assert len(rows) == 2 * 2  # 2 teachers x 1 student x (with, without reranker)
    retrieve = plan.jobs_of("retrieve")
    for row in rows:
        files = chain_files(row.chain)
        assert "results/main/knowledge/index.cost.json" in files
        assert any(f.startswith("results/main/models/student/kard/") for f in files)
        reranked = any("knowledge/reranker/" in f for f in files)
        assert reranked == (row.method == "kard")
        evaluation = plan.evaluations[row.eval_dir.removeprefix("results/")]
        questions = retrieve[evaluation.questions.removeprefix("results/").removesuffix(".jsonl")]
        assert questions.query == "question" and bool(questions.reranker) == reranked
        assert evaluation.max_length == 512
    for teacher in ("tiny-teacher-a", "tiny-teacher-b"):
        train = plan.trains[f"main/models/student/kard/{teacher}/tiny-student/model"]
        [data] = train.data
        assert retrieve[data.removeprefix("results/").removesuffix(".jsonl")].query == "rationale"


def test_empty_knowledge_base_is_a_one_line_error(tmp_path):
    empty = tmp_path / "kb.jsonl"
    empty.write_text('{"text": "два слова"}\n', "utf-8")
    with pytest.raises(KnowledgeError, match=r"^knowledge base is empty: .*min_words") as exc:
        build_knowledge_base(KnowledgeSettings(source={"file": str(empty)}), tmp_path / "p.jsonl")
    assert "\n" not in str(exc.value)


def test_unreachable_qdrant_url_is_a_one_line_error():
    from cmoe.methods.kard.knowledge.engine import connect
    from cmoe.methods.kard.knowledge.settings import QdrantSettings

    t0 = time.monotonic()
    with pytest.raises(KnowledgeError, match=r"^knowledge.qdrant.url: cannot reach Qdrant") as exc:
        connect(QdrantSettings(url="http://127.0.0.1:9", timeout=2))
    assert "\n" not in str(exc.value) and time.monotonic() - t0 < 30


def test_collection_with_other_vector_size_is_a_one_line_error(tmp_path):
    from qdrant_client import QdrantClient, models

    from cmoe.methods.kard.knowledge.server import check_collection

    client = QdrantClient(path=str(tmp_path / "q"))
    client.create_collection(
        "kb", vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)}
    )
    assert check_collection(client, "kb", 8, sparse=False)
    with pytest.raises(KnowledgeError, match=r"size 8, but the encoder .* gives 64") as exc:
        check_collection(client, "kb", 64, sparse=False)
    assert "\n" not in str(exc.value)
    client.close()


def test_bad_knowledge_input_stops_the_preflight(tmp_path):
    from cmoe.config import load_config, preflight
    from cmoe.core.errors import ConfigError

    config = load_config(ROOT / "tests" / "configs" / "ci.yaml")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", "utf-8")
    config["knowledge"]["source"] = {"file": str(empty)}
    with pytest.raises(ConfigError, match=r"knowledge.source.file: .* is empty"):
        preflight(config)
    config["knowledge"]["source"] = {"file": str(DEMO_KB)}
    config["knowledge"]["qdrant"] = {"url": "http://127.0.0.1:9", "timeout": 2}
    with pytest.raises(ConfigError, match=r"^knowledge.qdrant.url: cannot reach Qdrant"):
        preflight(config)
    config["knowledge"]["qdrant"] = {}
    config["knowledge"]["language"] = "klingon"  # no stemmer or stopwords in the engine's BM25
    with pytest.raises(ConfigError, match=r"^knowledge.language: unsupported language") as exc:
        preflight(config)
    assert "\n" not in str(exc.value)


def test_kb_size_sweep_plans_a_chain_per_variant_and_the_figure():
    from cmoe.config import load_config
    from cmoe.plan import build_plan

    config = load_config(ROOT / "config" / "demo.yaml", ROOT / "config/ablations/kard_kb_size.yaml")
    plan = build_plan(config)
    sweep = config["kard"]["sweep"]
    distractors = sorted({v["distractors"] for v in sweep})
    assert sorted(j.settings["distractors"] for j in plan.jobs_of("index").values()) == distractors
    assert len(plan.jobs_of("reranker")) == len(distractors) * 2  # one per teacher and KB
    rows = [r for r in plan.rows if r.method.startswith("kard")]
    assert {r.method for r in rows} == {
        f"kard ({rr}+{v['distractors']} distractors, k={v['n_knowledge']})"
        for v in sweep
        for rr in ("", "no reranker, ")
    }
    assert len(rows) == len(sweep) * 2 * 2  # x 2 teachers x (with, without reranker)
    [plot] = plan.jobs_of("kb_size_plot").values()
    assert plot.key == "ablation-kard-kb-size/plots/kard_kb_size"
    assert sorted(p["scores"] for p in plot.points) == sorted(
        f"{r.eval_dir}/scores.json" for r in rows
    )
    retrieve = plan.jobs_of("retrieve")
    for row in rows:
        evaluation = plan.evaluations[row.eval_dir.removeprefix("results/")]
        questions = retrieve[evaluation.questions.removeprefix("results/").removesuffix(".jsonl")]
        point = next(p for p in plot.points if p["scores"].startswith(row.eval_dir + "/"))
        assert questions.kard["n_knowledge"] == point["n_knowledge"]
        assert questions.index == point["index"] and f"/d{point['distractors']}/" in point["index"]
    # without a sweep: one chain, no figure
    assert not build_plan(load_config(ROOT / "config" / "demo_rummlu.yaml")).jobs_of("kb_size_plot")


def test_kb_size_figure_averages_teachers_and_students_per_size(tmp_path):
    from cmoe.reporting.plots import accuracy_vs_kb_size

    points = []
    for size, accuracies in ((400, (0.5, 0.3)), (4400, (0.2, 0.2))):
        index = tmp_path / f"index{size}"
        index.mkdir()
        (index / "manifest.json").write_text(json.dumps({"passages": size}))
        for i, acc in enumerate(accuracies):
            scores = tmp_path / f"s{size}-{i}.json"
            scores.write_text(json.dumps({"overall": {"accuracy": acc}}))
            points.append(
                {"scores": str(scores), "index": str(index), "n_knowledge": 1, "reranker": True}
            )
    drawn = accuracy_vs_kb_size(points, tmp_path / "kb.svg")
    assert [(d["passages"], round(d["accuracy"], 6)) for d in drawn] == [(400, 0.4), (4400, 0.2)]
    assert (tmp_path / "kb.svg").stat().st_size and (tmp_path / "kb.png").stat().st_size


def test_reranker_recall_is_measured_against_bm25_on_held_out_questions(
    demo_index, demo_questions, tiny_model_dir, tmp_path
):
    """The reranker's evaluation (recall.json), recomputed independently: BM25's recall@k on the
    held-out questions, and the reranker's over the same candidates (equal at k = depth). How far
    the demo's tiny reranker is from BM25 is measured by perf/bench_reranker_recall.py."""
    from cmoe.core.io import read_jsonl
    from cmoe.methods.kard.knowledge.reranker import (
        TfidfLabels,
        draw_candidates,
        heldout,
        recall_at_k,
        train_reranker,
    )
    from cmoe.methods.kard.knowledge.settings import KardSettings, RerankerSettings

    folder, settings = demo_index
    traces = [
        {**q, "reasoning": q["explanation"], "correct": True}
        for q in demo_questions
        if q.get("explanation")
    ][:60]
    depth = 8
    kard = KardSettings(
        search_depth=depth,
        n_candidates=4,
        recall_k=[1, 3, depth],
        reranker=RerankerSettings(
            epochs=1, compression_dim=16, max_length=48, heldout_fraction=0.3, batch_size=16
        ),
    )
    passages = read_jsonl(folder / "passages.jsonl")
    with Retriever(folder / "index", settings) as retriever:
        candidates = draw_candidates(traces, retriever, kard)
        test = [t for t in traces if heldout(t, 0.3, 0)]
        hits = retriever.search([question_query(t) for t in test], depth)
    result = train_reranker(
        candidates, passages, str(tiny_model_dir), kard, settings, tmp_path / "rr"
    )
    recall = json.loads((tmp_path / "rr" / "recall.json").read_text())
    assert recall == result["recall"] and recall["heldout_questions"] == len(test) > 0
    labels = TfidfLabels(passages, settings)
    gold = [labels.best(t["reasoning"]) for t in test]
    bm25 = recall_at_k([[h["pid"] for h in hs] for hs in hits], gold, [1, 3, depth])
    assert recall["retriever"] == bm25
    assert recall["reranker"][f"recall@{depth}"] == bm25[f"recall@{depth}"]
    assert recall["gold_among_candidates"] == bm25[f"recall@{depth}"]
    assert (
        recall["reranker"]["recall@1"] <= recall["reranker"]["recall@3"] <= bm25[f"recall@{depth}"]
    )


def _search_for(index, settings, seconds, queue):
    with Retriever(index, settings) as retriever:
        queue.put(("open", time.monotonic()))
        time.sleep(seconds)  # both readers hold the index open here, at the same time
        queue.put(("hits", [h["pid"] for h in retriever.search(["Ромул Августул"], 3)[0]]))


def test_jobs_read_one_index_at_once(demo_index):
    """Several jobs (parallel retrieve and reranker jobs) read one Edge index side by side; only
    opening and closing take its lock, and a job gives up on it after lock_timeout, in one line."""
    import fcntl

    from cmoe.methods.kard.knowledge.engine import EdgeStore

    folder, settings = demo_index
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    readers = [
        ctx.Process(target=_search_for, args=(folder / "index", settings, 3, queue))
        for _ in range(2)
    ]
    for r in readers:
        r.start()
    events = [queue.get(timeout=60) for _ in range(4)]
    for r in readers:
        r.join(60)
        assert r.exitcode == 0
    opened = [t for kind, t in events if kind == "open"]
    hits = [h for kind, h in events if kind == "hits"]
    assert len(opened) == 2 and abs(opened[0] - opened[1]) < 2.5  # neither waited for the other
    assert hits[0] == hits[1] and hits[0]
    with open(folder / "index" / "open.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another job opening or closing it
        lazy = KnowledgeSettings(**{**settings.__dict__, "qdrant": QdrantSettings(lock_timeout=0)})
        with pytest.raises(KnowledgeError, match="lock_timeout") as exc:
            EdgeStore(folder / "index" / "shard", lazy)
        assert "\n" not in str(exc.value)


def test_index_of_other_settings_is_a_one_line_error(demo_index, tmp_path):
    folder, settings = demo_index
    other = KnowledgeSettings(**{**settings.__dict__, "bm25_b": 0.5})
    with pytest.raises(KnowledgeError, match=r"built for knowledge.bm25_b = 0.75, but it is 0.5"):
        Retriever(folder / "index", other)
    old = tmp_path / "old"
    old.mkdir()  # an index of the embedded local mode this engine replaced
    (old / "manifest.json").write_text(json.dumps({"retriever": "bm25", "url": ""}))
    with pytest.raises(KnowledgeError, match="another version of the index") as exc:
        Retriever(old, settings)
    assert "\n" not in str(exc.value)


def test_bm25_finds_each_control_fact_among_distractors(tmp_path):
    """Recall on the control tasks' knowledge base: each knowledge question names the passage
    that holds its fact; BM25 in the engine ranks it first, by question and by rationale, among
    2,000 distractors (perf/bench_kb_recall.py measures larger sizes)."""
    import sys

    sys.path.insert(0, str(ROOT / "perf"))
    from bench_kb_recall import run

    row = run(2000, "bm25", tmp_path)
    assert row["passages"] == 2132
    assert row["question"]["recall@1"] == 1.0 and row["rationale"]["recall@1"] == 1.0


def test_dense_and_hybrid_search_in_the_engine(tmp_path, tiny_model_dir):
    """Dense vectors (HNSW) and BM25 + dense fused by the engine's RRF (k = 60). A passage's own
    text finds it first by BM25 and by dense vectors (cosine 1), so the fused list puts it first
    with both lists' reciprocal ranks summed; the dense top 5 equals exact search."""
    kb = ROOT / "data" / "control" / "knowledge.jsonl"
    passages = tmp_path / "passages.jsonl"
    build_knowledge_base(KnowledgeSettings(source={"file": str(kb)}), passages)
    rows = [json.loads(line) for line in passages.read_text("utf-8").splitlines()]
    texts, pids = [rows[3]["text"], rows[40]["text"]], [rows[3]["id"], rows[40]["id"]]
    found = {}
    for retriever in ("bm25", "dense", "hybrid"):
        settings = KnowledgeSettings(source={"file": str(kb)}, retriever=retriever)
        out = tmp_path / retriever
        manifest = build_index(passages, out, settings, str(tiny_model_dir))
        assert manifest["dense_dim"] == (None if retriever == "bm25" else 64)
        with Retriever(out, settings) as r:
            found[retriever] = r.search(texts, 5)
            if retriever == "dense":
                exact = r.search(texts, 5, exact=True)
                assert [[h["pid"] for h in hs] for hs in exact] == [
                    [h["pid"] for h in hs] for hs in found["dense"]
                ]
    for i, pid in enumerate(pids):
        assert found["bm25"][i][0]["pid"] == found["dense"][i][0]["pid"] == pid
        assert len(found["hybrid"][i]) == 5 and found["hybrid"][i][0]["pid"] == pid
        one = found["hybrid"][i][1]["score"]  # a passage in one list only, or lower in both
        assert found["hybrid"][i][0]["score"] == pytest.approx(2 / 60, rel=1e-3)
        assert one < found["hybrid"][i][0]["score"]


def test_server_path_builds_and_searches_through_qdrant_client(tmp_path, monkeypatch):
    """`knowledge.qdrant.url`: the same vectors and queries through qdrant-client, here against
    its in-memory store standing in for a server (none installs on the test machines)."""
    from qdrant_client import QdrantClient

    import cmoe.methods.kard.knowledge.server as server

    memory = QdrantClient(location=":memory:")
    monkeypatch.setattr(memory, "close", lambda: None)
    monkeypatch.setattr(server, "connect", lambda qdrant: memory)
    kb = ROOT / "data" / "control" / "knowledge.jsonl"
    remote = KnowledgeSettings(source={"file": str(kb)}, qdrant=QdrantSettings(url="http://q:6333"))
    build_knowledge_base(remote, tmp_path / "passages.jsonl")
    manifest = build_index(tmp_path / "passages.jsonl", tmp_path / "remote", remote)
    assert manifest["collection"].startswith("cmoe-") and not (tmp_path / "remote/shard").exists()
    local = KnowledgeSettings(source={"file": str(kb)})
    build_index(tmp_path / "passages.jsonl", tmp_path / "edge", local)
    texts = ["пароль сервера «Нигония»", "столица страны Мослинлан", "остров Кемерон"]
    with Retriever(tmp_path / "remote", remote) as r, Retriever(tmp_path / "edge", local) as e:
        there, here = r.search(texts, 3), e.search(texts, 3)
    # the same BM25 (the engine's IDF), so the same first passage and scores (ties may reorder)
    assert [h[0]["pid"] for h in there] == [h[0]["pid"] for h in here]
    assert [[round(x["score"], 4) for x in h] for h in there] == [
        [round(x["score"], 4) for x in h] for h in here
    ]
    with pytest.raises(KnowledgeError, match="built for knowledge.qdrant.url"):
        Retriever(tmp_path / "remote", local)


def _segment_bytes(index) -> list[dict]:
    """Each segment's files and their bytes: segments are named at random (names left out), and
    the engine's write journals differ from build to build (left out: no search reads them)."""
    segments = sorted((index / "shard" / "segments").iterdir())
    return [
        {
            f.relative_to(s).as_posix(): f.read_bytes()
            for f in sorted(s.rglob("*"))
            if f.is_file() and "journal" not in f.name
        }
        for s in segments
    ]


def test_two_builds_of_one_index_are_the_same_bytes(demo_index, tmp_path):
    """The index, and so every score and tie among passages, does not depend on the build: a
    second build of the same passages stores the same bytes and searches alike."""
    folder, settings = demo_index
    build_index(folder / "passages.jsonl", tmp_path / "again", settings)
    assert _segment_bytes(tmp_path / "again") == _segment_bytes(folder / "index")
    query = ["Кто низложил Ромула Августула?", "ферментация молока", "вулкан"]
    with Retriever(folder / "index", settings) as a, Retriever(tmp_path / "again", settings) as b:
        assert a.search(query, 20) == b.search(query, 20)
