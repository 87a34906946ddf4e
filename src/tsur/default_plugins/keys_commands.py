"""``tsur keys add|list|revoke``: the API keys of the service (:mod:`tsur.access`).

``tsur keys add NAME --role ROLE [--scope ID] [--rate N]``
    Issue a key and print it once, alone on standard output (only its hash
    is stored; ``TOKEN=$(tsur keys add ...)`` keeps it); ``--json`` prints
    ``{"id", "token", ...}`` instead.
``tsur keys list [--json]``
    The keys: id, name, role, scope, rate, issued, revoked (never a secret).
``tsur keys revoke ID``
    Revoke a key at once; exit status 1 if there is no such active key.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from tsur.access import issue_key
from tsur.console import open_engine
from tsur.errors import InvalidRequest
from tsur.hookspecs import hookimpl
from tsur.roles import Role

__all__ = ["register_commands"]


def cmd_keys_add(args: argparse.Namespace, console: Console) -> int:
    """``tsur keys add``."""
    engine = open_engine(args)
    try:
        key, token = issue_key(
            engine.repository,
            engine.region,
            name=args.name,
            role=args.role,
            scope=args.scope,
            rate_per_minute=args.rate,
            now=engine.clock(),
        )
    finally:
        engine.close()
    if args.json:
        out = {"id": key.id, "name": key.name, "role": key.role.value, "scope": key.scope}
        print(json.dumps(out | {"token": token}, ensure_ascii=False))
        return 0
    # the token alone on standard output: TOKEN=$(tsur keys add ...) keeps it
    err = Console(stderr=True, highlight=False)
    err.print(f"Ключ {key.id} ({key.role.value}{', ' + key.scope if key.scope else ''}):")
    print(token)
    err.print("Сохраните его сейчас: показать его ещё раз нельзя.", style="bold")
    return 0


def cmd_keys_list(args: argparse.Namespace, console: Console) -> int:
    """``tsur keys list``."""
    engine = open_engine(args, create=False)
    try:
        keys = engine.repository.api_keys()
    finally:
        engine.close()
    if args.json:
        for k in keys:
            row = {
                "id": k.id,
                "name": k.name,
                "role": k.role.value,
                "scope": k.scope,
                "rate_per_minute": k.rate,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            print(json.dumps(row, ensure_ascii=False))
        return 0
    table = Table(title="Ключи API")
    table.add_column("id", no_wrap=True)
    for col in ("имя", "роль", "зона действия", "запросов/мин", "выдан", "отозван"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k.id,
            k.name,
            k.role.value,
            k.scope or "—",
            str(k.rate),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "—",
        )
    console.print(table)
    return 0


def cmd_keys_revoke(args: argparse.Namespace, console: Console) -> int:
    """``tsur keys revoke``."""
    engine = open_engine(args, create=False)
    try:
        done = engine.repository.revoke_api_key(args.id, at=engine.clock())
    finally:
        engine.close()
    if not done:
        console.print(f"Нет действующего ключа {args.id}", style="red")
        return 1
    console.print(f"Ключ {args.id} отозван")
    return 0


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur keys``."""
    p = add_command(
        "keys",
        help="issue, list and revoke the service's API keys",
        description="API keys of 'tsur serve': each has a role and, for municipal curators, "
        "executors and integrations, a scope. Only a hash of the secret is stored.",
    )
    p.add_argument("action", choices=["add", "list", "revoke"], help="what to do")
    p.add_argument("target", nargs="?", help="add: who holds it ('ivanova@teplo'); revoke: id")
    p.add_argument("--role", choices=[r.value for r in Role], help="add: the key's role")
    p.add_argument(
        "--scope",
        help="add: municipality (municipal_curator, integration) or executor (executor) id",
    )
    p.add_argument("--rate", type=int, help="add: requests a minute (default by role)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace, console: Console) -> int:
    """``tsur keys add|list|revoke``."""
    if args.action == "list":
        return cmd_keys_list(args, console)
    if not args.target:
        what = "who holds the key" if args.action == "add" else "the key's id"
        raise InvalidRequest(f"tsur keys {args.action} needs {what}")
    if args.action == "revoke":
        args.id = args.target
        return cmd_keys_revoke(args, console)
    if args.role is None:
        raise InvalidRequest("tsur keys add needs --role")
    args.name = args.target
    return cmd_keys_add(args, console)
