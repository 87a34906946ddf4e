"""Bulk writes on PostgreSQL: many rows in one statement or one COPY.

The portable statements of :mod:`tsur.store.sql` and :mod:`tsur.store.batch`
send one execution per row (or one statement whose text grows with the
rows). On PostgreSQL these helpers write the same rows in one round trip:
``COPY … FROM STDIN`` for plain inserts, and ``unnest`` over one array per
column for updates and for inserts that skip conflicts. The SQL text does
not depend on the number of rows, so the server prepares it once.

Values are converted exactly as SQLAlchemy converts them for these columns
(:func:`column_value`): times through :class:`~tsur.store.schema.UTCDateTime`
(a naive or out-of-range time is refused before anything is sent), JSON with
:func:`json.dumps` as SQLAlchemy's JSON type serialises it (Python ``None``
becomes JSON ``null``). What is stored is identical to what the portable
statements store, id for id: new ids are taken from the table's sequence in
row order, as a multi-row insert takes them.

Errors of the driver are raised as SQLAlchemy's own wrappers
(:class:`sqlalchemy.exc.DataError` for a value the database refuses, and so
on), so callers handle them as they handle the portable statements' errors.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from tsur.store import schema

__all__ = [
    "column_value",
    "copy_rows",
    "driver_errors",
    "existing_keys",
    "insert_skipping_conflicts",
    "next_ids",
    "pg_array_type",
    "update_rows",
]


def column_value(column: sa.Column[Any], value: Any, dialect: sa.Dialect) -> Any:
    """``value`` as SQLAlchemy sends it for ``column`` (JSON as text)."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return json.dumps(value)
    if isinstance(kind, schema.UTCDateTime):
        return kind.process_bind_param(value, dialect)
    return value


def pg_array_type(column: sa.Column[Any], dialect: sa.Dialect) -> str:
    """The PostgreSQL array type that carries ``column``'s values.

    Strings travel as ``text`` (a cast to ``varchar(n)`` would cut a long value
    where storing it must fail), JSON as its text.
    """
    if isinstance(column.type, sa.JSON | sa.String):
        return "text[]"
    return f"{column.type.compile(dialect=dialect)}[]"


@contextlib.contextmanager
def driver_errors(statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy wraps them for its own statements."""
    import psycopg  # only PostgreSQL connections come here

    try:
        yield
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error, ismulti=True) from exc


def _driver(conn: sa.Connection) -> Any:
    """The psycopg connection under ``conn`` (inside ``conn``'s transaction)."""
    return conn.connection.driver_connection


def _quoted(conn: sa.Connection, table: sa.Table, columns: Sequence[str]) -> tuple[str, str]:
    prep = conn.dialect.identifier_preparer
    return prep.format_table(table), ", ".join(prep.quote(c) for c in columns)


def next_ids(conn: sa.Connection, table: sa.Table, n: int) -> list[int]:
    """``n`` new ids from the sequence of ``table.id``, ascending.

    Taken in one statement, in the order a multi-row insert would take them
    for its rows; ids another transaction takes meanwhile are not among
    them, and ids taken and not used stay unused, as with any insert that
    fails.
    """
    if n <= 0:
        return []
    sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
    with driver_errors(sql), _driver(conn).cursor() as cur:
        cur.execute(sql, (table.name, n), prepare=True)
        return sorted(int(r[0]) for r in cur.fetchall())


def existing_keys(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], keys: Sequence[Sequence[Any]]
) -> set[tuple[Any, ...]]:
    """Which of ``keys`` (values of ``columns``, a unique key of ``table``) are stored."""
    if not keys:
        return set()
    rows = [dict(zip(columns, key, strict=True)) for key in keys]
    source, arrays = _arrays(conn, table, columns, rows)
    prep = conn.dialect.identifier_preparer
    picked = ", ".join(f"t.{prep.quote(c)}" for c in columns)
    match = " AND ".join(f"t.{prep.quote(c)} = v.{prep.quote(c)}" for c in columns)
    sql = f"SELECT {picked} FROM {prep.format_table(table)} AS t JOIN {source} ON {match}"
    with driver_errors(sql), _driver(conn).cursor() as cur:
        cur.execute(sql, arrays, prepare=True)
        return {tuple(r) for r in cur.fetchall()}


def copy_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (their ``columns``) into ``table`` with one ``COPY``, in order.

    Every value is converted before the copy starts, so a value that cannot
    be stored fails before anything is sent. Columns left out take their
    defaults (a serial id in row order).
    """
    if not rows:
        return
    dialect = conn.dialect
    cols = [table.c[name] for name in columns]
    values = [[column_value(c, row[c.name], dialect) for c in cols] for row in rows]
    name, col_list = _quoted(conn, table, columns)
    sql = f"COPY {name} ({col_list}) FROM STDIN"
    with driver_errors(sql), _driver(conn).cursor() as cur, cur.copy(sql) as copy:
        for row in values:
            copy.write_row(row)


def _arrays(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[list[Any]]]:
    """``unnest(…) AS v(columns)`` over one typed array per column, and the arrays."""
    dialect = conn.dialect
    cols = [table.c[name] for name in columns]
    arrays = [[column_value(c, row[c.name], dialect) for row in rows] for c in cols]
    prep = dialect.identifier_preparer
    args = ", ".join(f"%s::{pg_array_type(c, dialect)}" for c in cols)
    names = ", ".join(prep.quote(c.name) for c in cols)
    return f"unnest({args}) AS v({names})", arrays


def _cast(column: sa.Column[Any], expr: str) -> str:
    return f"({expr})::json" if isinstance(column.type, sa.JSON) else expr


def insert_skipping_conflicts(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
) -> None:
    """Insert ``rows`` in order in one statement; a row whose ``conflict`` key is already
    stored (or came earlier in ``rows``) is skipped (``ON CONFLICT DO NOTHING``)."""
    if not rows:
        return
    source, arrays = _arrays(conn, table, columns, rows)
    prep = conn.dialect.identifier_preparer
    name, col_list = _quoted(conn, table, columns)
    picked = ", ".join(_cast(table.c[c], f"v.{prep.quote(c)}") for c in columns)
    keys = ", ".join(prep.quote(c) for c in conflict)
    sql = (
        f"INSERT INTO {name} ({col_list}) SELECT {picked} FROM {source} "
        f"ON CONFLICT ({keys}) DO NOTHING"
    )
    with driver_errors(sql), _driver(conn).cursor() as cur:
        cur.execute(sql, arrays, prepare=True)


def update_rows(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    increment: str | None = None,
) -> int:
    """Set ``columns`` of each row of ``table`` whose ``key`` is given, in one statement.

    Each of ``rows`` holds the key and the new values; ``increment`` names a
    counter column raised by one on every row updated. The keys must be
    distinct (a row is updated once per statement). Returns the rows updated.
    """
    if not rows:
        return 0
    keys = [row[key] for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"update_rows: repeated {key} values")
    source, arrays = _arrays(conn, table, [key, *columns], rows)
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(table)
    sets = [f"{prep.quote(c)} = {_cast(table.c[c], f'v.{prep.quote(c)}')}" for c in columns]
    if increment is not None:
        sets.append(f"{prep.quote(increment)} = t.{prep.quote(increment)} + 1")
    k = prep.quote(key)
    sql = f"UPDATE {name} AS t SET {', '.join(sets)} FROM {source} WHERE t.{k} = v.{k}"
    with driver_errors(sql), _driver(conn).cursor() as cur:
        cur.execute(sql, arrays, prepare=True)
        return int(cur.rowcount)
