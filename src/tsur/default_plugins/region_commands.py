"""``tsur region bootstrap``: a draft region file from a labelled history of appeals.

See :mod:`tsur.default_plugins.bootstrap` for what is drafted and
``docs/bootstrap.md`` for a walk-through. Needs ``pip install 'tsur[ml]'``
(the topic model is trained with scikit-learn).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from tsur.console import stage_progress
from tsur.default_plugins.bootstrap import check_out, draft_region, read_archive
from tsur.errors import ConfigError
from tsur.hookspecs import hookimpl

__all__ = ["register_commands"]

#: Stages of the drafting, as a person reads them.
_STAGES = {
    "lemmatise": "лемматизация текстов",
    "train": "обучение модели тем",
    "calibrate": "калибровка уверенности",
    "locate": "поиск территорий в текстах",
    "rules": "правила маршрутизации",
}


def cmd_bootstrap(args: argparse.Namespace, console: Console) -> int:
    """``tsur region bootstrap``."""
    out = _check_options(args)
    topics_file, executors_file = _model_files(args)
    started = time.perf_counter()
    archive = read_archive(
        args.archive,
        text_column=args.text_column,
        topic_column=args.topic_column,
        executor_column=args.executor_column,
        group_column=args.group_column,
        encoding=args.encoding,
    )
    console.print(
        f"{args.archive}: {len(archive.rows)} обращений, пропущено строк без текста "
        f"или меток: {archive.skipped}"
    )
    bar, update = stage_progress(console, _STAGES)

    with bar:
        draft = draft_region(
            archive,
            region_name=args.region_name,
            code=args.code,
            timezone=args.timezone,
            model_file=topics_file,
            min_support=args.min_support,
            min_topic_rows=args.min_topic_rows,
            executor_model_file=executors_file,
            progress=update,
        )
    config = draft.write(out, force=args.force)
    console.print(
        f"черновик региона записан в {out} (модель тем: {out.parent / draft.model_file}) "
        f"за {time.perf_counter() - started:.1f} с"
    )
    console.print(
        f"территорий {len(config.territories)}, тем {len(config.topics)} "
        f"(редких тем свёрнуто в группы: {draft.folded_topics}), исполнителей "
        f"{len(config.executors)}, правил маршрутизации {len(config.routing)}; "
        f"территория найдена в {draft.located} текстах из {draft.rows}"
    )
    console.print(f"проверьте его и запустите: tsur config --config {out}")
    return 0


def _model_files(args: argparse.Namespace) -> tuple[str, str | None]:
    """The model files drafted beside ``--out``: the topics', and the executors' if asked."""
    stem = Path(args.out).stem
    return f"{stem}.topics.npz", f"{stem}.executors.npz" if args.executor_model else None


def _check_options(args: argparse.Namespace) -> Path:
    """Refuse bad options before the archive is read (drafting takes minutes); the --out path."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    out = Path(args.out)
    names = [n for n in _model_files(args) if n is not None]
    check_out(out, names, force=args.force)  # before the archive is read
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"--timezone {args.timezone!r}: unknown time zone (use an IANA name like "
            "'Europe/Moscow' or 'Europe/Samara')"
        ) from None
    if args.min_support < 1:
        raise ConfigError("--min-support must be at least 1")
    if args.min_topic_rows < 1:
        raise ConfigError("--min-topic-rows must be at least 1")
    if not str(args.code).strip():
        raise ConfigError("--code must not be empty (the region's code, e.g. 46)")
    return out


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur region bootstrap``."""
    p = add_command(
        "region",
        help="draft a region file from a labelled history of appeals",
        description="Work on region files. 'tsur region bootstrap ARCHIVE.csv --text-column … "
        "--topic-column … --executor-column … --out region.toml' drafts a region from past "
        "appeals for a person to review.",
    )
    sub = p.add_subparsers(
        dest="region_command", required=True, metavar="ACTION", help="bootstrap: draft a region"
    )
    b = sub.add_parser(
        "bootstrap",
        help="draft a region file from a labelled CSV of past appeals",
        description="Draft a region file from a labelled history (UTF-8 CSV with a header "
        "row): territories named in the executors' titles («Администрация Курского района» "
        "→ «Курский район») and found in the texts; topics (groups as parents) with "
        "keywords — the trained model's strongest words; executors with transliterated ids "
        "and their Russian names; routing rules topic × territory → executor learned from "
        "the history, each with its support as a comment; a topic model saved beside the "
        "file and listed in [[models]]. Rows without a text, a topic or an executor are "
        "skipped and counted. The file loads as it is; review it before use. Needs pip "
        "install 'tsur[ml]'.",
    )
    b.add_argument("archive", help="labelled CSV of past appeals (header row)")
    b.add_argument("--text-column", required=True, help="column with the appeal's text")
    b.add_argument("--topic-column", required=True, help="column with its topic")
    b.add_argument("--executor-column", required=True, help="column with who answered it")
    b.add_argument(
        "--group-column", help="column with the topic's group (becomes the parent topic)"
    )
    b.add_argument(
        "--encoding", default="utf-8", help="the archive's encoding (default utf-8; cp1251…)"
    )
    b.add_argument("--out", required=True, help="region file to write (.toml)")
    b.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    b.add_argument("--region-name", help="the region's name (default: from «… области» titles)")
    b.add_argument("--code", default="00", help="the region's code (default 00: fill it in)")
    b.add_argument("--timezone", default="Europe/Moscow", help="IANA time zone of the region")
    b.add_argument(
        "--min-support",
        type=int,
        default=2,
        help="fewest appeals a routing rule rests on (default 2)",
    )
    b.add_argument(
        "--min-topic-rows",
        type=int,
        default=5,
        help="with --group-column, topics with fewer appeals are folded into their group "
        "(default 5)",
    )
    b.add_argument(
        "--executor-model",
        action="store_true",
        help="also train a text model of the executors, asked after the rules: the rules keep "
        "to territories and regional topics, the model routes the rest",
    )
    b.set_defaults(func=cmd_bootstrap)
