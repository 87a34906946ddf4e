"""The incident lifecycle after routing.

SLA clocks on each executor's working calendar, intermediate and final
answers posted back on the citizen's channel (with the «отписка» check and
photo confirmation), 59-ФЗ terms for written appeals (extension,
forwarding), citizens' ratings and reopening, and the tick that warns,
escalates and asks the watchers::

    from tsur.lifecycle import Lifecycle

    life = Lifecycle(engine)
    life.answer_intermediate(incident_id, actor="teplo")
    life.tick()

Executor KPIs are analytics (:func:`tsur.analytics.executor_kpis`); the
lifecycle's errors are in :mod:`tsur.errors`.
"""

from tsur.lifecycle.answers import AnswerCheck, AnswerChecker, AnswerTemplates, check_answer
from tsur.lifecycle.curator import Correction
from tsur.lifecycle.demo import DemoClock, DemoRun, Habits, simulate
from tsur.lifecycle.escalation import TickReport
from tsur.lifecycle.learning import DuplicatePair, LabelledExample
from tsur.lifecycle.replies import Delivery
from tsur.lifecycle.service import Lifecycle

__all__ = [
    "AnswerCheck",
    "AnswerChecker",
    "AnswerTemplates",
    "Correction",
    "Delivery",
    "DemoClock",
    "DemoRun",
    "DuplicatePair",
    "Habits",
    "LabelledExample",
    "Lifecycle",
    "TickReport",
    "check_answer",
    "simulate",
]
