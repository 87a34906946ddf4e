"""Inline SVG charts: lines over time, horizontal bars, a share strip, sparklines.

Plain strings of SVG with ``<title>`` tooltips, no script and no network:
they display the same in a browser, a mail client and a printed page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from tsur.analytics.fmt import esc, fmt_float, fmt_int

__all__ = [
    "PALETTE",
    "Bar",
    "Series",
    "bar_chart",
    "line_chart",
    "nice_ticks",
    "share_strip",
    "sparkline",
]

#: Categorical colours (Okabe–Ito, readable with colour blindness), then greys.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
)
FONT = "font-family=\"'Segoe UI','PT Sans','DejaVu Sans',Arial,sans-serif\""


@attrs.frozen
class Series:
    """One line of a line chart."""

    name: str
    values: Sequence[float]
    color: str
    width: float = 2.0


@attrs.frozen
class Bar:
    """One bar of a bar chart; ``note`` is printed after the value (e.g. a change)."""

    label: str
    value: float
    note: str = ""
    color: str = "#0072B2"
    tooltip: str = ""
    note_color: str = "#555"


def nice_ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``top``: 0, 5, 10 … or 0, 0.2, 0.4 …
    (``integer``: whole steps only, for counts)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _tick_text(v: float) -> str:
    return fmt_int(int(v)) if float(v).is_integer() else fmt_float(v, 1)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 900,
    height: int = 300,
    title: str = "",
    y_label: str = "",
    label_every: int | None = None,
) -> str:
    """Lines over shared x labels (dates), with a legend above and a y grid."""
    left, right, top, bottom = 48, 16, 40, 34
    w, h = width - left - right, height - top - bottom
    n = len(x_labels)
    top_value = max((v for s in series for v in s.values), default=0)
    whole = all(float(v).is_integer() for s in series for v in s.values)
    ticks = nice_ticks(top_value, integer=whole)
    y_max = ticks[-1] or 1

    def x(i: int) -> float:
        return left + (w * i / (n - 1) if n > 1 else w / 2)

    def y(v: float) -> float:
        return top + h - h * v / y_max

    out = [
        f'<svg class="chart line-chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" {FONT} font-size="12">'
    ]
    if title:
        out.append(f"<title>{esc(title)}</title>")
    for t in ticks:
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="#e3e3e3"/><text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" '
            f'fill="#666">{_tick_text(t)}</text>'
        )
    if y_label:
        out.append(f'<text x="{left}" y="{top - 24}" fill="#666">{esc(y_label)}</text>')
    every = label_every or max(1, math.ceil(n / 14))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{top + h + 20}" text-anchor="middle" '
                f'fill="#666">{esc(label)}</text>'
            )
    lx = float(left + 150 if y_label else left)
    for s in series:
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        out.append(
            f'<polyline class="series" data-series="{esc(s.name)}" points="{pts}" fill="none" '
            f'stroke="{s.color}" stroke-width="{s.width}" stroke-linejoin="round"/>'
        )
        for i, v in enumerate(s.values):
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{s.width + 1.2:.1f}" '
                f'fill="{s.color}"><title>{esc(s.name)}, {esc(x_labels[i])}: '
                f"{_tick_text(v)}</title></circle>"
            )
        out.append(
            f'<rect x="{lx:.0f}" y="{top - 31}" width="14" height="4" fill="{s.color}"/>'
            f'<text x="{lx + 18:.0f}" y="{top - 25}" fill="#333">{esc(s.name)}</text>'
        )
        lx += 30 + 7.6 * len(s.name)
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    bars: Sequence[Bar],
    *,
    width: int = 560,
    label_width: int = 250,
    bar_height: int = 22,
    gap: int = 6,
    title: str = "",
) -> str:
    """Horizontal bars with the label on the left and value (and note) on the right."""
    top_value = max((b.value for b in bars), default=0) or 1
    note_space = 120
    w = width - label_width - note_space
    height = len(bars) * (bar_height + gap) + gap
    out = [
        f'<svg class="chart bar-chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" {FONT} font-size="12.5">'
    ]
    if title:
        out.append(f"<title>{esc(title)}</title>")
    for i, b in enumerate(bars):
        y = gap + i * (bar_height + gap)
        bw = max(1.5, w * b.value / top_value) if b.value else 0
        label = b.label if len(b.label) <= 40 else b.label[:39] + "…"
        tip = esc(b.tooltip or f"{b.label}: {_tick_text(b.value)}")
        out.append(
            f'<g class="bar"><title>{tip}</title>'
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'fill="#222">{esc(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{bw:.1f}" height="{bar_height}" rx="2" '
            f'fill="{b.color}"/>'
            f'<text x="{label_width + bw + 6:.1f}" y="{y + bar_height * 0.7:.1f}" fill="#222" '
            f'font-weight="600">{_tick_text(b.value)}'
            + (
                f'<tspan fill="{b.note_color}" font-weight="400" dx="6">{esc(b.note)}</tspan>'
                if b.note
                else ""
            )
            + "</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def share_strip(
    parts: Sequence[tuple[str, float, str]], *, width: int = 560, height: int = 26
) -> str:
    """One 100 % strip split into parts ``(label, share 0–1, colour)``, legend below."""
    legend: list[tuple[float, float, str, str]] = []
    lx, ly = 0.0, height + 18.0
    for label, _share, color in parts:
        need = 26 + 7.6 * len(label)
        if lx and lx + need > width:
            lx, ly = 0.0, ly + 18
        legend.append((lx, ly, label, color))
        lx += need
    total_h = int(ly) + 8
    out = [
        f'<svg class="chart share-strip" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {total_h}" width="{width}" height="{total_h}" '
        f'role="img" {FONT} font-size="12">'
    ]
    x = 0.0
    for label, share, color in parts:
        w = width * share
        out.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{color}">'
            f"<title>{esc(label)}: {fmt_float(share * 100, 1)} %</title></rect>"
        )
        if w > 34:
            out.append(
                f'<text x="{x + w / 2:.1f}" y="{height * 0.68:.1f}" text-anchor="middle" '
                f'fill="#fff" font-weight="600">{fmt_float(share * 100, 0)}%</text>'
            )
        x += w
    for lx, ly, label, color in legend:
        out.append(
            f'<rect x="{lx:.1f}" y="{ly - 10}" width="11" height="11" fill="{color}"/>'
            f'<text x="{lx + 15:.1f}" y="{ly}" fill="#333">{esc(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def sparkline(values: Sequence[float], *, width: int = 72, height: int = 20) -> str:
    """A tiny line of recent values (for table cells); the last point is marked."""
    if not values:
        return ""
    top = max(values) or 1
    n = len(values)
    pts = [
        (2 + (width - 4) * i / max(n - 1, 1), height - 2 - (height - 4) * v / top)
        for i, v in enumerate(values)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    lx, ly = pts[-1]
    return (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{' · '.join(_tick_text(v) for v in values)}</title>"
        f'<polyline points="{line}" fill="none" stroke="#0072B2" stroke-width="1.5"/>'
        f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="2.2" fill="#D55E00"/></svg>'
    )
