"""``tsur serve``: the WSGI application (:class:`tsur.http.App`) on the standard server."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from wsgiref.simple_server import make_server

from rich.console import Console

from tsur.console import open_engine
from tsur.hookspecs import hookimpl
from tsur.http import App
from tsur.security import env_secret

__all__ = ["register_commands"]


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    """``tsur serve``."""
    token = env_secret(args.token_env, "--token-env")
    engine = open_engine(args)
    app = App(engine, process=args.process, token=token)
    for line in app.warnings:
        console.print(f"[bold red]ВНИМАНИЕ[/bold red] {line}", highlight=False)
    with make_server(args.host, args.port, app) as server:
        console.print(
            f"tsur: {engine.config.region.name} на http://{args.host}:{args.port}"
            " — POST /webhooks/<source>, GET /incidents, /health"
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    engine.close()
    return 0


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur serve``."""
    p = add_command(
        "serve",
        help="serve webhooks and incidents over HTTP",
        description="Run the WSGI application (tsur.http.App) on the standard library's "
        "server: POST /webhooks/<source> for pushed payloads, GET /incidents[/ID] and "
        "/health. For production put tsur.http.App under a WSGI server of your choice.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--process", action="store_true", help="process what a webhook brought before answering"
    )
    p.add_argument(
        "--token-env",
        metavar="NAME",
        help="environment variable holding the Bearer token the reading routes need",
    )
    p.set_defaults(func=cmd_serve)
