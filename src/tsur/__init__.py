"""tsur — an engine for regional incident management.

Citizens' messages from social networks, messengers, «Решаем вместе», e-mail
and hotlines become incidents: classified, located, routed to the
responsible executor and tracked against deadlines.

    import tsur

    engine = tsur.Engine.from_config(db="tsur.db")   # the bundled example region
    engine.process([tsur.Message(source="vk", external_id="1", text="…", created_at=...)])
"""

from tsur.config import RegionConfig, bundled_region_path, load_region, parse_duration
from tsur.domain import (
    TRANSITIONS,
    Attachment,
    Author,
    Classification,
    Event,
    Executor,
    GeoPoint,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    Rating,
    Reply,
    RouteDecision,
    SLAPolicy,
    Source,
    Status,
    Territory,
    Topic,
    Urgency,
)
from tsur.errors import (
    AdapterError,
    ConfigError,
    IllegalTransition,
    IngestError,
    NotFound,
    PluginError,
    ProcessingError,
    RateLimited,
    ReportError,
    StorageError,
    TsurError,
    UnknownSource,
    UnknownTerritory,
)
from tsur.hookspecs import hookimpl
from tsur.pipeline import Engine, IngestReport, RunReport
from tsur.plugins import make_plugin_manager
from tsur.sla.calendar import WorkingCalendar
from tsur.store import Repository, open_repository
from tsur.text.normalize import Text
from tsur.typing import FetchResult, Notification

__version__ = "0.1.0"

__all__ = [
    "TRANSITIONS",
    "AdapterError",
    "Attachment",
    "Author",
    "Classification",
    "ConfigError",
    "Engine",
    "Event",
    "Executor",
    "FetchResult",
    "GeoPoint",
    "IllegalTransition",
    "Incident",
    "IngestError",
    "IngestReport",
    "Location",
    "Message",
    "ModerationVerdict",
    "NotFound",
    "Notification",
    "PluginError",
    "ProcessingError",
    "RateLimited",
    "Rating",
    "RegionConfig",
    "Reply",
    "ReportError",
    "Repository",
    "RouteDecision",
    "RunReport",
    "SLAPolicy",
    "Source",
    "Status",
    "StorageError",
    "Territory",
    "Text",
    "Topic",
    "TsurError",
    "UnknownSource",
    "UnknownTerritory",
    "Urgency",
    "WorkingCalendar",
    "__version__",
    "bundled_region_path",
    "hookimpl",
    "load_region",
    "make_plugin_manager",
    "open_repository",
    "parse_duration",
]
