"""Region configuration: one TOML (or YAML) file describes a region.

The file is validated with pydantic; every problem is reported with the
file, the key path (``executors[3].territory``) and what is wrong, all at
once, as a :class:`~tsur.errors.ConfigError`. See ``docs/configuration.md``
for the format and ``tsur/data/regions/samara.toml`` for a complete example.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tsur.domain import Duration, Urgency, parse_duration
from tsur.errors import ConfigError

__all__ = [
    "BUNDLED_REGION",
    "RegionConfig",
    "ServerConfig",
    "Span",
    "bundled_region_path",
    "load_region",
    "region_from_mapping",
    "validation_problems",
]

#: Name of the example region shipped with the package.
BUNDLED_REGION = "samara"

_ID = r"^[a-z0-9][a-z0-9_.-]*$"
Id = Annotated[str, Field(pattern=_ID, max_length=64)]

TERRITORY_KINDS = (
    "region",
    "city_okrug",
    "municipal_okrug",
    "municipal_district",
    "urban_settlement",
    "rural_settlement",
    "settlement",
    "city_district",
)
EXECUTOR_KINDS = (
    "governor",
    "deputy_governor",
    "curator",
    "ministry",
    "regional_agency",
    "municipal_administration",
    "district_administration",
    "management_company",
    "utility",
    "emergency_service",
    "edds",
    "carrier",
    "contractor",
    "federal_agency",
    "other",
)
SOURCE_KINDS = (
    "vk",
    "telegram",
    "ok",
    "pos",
    "webhook",
    "open311",
    "open311_server",
    "email",
    "rss",
    "nats",
    "hotline",
    "written",
    "file",
    "csv",
    "jsonl",
    "other",
)

_SINGULAR = {
    "territories": "territory",
    "topics": "topic",
    "executors": "executor",
    "sources": "source",
    "sla": "SLA policy",
}


def _duration(v: Any) -> Any:
    return None if v is None else parse_duration(v)


#: A span in the region file: ``"8 working hours"``, ``"30 days"`` (see :func:`parse_duration`).
Span = Annotated[
    Duration,
    BeforeValidator(_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["8 working hours", "30 days"]}),
]


def _check_tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {v!r} (use an IANA name like 'Europe/Samara')"
        ) from exc
    return v


def _check_hours(v: tuple[str, str] | None) -> tuple[str, str] | None:
    if v is None:
        return v
    for t in v:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", t):
            raise ValueError(f"time {t!r} must be HH:MM (24:00 for the end of the day)")
    if v[0] == "24:00":
        raise ValueError("a day cannot start at 24:00")
    if v[0] >= v[1]:
        raise ValueError(f"start {v[0]} must be before end {v[1]}")
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class RegionInfo(_Model):
    """The region itself."""

    code: str = Field(description="OKATO/subject code, e.g. '63' for Samara oblast")
    name: str
    timezone: str = "Europe/Moscow"
    territory: Id = Field(description="id of the root territory (the region)")
    curator: Id = Field(description="executor that receives what no rule routes (ЦУР curators)")
    working_hours: tuple[str, str] = ("09:00", "18:00")
    lunch: tuple[str, str] | None = ("13:00", "14:00")
    extra_holidays: list[str] = Field(default_factory=list, description="ISO dates")
    extra_workdays: list[str] = Field(default_factory=list, description="ISO dates")
    term_day_end: Literal["midnight", "working_day"] = Field(
        default="midnight",
        description="a term in days ends at 24:00 of its last day, or when its working day ends",
    )
    heating_season: list[int] = Field(
        default_factory=lambda: [10, 11, 12, 1, 2, 3, 4],
        description="months of the heating season: a cold flat is urgent only then",
    )
    coldest_five_days: float | None = Field(
        default=None,
        description="°C of the coldest five-day period (СП 131.13330): at −31 °C or colder "
        "the indoor norms are +20/+22 °C instead of +18/+20 °C",
    )

    _tz = field_validator("timezone")(lambda cls, v: _check_tz(v))
    _hours = field_validator("working_hours", "lunch")(lambda cls, v: _check_hours(v))

    @field_validator("heating_season")
    @classmethod
    def _months(cls, v: list[int]) -> list[int]:
        bad = [m for m in v if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months are 1 to 12, got {bad}")
        return v

    @field_validator("extra_holidays", "extra_workdays")
    @classmethod
    def _dates(cls, v: list[str]) -> list[str]:
        for d in v:
            try:
                date.fromisoformat(d)
            except ValueError:
                raise ValueError(f"{d!r} is not a date; write YYYY-MM-DD") from None
        return v


class TerritoryConfig(_Model):
    """One territory: the region, a municipality or a settlement."""

    id: Id
    name: str
    kind: Literal[TERRITORY_KINDS]  # type: ignore[valid-type]
    parent: Id | None = None
    variants: list[str] = Field(default_factory=list, description="other spellings and adjectives")
    population: int | None = Field(default=None, ge=0)
    population_year: int | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class SeasonalKeywords(_Model):
    """Keywords that count only in some months (snow in winter …)."""

    months: list[Annotated[int, Field(ge=1, le=12)]]
    keywords: list[str]


class TopicConfig(_Model):
    """One topic (a direction or a subtopic) with its keywords."""

    id: Id
    name: str
    parent: Id | None = None
    keywords: list[str] = Field(default_factory=list)
    seasonal: list[SeasonalKeywords] = Field(default_factory=list)
    urgent_keywords: list[str] = Field(default_factory=list)
    quick_keywords: list[str] = Field(default_factory=list)


class ExecutorConfig(_Model):
    """One executor: who answers, where, for which topics, reporting to whom."""

    id: Id
    name: str
    kind: Literal[EXECUTOR_KINDS]  # type: ignore[valid-type]
    territory: Id | None = None
    topics: list[Id] = Field(default_factory=list)
    parent: Id | None = None
    contacts: dict[str, str] = Field(default_factory=dict)
    sla: Id | None = Field(default=None, description="SLA policy overriding the region's rules")
    working_hours: tuple[str, str] | None = Field(
        default=None, description="the executor's own hours (HH:MM, HH:MM); region's otherwise"
    )
    lunch: tuple[str, str] | None = None
    timezone: str | None = Field(default=None, description="IANA zone if not the region's")
    schedule: Literal["office", "daily", "24/7"] = Field(
        default="office",
        description="office: the production calendar; daily: every day within the hours; "
        "24/7: round the clock (dispatch services, ЕДДС)",
    )

    _hours = field_validator("working_hours", "lunch")(lambda cls, v: _check_hours(v))
    _tz = field_validator("timezone")(lambda cls, v: v if v is None else _check_tz(v))


class SourceConfig(_Model):
    """One channel the region listens to.

    ``kind`` names the channel and, unless ``options.adapter`` names another
    one (``"jsonl"``), the adapter that talks to it: a built-in one (see
    ``SOURCE_KINDS``) or one a plugin registers.
    """

    id: Id
    kind: Id
    name: str
    territory: Id | None = Field(
        default=None, description="where its messages are from when they don't say (a city group)"
    )
    options: dict[str, Any] = Field(default_factory=dict)


class RoutingRule(_Model):
    """A routing rule: the first rule whose conditions all match wins.

    Either ``executor`` names one executor, or ``executor_kind`` picks the
    executor of that kind responsible for the incident's territory (walking
    up the territory tree from the settlement to the region).
    """

    name: str
    topics: list[Id] = Field(default_factory=list, description="topic or any of its subtopics")
    territories: list[Id] = Field(default_factory=list, description="territory or inside it")
    urgency: list[Urgency] = Field(default_factory=list)
    sources: list[Id] = Field(default_factory=list)
    executor: Id | None = None
    executor_kind: Literal[EXECUTOR_KINDS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _target(self) -> RoutingRule:
        if (self.executor is None) == (self.executor_kind is None):
            raise ValueError("give exactly one of 'executor' or 'executor_kind'")
        return self


class SLAConfig(_Model):
    """An SLA policy and the incidents it applies to (first matching policy wins)."""

    id: Id
    name: str
    topics: list[Id] = Field(default_factory=list)
    urgency: list[Urgency] = Field(default_factory=list)
    sources: list[Id] = Field(default_factory=list)
    source_kinds: list[str] = Field(default_factory=list)
    executor_kinds: list[str] = Field(default_factory=list)
    first_response: Span | None = None
    resolution: Span | None = None
    after_intermediate: Span | None = Field(
        default=None, description="final answer due this long after an intermediate one"
    )
    schedule: Literal["executor", "24/7"] = Field(
        default="executor",
        description="whose clock counts the terms: the executor's calendar, or round the clock",
    )
    registration: Span | None = Field(
        default=None,
        description="appeals are registered within this (59-ФЗ: 3 days); the terms run from "
        "registration",
    )


class EscalationStep(_Model):
    """One rung of the escalation ladder."""

    level: Literal["supervisor", "curator", "deputy_governor", "governor", "executor_kind"]
    after: Span = Field(description="how long past the deadline this rung is reached")
    executor_kind: str | None = None

    @model_validator(mode="after")
    def _kind(self) -> EscalationStep:
        if self.level == "executor_kind" and not self.executor_kind:
            raise ValueError("level 'executor_kind' needs executor_kind = '...'")
        return self


class EscalationConfig(_Model):
    """When and to whom late incidents climb.

    ``ladder`` counts its delays on the incident's calendar (office hours for
    most executors); ``urgent``, when given, is the ladder of urgent
    incidents, counted round the clock — an emergency does not wait for
    Monday.
    """

    warn_at: float = Field(default=0.75, gt=0, lt=1, description="share of the time to warn at")
    ladder: list[EscalationStep] = Field(default_factory=list)
    urgent: list[EscalationStep] = Field(
        default_factory=list, description="the ladder of urgent incidents, round the clock"
    )


class LifecycleConfig(_Model):
    """Rules of an incident's life after routing: answers, photos, ratings."""

    photo_required_topics: list[Id] = Field(
        default_factory=list, description="topics (and subtopics) that need a photo to close"
    )
    low_rating: int = Field(default=3, ge=1, le=5, description="ratings at or below reopen")
    reopen_window_days: float = Field(
        default=30, gt=0, description="a repeat message this soon after closing reopens"
    )
    forbidden_phrases: list[str] = Field(
        default_factory=list, description="extra phrases that mark a final answer as «отписка»"
    )


class ModelConfig(_Model):
    """A trained text model the engine uses (``tsur train`` writes one).

    ``target = "topic"`` makes it a classifier voting with ``weight``;
    ``target = "executor"`` makes it a router asked at ``priority`` (the
    rules router has 100) that answers only above ``min_confidence``.
    ``labels`` maps the model's labels to topic or executor ids when they
    differ (e.g. numeric groups of a training file). A relative ``path`` is
    read from the region file's folder.
    """

    name: Id
    path: str
    target: Literal["topic", "executor"] = "topic"
    weight: float = Field(default=1.0, gt=0)
    priority: int = 150
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    labels: dict[str, Id] = Field(default_factory=dict)


class NotifierConfig(_Model):
    """One ``[[notifiers]]`` entry: an e-mail (SMTP) or webhook notifier.

    Secrets are not written in the file: ``password_env`` and ``secret_env``
    name environment variables that hold them.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    kind: Literal["smtp", "webhook"]
    kinds: list[str] = Field(default_factory=list, description="notification kinds; all if empty")
    # smtp
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535, description="587; 465 with ssl")
    sender: str | None = None
    starttls: bool = Field(default=True, description="required by default; false: a local relay")
    ssl: bool = False
    ca_file: str | None = Field(default=None, description="PEM file of the CAs to verify with")
    username: str | None = None
    password_env: str | None = None
    extra_recipients: list[str] = Field(default_factory=list)
    # webhook
    url: str | None = None
    secret_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)


class PipelineConfig(_Model):
    """Thresholds of the processing pipeline."""

    min_confidence: float = Field(default=0.3, ge=0, le=1)
    group_window_days: float = Field(default=7, gt=0)
    group_similarity: float = Field(default=0.5, gt=0, le=1)
    streets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="known street names per municipality (its territory id → names as "
        "written: 'Революционная', 'улица 40 лет Победы'); where given, grouping reads a "
        "street without a marker only among them, and finds them with no house number",
    )
    disabled_plugins: list[str] = Field(
        default_factory=list,
        description="component names to switch off; 'kind:name' (e.g. 'locators:geotag') "
        "for one kind only",
    )


class ServerConfig(_Model):
    """The ``[server]`` table: how ``tsur serve`` (:mod:`tsur.server`) meets the network."""

    jurisdiction_id: str | None = Field(
        default=None,
        max_length=200,
        description="Open311 jurisdiction_id this server answers for (default: the region code)",
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="largest request body"
    )
    body_timeout: float = Field(
        default=30.0, gt=0, le=600, description="seconds a client may take to send its body"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed cross-site requests (none: CORS off)"
    )
    open311_public: bool = Field(
        default=False,
        description="answer Open311 reads (services, requests) without an API key",
    )
    process_inline: bool = Field(
        default=False,
        description="process what a request brought before answering (no separate workers)",
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="how long a web desk login lasts"
    )
    auth_failures_per_minute: int = Field(
        default=30, ge=1, description="failed logins an address may make a minute"
    )


class RegionConfig(_Model):
    """A whole region: validated, cross-checked, ready for the engine."""

    region: RegionInfo
    territories: list[TerritoryConfig]
    topics: list[TopicConfig]
    executors: list[ExecutorConfig]
    sources: list[SourceConfig] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(default_factory=list)
    sla: list[SLAConfig] = Field(default_factory=list)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    models: list[ModelConfig] = Field(default_factory=list)
    notifiers: list[NotifierConfig] = Field(default_factory=list)
    server: ServerConfig = Field(default_factory=ServerConfig)
    plugins: dict[Annotated[str, Field(pattern=_ID, max_length=64)], dict[str, Any]] = Field(
        default_factory=dict,
        description="settings of plugins by the name they declare (``[plugins.NAME]``), "
        "validated by the plugin's own model when the engine starts",
    )
    _base_dir: Path | None = PrivateAttr(default=None)
    _origin: str = PrivateAttr(default="<mapping>")

    @property
    def base_dir(self) -> Path | None:
        """Folder of the region file (relative model paths are read from there)."""
        return self._base_dir

    @property
    def origin(self) -> str:
        """Where the configuration was read from (the file's path), for error messages."""
        return self._origin

    @model_validator(mode="after")
    def _cross_check(self) -> RegionConfig:
        problems: list[str] = []
        ids: dict[str, set[str]] = {}
        for section in ("territories", "topics", "executors", "sources", "sla"):
            seen: set[str] = set()
            for i, item in enumerate(getattr(self, section)):
                if item.id in seen:
                    problems.append(f"{section}[{i}].id: duplicate id {item.id!r}")
                seen.add(item.id)
            ids[section] = seen

        def check(ref: str | None, section: str, where: str) -> None:
            if ref is not None and ref not in ids[section]:
                problems.append(f"{where}: unknown {_SINGULAR[section]} {ref!r}")

        check(self.region.territory, "territories", "region.territory")
        check(self.region.curator, "executors", "region.curator")
        for i, t in enumerate(self.territories):
            check(t.parent, "territories", f"territories[{i}].parent")
        for i, tp in enumerate(self.topics):
            check(tp.parent, "topics", f"topics[{i}].parent")
        for i, e in enumerate(self.executors):
            check(e.territory, "territories", f"executors[{i}].territory")
            check(e.parent, "executors", f"executors[{i}].parent")
            check(e.sla, "sla", f"executors[{i}].sla")
            for ref in e.topics:
                check(ref, "topics", f"executors[{i}].topics")
        for i, src in enumerate(self.sources):
            check(src.territory, "territories", f"sources[{i}].territory")
        for i, r in enumerate(self.routing):
            check(r.executor, "executors", f"routing[{i}].executor")
            for ref in r.topics:
                check(ref, "topics", f"routing[{i}].topics")
            for ref in r.territories:
                check(ref, "territories", f"routing[{i}].territories")
            for ref in r.sources:
                check(ref, "sources", f"routing[{i}].sources")
        for ref in self.lifecycle.photo_required_topics:
            check(ref, "topics", "lifecycle.photo_required_topics")
        for i, p in enumerate(self.sla):
            for ref in p.topics:
                check(ref, "topics", f"sla[{i}].topics")
            for ref in p.sources:
                check(ref, "sources", f"sla[{i}].sources")
        problems.extend(self._cycles("territories", "parent"))
        problems.extend(self._cycles("topics", "parent"))
        problems.extend(self._cycles("executors", "parent"))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _cycles(self, section: str, attr: str) -> Iterable[str]:
        parents = {item.id: getattr(item, attr) for item in getattr(self, section)}
        for start in parents:
            seen = {start}
            node = parents.get(start)
            while node is not None:
                if node in seen:
                    yield f"{section}: {attr} chain of {start!r} loops back to {node!r}"
                    break
                seen.add(node)
                node = parents.get(node)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """``(key path, message)`` for each error pydantic found, key paths under ``prefix``.

    The cross-check of a whole region reports several problems in one
    message (``"executors[3].territory: unknown territory 'x'; …"``); they
    are split back into one pair each.
    """
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = _loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" and not loc and ": " in msg:
            for part in msg.split("; "):
                key, _, text = part.partition(": ")
                problems.append((f"{prefix}.{key}" if prefix else key, text))
        else:
            full = f"{prefix}.{loc}" if prefix and loc else prefix or loc
            problems.append((full, msg))
    return problems


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: region file not found", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read region file: {exc}", path=str(path)) from exc
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigError(
                f"{path}: YAML region files need PyYAML (pip install 'tsur[yaml]')", path=str(path)
            ) from None
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}", path=str(path)) from exc
    else:
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}", path=str(path)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of sections", path=str(path))
    return data


def bundled_region_path(name: str = BUNDLED_REGION) -> Path:
    """Path of a region file shipped inside the package (``samara``)."""
    ref = resources.files("tsur") / "data" / "regions" / f"{name}.toml"
    path = Path(str(ref))
    if not path.is_file():
        raise ConfigError(f"no bundled region named {name!r}")
    return path


def load_region(path: str | Path | None = None) -> RegionConfig:
    """Load and validate a region file (TOML, or YAML with PyYAML installed).

    ``None`` loads the bundled example region (Samara oblast). Raises
    :class:`~tsur.errors.ConfigError` naming the file, the key path and the
    problem for every error found.
    """
    p = bundled_region_path() if path is None else Path(path)
    data = _read(p)
    region = region_from_mapping(data, origin=str(p))
    region._base_dir = p.resolve().parent
    region._origin = str(p)
    return region


def region_from_mapping(data: Mapping[str, Any], *, origin: str = "<mapping>") -> RegionConfig:
    """Validate an already parsed mapping; errors name ``origin`` as the file."""
    try:
        region = RegionConfig.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise ConfigError(
            f"{origin}: invalid region configuration ({len(problems)} problem(s))",
            path=origin,
            problems=problems,
        ) from None
    region._origin = origin
    return region
