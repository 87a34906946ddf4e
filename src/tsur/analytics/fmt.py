"""Numbers, shares, durations and plurals the Russian way, for reports."""

from __future__ import annotations

from html import escape

from tsur.text.russian import plural

__all__ = ["esc", "fmt_duration", "fmt_float", "fmt_int", "fmt_pct", "fmt_signed", "plural"]

_NBSP = "\u202f"  # narrow no-break space: the thousands separator


def esc(value: object) -> str:
    """HTML/XML-escape any value's text."""
    return escape(str(value), quote=True)


def fmt_int(value: int | None) -> str:
    """``12345`` → «12 345»; None → «—»."""
    if value is None:
        return "—"
    return f"{value:,}".replace(",", _NBSP)


def fmt_float(value: float | None, digits: int = 1) -> str:
    """``1.25`` → «1,3» (comma decimal separator); None → «—»."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}".replace(",", _NBSP).replace(".", ",")
    return text


def fmt_pct(share: float | None, digits: int = 0) -> str:
    """A share ``0.125`` → «13 %»; None → «—»."""
    if share is None:
        return "—"
    return f"{fmt_float(share * 100, digits)}{_NBSP}%"


def fmt_signed(value: int | float | None, digits: int = 0, suffix: str = "") -> str:
    """«+12», «−3», «0» (a real minus sign)."""
    if value is None:
        return "—"
    text = fmt_float(abs(value), digits) if digits else fmt_int(abs(int(value)))
    sign = "+" if value > 0 else "−" if value < 0 else ""
    return f"{sign}{text}{suffix}"


def fmt_duration(seconds: float | None) -> str:
    """``9900`` → «2 ч 45 мин»; days for long spans («3 дн 4 ч»)."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} дн {hours} ч" if hours else f"{days} дн"
    if hours:
        return f"{hours} ч {mins} мин" if mins else f"{hours} ч"
    return f"{mins} мин"
