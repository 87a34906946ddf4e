"""Russian as the users read it: plural forms and numbers in texts tsur writes."""

from __future__ import annotations

__all__ = ["decimal", "plural"]


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``n``: (1) обращение, (2) обращения, (5) обращений."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def decimal(x: float, places: int = 2) -> str:
    """A number with a decimal comma, as Russian writes it: ``0,83``."""
    return f"{x:.{places}f}".replace(".", ",")
