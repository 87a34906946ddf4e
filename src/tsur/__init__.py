"""tsur — an engine for regional incident management.

Citizens' messages from social networks, messengers, «Решаем вместе», e-mail
and hotlines become incidents: classified, located, routed to the
responsible executor and tracked against deadlines.

    import tsur

    engine = tsur.Engine.from_config(db="tsur.db")   # the bundled example region
    engine.process([tsur.Message(source="vk", external_id="1", text="…", created_at=...)])
"""

from tsur._version import __version__
from tsur.analysis import Analysis
from tsur.config import RegionConfig, bundled_region_path, load_region
from tsur.context import Context
from tsur.delivery import DeliveryPolicy
from tsur.domain import (
    TRANSITIONS,
    Attachment,
    Author,
    Classification,
    Duration,
    Event,
    Executor,
    FetchResult,
    GeoPoint,
    Incident,
    Location,
    Message,
    ModerationVerdict,
    Notification,
    Rating,
    Reply,
    RouteDecision,
    SLAPolicy,
    Source,
    Status,
    Territory,
    Topic,
    Urgency,
    parse_duration,
)
from tsur.errors import (
    AccessDenied,
    AdapterError,
    AnswerRejected,
    ConfigError,
    ExtensionRefused,
    IllegalTransition,
    IngestError,
    InvalidRequest,
    LifecycleError,
    ModelError,
    NotFound,
    NotifierError,
    Open311Error,
    Open311Refused,
    PayloadError,
    PhotoRequired,
    PluginError,
    PluginWarning,
    ProcessingError,
    RateLimited,
    ReportError,
    StorageError,
    TelegramError,
    TooManyRequests,
    TsurError,
    UnknownSource,
    UnknownTerritory,
    VkError,
    WebhookAuthError,
)
from tsur.hookspecs import hookimpl
from tsur.pipeline import Engine, IngestReport, RunReport
from tsur.plugins import make_plugin_manager
from tsur.region import Region
from tsur.sla.calendar import WorkingCalendar
from tsur.store import Repository, open_repository
from tsur.text.normalize import Lemmatizer, Text

__all__ = [
    "TRANSITIONS",
    "AccessDenied",
    "AdapterError",
    "Analysis",
    "AnswerRejected",
    "Attachment",
    "Author",
    "Classification",
    "ConfigError",
    "Context",
    "DeliveryPolicy",
    "Duration",
    "Engine",
    "Event",
    "Executor",
    "ExtensionRefused",
    "FetchResult",
    "GeoPoint",
    "IllegalTransition",
    "Incident",
    "IngestError",
    "IngestReport",
    "InvalidRequest",
    "Lemmatizer",
    "LifecycleError",
    "Location",
    "Message",
    "ModelError",
    "ModerationVerdict",
    "NotFound",
    "Notification",
    "NotifierError",
    "Open311Error",
    "Open311Refused",
    "PayloadError",
    "PhotoRequired",
    "PluginError",
    "PluginWarning",
    "ProcessingError",
    "RateLimited",
    "Rating",
    "Region",
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
    "TelegramError",
    "Territory",
    "Text",
    "TooManyRequests",
    "Topic",
    "TsurError",
    "UnknownSource",
    "UnknownTerritory",
    "Urgency",
    "VkError",
    "WebhookAuthError",
    "WorkingCalendar",
    "__version__",
    "bundled_region_path",
    "hookimpl",
    "load_region",
    "make_plugin_manager",
    "open_repository",
    "parse_duration",
]
