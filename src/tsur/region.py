"""The region as the engine works with it: frozen domain objects and their indexes.

The region file is read and validated by pydantic (:mod:`tsur.config`);
:meth:`Region.from_config` turns it, once, into the attrs objects of
:mod:`tsur.domain` — territories, topics, executors, sources, SLA
policies — and builds the look-ups every stage needs: a topic's chain of
ancestors, a territory's chain up to the region and the municipality it
lies in, the executor of a kind for a territory, the chain of command, and
each executor's working calendar. The engine builds one :class:`Region`
and shares it with the lifecycle, the tick, analytics and every plugin
(``context.region``)::

    region = tsur.Region.from_config(tsur.load_region())
    region.topic_chain("zhkh.heating")        # ("zhkh.heating", "zhkh")
    region.municipality_of("smyshlyaevka")    # "volzhsky"
    region.calendar_for("teplo").add(start, timedelta(hours=8))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from tsur.config import RegionConfig
from tsur.domain import (
    Executor,
    GeoPoint,
    Seasonal,
    SLAPolicy,
    Source,
    Territory,
    Topic,
)
from tsur.sla.calendar import WorkingCalendar

__all__ = ["Region"]


def _chains(parents: Mapping[str, str | None]) -> dict[str, tuple[str, ...]]:
    """Each id with its ancestors, nearest first (the config has checked for loops)."""
    out: dict[str, tuple[str, ...]] = {}
    for start in parents:
        chain = [start]
        node = parents[start]
        while node is not None and node not in chain:
            chain.append(node)
            node = parents.get(node)
        out[start] = tuple(chain)
    return out


def _frozen(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """A read-only copy: a plugin given the region cannot change it for the others."""
    return MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class Region:
    """A region's territories, topics, executors, sources and SLA policies, indexed.

    Build it with :meth:`from_config`. ``config`` is the validated region
    file it was made from: sections the domain does not model (routing
    rules, the escalation ladder, pipeline thresholds, plugin settings) are
    read from there by the components they belong to.
    """

    config: RegionConfig
    territories: Mapping[str, Territory] = attrs.field(converter=_frozen)
    topics: Mapping[str, Topic] = attrs.field(converter=_frozen)
    executors: Mapping[str, Executor] = attrs.field(converter=_frozen)
    sources: Mapping[str, Source] = attrs.field(converter=_frozen)
    sla: tuple[SLAPolicy, ...]
    calendar: WorkingCalendar
    _topic_chains: Mapping[str, tuple[str, ...]] = attrs.field(
        alias="topic_chains", converter=_frozen
    )
    _territory_chains: Mapping[str, tuple[str, ...]] = attrs.field(
        alias="territory_chains", converter=_frozen
    )
    _calendars: Mapping[str, WorkingCalendar] = attrs.field(alias="calendars", converter=_frozen)
    _families: Mapping[str, tuple[str, ...]] = attrs.field(alias="families", converter=_frozen)
    _clock: WorkingCalendar = attrs.field(alias="clock")
    _by_kind_territory: Mapping[tuple[str, str], str] = attrs.field(
        alias="by_kind_territory", converter=_frozen
    )
    #: the territories of each municipality, in the region file's order
    _municipality_members: Mapping[str, tuple[str, ...]] = attrs.field(init=False)

    @_municipality_members.default
    def _members(self) -> Mapping[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for t in self.territories:
            muni = self.municipality_of(t)
            if muni is not None:
                out.setdefault(muni, []).append(t)
        return _frozen({k: tuple(v) for k, v in out.items()})

    @classmethod
    def from_config(cls, config: RegionConfig) -> Region:
        """The domain view of a validated region file."""
        r = config.region
        territories = {
            t.id: Territory(
                id=t.id,
                name=t.name,
                kind=t.kind,
                parent=t.parent,
                variants=tuple(t.variants),
                population=t.population,
                population_year=t.population_year,
                center=GeoPoint(t.lat, t.lon) if t.lat is not None and t.lon is not None else None,
            )
            for t in config.territories
        }
        topics = {
            t.id: Topic(
                id=t.id,
                name=t.name,
                parent=t.parent,
                keywords=tuple(t.keywords),
                seasonal=tuple(
                    Seasonal(frozenset(s.months), tuple(s.keywords)) for s in t.seasonal
                ),
                urgent_keywords=tuple(t.urgent_keywords),
                quick_keywords=tuple(t.quick_keywords),
            )
            for t in config.topics
        }
        executors = {
            e.id: Executor(
                id=e.id,
                name=e.name,
                kind=e.kind,
                territory=e.territory,
                topics=tuple(e.topics),
                parent=e.parent,
                contacts=dict(e.contacts),
                sla=e.sla,
                working_hours=e.working_hours,
                lunch=e.lunch,
                timezone=e.timezone,
                schedule=e.schedule,
            )
            for e in config.executors
        }
        sources = {
            s.id: Source(
                id=s.id, kind=s.kind, name=s.name, options=dict(s.options), territory=s.territory
            )
            for s in config.sources
        }
        sla = tuple(
            SLAPolicy(
                id=p.id,
                name=p.name,
                first_response=p.first_response,
                resolution=p.resolution,
                after_intermediate=p.after_intermediate,
                topics=tuple(p.topics),
                urgency=tuple(p.urgency),
                sources=tuple(p.sources),
                source_kinds=tuple(p.source_kinds),
                executor_kinds=tuple(p.executor_kinds),
                schedule=p.schedule,
                registration=p.registration,
            )
            for p in config.sla
        )
        calendar = WorkingCalendar(
            r.timezone,
            hours=r.working_hours,
            lunch=r.lunch,
            holidays=r.extra_holidays,
            workdays=r.extra_workdays,
            day_end=r.term_day_end,
        )
        topic_chains = _chains({t.id: t.parent for t in topics.values()})
        families: dict[str, list[str]] = {}
        for topic_id, chain in topic_chains.items():
            families.setdefault(chain[-1], []).append(topic_id)
        by_kind_territory: dict[tuple[str, str], str] = {}
        for e in executors.values():
            if e.territory is not None:
                by_kind_territory.setdefault((e.kind, e.territory), e.id)
        return cls(
            config=config,
            territories=territories,
            topics=topics,
            executors=executors,
            sources=sources,
            sla=sla,
            calendar=calendar,
            topic_chains=topic_chains,
            families={d: tuple(sorted(ts)) for d, ts in families.items()},
            clock=WorkingCalendar.round_the_clock(r.timezone, day_end=r.term_day_end),
            territory_chains=_chains({t.id: t.parent for t in territories.values()}),
            calendars=_executor_calendars(config, executors.values()),
            by_kind_territory=by_kind_territory,
        )

    # the region itself ---------------------------------------------------------------
    @property
    def name(self) -> str:
        """The region's name («Самарская область»)."""
        return self.config.region.name

    @property
    def root(self) -> str:
        """The id of the root territory (the region)."""
        return self.config.region.territory

    @property
    def curator(self) -> str:
        """The executor that receives what no rule routes (the ЦУР's curators)."""
        return self.config.region.curator

    # topics ------------------------------------------------------------------------
    def topic_chain(self, topic: str | None) -> tuple[str, ...]:
        """``topic`` and its ancestors, nearest first; ``()`` for None."""
        if topic is None:
            return ()
        return self._topic_chains.get(topic, (topic,))

    def direction_of(self, topic: str | None) -> str | None:
        """The top-level topic (direction) of ``topic``."""
        chain = self.topic_chain(topic)
        return chain[-1] if chain else None

    def family(self, topic: str | None) -> tuple[str, ...]:
        """Every topic of ``topic``'s direction (the direction itself included); ``()``
        for None. Reports in one family may be one problem (grouping, reopening)."""
        direction = self.direction_of(topic)
        if direction is None:
            return ()
        return self._families.get(direction, (direction,))

    def subtopics(self, topic: str) -> tuple[str, ...]:
        """``topic`` and every topic under it, by the region's parents (sorted)."""
        return tuple(sorted(t for t, chain in self._topic_chains.items() if topic in chain)) or (
            topic,
        )

    def in_topic(self, topic: str | None, topics: Iterable[str]) -> bool:
        """Whether ``topic`` is one of ``topics`` or a subtopic of one."""
        return not set(self.topic_chain(topic)).isdisjoint(topics)

    def source_name(self, source: str | None) -> str:
        """The source's name («ВКонтакте»); its id when the region does not know it."""
        if source is None:
            return "—"
        s = self.sources.get(source)
        return s.name if s is not None and s.name else source

    def policy_name(self, policy: str | None) -> str:
        """The SLA policy's name («Срочные»); its id when the region does not know it."""
        if policy is None:
            return "—"
        p = next((p for p in self.sla if p.id == policy), None)
        return p.name if p is not None and p.name else policy

    def topic_name(self, topic: str | None) -> str:
        """The topic's name; its id when the region does not know it; «—» for None."""
        if topic is None:
            return "—"
        t = self.topics.get(topic)
        return t.name if t else topic

    # territories ---------------------------------------------------------------------
    def territory_chain(self, territory: str | None) -> tuple[str, ...]:
        """``territory`` and its ancestors up to the region; ``()`` for None."""
        if territory is None:
            return ()
        return self._territory_chains.get(territory, (territory,))

    def in_territory(self, territory: str | None, territories: Iterable[str]) -> bool:
        """Whether ``territory`` is one of ``territories`` or lies inside one."""
        return not set(self.territory_chain(territory)).isdisjoint(territories)

    @property
    def municipalities(self) -> tuple[Territory, ...]:
        """The municipalities: the territories right below the region."""
        return tuple(t for t in self.territories.values() if t.parent == self.root)

    def municipality_of(self, territory: str | None) -> str | None:
        """The municipality ``territory`` lies in (itself for a municipality); None for the
        region itself and unknown ids."""
        chain = self._territory_chains.get(territory or "")
        if not chain or len(chain) < 2 or chain[-1] != self.root:
            return None
        return chain[-2]

    def same_municipality(self, territory: str) -> tuple[str, ...]:
        """Every territory of ``territory``'s municipality (itself only above one)."""
        muni = self.municipality_of(territory)
        if muni is None:
            return (territory,)
        return self._municipality_members[muni]

    def depth(self, territory: str) -> int:
        """How far below the region a territory lies (the region: 0)."""
        return len(self.territory_chain(territory)) - 1

    def territory_name(self, territory: str | None) -> str:
        """The territory's name; its id when unknown; «—» for None."""
        if territory is None:
            return "—"
        t = self.territories.get(territory)
        return t.name if t else territory

    # executors ------------------------------------------------------------------------
    def executor_for(self, kind: str, territory: str | None) -> Executor | None:
        """The executor of ``kind`` responsible for ``territory`` (walking up the tree)."""
        for t in self.territory_chain(territory):
            eid = self._by_kind_territory.get((kind, t))
            if eid is not None:
                return self.executors[eid]
        return None

    def supervisor(self, executor: str | None) -> Executor | None:
        """The executor's parent in the chain of command."""
        ex = self.executors.get(executor or "")
        return self.executors.get(ex.parent or "") if ex else None

    def executor_for_topic(self, kind: str, topic: str | None) -> Executor | None:
        """The first executor of ``kind`` whose topics cover ``topic`` (a deputy governor
        for the sector); one of that kind declaring no topics otherwise."""
        chain = set(self.topic_chain(topic))
        fallback = None
        for e in self.executors.values():
            if e.kind != kind:
                continue
            if chain.intersection(e.topics):
                return e
            if fallback is None and not e.topics:
                fallback = e
        return fallback

    def executor_name(self, executor: str | None) -> str:
        """The executor's name; its id when unknown; «—» for None."""
        if executor is None:
            return "—"
        e = self.executors.get(executor)
        return e.name if e else executor

    def calendar_for(self, executor: str | None) -> WorkingCalendar:
        """The working calendar of ``executor`` (its own hours, else the region's)."""
        return self._calendars.get(executor or "", self.calendar)

    @property
    def clock(self) -> WorkingCalendar:
        """The region's round-the-clock calendar (every instant is working time)."""
        return self._clock

    def terms_calendar(self, executor: str | None, policy: SLAPolicy | None) -> WorkingCalendar:
        """The calendar an incident's terms are counted on: round the clock under a
        ``24/7`` policy (the urgent track); the region's production calendar under a
        policy with ``registration`` (59-ФЗ: legal terms move off the region's days off,
        whatever the executor's schedule); else the executor's."""
        if policy is not None and policy.schedule == "24/7":
            return self._clock
        if policy is not None and policy.registration is not None:
            return self.calendar
        return self.calendar_for(executor)

    # sources and policies ---------------------------------------------------------------
    def source_kind(self, source: str | None) -> str | None:
        """The kind of a configured source (``vk``, ``pos``, ``written`` …)."""
        s = self.sources.get(source or "")
        return s.kind if s else None

    def policy(self, policy_id: str | None) -> SLAPolicy | None:
        """The SLA policy with this id."""
        return next((p for p in self.sla if p.id == policy_id), None)

    def __repr__(self) -> str:
        return (
            f"Region({self.name!r}: {len(self.territories)} territories, {len(self.topics)} "
            f"topics, {len(self.executors)} executors, {len(self.sources)} sources)"
        )


def _executor_calendars(
    config: RegionConfig, executors: Iterable[Executor]
) -> dict[str, WorkingCalendar]:
    """A calendar for every executor with hours, lunch or a time zone of its own.

    Own hours mean own lunch or none (a dispatch service works without a
    break); the region's hours keep the region's lunch unless one is given.
    Holidays and transferred working days are the region's for everyone.
    """
    r = config.region
    out: dict[str, WorkingCalendar] = {}
    for e in executors:
        if (
            e.working_hours is None
            and e.lunch is None
            and e.timezone is None
            and e.schedule == "office"
        ):
            continue
        lunch: Any = e.lunch if e.working_hours is not None else e.lunch or r.lunch
        out[e.id] = WorkingCalendar(
            e.timezone or r.timezone,
            hours=e.working_hours or r.working_hours,
            lunch=lunch,
            holidays=r.extra_holidays,
            workdays=r.extra_workdays,
            schedule=e.schedule,
            day_end=r.term_day_end,
        )
    return out
