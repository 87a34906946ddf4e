from __future__ import annotations

from tsur.text.normalize import STOP_WORDS, Text, get_lemmatizer, normalize, tokenize


def test_markup_urls_and_hashtags_are_cleaned() -> None:
    raw = "[id123|Администрация], посмотрите https://vk.com/wall-1_2 #ЦУР #Тольятти 😡😡"
    assert tokenize(normalize(raw)) == ["администрация", "посмотрите", "цур", "тольятти"]


def test_yo_repeated_letters_and_caps() -> None:
    assert tokenize(normalize("ЖИГУЛЁВСК!!! Ооочень хооолодно")) == [
        "жигулевск",
        "очень",
        "холодно",
    ]


def test_latin_lookalikes_inside_cyrillic_words_are_repaired() -> None:
    # "яма" typed with a Latin "a", "отопление" with Latin "o" and "e"
    assert tokenize(normalize("ямa, oтоплeниe")) == ["яма", "отопление"]
    assert tokenize(normalize("wifi")) == ["wifi"]  # pure Latin words stay as they are


def test_lemmas_and_toponyms_in_any_case() -> None:
    t = Text.from_raw("В Тольятти и Сызрани нет отопления в домах")
    assert t.lemmas == ("в", "тольятти", "и", "сызрань", "нет", "отопление", "в", "дом")
    assert t.contains(("нет", "отопление"))
    assert not t.contains(("отопление", "нет"))
    assert "в" not in t.content_lemmas and "сызрань" in t.content_lemmas


def test_lemmatizer_caches_each_word_once() -> None:
    lem = get_lemmatizer()
    before = lem.cache_size
    lem.lemmas(["батареями", "батареями", "батареями"])
    assert lem.cache_size - before <= 1
    assert lem.lemma("батареями") == "батарея"


def test_stop_words_are_lemmas() -> None:
    assert {"и", "в", "на", "что"} <= STOP_WORDS
