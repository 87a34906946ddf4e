"""Russian text handling: normalisation, lemmatisation, stop words."""

from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer, normalize, tokenize

__all__ = ["Lemmatizer", "Text", "get_lemmatizer", "normalize", "tokenize"]
