"""Every parser refuses hostile input with a reason and never crashes.

Short runs of the attacks in ``tests/fuzz_targets.py`` (the long run is
``benchmarks/fuzz_parsers.py --n 20000``): the recorded payloads mutated
(hostile values in random fields, bytes flipped, other encodings, broken
e-mail headers, unknown XML encodings), deep nesting, huge numbers, far
dates and random bytes. An input is accepted (and what came out can be
stored) or refused with a :class:`~tsur.errors.PayloadError` — or, for files,
a line error naming its line; any other exception fails the test.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_targets import NET_MARKS, TARGETS, make_target, mutate, run, seeds
from tsur.errors import PayloadError

SEEDS = seeds()
#: one reader per parser (an HTTP adapter's client is built once, not per example)
READERS = {name: make_target(name) for name in TARGETS}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@pytest.mark.parametrize("name", TARGETS)
def test_the_real_payloads_are_accepted(name: str) -> None:
    """The seeds are good input: without this the attacks below would prove nothing."""
    target = make_target(name)
    for seed in SEEDS[name]:
        outcome, detail = run(target, seed)
        assert (outcome, name) == ("accepted", name), detail
        assert int(detail) >= 1


@pytest.mark.parametrize("name", TARGETS)
@FUZZ
@given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 100))
def test_mutated_payloads_never_crash(name: str, seed: int, pick: int) -> None:
    rng = random.Random(seed)
    data = mutate(name, SEEDS[name][pick % len(SEEDS[name])], rng)
    outcome, detail = run(READERS[name], data)
    assert outcome != "crashed", f"{detail}\ninput: {data[:500]!r}"
    if outcome == "refused":  # refused for a reason found, not by the last net
        assert not any(mark in detail for mark in NET_MARKS), detail


@pytest.mark.parametrize("name", TARGETS)
@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=2000))
def test_random_bytes_never_crash(name: str, data: bytes) -> None:
    outcome, detail = run(READERS[name], data)
    assert outcome != "crashed", f"{detail}\ninput: {data[:500]!r}"


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize(
    "attack",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"<a>" * 5000 + b"</a>" * 5000,
        b"\x00" * 100,
        b"\xff\xfe\x00\x00",
        b'{"date": 1e999, "update_id": 1e999, "type": "wall_post_new"}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 253402300800, '
        b'"chat": {"id": 1, "type": "private"}, "text": "x"}}',
    ],
    ids=["deep-array", "deep-object", "deep-xml", "nul", "bom32", "huge-float", "year-10000"],
)
def test_structural_attacks_are_refused_with_a_reason(name: str, attack: bytes) -> None:
    target = make_target(name)
    outcome, detail = run(target, attack)
    assert outcome == "refused", f"{outcome}: {detail}"
    assert detail and not any(mark in detail for mark in NET_MARKS), detail


def test_a_far_telegram_date_is_refused_by_the_shared_check() -> None:
    from tests.fuzz_targets import _CLASSES, _SOURCES

    adapter = _CLASSES["telegram"](_SOURCES["telegram"], None)
    body = (
        b'{"update_id": 1, "message": {"message_id": 1, "date": 99999999999999, '
        b'"chat": {"id": 1, "type": "private"}, "text": "x"}}'
    )
    with pytest.raises(PayloadError, match="outside the years 1970–2100"):
        adapter.parse(body)


def test_an_unknown_xml_encoding_is_refused() -> None:
    from tests.fuzz_targets import _ATOM, _CLASSES, _SOURCES

    adapter = _CLASSES["rss"](_SOURCES["rss"], None)
    with pytest.raises(PayloadError, match=r"unreadable XML feed: .*x-nope"):
        adapter.parse(_ATOM.replace(b'encoding="utf-8"', b'encoding="x-nope"'))


def test_deep_atom_xhtml_refuses_only_its_entry() -> None:
    from tests.fuzz_targets import _ATOM, _CLASSES, _SOURCES

    adapter = _CLASSES["rss"](_SOURCES["rss"], None)
    deep = _ATOM.replace(b"<p>Pit", b"<div>" * 5000 + b"x" + b"</div>" * 5000 + b"<p>Pit")
    with pytest.raises(PayloadError, match="entry 0: its content is nested too deeply"):
        adapter.parse(deep)


def test_a_broken_mail_header_is_named() -> None:
    from tests.fuzz_targets import _CLASSES, _SOURCES

    adapter = _CLASSES["email"](_SOURCES["email"], None)
    letter = (
        b"From: =?utf-8?q?\r\nDate: Mon, 16 Nov 2026 09:00:00 +0300\r\n"
        b"Message-ID: <1@x>\r\nSubject: hi\r\n\r\nbody\r\n"
    )
    outcome, detail = run(make_target("email"), letter)
    assert outcome in {"accepted", "refused"}, detail
    far = letter.replace(b"Mon, 16 Nov 2026", b"Fri, 31 Dec 9999")
    with pytest.raises(PayloadError, match=r"Date header .* outside the years 1970–2100"):
        adapter.parse(far)


def test_a_letter_whose_charset_holds_a_nul_is_read_as_utf8() -> None:
    """The body of a part whose charset cannot be looked up is still the complaint."""
    from tests.fuzz_targets import _CLASSES, _SOURCES

    adapter = _CLASSES["email"](_SOURCES["email"], None)
    letter = (
        b"From: a@b.example\r\nDate: Mon, 16 Nov 2026 09:00:00 +0300\r\n"
        b"Message-ID: <2@x>\r\nSubject: =?utf-8?b?0K/QvNCw?=\r\n"
        b"Content-Type: text/plain; charset=\x00utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Яма во дворе".encode() + b"\r\n"
    )
    (m,) = adapter.parse(letter)
    assert "Яма во дворе" in m.text
