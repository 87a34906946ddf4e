"""Storage: one repository interface, SQLite and PostgreSQL behind it."""

from tsur.store.base import ClaimedMessage, IngestResult, Repository, StoredMessage
from tsur.store.sql import SqlRepository, open_repository

__all__ = [
    "ClaimedMessage",
    "IngestResult",
    "Repository",
    "SqlRepository",
    "StoredMessage",
    "open_repository",
]
