"""No pattern that reads citizens' text is slower on a hostile text than on an ordinary one.

Every regular expression of moderation, masking, urgency, the lexicons and
the bundled region's components is found programmatically
(:func:`tests.helpers.text_patterns`) and run over hostile strings of the
longest text the engine reads (runs of digits and spaces, «a.a.a…», «@@@»,
repeated words, long runs without spaces, the pattern's own characters in
turn). A linear pattern costs about as much as on a normal appeal of the
same length; a quadratic one costs thousands of times more. The factor and
the floor are generous so that a loaded machine does not fail the test.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from tests.helpers import NORMAL_TEXT, hostile_texts, text_patterns
from tsur import Engine, Message, load_region
from tsur.reading import MAX_TEXT_CHARS
from tsur.store.sql import SqlRepository

SIZE = MAX_TEXT_CHARS
FACTOR = 20.0
FLOOR = 0.25  # seconds: a linear scan of 20 000 characters takes a few milliseconds

PATTERNS = text_patterns()


def _scan(pattern: re.Pattern[str], text: str, tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        for _m in pattern.finditer(text):
            pass
        best = min(best, time.perf_counter() - start)
        if best < FLOOR:
            break
    return best


def test_the_patterns_are_found() -> None:
    names = "\n".join(PATTERNS)
    # the lexicons' patterns, the masking and the obscene roots are all there
    for part in ("spam", "persistence", "tsur.text.masking._URL", "tsur.text.masking._EMAIL"):
        assert part in names
    assert sum("lexicon.roots" in n for n in PATTERNS) > 10
    assert len(PATTERNS) > 80


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_is_linear_on_hostile_text(name: str) -> None:
    pattern = PATTERNS[name]
    normal = (NORMAL_TEXT * (SIZE // len(NORMAL_TEXT) + 1))[:SIZE]
    base = _scan(pattern, normal)
    slow = {}
    for kind, text in hostile_texts(pattern, SIZE).items():
        t = _scan(pattern, text)
        if t > max(FACTOR * base, FLOOR):
            slow[kind] = round(t, 3)
    assert not slow, f"{name} /{pattern.pattern}/: {slow} s against {base:.4f} s on a normal text"


def test_a_long_text_is_cut_and_the_cut_recorded() -> None:
    repo = SqlRepository("sqlite://")
    repo.migrate()
    engine = Engine(load_region(), repo, entry_points=False)
    try:
        text = "Во дворе не вывозят мусор. " + "1 " * 50_000 + "Тел. 8 927 123-45-67"
        m = Message("vk", "long", text, datetime(2026, 11, 16, 6, tzinfo=UTC))
        analysis = engine.analyse(m)
    finally:
        engine.close()
    cut = analysis.verdicts[0]
    assert (cut.action, cut.filter) == ("mask", "length")
    assert cut.reason == f"текст сокращён до 20000 знаков из {len(text)}"
    assert len(analysis.message.text) == MAX_TEXT_CHARS == 20_000
    assert analysis.masked_text == text[:MAX_TEXT_CHARS]
    assert analysis.text.original == text[:MAX_TEXT_CHARS]


def test_a_text_at_the_limit_is_not_cut() -> None:
    from tsur.reading import cap_text

    m = Message("vk", "x", "а" * MAX_TEXT_CHARS, datetime(2026, 11, 16, 6, tzinfo=UTC))
    assert cap_text(m) == (m, None)
