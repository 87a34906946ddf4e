"""Built-in notifier: a structured log line per notification."""

from __future__ import annotations

import structlog

from tsur.config import RegionConfig
from tsur.hookspecs import hookimpl
from tsur.typing import Notification, Register

__all__ = ["LogNotifier"]


class LogNotifier:
    """Logs every notification as a structured event (``tsur.notify``)."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("tsur.notify")

    def notify(self, notification: Notification) -> None:
        """Write one log event."""
        self.log.info(
            notification.kind,
            incident_id=notification.incident_id,
            recipients=list(notification.recipients),
            text=notification.text,
        )


@hookimpl
def register_notifiers(register: Register, config: RegionConfig) -> None:
    """Register the log notifier."""
    register("log", LogNotifier())
