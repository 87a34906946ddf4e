"""A short lifecycle on the demo data: answers, a rejected «отписка», ratings, a tick."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import attrs

from tsur.domain import Status
from tsur.errors import AnswerRejected
from tsur.lifecycle.answers import format_due
from tsur.lifecycle.escalation import TickReport, level_label
from tsur.lifecycle.service import Lifecycle

if TYPE_CHECKING:
    from tsur.pipeline import Engine

__all__ = ["LifecycleDemo", "demo_lifecycle"]

#: A formal non-answer the demo tries first, to show it is refused.
OTPISKA = "Ваше обращение рассмотрено. Информация принята к сведению, вопрос находится на контроле."
FINAL = (
    "Работы выполнены {date}: неисправность устранена, результат проверен на месте. "
    "Фотография прилагается."
)


@attrs.define
class LifecycleDemo:
    """What :func:`demo_lifecycle` did, and lines to print."""

    intermediate: list[int] = attrs.field(factory=list)
    final: list[int] = attrs.field(factory=list)
    rejected: list[int] = attrs.field(factory=list)
    closed: list[int] = attrs.field(factory=list)
    reopened: list[int] = attrs.field(factory=list)
    extended: list[int] = attrs.field(factory=list)
    tick: TickReport | None = None
    timezone: str = "UTC"
    deadlines: list[tuple[int, str, str, str, str]] = attrs.field(factory=list)

    def lines(self) -> list[str]:
        """Russian lines for the console: what was done, the tick, sample deadlines."""
        out = [
            f"Ответы: промежуточных {len(self.intermediate)}, окончательных {len(self.final)} "
            f"(отклонено как отписка: {len(self.rejected)}); оценки: закрыто "
            f"{len(self.closed)}, возвращено на доработку {len(self.reopened)}; продлено по "
            f"59-ФЗ: {len(self.extended)}",
        ]
        if self.tick is not None:
            t = self.tick
            local = t.now.astimezone(ZoneInfo(self.timezone))
            out.append(
                f"Контроль сроков на {local:%d.%m.%Y %H:%M} ({self.timezone}): "
                f"открытых инцидентов {t.checked}; предупреждений о сроке {t.warned}, "
                f"отметок о просрочке {t.overdue} (первый ответ и решение отдельно), шагов "
                f"эскалации {t.escalated}, уведомлений {t.notified}"
            )
        for number, status, first, final, escalation in self.deadlines:
            out.append(
                f"  № {number} {status}: первый ответ до {first}, решение до {final}"
                + (f"; эскалация {escalation}" if escalation else "")
            )
        return out


def demo_lifecycle(engine: Engine, *, samples: int = 6) -> LifecycleDemo:
    """Answer, rate and escalate a few of the engine's incidents at its clock's time.

    Meant for ``tsur demo`` after the bundled messages are processed: the
    oldest routed incidents get intermediate answers, the next ones a
    rejected «отписка» and then a proper final answer with a photo, two of
    those are rated (5 closes, 2 reopens), a written appeal's term is
    extended, and one tick runs. Nothing is posted to the region's real
    channels: the answers are kept as not delivered. Returns what happened;
    ``.lines()`` are ready to print.
    """
    demo = LifecycleDemo(timezone=engine.config.region.timezone)
    now = engine.clock()
    with Lifecycle(engine, post_replies=False) as life:
        routed = sorted(
            engine.incidents(status=[Status.ROUTED.value], limit=None), key=lambda i: i.id or 0
        )
        written = [i for i in routed if life.is_written_appeal(i)]
        others = [i for i in routed if not life.is_written_appeal(i)]
        for inc in others[:samples]:
            assert inc.id is not None
            life.answer_intermediate(inc.id)
            demo.intermediate.append(inc.id)
        text = FINAL.format(date=format_due(now, life.region.calendar.tz).split()[0])
        for n, inc in enumerate(others[samples : samples + 3]):
            assert inc.id is not None
            if n == 0:
                try:
                    life.answer_final(inc.id, OTPISKA)
                except AnswerRejected:
                    demo.rejected.append(inc.id)
            life.answer_final(inc.id, text, photos=[f"https://example.org/after/{inc.id}.jpg"])
            demo.final.append(inc.id)
        if len(demo.final) >= 2:
            life.rate(demo.final[0], 5, "Спасибо, всё сделали")
            demo.closed.append(demo.final[0])
            life.rate(demo.final[1], 2, "Ничего не изменилось", resolved=False)
            demo.reopened.append(demo.final[1])
        for inc in written:
            assert inc.id is not None
            if inc.data.get("lifecycle", {}).get("extension"):
                continue  # extended by an earlier demo run on the same database
            if inc.resolution_due is not None and inc.resolution_due > now:
                life.extend_59fz(inc.id, "требуется выезд комиссии и запрос документов")
                demo.extended.append(inc.id)
                break
        demo.tick = life.tick(now)
        tz = life.region.calendar.tz
        shown = {e["incident"]: e for e in demo.tick.escalations}
        ids = [*list(shown)[:2], *demo.intermediate[:1], *demo.reopened, *demo.extended]
        for iid in dict.fromkeys(ids):
            inc = engine.incident(iid)
            esc = shown.get(iid)
            demo.deadlines.append(
                (
                    iid,
                    inc.status.label,
                    format_due(inc.first_response_due, tz),
                    format_due(inc.resolution_due, tz),
                    f"{level_label(esc['level'])}: {life.executor_name(esc['to'])}" if esc else "",
                )
            )
    return demo
