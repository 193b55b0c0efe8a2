"""The knowledge base stage: documents (a hub dataset or a local JSONL file) -> passages.jsonl.

Each document's text is split into paragraphs on blank lines (or single newlines), and a
paragraph longer than `chunk_words` words into consecutive pieces of at most that many words, as
KARD's Wikipedia paragraphs are. `distractors` appends synthetic off-topic passages: the
knowledge-base-size ablation, and the benchmark's corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

from ....core.errors import CmoeError
from ....core.io import atomic_write_jsonl, iter_jsonl
from .settings import KnowledgeSettings

_PARAGRAPHS = re.compile(r"\n\s*\n|\n")


class KnowledgeError(CmoeError):
    """Bad knowledge-base input or index; the message is one line naming the key or file."""


def iter_documents(settings: KnowledgeSettings) -> Iterator[tuple[str, dict]]:
    """Yield (location, row) from `knowledge.source`: {file: path} or {hub: {path, name, split}}."""
    source = settings.source
    if "file" in source:
        path = Path(source["file"])
        if not path.exists():
            raise KnowledgeError(f"knowledge.source.file: {path} does not exist")
        for lineno, row in iter_jsonl(path):
            yield f"{path}:{lineno}", row
    elif "hub" in source:
        import datasets

        hub = source["hub"]
        split = hub.get("split", "train")
        ds = datasets.load_dataset(
            hub["path"], hub.get("name"), split=split, streaming=True, revision=hub.get("revision")
        )
        for i, row in enumerate(ds):
            yield f"{hub['path']}[{hub.get('name')}/{split}] row {i}", row
    else:
        raise KnowledgeError("knowledge.source: give `file` (local JSONL) or `hub` (a dataset)")


def split_paragraphs(text: str, chunk_words: int, min_words: int) -> list[str]:
    """Paragraphs of a document, long ones cut into pieces of at most ``chunk_words`` words."""
    pieces = []
    for paragraph in _PARAGRAPHS.split(text):
        words = paragraph.split()
        for start in range(0, len(words), max(1, chunk_words)):
            chunk = words[start : start + chunk_words]
            if len(chunk) >= min_words:
                pieces.append(" ".join(chunk))
    return pieces


def documents(settings: KnowledgeSettings) -> Iterator[tuple[str, dict, str]]:
    """(location, row, text) of each document the knowledge base is cut from (the first
    `max_documents`); a row without its text field raises KnowledgeError naming its line."""
    for docs, (location, row) in enumerate(iter_documents(settings)):
        if settings.max_documents and docs >= settings.max_documents:
            break
        text = row.get(settings.text_field) if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise KnowledgeError(
                f"{location}: no text field {settings.text_field!r} (knowledge.text_field)"
            )
        yield location, row, text


def document_passages(settings: KnowledgeSettings) -> Iterator[dict]:
    n = 0
    for _, row, text in documents(settings):
        title = str(row.get(settings.title_field) or "")
        for paragraph in split_paragraphs(text, settings.chunk_words, settings.min_words):
            yield {"id": n, "title": title, "text": paragraph}
            n += 1


# Synthetic distractors: grammatical Russian sentences about everyday matters that none of the
# demo questions ask about, combined from these parts with a seeded generator.
_SUBJECTS = [
    "Рыбак из соседней деревни",
    "Старый садовник",
    "Молодой повар",
    "Хозяйка гостиницы",
    "Почтальон",
    "Школьный библиотекарь",
    "Водитель автобуса",
    "Мастер по ремонту обуви",
    "Фермер",
    "Художница",
    "Продавец овощей",
    "Городской музыкант",
    "Пекарь",
    "Сторож парка",
]
_VERBS = [
    "каждое утро покупает",
    "аккуратно складывает",
    "долго выбирает",
    "бережно хранит",
    "часто вспоминает",
    "по субботам чинит",
    "неторопливо красит",
    "охотно показывает гостям",
    "тщательно моет",
    "с улыбкой раздаёт",
    "весной высаживает",
    "вечерами перебирает",
]
_OBJECTS = [
    "деревянные ящики",
    "старые открытки",
    "свежий хлеб",
    "глиняные горшки",
    "зелёные яблоки",
    "вязаные шарфы",
    "медные ключи",
    "плетёные корзины",
    "садовые скамейки",
    "бумажные фонарики",
    "фарфоровые чашки",
    "резные рамки",
    "полосатые зонты",
    "пёстрые коврики",
]
_PLACES = [
    "у реки",
    "на рыночной площади",
    "во дворе за домом",
    "возле старой мельницы",
    "на краю леса",
    "в маленькой лавке",
    "под навесом у вокзала",
    "на берегу озера",
    "в тени каштанов",
    "у городского фонтана",
    "на чердаке",
    "возле пекарни",
]
_TAILS = [
    "и никогда не торопится.",
    "потому что так делали его родители.",
    "хотя погода часто меняется.",
    "и рассказывает об этом соседям.",
    "пока на улице тихо.",
    "чтобы порадовать знакомых.",
    "и записывает всё в тетрадь.",
    "даже когда идёт дождь.",
]


def synthetic_passages(n: int, seed: int, start_id: int = 0, sentences: int = 3) -> list[dict]:
    """``n`` off-topic passages of ``sentences`` sentences each, reproducible from ``seed``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_PLACES)} {rng.choice(_TAILS)}"
            for _ in range(sentences)
        )
        out.append({"id": start_id + i, "title": "distractor", "text": text})
    return out


def build_knowledge_base(settings: KnowledgeSettings, out: str | Path) -> dict:
    """Write passages.jsonl (id, title, text) atomically; return counts."""
    passages = list(document_passages(settings))
    from_source = len(passages)
    passages += synthetic_passages(settings.distractors, settings.seed, start_id=from_source)
    if not passages:
        raise KnowledgeError(
            "knowledge base is empty: knowledge.source gave no passages of at least "
            f"{settings.min_words} words (knowledge.min_words) and knowledge.distractors is 0"
        )
    atomic_write_jsonl(out, passages)
    return {
        "passages": len(passages),
        "from_source": from_source,
        "distractors": len(passages) - from_source,
    }
