"""The analytics' error (defined with the others in :mod:`tsur.errors`)."""

from tsur.errors import ReportError

__all__ = ["ReportError"]
