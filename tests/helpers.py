"""Small builders used across tests."""

from __future__ import annotations

import importlib
import re
import types
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from tsur import Message

SAMARA = timezone(timedelta(hours=4))


def msg(
    ext: str, text: str, *, source: str = "vk", at: datetime | None = None, **kw: Any
) -> Message:
    """A message from ``source`` created at ``at`` (default 16.11.2026 09:00 Samara)."""
    return Message(
        source=source,
        external_id=ext,
        text=text,
        created_at=at or datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA),
        **kw,
    )


# hostile strings against every pattern --------------------------------------------------
#: Modules whose compiled patterns read citizens' text.
TEXT_PATTERN_MODULES = (
    "tsur.text.masking",
    "tsur.text.normalize",
    "tsur.text.urgency",
    "tsur.text.lexicon",
    "tsur.default_plugins.moderation",
    "tsur.default_plugins.urgency",
    "tsur.default_plugins.keywords",
    "tsur.default_plugins.locators",
    "tsur.grouping.places",
)
NORMAL_TEXT = (
    "Во дворе дома 14 по ул. Ленинградской третью неделю не вывозят мусор, контейнеры "
    "переполнены, звонили в УК 5 раз. Тел. 8 927 123-45-67, почта ivanova@mail.ru. "
)


def _walk(
    obj: object, where: str, out: dict[str, re.Pattern[str]], seen: set[int], depth: int
) -> None:
    if isinstance(obj, re.Pattern):
        if isinstance(obj.pattern, str):
            out.setdefault(where, obj)
        return
    if depth > 6 or id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return
    if callable(obj) and not hasattr(obj, "__dict__") and not attrs.has(type(obj)):
        return
    seen.add(id(obj))
    if isinstance(obj, Mapping):
        items: Iterable[tuple[str, object]] = ((str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = ((str(i), v) for i, v in enumerate(obj))
    elif attrs.has(type(obj)):
        items = ((f.name, getattr(obj, f.name)) for f in attrs.fields(type(obj)))
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).items())
    else:
        return
    for name, value in items:
        if isinstance(value, (types.ModuleType, types.FunctionType)):
            continue
        _walk(value, f"{where}.{name}", out, seen, depth + 1)


def text_patterns() -> dict[str, re.Pattern[str]]:
    """Every regular expression that reads citizens' text, found, not listed by hand.

    The module-level patterns of the text and moderation modules, and every
    pattern held by the moderation filters, classifiers and locators an
    engine on the bundled region registers (lexicons, region keywords,
    urgency files).
    """
    from tsur import Engine, load_region
    from tsur.store.sql import SqlRepository

    out: dict[str, re.Pattern[str]] = {}
    seen: set[int] = set()
    for name in TEXT_PATTERN_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                out.setdefault(f"{name}.{attr}", value)
    repo = SqlRepository("sqlite://")
    repo.migrate()
    engine = Engine(load_region(), repo, entry_points=False)
    try:
        comps = engine.components
        for reg in [*comps.moderation_filters, *comps.classifiers, *comps.locators]:
            _walk(reg.component, reg.name, out, seen, 0)
    finally:
        engine.close()
    return out


def hostile_texts(pattern: re.Pattern[str], size: int) -> dict[str, str]:
    """Strings that make a careless pattern quadratic, each ``size`` characters long."""
    own = sorted({ch for ch in pattern.pattern if ch.isalnum() or ch in " .@-+/:,%()№«»\"'*"})
    own_text = "".join(own) or "a"

    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "digits with spaces": fill("1 "),
        "digit run": fill("1"),
        "a.a.a": fill("a."),
        "at signs": fill("@"),
        "a@": fill("a@"),
        "dashes": fill("1-"),
        "repeated word": fill("мусор "),
        "no-space run": fill("ж"),
        "latin no-space run": fill("x"),
        "capitals and spaces": fill("Аааа  "),
        "spaces": fill(" ") + "1",
        "own characters": fill(own_text),
        "own characters spaced": fill(" ".join(own_text) + " "),
        "own characters doubled": fill("".join(c * 2 for c in own_text)),
    }


#: a small region's everyday mix for workload tests: heating, transport, a road, a
#: clinic, thanks and an unclear complaint (``{n}`` a house or stop number)
WORKLOAD_TEXTS = [
    "В Тольятти на улице Мира {n} нет отопления, батареи холодные",
    "Сызрань, остановка {n}: автобус не пришёл второй час",
    "Смышляевка, яма на дороге у дома {n}, асфальт разбит",
    "Тольятти, поликлиника {n}: к врачу не записаться",
    "Спасибо за работу!",
    "Сколько можно ждать, дом {n}",
]
