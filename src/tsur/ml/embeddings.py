"""Word embeddings for text models: navec vectors shipped in the ``natasha`` wheel.

A text's embedding is the mean vector of its content lemmas (stop words and
one-letter tokens left out, words unknown to navec skipped), scaled to unit
length; a text with no known word gets the zero vector. Nothing is
downloaded: the vectors (``navec_news_v1_1B_250K_300d_100q``, 250,000 words,
300 dimensions) come inside the wheel, ``pip install 'tsur[natasha]'``.
They are loaded once per process, on first use; each word's vector is
decoded once and kept (up to 100,000 words).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from tsur.errors import ModelError
from tsur.text.normalize import STOP_WORDS

__all__ = ["NAVEC", "available", "embed", "navec"]

#: The name a model records for the vectors it was trained with.
NAVEC = "navec_news_v1_1B_250K_300d_100q"
_DIM = 300
_INSTALL = "pip install 'tsur[natasha]'"


def available() -> bool:
    """True when the ``natasha`` extra is installed (checked without loading the vectors)."""
    import importlib.util

    return importlib.util.find_spec("natasha") is not None


@functools.cache
def navec() -> Any:
    """The navec vectors, loaded on first use; :class:`ModelError` naming the extra if absent."""
    try:
        from natasha import NewsEmbedding
    except ImportError:
        raise ModelError(f"this model needs navec word vectors: {_INSTALL}") from None
    return NewsEmbedding()


@functools.lru_cache(maxsize=100_000)
def _vector(word: str) -> Any:
    """A content word's vector (decoded from navec's quantised table once), else None."""
    if len(word) < 2 or word in STOP_WORDS:
        return None
    return navec().get(word)


def embed(texts_lemmas: Sequence[Iterable[str]]) -> Any:
    """One unit-length row per text: the mean navec vector of its content lemmas."""
    import numpy as np

    navec()  # the vectors, or the error naming the extra, before any cached word
    out = np.zeros((len(texts_lemmas), _DIM), dtype=np.float64)
    for i, lemmas in enumerate(texts_lemmas):
        vectors = [v for v in map(_vector, lemmas) if v is not None]
        if not vectors:
            continue
        v = np.mean(vectors, axis=0)
        norm = float(np.linalg.norm(v))
        if norm > 0:
            out[i] = v / norm
    return out
