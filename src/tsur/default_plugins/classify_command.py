"""``tsur classify``: what the engine makes of one text, for testers and curators.

Moderation verdicts, the topic with its confidence and the runner-ups,
urgency with its reason, the territory with its evidence, the executor it
would go to with the rule that chose it, and its deadlines — computed by
:meth:`tsur.Engine.preview`, storing and sending nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console

from tsur.analysis import Analysis
from tsur.console import fmt_time, instant, terminal_text
from tsur.decide import Outcome
from tsur.domain import Message, Status
from tsur.errors import IngestError, UnknownSource
from tsur.hookspecs import hookimpl
from tsur.pipeline import Engine
from tsur.text.russian import decimal

__all__ = ["explain", "register_commands"]

#: What becomes of the text, as a curator reads it.
_OUTCOME_RU = {
    "created": "новый инцидент",
    "thanked": "благодарность — инцидент не создаётся",
    "rejected": "отклонено модерацией — инцидент не создаётся",
}


def _read_text(arg: str) -> str:
    text = sys.stdin.read() if arg == "-" else arg
    if not text.strip():
        raise IngestError("the text is empty: give it as an argument, or - to read standard input")
    return text


def explain(engine: Engine, analysis: Analysis, outcome: Outcome) -> dict[str, Any]:
    """A JSON-ready account of one previewed message (what ``tsur classify --json`` prints)."""
    region = engine.region
    cls, loc = analysis.classification, analysis.location
    out: dict[str, Any] = {
        "outcome": outcome.kind,
        "moderation": [
            {"action": v.action, "reason": v.reason, "filter": v.filter} for v in analysis.verdicts
        ],
        "topic": None,
        "urgency": {
            "track": analysis.urgency.value,
            "reason": list(cls.urgency_evidence) if cls else [],
        },
        "territory": None,
        "executor": None,
    }
    if cls is not None and cls.topic is not None:
        out["topic"] = {
            "id": cls.topic,
            "name": region.topic_name(cls.topic),
            "confidence": cls.confidence,
            "evidence": list(cls.evidence),
            "classifier": cls.classifier,
            "alternatives": [
                {"id": t, "name": region.topic_name(t), "confidence": c}
                for t, c in cls.alternatives
            ],
        }
    if loc is not None:
        out["territory"] = {
            "id": loc.territory,
            "name": region.territory_name(loc.territory),
            "confidence": loc.confidence,
            "evidence": list(loc.evidence),
            "locator": loc.locator,
        }
    inc = outcome.incident
    if outcome.kind == "created" and inc is not None:
        status = next(e for e in reversed(inc.history) if e.to_status is not None)
        out["executor"] = {
            "id": inc.executor,
            "name": region.executor_name(inc.executor),
            "reason": status.reason if status.to_status is Status.ROUTED else "",
        }
        out["triage"] = status.reason if status.to_status is Status.TRIAGE else None
        out["sla_policy"] = inc.sla_policy
        tz = region.calendar.tz
        out["first_response_due"] = _iso(inc.first_response_due, tz)
        out["resolution_due"] = _iso(inc.resolution_due, tz)
    elif outcome.kind == "thanked" and outcome.executor is not None:
        out["executor"] = {
            "id": outcome.executor,
            "name": region.executor_name(outcome.executor),
            "reason": outcome.reason,
        }
    elif outcome.kind == "rejected":
        out["reason"] = outcome.reason
    return out


def _iso(when: datetime | None, tz: tzinfo) -> str | None:
    return when.astimezone(tz).isoformat() if when else None


def cmd_classify(args: argparse.Namespace, console: Console) -> int:
    """``tsur classify``."""
    text = _read_text(args.text)
    # The region file is all it needs: an in-memory store, whatever --db says.
    with Engine.from_config(args.config, plugin_manager=getattr(args, "pm", None)) as engine:
        source = args.source or next(iter(engine.region.sources))
        if source not in engine.region.sources:
            raise UnknownSource(source, list(engine.region.sources))
        at = args.at or engine.clock()
        message = Message(
            source=source, external_id="classify", text=text, created_at=at, address=args.address
        )
        analysis, outcome = engine.preview(message, now=at)
        report = explain(engine, analysis, outcome)
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
            return 0
        _print(console, engine, report)
    return 0


def _print(console: Console, engine: Engine, r: dict[str, Any]) -> None:
    tz = engine.region.calendar.tz

    def line(label: str, value: str) -> None:
        console.print(f"[bold]{label}:[/] ", end="")
        console.print(terminal_text(value), highlight=False, markup=False)

    verdicts = [f"{m['reason']} ({m['filter']})" for m in r["moderation"] if m["action"] != "mask"]
    masked = [m["reason"] for m in r["moderation"] if m["action"] == "mask"]
    line("модерация", "; ".join(verdicts + masked) or "замечаний нет")
    topic = r["topic"]
    if topic is None:
        line("тема", "не определена")
    else:
        words = ", ".join(topic["evidence"])
        line(
            "тема",
            f"{topic['name']} ({topic['id']}), уверенность {decimal(topic['confidence'])}"
            + (f"; по словам: {words}" if words else ""),
        )
        if topic["alternatives"]:
            line(
                "  другие варианты",
                ", ".join(f"{a['name']} {decimal(a['confidence'])}" for a in topic["alternatives"]),
            )
    urgency = r["urgency"]
    track = {"urgent": "срочное", "quick": "быстрорешаемое"}.get(urgency["track"], "обычное")
    line("срочность", track + (f" — {', '.join(urgency['reason'])}" if urgency["reason"] else ""))
    where = r["territory"]
    line(
        "территория",
        "не определена"
        if where is None
        else f"{where['name']} ({where['id']}); {', '.join(where['evidence'])}",
    )
    ex = r["executor"]
    if ex is not None:
        line("исполнитель", f"{ex['name']} ({ex['id']})")
        if ex["reason"]:
            line("  почему", ex["reason"])
    if r.get("triage"):
        line("на разбор куратору", r["triage"])
    if r["outcome"] == "created":
        due = [
            f"{label} до {fmt_time(datetime.fromisoformat(r[key]), tz)}"
            for label, key in (
                ("первый ответ", "first_response_due"),
                ("решение", "resolution_due"),
            )
            if r.get(key)
        ]
        if due:
            line("сроки", ", ".join(due))
    line("итог", _OUTCOME_RU.get(r["outcome"], r["outcome"]))


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur classify``."""
    p = add_command(
        "classify",
        help="what the engine makes of one text",
        description="Read one text as the engine would and say what it makes of it: the "
        "moderation verdicts, the topic with its confidence and the runner-ups, urgency with "
        "its reason, the territory with its evidence, the executor it would go to and the "
        "deadlines. Nothing is stored or sent; other stored incidents are not looked at.",
    )
    p.add_argument("text", help="the text, or - to read it from standard input")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--source", help="the source it came from (default: the region's first)")
    p.add_argument("--address", help="the address field, as a form or a portal gives it")
    p.add_argument(
        "--at",
        type=instant,
        help="when it was written, ISO 8601 with a UTC offset (default: now); seasonal "
        "keywords, the heating season and deadlines depend on it",
    )
    p.set_defaults(func=cmd_classify)
