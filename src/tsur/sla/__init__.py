"""SLA clocks: the working-time calendar, policies and deadlines."""

from tsur.sla.calendar import WorkingCalendar, load_production_calendar
from tsur.sla.deadlines import (
    Deadlines,
    deadlines_for,
    due,
    late_by,
    policy_for,
    warning_instant,
)

__all__ = [
    "Deadlines",
    "WorkingCalendar",
    "deadlines_for",
    "due",
    "late_by",
    "load_production_calendar",
    "policy_for",
    "warning_instant",
]
