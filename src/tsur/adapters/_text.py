"""Text clean-up for channels: HTML to plain text, quoted replies cut from letters."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

__all__ = ["html_to_text", "strip_quoted_reply", "tidy"]

_BLOCK = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "blockquote":
                self.quote += 1
        elif tag in {"td", "th"}:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.quote:  # quoted earlier letters in HTML replies: mark like plain text
            data = "\n".join("> " + line if line.strip() else line for line in data.split("\n"))
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML fragment or page (no markup, entities decoded)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return tidy("".join(parser.parts))


def tidy(text: str) -> str:
    """Unify line ends, drop trailing spaces and runs of blank lines, trim the ends."""
    text = unescape(text) if "&" in text else text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()


_CUT_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение|"
        r"forwarded message)\s*-{2,}$",
        r"^_{5,}$",  # Outlook's rule above the quoted header block
        r"^(отправлено|sent) (с|из|from) (моего |my )?(iphone|ipad|android|samsung|"
        r"мобильн\w* почты.*|mail\.ru.*|яндекс.*|yandex.*|blackberry.*)",
    )
]
# Outlook's quoted header block: "From: …" followed by "Sent: …" / "Отправлено: …"
_FROM = re.compile(r"^(from|от|von):\s.+$", re.IGNORECASE)
_HEADER = re.compile(r"^(sent|date|to|subject|отправлено|дата|кому|тема):\s", re.IGNORECASE)
# "On Mon, 1 Jan 2024 at 12:00, Name <a@b> wrote:" / "1 января 2024 г., Иван <a@b> пишет:"
_WROTE = re.compile(r"(wrote|пишет|написал\(?а?\)?|écrit|schrieb)\s*:\s*$", re.IGNORECASE)
_ON = re.compile(r"^(on|в|le|am)\s|^\d{1,2}[./ ]|^\w{2,3},? \d", re.IGNORECASE)


def strip_quoted_reply(text: str) -> str:
    """The new part of a letter: quoted earlier letters and phone footers cut off.

    Cuts at ``> …`` quote blocks, «-----Original Message-----» /
    «-----Исходное сообщение-----», «Отправлено с iPhone», "On … wrote:" and
    «… пишет:» (also when wrapped over two lines) and a ``-- `` signature
    separator that follows some text.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(">"):
            # a quote block: the rest is quoted history, unless new text follows it
            rest = [x for x in lines[i:] if x.strip() and not x.strip().startswith(">")]
            if not rest:
                break
            continue
        if any(p.match(s) for p in _CUT_LINES) and _has_text(kept):
            break
        if _FROM.match(s) and any(_HEADER.match(x.strip()) for x in lines[i + 1 : i + 4]):
            break
        if _WROTE.search(s) and (_ON.match(s) or "@" in s or len(s) < 120):
            if kept and _ON.match(kept[-1].strip()) and not _WROTE.search(kept[-1]):
                kept.pop()  # the attribution line was wrapped: drop its first half too
            break
        if line.rstrip() == "--":
            if _has_text(kept):
                break
            continue  # a separator before any text is no signature: drop only the line
        kept.append(line)
    return tidy("\n".join(kept))


def _has_text(lines: list[str]) -> bool:
    return any(x.strip() for x in lines)
