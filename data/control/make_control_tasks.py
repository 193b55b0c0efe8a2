"""Write the control tasks: Russian multiple-choice questions whose effects are planted.

Stdlib only, seeded, deterministic: every run writes the same bytes (check: run it twice and
compare `sha256sum`). Usage: python make_control_tasks.py [--out DIR] [--seed N]  (default: this
folder, seed 2026). Another seed draws the same tasks afresh: other names, months, option orders
and entities, to score trained models on questions they never saw (tests/test_control_effects.py).

Files (JSONL, one object a line, MERA's ruMMLU schema where they hold questions):
  control_tasks.jsonl        the questions (+ `explanation`, the reference reasoning)
  control_tasks_noisy.jsonl  the same rows, `explanation` replaced by noisy teacher b's
  control_fewshot.jsonl      MERA's few-shot pool: 1 question per subject, disjoint entities/names
  knowledge.jsonl            passages {title, text}: the facts of the knowledge questions + distractors
  hub_data/lookup_train.jsonl, lookup_heldout.jsonl   the bases' pretraining task ("найди вариант")
  hub_data/passage_train.jsonl, passage_heldout.jsonl the same with the word named only in a
                             "Знания:" passage (field `knowledge`): reading, for KARD
  hub_data/teacher_train.jsonl, teacher_train_noisy.jsonl   what hub teachers a/b learn
                             (the 4 rules on other names, and every entity's fact)

Planted effects:
  (a) learnable reasoning: each domain has one month rule, its explanation names the target in
      CAPITALS after "ищем", then walks the options ("A) март → МАРТ нет") until "да". Rule
      questions ask about 6 months; every (rule, month) pair occurs 10 times with different names
      and option orders, so any split of the file puts new combinations of what train teaches
      into test; no two rows share a text.
  (b) domain conflict: the four options of a rule question are the four rules' answers for its
      month, so each rule's answer is the other rules' distractor.
  (c) knowledge only a passage holds: questions about invented entities (ids "k-...", subject
      keys of KNOWLEDGE_SUBJECTS, meta.kind "knowledge"); each entity is asked once, its fact is
      stated only in its passage of knowledge.jsonl (and in that row's explanation).
  (d) noisy teacher: teacher b believes a wrong target for fixed months of each rule (1 or 2 of
      6) and for a fixed quarter of the entities, i.e. exactly 25% of the rows (meta.noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

SEED = 2026
MONTHS = ["январь", "февраль", "март", "апрель", "май", "июнь",
          "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь"]  # fmt: skip
# Knowledge answers and the lookup vocabulary: words the pretrained bases know.
CATEGORIES = {
    "city": ["Пермь", "Омск", "Томск", "Казань", "Тула", "Сочи",
             "Курск", "Псков", "Уфа", "Чита", "Рязань", "Самара"],
    "colour": ["красный", "синий", "белый", "серый", "жёлтый", "зелёный",
               "чёрный", "розовый", "голубой", "бурый", "рыжий", "золотой"],
    "animal": ["кошка", "собака", "лиса", "волк", "заяц", "медведь",
               "корова", "лошадь", "коза", "утка", "сова", "мышь"],
    "fruit": ["яблоко", "груша", "слива", "вишня", "банан", "лимон",
              "апельсин", "персик", "арбуз", "дыня", "виноград", "абрикос"],
}  # fmt: skip
OBJECTS = ["стол", "стул", "книга", "лампа", "окно", "дверь", "ручка", "чашка", "ложка", "часы"]
VOCABULARY = MONTHS + [w for words in CATEGORIES.values() for w in words] + OBJECTS  # 70 words

# Names fill the questions' slot: control rows, the hub teachers' rows and the fewshot pool
# draw from disjoint lists, so no question text is shared between those files.
NAMES = ["Аня", "Борис", "Вера", "Глеб", "Даша", "Егор", "Женя", "Зоя", "Игорь", "Катя",
         "Лёва", "Маша", "Нина", "Олег", "Петя", "Рита", "Саша", "Таня", "Уля", "Федя",
         "Юля", "Яна", "Вова", "Гоша", "Дина", "Лиза", "Миша", "Надя", "Оля", "Паша"]  # fmt: skip
TEACHER_NAMES = ["Артём", "Белла", "Вадим", "Галя", "Денис", "Ева", "Жора", "Злата", "Илья",
                 "Кира", "Лена", "Макс", "Ника", "Оскар", "Поля", "Рома", "Соня", "Тимур",
                 "Фая", "Эля"]  # fmt: skip
FEWSHOT_NAMES = ["Ася", "Боря", "Валя", "Гена", "Дима", "Эмма"]
LOOKUP_NAMES = NAMES + TEACHER_NAMES + FEWSHOT_NAMES + ["Алла", "Ваня", "Лара", "Сева"]

# domain -> (month offset, question, first line of the explanation)
RULES = {
    "social_humanities": (-1, "{name}: какой месяц перед «{x}»?", "Перед «{x}» идёт «{t}»"),
    "natural_science": (1, "{name}: какой месяц после «{x}»?", "После «{x}» идёт «{t}»"),
    "math_cs": (3, "{name}: какой месяц через квартал от «{x}»?", "Через квартал от «{x}» — «{t}»"),
    "other": (6, "{name}: какой месяц напротив «{x}»?", "Напротив «{x}» — «{t}»"),
}
OFFSETS = sorted(offset for offset, _, _ in RULES.values())  # the four options of a month
# Rule questions ask about 6 months (answers range over all 12): 10 rows per (rule, month), so
# any 50/50 split leaves every pair in train (all 10 in test: p = 2^-10 per pair)
ASKED_MONTHS = [0, 2, 4, 6, 8, 10]
# Real MMLU subject keys (cmoe.domains) and MERA-style Russian names: 3 rule subjects per domain
RULE_SUBJECTS = {
    "social_humanities": [("high_school_world_history", "Всемирная история"),
                          ("philosophy", "Философия"), ("sociology", "Социология")],
    "natural_science": [("high_school_physics", "Физика"), ("high_school_chemistry", "Химия"),
                        ("high_school_biology", "Биология")],
    "math_cs": [("elementary_mathematics", "Элементарная математика"),
                ("high_school_computer_science", "Информатика"),
                ("high_school_statistics", "Статистика")],
    "other": [("clinical_knowledge", "Клинические знания"), ("marketing", "Маркетинг"),
              ("management", "Менеджмент")],
}  # fmt: skip
# ... and 1 knowledge subject per domain: (key, name, category, question, explanation, passage)
KNOWLEDGE_SUBJECTS = {
    "social_humanities": ("high_school_geography", "География", "city",
                          "{name}: столица страны «{e}»?", "Столица «{e}» — «{t}»",
                          "{e} — небольшая страна. Её столица — {t}."),
    "natural_science": ("astronomy", "Астрономия", "colour",
                        "{name}: цвет звезды «{e}»?", "Цвет звезды «{e}» — «{t}»",
                        "{e} — далёкая звезда. Её цвет — {t}."),
    "math_cs": ("computer_security", "Компьютерная безопасность", "animal",
                "{name}: пароль сервера «{e}»?", "Пароль сервера «{e}» — «{t}»",
                "{e} — старый сервер. Его пароль — {t}."),
    "other": ("nutrition", "Питание и диетология", "fruit",
              "{name}: фрукт острова «{e}»?", "Фрукт острова «{e}» — «{t}»",
              "{e} — тёплый остров. На нём растёт {t}."),
}
DOMAIN_OF = {key: d for d, subjects in RULE_SUBJECTS.items() for key, _ in subjects}
ABBREV = {"social_humanities": "sh", "natural_science": "ns", "math_cs": "mc", "other": "ot"}
LOOKUP_QUESTION = "{name}: найди вариант «{x}»."
LOOKUP_LINE = "Нужен «{x}»"

PER_MONTH = 10  # rule rows per (domain, asked month): 60 per domain
KNOWLEDGE_PER_DOMAIN = 16
# teacher b's misconceptions: asked months per rule domain (1 + 2 + 1 + 2 of 24: 25% of rule rows)
NOISY_MONTHS = {"social_humanities": 1, "natural_science": 2, "math_cs": 1, "other": 2}
NOISY_ENTITIES = 4  # of 16, per domain (25% of knowledge rows)
DISTRACTOR_ENTITIES = 16  # per domain: passages about entities no question asks about
TEACHER_PER_MONTH = 20  # hub teachers' rule rows per (domain, month)
TEACHER_KNOWLEDGE_REPEATS = 2  # each entity asked this many times in the hub teachers' data
LOOKUP_TRAIN, LOOKUP_HELDOUT = 4000, 400
PASSAGE_TRAIN, PASSAGE_HELDOUT = 2000, 200
# Reading a passage, the bases' second pretraining task: the word to find is named only in a
# "Знания:" passage put before the question (as KARD's prompts do), in one of these frames
PASSAGE_QUESTION = "{name}: найди вариант из знаний."
PASSAGE_LINE = "В знаниях «{x}»"
PASSAGE_FRAMES = ["{e} — {noun}. Его слово — {x}.", "Слово {x} записал {e}.",
                  "{e} говорит: {x}.", "Про {e} известно одно: {x}."]  # fmt: skip
PASSAGE_NOUNS = ["человек", "город", "корабль", "остров", "сервер", "зверь"]

# MERA v1.1/v1.2-style per-row instructions (the demo data's five variants)
INSTRUCTIONS = [
    "Дан вопрос по теме {subject}: {text}. Варианты ответа:\nA {option_a}\nB {option_b}\nC {option_c}\nD {option_d}\nОпредели, какой вариант ответа правильный. Напиши только букву этого ответа: A, B, C, D. Ответ:",
    "Задание содержит вопрос по теме {subject} и 4 варианта ответа A, B, C, D, из которых только один правильный.\n{text}\nA {option_a}\nB {option_b}\nC {option_c}\nD {option_d}\nЗапишите букву правильного ответа\nОтвет:",
    "Ниже приведён вопрос по теме {subject}.\n{text}\nВыбери один правильный ответ из четырёх вариантов:\nA) {option_a}\nB) {option_b}\nC) {option_c}\nD) {option_d}\nВ ответе укажи только букву.\nОтвет:",
    "Ответь на вопрос по теме «{subject}», выбрав один из вариантов A, B, C или D.\nВопрос: {text}\nA. {option_a}\nB. {option_b}\nC. {option_c}\nD. {option_d}\nОтвет:",
    "Тема: {subject}\n{text}\nВарианты:\nA {option_a}\nB {option_b}\nC {option_c}\nD {option_d}\nКакой вариант верный? Ответь одной буквой.\nОтвет:",
]  # fmt: skip
LETTERS = "ABCD"


def explanation(first_line: str, target: str, options: list[str]) -> str:
    """'<first line>: ищем TARGET.' then the options, lowercase → CAPITALS and нет/да, up to the
    first да (the answer is the letter of the last line)."""
    lines = [f"{first_line}: ищем {target.upper()}."]
    for letter, option in zip(LETTERS, options):
        hit = option == target
        lines.append(f"{letter}) {option} → {option.upper()} {'да' if hit else 'нет'}")
        if hit:
            break
    return "\n".join(lines)


def row(rid, domain, subject, subject_name, text, options, gold, expl, kind, rng, **meta):
    return {
        "instruction": rng.choice(INSTRUCTIONS),
        "inputs": {
            "text": text,
            **{f"option_{x.lower()}": o for x, o in zip(LETTERS, options)},
            "subject": subject_name,
        },
        "outputs": gold,
        "meta": {"id": rid, "domain": subject, "kind": kind, **meta},
        "explanation": expl,
    }


def balanced_letters(n: int, rng: random.Random) -> list[int]:
    """n gold positions, each letter equally often (n divisible by 4), in seeded order."""
    golds = [i % 4 for i in range(n)]
    rng.shuffle(golds)
    return golds


def month_options(x: int, gold_offset: int, gold_pos: int, rng: random.Random) -> list[str]:
    """The four rules' answers for month x, the gold one at gold_pos, the rest shuffled."""
    others = [o for o in OFFSETS if o != gold_offset]
    rng.shuffle(others)
    others.insert(gold_pos, gold_offset)
    return [MONTHS[(x + o) % 12] for o in others]


def rule_rows(names, per_month, id_prefix, rng, misconceptions, with_subjects=True):
    """Rule questions of every domain: per_month rows per month, each (name, month) used once
    and each (month, option order) at most once per domain (so no two traces are near-copies)."""
    rows, noisy_rows = [], []
    for domain, (offset, question, first) in RULES.items():
        subjects = RULE_SUBJECTS[domain]
        golds = balanced_letters(len(ASKED_MONTHS) * per_month, rng)
        pairs = [(x, name) for x in ASKED_MONTHS for name in names]
        rng.shuffle(pairs)
        used_names: dict[int, set] = {x: set() for x in ASKED_MONTHS}
        used_orders: set = set()
        count = dict.fromkeys(ASKED_MONTHS, 0)
        items = []
        for x, name in pairs:
            if count[x] < per_month and name not in used_names[x]:
                count[x] += 1
                used_names[x].add(name)
                items.append((x, name))
        items.sort(key=lambda item: (item[0], names.index(item[1])))
        rng.shuffle(items)
        for i, (x, name) in enumerate(items):
            gold_pos = golds[i]
            options = month_options(x, offset, gold_pos, rng)
            for _ in range(50):  # 6 orders per gold position: a repeat only past 6 rows
                if (x, tuple(options)) not in used_orders:
                    break
                options = month_options(x, offset, gold_pos, rng)
            used_orders.add((x, tuple(options)))
            target = MONTHS[(x + offset) % 12]
            fmt = {"x": MONTHS[x], "t": target}
            subject, subject_name = subjects[i % len(subjects)]
            rid = f"{id_prefix}r-{ABBREV[domain]}-{i:03d}"
            text = question.format(name=name, x=MONTHS[x])
            r = row(rid, domain, subject, subject_name, text, options, LETTERS[gold_pos],
                    explanation(first.format(**fmt), target, options), "rule", rng)  # fmt: skip
            noisy = x in misconceptions[domain]
            r["meta"]["noisy"] = noisy
            rows.append(r)
            noisy_rows.append(noisy_variant(r, misconceptions, first.format, x) if noisy else r)
    return rows, noisy_rows


def noisy_variant(r: dict, misconceptions: dict, first_fmt, x: int) -> dict:
    """Teacher b's explanation: its fixed wrong target for this (domain, month) or entity, and
    the walk that follows it to a wrong letter."""
    options = [r["inputs"][f"option_{c.lower()}"] for c in LETTERS]
    wrong = misconceptions[DOMAIN_OF[r["meta"]["domain"]]][x]
    return {**r, "explanation": explanation(first_fmt(x=wrong[0], t=wrong[1]), wrong[1], options)}


def entity_names(n: int, rng: random.Random, taken: set[str]) -> list[str]:
    """Invented, pronounceable names (capitalised), distinct in their first 6 letters (the BM25
    stem) and from every vocabulary word."""
    onsets = ["б", "в", "г", "д", "з", "к", "л", "м", "н", "п", "р", "с", "т"]
    vowels = ["а", "е", "и", "о", "у"]
    codas = ["", "", "", "н", "р", "л", "с"]
    endings = ["ния", "рия", "лан", "тар", "вос", "мир", "дель", "рон"]
    stems = {w.lower()[:6] for w in taken}
    out = []
    while len(out) < n:
        syllables = rng.choice([1, 2, 2])
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                       for _ in range(syllables)) + rng.choice(endings)  # fmt: skip
        if word[:6] in stems or not 6 <= len(word) <= 10:
            continue
        stems.add(word[:6])
        out.append(word.capitalize())
    return out


def knowledge_rows(domain, entities, facts, names, id_prefix, rng, misconceptions, golds=None):
    """One question per entity (its name slot from names, cycled)."""
    subject, subject_name, category, question, first, _ = KNOWLEDGE_SUBJECTS[domain]
    words = CATEGORIES[category]
    golds = golds or balanced_letters(len(entities), rng)
    rows, noisy_rows = [], []
    for i, e in enumerate(entities):
        target = facts[e]
        wrong = misconceptions.get("entities", {}).get(e)
        others = [w for w in words if w not in (target, wrong)]
        options = rng.sample(others, 2 if wrong else 3) + ([wrong] if wrong else [])
        rng.shuffle(options)
        options.insert(golds[i], target)
        fmt = {"e": e, "t": target}
        text = question.format(name=names[i % len(names)], e=e)
        rid = f"{id_prefix}k-{ABBREV[domain]}-{i:03d}"
        r = row(rid, domain, subject, subject_name, text, options, LETTERS[golds[i]],
                explanation(first.format(**fmt), target, options), "knowledge", rng)  # fmt: skip
        noisy = e in misconceptions.get("entities", {})
        r["meta"]["noisy"] = noisy
        rows.append(r)
        if noisy:
            noisy_r = {**r, "explanation": explanation(first.format(e=e, t=wrong), wrong, options)}
            noisy_rows.append(noisy_r)
        else:
            noisy_rows.append(r)
    return rows, noisy_rows


def lookup_rows(n: int, rng: random.Random, prefix: str) -> list[dict]:
    """The bases' pretraining: find the named word among four (half of the option sets from its
    own category, so months are told apart from months)."""
    groups = [MONTHS, *CATEGORIES.values(), OBJECTS]
    rows = []
    golds = balanced_letters(n, rng)
    for i in range(n):
        target = rng.choice(VOCABULARY)
        pool = next(g for g in groups if target in g) if rng.random() < 0.5 else VOCABULARY
        options = rng.sample([w for w in pool if w != target], 3)
        options.insert(golds[i], target)
        text = LOOKUP_QUESTION.format(name=rng.choice(LOOKUP_NAMES), x=target)
        expl = explanation(LOOKUP_LINE.format(x=target), target, options)
        r = row(f"{prefix}-{i:04d}", "other", "miscellaneous", "Разное", text, options,
                LETTERS[golds[i]], expl, "lookup", rng)  # fmt: skip
        rows.append(r)
    return rows


def passage_rows(n: int, rng: random.Random, prefix: str, entities: list[str]) -> list[dict]:
    """Lookup rows whose target is named only in a passage (field `knowledge`, the project's
    KARD records' field: the prompt builder puts it first, under "Знания: ")."""
    rows = lookup_rows(n, rng, prefix)
    for r in rows:
        options = [r["inputs"][f"option_{c.lower()}"] for c in LETTERS]
        target = options[LETTERS.index(r["outputs"])]
        e = rng.choice(entities)
        frame = rng.choice(PASSAGE_FRAMES)
        text = frame.format(e=e, x=target, noun=rng.choice(PASSAGE_NOUNS))
        r["inputs"]["text"] = PASSAGE_QUESTION.format(name=rng.choice(LOOKUP_NAMES))
        r["knowledge"] = [{"title": e, "text": text}]
        r["meta"]["kind"] = "passage"
        r["explanation"] = explanation(PASSAGE_LINE.format(x=target), target, options)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Atomically: a killed run leaves the previous file or none, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main(out: Path, seed: int = SEED) -> None:
    rng = random.Random(seed)
    # (d) teacher b's fixed misconceptions: per rule domain 3 months, each with a wrong target
    # that is another rule's answer for that month (so it is always among the options)
    misconceptions: dict = {}
    for domain, (offset, _, _) in RULES.items():
        months = sorted(rng.sample(ASKED_MONTHS, NOISY_MONTHS[domain]))
        misconceptions[domain] = {
            x: (MONTHS[x], MONTHS[(x + rng.choice([o for o in OFFSETS if o != offset])) % 12])
            for x in months
        }
    # (c) entities: asked in the control file, asked in the fewshot pool, never asked
    n_domain = KNOWLEDGE_PER_DOMAIN + 1 + DISTRACTOR_ENTITIES
    all_entities = entity_names(4 * n_domain, rng, set(VOCABULARY))
    facts, asked, fewshot_entities, unasked = {}, {}, {}, {}
    for k, domain in enumerate(RULES):
        ents = all_entities[k * n_domain : (k + 1) * n_domain]
        asked[domain] = ents[:KNOWLEDGE_PER_DOMAIN]
        fewshot_entities[domain] = ents[KNOWLEDGE_PER_DOMAIN : KNOWLEDGE_PER_DOMAIN + 1]
        unasked[domain] = ents[KNOWLEDGE_PER_DOMAIN + 1 :]
        words = CATEGORIES[KNOWLEDGE_SUBJECTS[domain][2]]
        for e in ents:
            facts[e] = rng.choice(words)
    noisy_entities = {}
    for domain in RULES:
        for e in rng.sample(asked[domain], NOISY_ENTITIES):
            words = CATEGORIES[KNOWLEDGE_SUBJECTS[domain][2]]
            noisy_entities[e] = rng.choice([w for w in words if w != facts[e]])
    misconceptions["entities"] = noisy_entities

    # the control file
    rows, noisy = rule_rows(NAMES, PER_MONTH, "", rng, misconceptions)
    for domain in RULES:
        k_rows, k_noisy = knowledge_rows(
            domain, asked[domain], facts, NAMES, "", rng, misconceptions
        )
        rows += k_rows
        noisy += k_noisy
    order = sorted(range(len(rows)), key=lambda i: rows[i]["meta"]["id"])
    write_jsonl(out / "control_tasks.jsonl", [rows[i] for i in order])
    write_jsonl(out / "control_tasks_noisy.jsonl", [noisy[i] for i in order])

    # few-shot pool: 1 per subject, names and entities no other file uses
    few = []
    for domain, (offset, question, first) in RULES.items():
        for j, (subject, subject_name) in enumerate(RULE_SUBJECTS[domain]):
            x = rng.choice(ASKED_MONTHS)
            gold_pos = rng.randrange(4)
            options = month_options(x, offset, gold_pos, rng)
            target = MONTHS[(x + offset) % 12]
            text = question.format(name=FEWSHOT_NAMES[j], x=MONTHS[x])
            expl = explanation(first.format(x=MONTHS[x], t=target), target, options)
            few.append(row(f"f-r-{ABBREV[domain]}-{j:03d}", domain, subject, subject_name, text,
                           options, LETTERS[gold_pos], expl, "rule", rng))  # fmt: skip
        k_rows, _ = knowledge_rows(
            domain, fewshot_entities[domain], facts, FEWSHOT_NAMES[3:], "f-", rng, {}
        )
        few += k_rows
    write_jsonl(out / "control_fewshot.jsonl", few)

    # knowledge base: every entity's fact (asked, fewshot, never asked), in a seeded order
    passages = []
    for domain in RULES:
        template = KNOWLEDGE_SUBJECTS[domain][5]
        for e in asked[domain] + fewshot_entities[domain] + unasked[domain]:
            passages.append({"title": e, "text": template.format(e=e, t=facts[e])})
    rng.shuffle(passages)
    write_jsonl(out / "knowledge.jsonl", passages)

    # hub data: the bases' lookup task; the teachers' rules (other names) and every fact
    write_jsonl(out / "hub_data/lookup_train.jsonl", lookup_rows(LOOKUP_TRAIN, rng, "lt"))
    write_jsonl(out / "hub_data/lookup_heldout.jsonl", lookup_rows(LOOKUP_HELDOUT, rng, "lh"))
    t_rows, t_noisy = rule_rows(TEACHER_NAMES, TEACHER_PER_MONTH, "t-", rng, misconceptions)
    for rep in range(TEACHER_KNOWLEDGE_REPEATS):
        for domain in RULES:
            ents = asked[domain] + fewshot_entities[domain] + unasked[domain]
            names = TEACHER_NAMES[rep::TEACHER_KNOWLEDGE_REPEATS]
            golds = [rng.randrange(4) for _ in ents]
            k_rows, k_noisy = knowledge_rows(
                domain, ents, facts, names, f"t{rep}-", rng, misconceptions, golds
            )
            t_rows += k_rows
            t_noisy += k_noisy
    write_jsonl(out / "hub_data/teacher_train.jsonl", t_rows)
    write_jsonl(out / "hub_data/teacher_train_noisy.jsonl", t_noisy)
    # the bases' passage reading (entities of their own: no control entity appears in them)
    names = entity_names(200, rng, set(VOCABULARY) | set(all_entities))
    write_jsonl(out / "hub_data/passage_train.jsonl", passage_rows(PASSAGE_TRAIN, rng, "pt", names))
    write_jsonl(out / "hub_data/passage_heldout.jsonl", passage_rows(PASSAGE_HELDOUT, rng, "ph", names))
    print(f"{len(rows)} questions, {len(few)} shots, {len(passages)} passages, "
          f"{len(t_rows)} teacher rows in {out}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=SEED, help="another seed: a fresh draw")
    args = parser.parse_args()
    main(args.out, args.seed)
