"""The hub's data layouts through the real `hub:` code path: local copies laid out and typed as
the hub datasets are (a README `configs:` block, the same files and `datasets.Features`), loaded by
the stages' own commands with the config's hub entries (config/config.yaml,
config/ablations/extra_sources.yaml), only `path` pointed at the local copy:

- MERA v1.2 `rummlu` (MERA-evaluation/MERA): JSON Lines `data/rummlu/{train,test}.jsonl`, the
  dataset card's rows and one hidden row (`outputs` empty) -> data.source and data.fewshot_source;
- Wikipedia `20231101.ru` (wikimedia/wikipedia): Parquet shards `20231101.ru/train-*`, every
  field a string (`id` too) -> knowledge.source;
- T-Wix (t-tech/T-Wix): Parquet under `data/`, `messages` [{role, content}] and `subset`, a
  layout assumed from code that loads it (its card was not read) -> data.extra_sources.
"""

import json

import pytest
import yaml
from conftest import ROOT

from cmoe.cli import main

datasets = pytest.importorskip("datasets")
from datasets import Features, List, Value  # noqa: E402

CARD = json.loads((ROOT / "tests" / "fixtures" / "mera_card_rows.json").read_text("utf-8"))
ROWS = [json.loads(r["verbatim_block"]) for r in CARD["rows"]]
ZERO_SHOT = {
    json.loads(r["verbatim_block"])["meta"]["id"]: r["lmeval_0shot_context"] for r in CARD["rows"]
}

MERA_RUMMLU = Features(
    {
        "instruction": Value("string"),
        "inputs": {
            k: Value("string")
            for k in ("text", "option_a", "option_b", "option_c", "option_d", "subject")
        },
        "outputs": Value("string"),
        "meta": {"id": Value("int64"), "domain": Value("string")},
    }
)
WIKIPEDIA = Features({k: Value("string") for k in ("id", "url", "title", "text")})
T_WIX = Features(
    {
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "subset": Value("string"),
    }
)
ARTICLES = [
    {
        "id": "7",
        "url": "https://ru.wikipedia.org/wiki/Пермь",
        "title": "Пермь",
        "text": "Пермь — город на Урале, на реке Каме.\n\nИстория\nОснован в 1723 году как завод.",
    },
    {
        "id": "12",
        "url": "https://ru.wikipedia.org/wiki/Август",
        "title": "Август",
        "text": "Август — восьмой месяц года в григорианском календаре.",
    },
]
CHATS = [
    {
        "messages": [
            {"role": "user", "content": "Сколько будет дважды два?"},
            {"role": "assistant", "content": "Дважды два — четыре."},
        ],
        "subset": "general",
    },
    {
        "messages": [
            {"role": "system", "content": "Ты решаешь задачи."},
            {"role": "user", "content": "Реши уравнение x + 1 = 3."},
            {"role": "assistant", "content": "<think>x = 3 - 1</think>\nx = 2"},
        ],
        "subset": "reasoning",
    },
]


def readme(configs: list[dict]) -> str:
    return "---\n" + yaml.safe_dump({"configs": configs}, allow_unicode=True) + "---\n"


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Local copies of the three hub datasets, each checked to load with the hub's features."""
    root = tmp_path_factory.mktemp("hub")
    # a cache of its own, so that the tests neither read nor fill the user's
    patch = pytest.MonkeyPatch()
    patch.setattr(datasets.config, "HF_DATASETS_CACHE", root / "cache")
    mera = root / "MERA"
    hidden = {**ROWS[0], "outputs": "", "meta": {**ROWS[0]["meta"], "id": 14011}}
    write_jsonl(mera / "data" / "rummlu" / "test.jsonl", [*ROWS, hidden])
    pool = [{**r, "meta": {**r["meta"], "id": i}} for i, r in enumerate(ROWS)]
    write_jsonl(mera / "data" / "rummlu" / "train.jsonl", pool)
    files = [{"split": s, "path": f"data/rummlu/{s}.jsonl"} for s in ("train", "test")]
    (mera / "README.md").write_text(readme([{"config_name": "rummlu", "data_files": files}]))

    wiki = root / "wikipedia"
    (wiki / "20231101.ru").mkdir(parents=True)
    for i, article in enumerate(ARTICLES):  # one article a shard, as 21 shards hold them
        shard = wiki / "20231101.ru" / f"train-{i:05d}-of-{len(ARTICLES):05d}.parquet"
        datasets.Dataset.from_list([article], features=WIKIPEDIA).to_parquet(shard)
    files = [{"split": "train", "path": "20231101.ru/train-*"}]
    (wiki / "README.md").write_text(readme([{"config_name": "20231101.ru", "data_files": files}]))

    twix = root / "T-Wix"
    (twix / "data").mkdir(parents=True)
    datasets.Dataset.from_list(CHATS, features=T_WIX).to_parquet(
        twix / "data" / "train-00000-of-00001.parquet"
    )

    for path, name, split, features in (
        (mera, "rummlu", "test", MERA_RUMMLU),
        (mera, "rummlu", "train", MERA_RUMMLU),
        (wiki, "20231101.ru", "train", WIKIPEDIA),
        (twix, None, "train", T_WIX),
    ):
        assert datasets.load_dataset(str(path), name, split=split).features == features, path
    yield {"MERA-evaluation/MERA": mera, "wikimedia/wikipedia": wiki, "t-tech/T-Wix": twix}
    patch.undo()


def local(entry: dict, hub: dict) -> dict:
    """A config's `hub:` entry with only its path pointed at the local copy."""
    return {**entry, "path": str(hub[entry["path"]])}


MAIN = yaml.safe_load((ROOT / "config" / "config.yaml").read_text("utf-8"))


def test_mera_test_split_through_data_source_hub(hub, tmp_path, capsys):
    """config.yaml's data.source.hub (split test): the card's rows become questions whose MERA
    prompt is lm-eval's, the hidden row stops the run naming its row (or is skipped and counted);
    ids arrive as int64 and are kept as text."""
    from cmoe.data.questions import read_questions
    from cmoe.evaluation.loglik import mera_prompts

    # every row in the test split (test_fraction must be under 1: round(n * 0.999) is n here)
    data = {**MAIN["data"], "test_fraction": 0.999, "fewshot_source": None}
    data["source"] = {"hub": local(MAIN["data"]["source"]["hub"], hub)}
    out = [f"--{k}={tmp_path / k}.json" for k in ("train", "test", "summary")]
    assert main(["prepare-data", "--settings", json.dumps(data), *out]) != 0
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert "MERA[rummlu/test] row 4: outputs is empty: a hidden row" in line
    data["on_bad_row"] = "skip"
    assert main(["prepare-data", "--settings", json.dumps(data), *out]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["skipped_bad_rows"] == 1, summary
    questions = read_questions(tmp_path / "test.json")
    assert sorted(q["id"] for q in questions) == ["0", "4", "6", "666"]
    prompts = mera_prompts(questions, [], 0, 1234)
    assert {int(q["id"]): p for q, p in zip(questions, prompts, strict=True)} == ZERO_SHOT


def test_mera_train_split_through_data_fewshot_source_hub(hub, tmp_path):
    """config.yaml's data.fewshot_source.hub (split train) -> the few-shot pool, in row order,
    each shot keeping its inputs as stored."""
    from cmoe.data.questions import read_questions

    data = {
        **MAIN["data"],
        "fewshot_source": {"hub": local(MAIN["data"]["fewshot_source"]["hub"], hub)},
    }
    assert (
        main(["prepare-fewshot", "--settings", json.dumps(data), "--out", str(tmp_path / "p")]) == 0
    )
    pool = read_questions(tmp_path / "p")
    assert [q["id"] for q in pool] == [str(i) for i in range(len(ROWS))]
    assert [q["inputs"]["text"] for q in pool] == [r["inputs"]["text"] for r in ROWS]


def test_wikipedia_through_knowledge_source_hub(hub, tmp_path):
    """config.yaml's knowledge.source.hub (20231101.ru, train, streamed): every shard's articles
    become passages, split on their paragraphs, titled."""
    knowledge = {
        **MAIN["knowledge"],
        "source": {"hub": local(MAIN["knowledge"]["source"]["hub"], hub)},
    }
    out = tmp_path / "passages.jsonl"
    assert main(["knowledge", "--settings", json.dumps(knowledge), "--out", str(out)]) == 0
    passages = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(p["title"], p["text"]) for p in passages] == [
        ("Пермь", "Пермь — город на Урале, на реке Каме."),
        ("Пермь", "Основан в 1723 году как завод."),  # "История" (one word) is below min_words
        ("Август", "Август — восьмой месяц года в григорианском календаре."),
    ]


def test_t_wix_through_a_hub_extra_source(hub, tmp_path):
    """config/ablations/extra_sources.yaml's T-Wix entry (fields: {messages: messages}, the
    assumed layout): its chats become training records, the `subset` column is left alone; a
    row whose turns do not end with the assistant's is named by its dataset and row."""
    overlay = yaml.safe_load((ROOT / "config/ablations/extra_sources.yaml").read_text("utf-8"))
    (entry,) = overlay["data"]["extra_sources"]
    assert "assumed" in (ROOT / "config/ablations/extra_sources.yaml").read_text("utf-8")
    sources = [{**entry, "hub": local(entry["hub"], hub), "weight": 1.0}]
    out, stats = tmp_path / "extra.jsonl", tmp_path / "extra.json"
    argv = ["curate-extra", "--max-length", "512", "--curation", '{"steps": []}']
    argv += ["--out", str(out), "--stats", str(stats), "--sources", json.dumps(sources)]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sorted(json.dumps(r["messages"], sort_keys=True) for r in records) == sorted(
        json.dumps(c["messages"], sort_keys=True) for c in CHATS
    )
    assert all(r["source"] == "t-wix" and "subset" not in r for r in records)

    broken = tmp_path / "T-Wix-broken"
    (broken / "data").mkdir(parents=True)
    rows = [CHATS[0], {"messages": CHATS[0]["messages"][:1], "subset": "general"}]
    datasets.Dataset.from_list(rows, features=T_WIX).to_parquet(broken / "data" / "train.parquet")
    sources[0]["hub"]["path"] = str(broken)
    argv[-1] = json.dumps(sources)
    want = r"^extra source t-wix, .*/T-Wix-broken\[None/train\] row 1: field 'messages' must be"
    with pytest.raises(SystemExit, match=want):
        main(argv)


def test_a_local_copy_is_read_as_it_is_now_not_from_a_stale_cache(tmp_path, monkeypatch):
    """Two local copies of one name, then one of them edited in place, loaded in one cache:
    each load reads the rows there now (`datasets` alone caches a local folder by its name and
    file patterns, and read the first copy's rows all three times)."""
    from cmoe.data.questions import iter_source_rows

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    files = [{"split": "test", "path": "data/rummlu/test.jsonl"}]

    def copy(folder, rows):
        write_jsonl(folder / "data" / "rummlu" / "test.jsonl", rows)
        (folder / "README.md").write_text(readme([{"config_name": "rummlu", "data_files": files}]))
        source = {"hub": {"path": str(folder), "name": "rummlu", "split": "test"}}
        return [row["meta"]["id"] for _, row in iter_source_rows(source)]

    first, second = ROWS[:1], ROWS[1:]
    assert copy(tmp_path / "a" / "MERA", first) == [r["meta"]["id"] for r in first]
    assert copy(tmp_path / "b" / "MERA", second) == [r["meta"]["id"] for r in second]
    assert copy(tmp_path / "a" / "MERA", second) == [r["meta"]["id"] for r in second]
