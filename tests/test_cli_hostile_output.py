"""What a citizen writes is shown on an operator's terminal as text, never acted on.

A message is untrusted input: rich markup in it (``[/]``, ``[bold red]``)
must neither break a command nor restyle the output, and terminal control
sequences in it (ESC to clear the screen or retitle the window, a carriage
return that overwrites a line, bidirectional overrides that reorder what is
read) must never reach the terminal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tsur import Engine, Message
from tsur.cli import main
from tsur.console import markup_text, terminal_text
from tsur.store.sql import SqlRepository

from .conftest import SMALL_REGION

REGION = str(SMALL_REGION)
HOSTILE = (
    "[bold red]ВНИМАНИЕ[/] [/] [link=http://evil.example]жми[/link] "
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mкрасный\r\u202eтекст\u009b "
)
#: what a terminal would act on: ESC, BEL, CR, C1 controls, bidi overrides
ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "hostile.db")
    engine = Engine.from_config(REGION, db=path)
    try:
        engine.ingest(
            [
                Message(
                    source="vk",
                    external_id="[/]id[bold]",
                    text="Яма на дороге у дома 5, " + HOSTILE,
                    created_at=datetime(2026, 11, 16, 6, 0, tzinfo=UTC),
                )
            ]
        )
        engine.run()
    finally:
        engine.close()
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main([*argv, "--config", REGION])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    assert "Traceback" not in err
    return out + err


def test_show_and_lists_print_hostile_text_as_text(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(capsys, "show", "1", "--db", db)
    assert not ACTING.search(out), repr(ACTING.findall(out))
    # the markup is shown as the citizen typed it, not interpreted
    assert "[bold red]ВНИМАНИЕ[/] [/]" in out
    assert "[/]id[bold]" in out  # the external id as it came
    for argv in (["incidents"], ["messages", "--status", "done"], ["rejects"]):
        out = _run(capsys, *argv, "--db", db)
        assert not ACTING.search(out), (argv, repr(ACTING.findall(out)))


def test_classify_prints_hostile_text_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "classify", HOSTILE + " яма на дороге", "--at", "2026-11-16T10:00:00+04:00")
    assert not ACTING.search(out), repr(ACTING.findall(out))


def test_helpers_remove_what_acts_and_keep_what_reads() -> None:
    assert terminal_text("a\tb\nc\x1b[2Jd\re\x07\u202ef\u0085") == "a\tb\nc[2Jdef"
    assert terminal_text("Ёлка — «ёж» 😀") == "Ёлка — «ёж» 😀"
    assert markup_text("[/] \x1b") == "\\[/] "
    # a stored value that is not text is shown as text
    assert terminal_text(42) == "42"


def test_an_error_quoting_hostile_input_is_shown_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an error message quotes what the user gave: a database path with a control sequence
    missing = tmp_path / "db\x1b]0;x\x07[/].db"
    code = main(["incidents", "--db", str(missing), "--config", REGION])
    _, err = capsys.readouterr()
    assert code == 2 and "no database at" in err
    assert not ACTING.search(err)


def test_what_is_stored_keeps_the_markup_and_drops_the_controls(db: str) -> None:
    """Control characters never reach the store either; rich markup is ordinary text there."""
    repo = SqlRepository(f"sqlite:///{db}")
    try:
        (stored,) = repo.messages(limit=10)
        assert "[bold red]ВНИМАНИЕ[/]" in stored.message.text
        # the store drops what no text needs (ESC, BEL, C1); the terminal drops the rest
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", stored.message.text)
        assert stored.message.external_id == "[/]id[bold]"
    finally:
        repo.close()


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00+04:00", "0001-01-01T00:00:00+00:00"])
def test_an_instant_far_from_now_is_refused_by_the_parser(
    when: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["classify", "яма", "--at", when, "--config", REGION])
    assert exc.value.code == 2
    assert "outside 1970–2100" in capsys.readouterr().err
