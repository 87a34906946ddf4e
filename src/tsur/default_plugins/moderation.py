"""Built-in moderation: flood, advertising and "not an appeal", personal data masking.

Rejections carry the reason a curator reads; masking replaces personal data
(phones, e-mail addresses) in the text that leaves the engine, while the
raw message stays stored unchanged for the executor who needs the contact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tsur.config import RegionConfig
from tsur.domain import Message, ModerationVerdict
from tsur.hookspecs import hookimpl
from tsur.text.normalize import Text
from tsur.typing import Register

__all__ = ["BasicModeration", "mask_personal_data"]

_PHONE = re.compile(r"(?<![\w+])(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")

_ADS = (
    ("продать", "гараж"),
    ("заработок",),
    ("займ",),
    ("кредит", "без"),
    ("подписываться",),
    ("скидка",),
    ("акция", "магазин"),
    ("писать", "лс"),
    ("доход", "день"),
    ("ставка",),
    ("казино",),
    ("продам",),
    ("куплю",),
    ("сдать", "квартира"),
    ("промокод",),
)
_NOT_APPEAL = (
    ("спасибо",),
    ("благодарить",),
    ("благодарность",),
    ("поздравлять",),
    ("с", "праздник"),
    ("доброе", "утро"),
    ("добрый", "утро"),
    ("молодец",),
    ("отлично", "работать"),
)
_PROBLEM = frozenset(
    [
        "не",
        "нет",
        "невозможно",
        "опять",
        "снова",
        "когда",
        "сколько",
        "прошу",
        "просим",
        "просить",
        "помогите",
        "помочь",
        "жалоба",
        "проблема",
        "почему",
        "уже",
        "сломать",
        "течь",
        "упасть",
        "отключить",
        "отсутствовать",
        "яма",
        "мусор",
    ]
)


def mask_personal_data(text: str) -> str:
    """Replace phone numbers and e-mail addresses with placeholders."""
    text = _PHONE.sub("[телефон]", text)
    return _EMAIL.sub("[e-mail]", text)


class BasicModeration:
    """Rejects flood, advertising and thanks-only messages; masks contacts."""

    def check(self, message: Message, text: Text) -> Sequence[ModerationVerdict]:
        """Verdicts for ``message`` (empty when nothing applies)."""
        out: list[ModerationVerdict] = []
        words = [t for t in text.tokens if not t.isdigit()]
        if len(words) < 2 and not message.attachments:
            out.append(ModerationVerdict("reject", "flood: no words to act on"))
            return out
        problem = bool(_PROBLEM.intersection(text.lemmas) or _PROBLEM.intersection(text.tokens))
        if any(text.contains(p) for p in _ADS) and not problem:
            out.append(ModerationVerdict("reject", "advertising or spam"))
        elif len(words) <= 25 and any(text.contains(p) for p in _NOT_APPEAL) and not problem:
            out.append(ModerationVerdict("reject", "not an appeal: thanks or greetings"))
        masked = mask_personal_data(message.text)
        if masked != message.text:
            out.append(ModerationVerdict("mask", "personal data masked", masked_text=masked))
        return out


@hookimpl
def register_moderation_filters(register: Register, config: RegionConfig) -> None:
    """Register the basic moderation filter."""
    register("basic", BasicModeration())
