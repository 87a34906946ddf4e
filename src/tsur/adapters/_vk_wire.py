"""VK API wire shapes (pydantic: this is a boundary) and external id scheme.

Only the fields tsur uses are declared; VK adds fields freely, so unknown
ones are ignored. Ids are integers on the wire; the external ids built
from them are ``wall{owner_id}_{post_id}`` for posts,
``wall{owner_id}_{post_id}_c{comment_id}`` for comments,
``photo{owner_id}_{photo_id}_c{comment_id}`` for photo comments and
``msg{peer_id}_{conversation_message_id}`` for community messages.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Ref",
    "VkAttachment",
    "VkComment",
    "VkEvent",
    "VkGeo",
    "VkItems",
    "VkMessage",
    "VkPost",
    "comment_ref",
    "parse_ref",
    "post_ref",
]


class _W(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class VkPhotoSize(_W):
    """One size of a photo (``type`` is a letter: s, m, x, y, z, w …)."""

    type: str = ""
    url: str | None = None
    src: str | None = None  # API versions before 5.77
    width: int = 0
    height: int = 0


# Size letters from small to large, for sizes that come without dimensions.
SIZE_ORDER = "smopqrxklyzw"


class VkPhoto(_W):
    """A photo attachment."""

    id: int
    owner_id: int
    sizes: list[VkPhotoSize] = Field(default_factory=list)
    text: str = ""

    def largest_url(self) -> str | None:
        """URL of the largest size (by pixels, then by size letter)."""

        def key(s: VkPhotoSize) -> tuple[int, int]:
            order = SIZE_ORDER.find(s.type) if s.type in SIZE_ORDER else -1
            return (s.width * s.height, order)

        sizes = [s for s in self.sizes if s.url or s.src]
        if not sizes:
            return None
        best = max(sizes, key=key)
        return best.url or best.src


class VkLink(_W):
    """A link attachment."""

    url: str
    title: str | None = None


class VkVideo(_W):
    """A video attachment."""

    id: int
    owner_id: int
    title: str | None = None


class VkDoc(_W):
    """A document attachment."""

    id: int
    owner_id: int
    title: str | None = None
    url: str | None = None
    ext: str | None = None


class VkPoll(_W):
    """A poll attachment."""

    id: int
    owner_id: int
    question: str = ""


class VkAttachment(_W):
    """One attachment: ``type`` names which of the other fields is set."""

    type: str
    photo: VkPhoto | None = None
    link: VkLink | None = None
    video: VkVideo | None = None
    doc: VkDoc | None = None
    poll: VkPoll | None = None


class VkCoords(_W):
    """Coordinates as an object (messages)."""

    latitude: float
    longitude: float


class VkPlace(_W):
    """A named place of a geotag."""

    title: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class VkGeo(_W):
    """A geotag: ``coordinates`` is ``"lat lon"`` on posts, an object on messages."""

    type: str | None = None
    coordinates: str | VkCoords | None = None
    place: VkPlace | None = None

    def point(self) -> tuple[float, float] | None:
        """``(lat, lon)`` or None."""
        c = self.coordinates
        if isinstance(c, VkCoords):
            return (c.latitude, c.longitude)
        if isinstance(c, str):
            parts = c.replace(",", " ").split()
            if len(parts) == 2:
                return (float(parts[0]), float(parts[1]))
            raise ValueError(f"geo.coordinates {c!r} is not 'lat lon'")
        p = self.place
        if p is not None and p.latitude is not None and p.longitude is not None:
            return (p.latitude, p.longitude)
        return None

    def address(self) -> str | None:
        """The place's address or title."""
        p = self.place
        if p is None:
            return None
        parts = [x for x in (p.title, p.address) if x]
        return ", ".join(dict.fromkeys(parts)) or None


class VkCount(_W):
    """``{"count": n}`` blocks (comments, likes)."""

    count: int = 0


class VkPost(_W):
    """A wall post (wall.get, newsfeed.search, wall_post_new)."""

    id: int
    owner_id: int
    from_id: int | None = None
    date: int
    text: str = ""
    post_type: str = "post"
    attachments: list[VkAttachment] = Field(default_factory=list)
    geo: VkGeo | None = None
    signer_id: int | None = None
    copy_history: list[VkPost] = Field(default_factory=list)
    is_pinned: int = 0
    comments: VkCount | None = None
    edited: int | None = None
    marked_as_ads: int = 0


class VkThread(_W):
    """Replies under a top-level comment."""

    count: int = 0
    items: list[VkComment] = Field(default_factory=list)


class VkComment(_W):
    """A comment (wall.getComments, wall_reply_new, photo_comment_new)."""

    id: int
    from_id: int = 0
    date: int
    text: str = ""
    post_id: int | None = None
    owner_id: int | None = None
    post_owner_id: int | None = None  # older wall_reply_new events
    photo_id: int | None = None
    photo_owner_id: int | None = None
    parents_stack: list[int] = Field(default_factory=list)
    reply_to_comment: int | None = None
    reply_to_user: int | None = None
    thread: VkThread | None = None
    attachments: list[VkAttachment] = Field(default_factory=list)
    deleted: bool = False

    @property
    def parent(self) -> int | None:
        """The comment this one answers, if any."""
        if self.reply_to_comment:
            return self.reply_to_comment
        return self.parents_stack[-1] if self.parents_stack else None


class VkMessage(_W):
    """A community message (message_new)."""

    id: int = 0
    date: int
    peer_id: int
    from_id: int
    text: str = ""
    conversation_message_id: int | None = None
    attachments: list[VkAttachment] = Field(default_factory=list)
    geo: VkGeo | None = None


class VkProfile(_W):
    """A user in an ``extended=1`` answer."""

    id: int
    first_name: str = ""
    last_name: str = ""


class VkGroup(_W):
    """A community in an ``extended=1`` answer."""

    id: int
    name: str = ""


class VkItems(_W):
    """The ``response`` of wall.get, wall.getComments and newsfeed.search."""

    items: list[Any]
    count: int | None = None
    current_level_count: int | None = None
    next_from: str | None = None
    total_count: int | None = None
    profiles: list[VkProfile] = Field(default_factory=list)
    groups: list[VkGroup] = Field(default_factory=list)

    def names(self) -> dict[int, str]:
        """Display names by author id (users positive, communities negative)."""
        out = {p.id: f"{p.first_name} {p.last_name}".strip() for p in self.profiles}
        out.update({-g.id: g.name for g in self.groups})
        return {k: v for k, v in out.items() if v}


class VkEvent(_W):
    """A Callback API (or Bots Long Poll) event."""

    type: str
    object: Any = None
    group_id: int | None = None
    event_id: str | None = None
    secret: str | None = None
    v: str | None = None


@attrs.frozen
class Ref:
    """What an external id points at: a post, a comment or a conversation."""

    kind: str  # "wall" | "photo" | "msg"
    owner_id: int
    item_id: int
    comment_id: int | None = None


_REF = re.compile(r"^(wall|photo)(-?\d+)_(\d+)(?:_c(\d+))?$")
_MSG = re.compile(r"^msg(-?\d+)_(\d+)$")


def post_ref(owner_id: int, post_id: int) -> str:
    """External id of a wall post."""
    return f"wall{owner_id}_{post_id}"


def comment_ref(owner_id: int, post_id: int, comment_id: int, *, kind: str = "wall") -> str:
    """External id of a comment under a post (or a photo)."""
    return f"{kind}{owner_id}_{post_id}_c{comment_id}"


def parse_ref(external_id: str) -> Ref | None:
    """The :class:`Ref` of an external id of this adapter, or None."""
    m = _REF.match(external_id)
    if m:
        comment = int(m.group(4)) if m.group(4) else None
        return Ref(m.group(1), int(m.group(2)), int(m.group(3)), comment)
    m = _MSG.match(external_id)
    if m:
        return Ref("msg", int(m.group(1)), int(m.group(2)))
    return None
