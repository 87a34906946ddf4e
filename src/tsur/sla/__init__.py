"""SLA clocks: the working-time calendar (:mod:`tsur.sla.calendar`) and the
deadlines computed on it (:mod:`tsur.sla.deadlines`).

The package imports only the calendar, which the region is built with; the
deadlines, which read the region, are imported from their module.
"""

from tsur.sla.calendar import WorkingCalendar, load_production_calendar

__all__ = ["WorkingCalendar", "load_production_calendar"]
