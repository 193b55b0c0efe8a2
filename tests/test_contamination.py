import json

from cmoe.traces.contamination import check, ngrams


def test_ngrams_normalise_case_and_punctuation():
    assert ngrams("Какая, ПЛАНЕТА ближе?", 2) == {("какая", "планета"), ("планета", "ближе")}
    assert ngrams("два слова", 3) == set()


def test_flags_test_question_quoted_by_a_trace(tmp_path):
    test = [
        {"id": "t1", "subject": "astronomy", "question": "Какая планета ближе всего к Солнцу?"},
        {"id": "t2", "subject": "astronomy", "question": "Сколько спутников у Марса сейчас?"},
    ]
    trace = {
        "question": "Другой вопрос",
        "output": "Как в вопросе «какая планета ближе всего к солнцу» — это Меркурий. Ответ: A",
    }
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(trace, ensure_ascii=False) + "\n")
    result = check([path], test, n=4)
    assert result["flagged"] == 1 and result["traces"] == 1
    assert result["items"][0]["id"] == "t1" and result["flagged_rate"] == 0.5
    assert check([path], test, n=8)["flagged"] == 0  # the quote is shorter than 8 words
