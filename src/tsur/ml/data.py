"""Labelled CSV files: any text column, any label column (topics, groups, executors)."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import attrs

from tsur.errors import IngestError
from tsur.text.masking import mask_citizen_text

__all__ = ["LabelledData", "clean_text", "read_labelled_csv"]

_TAG = re.compile(r"<[^>]+>")


def clean_text(text: str) -> str:
    """Strip HTML tags and entities that exports from portals carry."""
    if "<" in text or "&" in text:
        text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split())


@attrs.frozen
class LabelledData:
    """Texts with their labels, and how many rows were skipped for lack of either."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.texts)


def read_labelled_csv(
    path: str | Path, *, text_column: str, label_column: str, mask: bool = True
) -> LabelledData:
    """Read ``text_column`` and ``label_column`` of a UTF-8 CSV with a header row.

    With ``mask`` (the default) each text is masked as it is read
    (:func:`~tsur.text.masking.mask_citizen_text`): a model file keeps words
    of its texts, and no citizen's name, phone or e-mail may reach one.

    Raises :class:`~tsur.errors.IngestError` naming the missing column and the
    columns the file has.
    """
    p = Path(path)
    try:
        f = p.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise IngestError(f"cannot read {p}: {exc}") from exc
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    with f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for col in (text_column, label_column):
            if col not in columns:
                raise IngestError(
                    f"{p}: no column {col!r}; columns are: {', '.join(columns) or 'none'}"
                )
        try:
            for row in reader:
                text = clean_text(row[text_column] or "")
                if mask and text:
                    text = mask_citizen_text(text)
                label = (row[label_column] or "").strip()
                if not text or not label:
                    skipped += 1
                    continue
                texts.append(text)
                labels.append(label)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise IngestError(f"{p}: not a readable UTF-8 CSV: {exc}") from exc
    if not texts:
        raise IngestError(f"{p}: no rows with both a text and a label")
    return LabelledData(tuple(texts), tuple(labels), skipped)
