"""The incident lifecycle after routing.

SLA clocks on each executor's working calendar, intermediate and final
answers posted back on the citizen's channel (with the «отписка» check and
photo confirmation), 59-ФЗ terms for written appeals (extension,
forwarding), citizens' ratings and reopening, the escalation tick, and
executor KPIs computed in the database::

    from tsur.lifecycle import Lifecycle, executor_kpis

    life = Lifecycle(engine)
    life.answer_intermediate(incident_id, actor="teplo")
    life.tick()
    executor_kpis(engine.repository, since=..., until=...)
"""

from tsur.lifecycle.answers import AnswerCheck, AnswerChecker, AnswerTemplates, check_answer
from tsur.lifecycle.demo import LifecycleDemo, demo_lifecycle
from tsur.lifecycle.errors import (
    AnswerRejected,
    ExtensionRefused,
    InvalidRequest,
    LifecycleError,
    NotifierError,
    PhotoRequired,
)
from tsur.lifecycle.escalation import TickReport
from tsur.lifecycle.kpi import ExecutorKPI, executor_kpis, month_period
from tsur.lifecycle.replies import Delivery
from tsur.lifecycle.service import Lifecycle
from tsur.sla.executors import ExecutorCalendars

__all__ = [
    "AnswerCheck",
    "AnswerChecker",
    "AnswerRejected",
    "AnswerTemplates",
    "Delivery",
    "ExecutorCalendars",
    "ExecutorKPI",
    "ExtensionRefused",
    "InvalidRequest",
    "Lifecycle",
    "LifecycleDemo",
    "LifecycleError",
    "NotifierError",
    "PhotoRequired",
    "TickReport",
    "check_answer",
    "demo_lifecycle",
    "executor_kpis",
    "month_period",
]
