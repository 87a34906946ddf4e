"""Source adapters: how tsur hears citizens and answers them on the same channel."""

from tsur.adapters.files import JsonLinesAdapter, ParsedLine, read_jsonl

__all__ = ["JsonLinesAdapter", "ParsedLine", "read_jsonl"]
