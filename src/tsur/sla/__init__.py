"""SLA clocks: the working-time calendar, policies and deadlines."""

from tsur.sla.calendar import WorkingCalendar, load_production_calendar
from tsur.sla.policies import Deadlines, SLAResolver

__all__ = ["Deadlines", "SLAResolver", "WorkingCalendar", "load_production_calendar"]
