"""The heat map of municipalities and the map of geotagged incidents, as inline SVG.

With boundaries (:class:`~tsur.geometry.Boundaries`) every
municipality is its real shape; without them it is a square tile placed
by its centre's coordinates (a tile cartogram), so any region gets a map.
Each area carries its figures for every measure (``data-*`` attributes
and pre-computed colours) and a ``<title>`` tooltip, so a page can switch
the measure without recomputing anything; a legend per measure goes with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from tsur.analytics.charts import FONT
from tsur.analytics.fmt import esc, fmt_float, fmt_int, fmt_pct, plural
from tsur.geometry import Boundaries, Projection

__all__ = [
    "MEASURES",
    "SEQUENTIAL",
    "Measure",
    "choropleth",
    "class_bounds",
    "colour_for",
    "point_map",
]

#: Five classes, light to dark (ColorBrewer OrRd), then zero and no-data fills.
SEQUENTIAL = ("#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000")
ZERO = "#f5f2ec"
NO_DATA = "#d4d4d4"


@attrs.frozen
class Measure:
    """A figure a map can be coloured by."""

    key: str
    label: str
    format: Callable[[float | None], str]
    digits: int = 0


def _count(v: float | None) -> str:
    return fmt_int(None if v is None else int(v))


MEASURES = (
    Measure("count", "Обращений за период", _count),
    Measure("per_10k", "На 10 тыс. жителей", lambda v: fmt_float(v, 2), 2),
    Measure("overdue_share", "Доля просроченных", lambda v: fmt_pct(v), 2),
)


def class_bounds(values: Sequence[float | None], classes: int = len(SEQUENTIAL)) -> list[float]:
    """Upper bounds of up to ``classes`` colour classes for positive ``values`` (quantiles).

    Quantiles, not equal steps: one big city must not leave every other
    municipality in the lightest class.
    """
    positive = sorted(v for v in values if v is not None and v > 0)
    if not positive:
        return []
    bounds: list[float] = []
    for i in range(1, classes + 1):
        q = positive[min(len(positive) - 1, math.ceil(i * len(positive) / classes) - 1)]
        if not bounds or q > bounds[-1]:
            bounds.append(q)
    return bounds


def colour_for(value: float | None, bounds: Sequence[float]) -> str:
    """The fill for ``value``: no data, zero, or its class colour."""
    if value is None:
        return NO_DATA
    if value <= 0 or not bounds:
        return ZERO
    offset = len(SEQUENTIAL) - len(bounds)  # few classes: use the darker end
    for i, b in enumerate(bounds):
        if value <= b:
            return SEQUENTIAL[offset + i]
    return SEQUENTIAL[-1]


def _tooltip(row: Mapping[str, Any]) -> str:
    n = int(row.get("count") or 0)
    parts = [f"{row['name']}: {fmt_int(n)} {plural(n, 'обращение', 'обращения', 'обращений')}"]
    if row.get("per_10k") is not None:
        parts.append(f"{fmt_float(row['per_10k'], 2)} на 10 тыс. жителей")
    if row.get("overdue_share") is not None:
        parts.append(f"просрочено {fmt_pct(row['overdue_share'])} ({fmt_int(row.get('overdue'))})")
    if row.get("population"):
        parts.append(f"население {fmt_int(row['population'])}")
    return "; ".join(parts)


def _legend(measure: Measure, bounds: Sequence[float], x: float, y: float, show: bool) -> str:
    style = "" if show else ' style="display:none"'
    out = [f'<g class="legend" data-measure="{measure.key}"{style}>']
    out.append(f'<text x="{x}" y="{y}" font-weight="600" fill="#222">{esc(measure.label)}</text>')
    items = [(ZERO, "0")]
    low = 0.0
    offset = len(SEQUENTIAL) - len(bounds)
    for i, b in enumerate(bounds):
        if measure.key == "count":
            lo_text = fmt_int(int(low) + 1)
            text = lo_text if int(low) + 1 >= int(b) else f"{lo_text}–{fmt_int(int(b))}"
        else:
            text = f"до {measure.format(b)}"
        items.append((SEQUENTIAL[offset + i], text))
        low = b
    items.append((NO_DATA, "нет данных"))
    cx = x
    for colour, text in items:
        out.append(
            f'<rect x="{cx:.0f}" y="{y + 8}" width="16" height="12" fill="{colour}" '
            f'stroke="#999" stroke-width="0.5"/><text x="{cx + 20:.0f}" y="{y + 18}" '
            f'fill="#333">{esc(text)}</text>'
        )
        cx += 30 + 6.5 * len(text)
    out.append("</g>")
    return "".join(out)


def _tiles(
    rows: Sequence[Mapping[str, Any]], width: float, height: float
) -> dict[str, tuple[float, float, float]]:
    """Square tiles ``(x, y, size)`` per municipality, placed near their real centres."""
    placed = [r for r in rows if r.get("lat") is not None and r.get("lon") is not None]
    n = len(rows)
    cols = max(2, math.ceil(math.sqrt(n)) + 1)
    grid_rows = max(2, math.ceil(n / cols) + 1)
    size = min(width / cols, height / grid_rows, 110.0)
    free = {(c, r) for c in range(cols) for r in range(grid_rows)}
    out: dict[str, tuple[float, float, float]] = {}
    if placed:
        lons = [float(r["lon"]) for r in placed]
        lats = [float(r["lat"]) for r in placed]
        proj = Projection(
            (min(lons), min(lats), max(lons), max(lats)),
            (cols - 1) * size,
            (grid_rows - 1) * size,
            0,
        )
        order = sorted(placed, key=lambda r: -(r.get("population") or 0))
        for r in order:
            px, py = proj(float(r["lon"]), float(r["lat"]))
            cell = min(free, key=lambda c: ((c[0] * size - px) ** 2 + (c[1] * size - py) ** 2, c))
            free.discard(cell)
            out[str(r["id"])] = (cell[0] * size, cell[1] * size, size)
    for r in rows:
        if str(r["id"]) not in out:
            cell = min(free, key=lambda c: (-c[1], c[0]))
            free.discard(cell)
            out[str(r["id"])] = (cell[0] * size, cell[1] * size, size)
    # trim empty rows and columns, centre the grid horizontally
    x0 = min(x for x, _, _ in out.values())
    y0 = min(y for _, y, _ in out.values())
    used = max(x for x, _, _ in out.values()) - x0 + size
    shift = (width - used) / 2
    return {k: (x - x0 + shift, y - y0, s) for k, (x, y, s) in out.items()}


def choropleth(
    rows: Sequence[Mapping[str, Any]],
    boundaries: Boundaries | None,
    *,
    width: int = 620,
    height: int = 560,
    default: str = "count",
    measures: Sequence[Measure] = MEASURES,
    labels: int = 6,
    title: str = "Тепловая карта обращений по муниципалитетам",
) -> str:
    """The heat map: one area per municipality row (``id``, ``name`` and the measures).

    Rows without an ``id`` (incidents without a territory) are not drawn.
    The ``labels`` municipalities with the highest value of each measure
    are named on the map.
    """
    areas = [r for r in rows if r.get("id")]
    legend_h = 58
    bounds = {m.key: class_bounds([r.get(m.key) for r in areas]) for m in measures}
    out = ["", f"<title>{esc(title)}</title>"]
    label_at: dict[str, tuple[float, float]] = {}
    shapes: list[tuple[float, Mapping[str, Any], str]] = []  # (area, row, svg element head)
    if boundaries is not None:
        proj = Projection(boundaries.bbox, width, height)
        for r in areas:
            mid = str(r["id"])
            polys = boundaries.shapes.get(mid)
            if not polys:
                continue
            size = sum(abs(_area(p[0])) for p in polys)
            shapes.append((size, r, f'<path d="{proj.path(polys)}" fill-rule="evenodd"'))
            label_at[mid] = proj(*boundaries.label_point(mid))
        missing = [r for r in areas if r["id"] not in boundaries.shapes]
    else:
        missing = list(areas)
    tiles: dict[str, tuple[float, float, float]] = {}
    if missing:  # no shapes at all, or some municipalities lack one: tiles
        tiles = _tiles(missing, width, height) if boundaries is None else {}
        if tiles:  # the map is as tall as its tiles
            height = int(max(y + s for _, y, s in tiles.values())) + 8
        for r in missing:
            if str(r["id"]) not in tiles:
                continue
            x, y, s = tiles[str(r["id"])]
            shapes.append(
                (
                    s * s,
                    r,
                    f'<rect x="{x + 2:.1f}" y="{y + 2:.1f}" width="{s - 4:.1f}" '
                    f'height="{s - 4:.1f}" rx="4"',
                )
            )
            label_at[str(r["id"])] = (x + s / 2, y + s / 2)
    shapes.sort(key=lambda t: -t[0])  # big areas first: small towns stay on top
    out[0] = (  # the height is known now (tiles make it as tall as they need)
        f'<svg class="map choropleth" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height + legend_h}" width="{width}" height="{height + legend_h}" '
        f'role="img" aria-label="{esc(title)}" data-measure="{default}" {FONT} font-size="12">'
    )
    out.append('<g class="areas" stroke="#ffffff" stroke-width="0.8">')
    for _size, r, head in shapes:
        data = " ".join(
            f'data-{m.key}="{r.get(m.key) if r.get(m.key) is not None else ""}" '
            f'data-fill-{m.key}="{colour_for(r.get(m.key), bounds[m.key])}"'
            for m in measures
        )
        fill = colour_for(r.get(default), bounds[default])
        out.append(
            f'{head} class="area" data-id="{esc(r["id"])}" {data} fill="{fill}">'
            f"<title>{esc(_tooltip(r))}</title></{head.split()[0][1:]}>"
        )
    out.append("</g>")
    if tiles:  # every tile is named, its figure below the name
        out.append('<g class="tile-names" pointer-events="none" font-size="11" fill="#1a1a1a">')
        for r in areas:
            if str(r["id"]) in tiles:
                x, y, size = tiles[str(r["id"])]
                name = str(r["name"])
                fit = max(4, int((size - 10) / 6.6))
                name = name if len(name) <= fit else name[: fit - 1] + "…"
                out.append(
                    f'<text x="{x + size / 2:.1f}" y="{y + size / 2 - 4:.1f}" '
                    f'text-anchor="middle" stroke="#fff" stroke-width="3" '
                    f'paint-order="stroke">{esc(name)}</text>'
                )
        out.append("</g>")
    for m in measures:
        if tiles:
            style = "" if m.key == default else ' style="display:none"'
            out.append(f'<g class="labels" data-measure="{m.key}"{style} pointer-events="none">')
            for r in areas:
                if str(r["id"]) in tiles:
                    x, y, size = tiles[str(r["id"])]
                    out.append(
                        f'<text x="{x + size / 2:.1f}" y="{y + size / 2 + 14:.1f}" '
                        f'text-anchor="middle" font-size="14" font-weight="700" fill="#1a1a1a" '
                        f'stroke="#fff" stroke-width="3" paint-order="stroke">'
                        f"{esc(m.format(r.get(m.key)))}</text>"
                    )
            out.append("</g>")
            continue
        ranked = sorted(
            (r for r in areas if r.get(m.key) and str(r["id"]) in label_at),
            key=lambda r: -float(r[m.key]),
        )[:labels]
        style = "" if m.key == default else ' style="display:none"'
        out.append(f'<g class="labels" data-measure="{m.key}"{style} pointer-events="none">')
        taken: list[tuple[float, float, float, float]] = []
        for r in ranked:
            text = f"{r['name']} · {m.format(r[m.key])}"
            spot = _free_spot(label_at[str(r["id"])], 6.9 * len(text), 14.0, taken, width, height)
            if spot is None:
                continue
            x, y = spot
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11.5" '
                f'font-weight="600" fill="#1a1a1a" stroke="#fff" stroke-width="3" '
                f'paint-order="stroke">{esc(text)}</text>'
            )
        out.append("</g>")
    for m in measures:
        out.append(_legend(m, bounds[m.key], 10, height + 16, m.key == default))
    if boundaries is not None and boundaries.attribution:
        out.append(
            f'<text x="{width - 6}" y="{height + legend_h - 4}" text-anchor="end" font-size="10" '
            f'fill="#777">Границы: {esc(boundaries.attribution)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _free_spot(
    at: tuple[float, float],
    w: float,
    h: float,
    taken: list[tuple[float, float, float, float]],
    width: float,
    height: float,
) -> tuple[float, float] | None:
    """Where a label centred near ``at`` overlaps no earlier label (None: nowhere close)."""
    x = min(max(at[0], w / 2 + 2), width - w / 2 - 2)
    for dy in (0.0, 14.0, -14.0, 28.0, -28.0, 42.0, -42.0):
        y = at[1] + dy
        box = (x - w / 2, y - h + 3, x + w / 2, y + 3)
        if box[1] < 0 or box[3] > height:
            continue
        if all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken):
            taken.append(box)
            return (x, y)
    return None


def _area(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True)
    )


POINT_COLOURS = (
    ("overdue", "#C62828", "просрочено"),
    ("urgent", "#F2A900", "срочное"),
    ("other", "#0072B2", "в работе или решено"),
)


def point_map(
    points: Sequence[Mapping[str, Any]],
    boundaries: Boundaries | None,
    *,
    width: int = 620,
    height: int = 600,
    title: str = "Обращения с геометкой",
) -> str:
    """Geotagged incidents (``id``, ``lat``, ``lon``, ``label``, ``overdue``, ``urgency``)
    over the municipal outlines; overdue red, urgent orange, the rest blue."""
    legend_h = 40
    if boundaries is not None:
        bbox = boundaries.bbox
    elif points:
        lons = [float(p["lon"]) for p in points]
        lats = [float(p["lat"]) for p in points]
        bbox = (min(lons) - 0.05, min(lats) - 0.05, max(lons) + 0.05, max(lats) + 0.05)
    else:
        bbox = (0.0, 0.0, 1.0, 1.0)
    proj = Projection(bbox, width, height)
    out = [
        f'<svg class="map point-map" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height + legend_h}" width="{width}" height="{height + legend_h}" '
        f'role="img" aria-label="{esc(title)}" {FONT} font-size="12">',
        f"<title>{esc(title)}</title>",
    ]
    if boundaries is not None:
        out.append('<g class="outlines" fill="#eef1f4" stroke="#b9c2cc" stroke-width="0.7">')
        for mid, polys in boundaries.shapes.items():
            out.append(f'<path data-id="{esc(mid)}" d="{proj.path(polys)}" fill-rule="evenodd"/>')
        out.append("</g>")
    out.append('<g class="points" stroke="#fff" stroke-width="0.6">')
    ordered = sorted(points, key=lambda p: (bool(p.get("overdue")), p.get("urgency") == "urgent"))
    for p in ordered:
        kind = (
            "overdue" if p.get("overdue") else "urgent" if p.get("urgency") == "urgent" else "other"
        )
        colour = next(c for k, c, _ in POINT_COLOURS if k == kind)
        x, y = proj(float(p["lon"]), float(p["lat"]))
        if not (0 <= x <= width and 0 <= y <= height):
            continue
        out.append(
            f'<circle class="point {kind}" cx="{x:.1f}" cy="{y:.1f}" r="3.6" fill="{colour}" '
            f'fill-opacity="0.85"><title>№{esc(p["id"])}: {esc(p.get("label", ""))}'
            f"{', ' + esc(p['created_at'][:10]) if p.get('created_at') else ''}</title></circle>"
        )
    out.append("</g>")
    lx = 10.0
    for _k, colour, text in POINT_COLOURS:
        out.append(
            f'<circle cx="{lx + 6:.0f}" cy="{height + 20}" r="5" fill="{colour}"/>'
            f'<text x="{lx + 16:.0f}" y="{height + 24}" fill="#333">{esc(text)}</text>'
        )
        lx += 40 + 7 * len(text)
    out.append(
        f'<text x="{width - 6}" y="{height + 24}" text-anchor="end" fill="#555">'
        f"{fmt_int(len(points))} {plural(len(points), 'точка', 'точки', 'точек')}</text>"
    )
    out.append("</svg>")
    return "".join(out)
