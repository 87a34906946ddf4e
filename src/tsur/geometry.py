"""Municipal boundaries: loading, simplifying, projecting to SVG.

A region's boundaries are a GeoJSON FeatureCollection whose features carry
the municipality id of the region configuration in ``properties.id`` and a
Polygon or MultiPolygon. The package ships simplified boundaries of the
bundled region in ``tsur/data/geo/``; :func:`bundled_geometry` finds the
file whose ids match a region's municipalities, so no region is named in code.

:func:`simplify` is Douglas–Peucker made topology-aware: rings are cut into
arcs at the points where neighbours meet, every shared arc is simplified
once, and both neighbours get the same points — no slivers, no gaps.
Run as a module to rebuild a boundary file (see ``tsur/data/geo/README.md``)::

    python -m tsur.geometry SOURCE.geojson OUT.geojson --config region.toml
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from tsur.config import RegionConfig, load_region
from tsur.errors import ReportError
from tsur.region import Region

__all__ = [
    "Boundaries",
    "Projection",
    "bundled_geometry",
    "douglas_peucker",
    "load_boundaries",
    "simplify",
]

Point = tuple[float, float]
Ring = list[Point]
Polygon = list[Ring]  # outer ring first, then holes


def douglas_peucker(points: Sequence[Point], tolerance: float) -> list[Point]:
    """Keep the points of a line that matter at ``tolerance`` (same units as the points).

    The first and last points always stay; a closed line (first == last)
    is measured from that point.
    """
    n = len(points)
    if n < 3:
        return list(points)
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    tol2 = tolerance * tolerance
    while stack:
        first, last = stack.pop()
        ax, ay = points[first]
        bx, by = points[last]
        dx, dy = bx - ax, by - ay
        norm = dx * dx + dy * dy
        best, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if norm == 0:
                d = (px - ax) ** 2 + (py - ay) ** 2
            else:
                t = ((px - ax) * dx + (py - ay) * dy) / norm
                t = 0.0 if t < 0 else 1.0 if t > 1 else t
                d = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2
            if d > best:
                best, index = d, i
        if index >= 0 and best > tol2:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep, strict=True) if k]


def _polygons(geometry: Mapping[str, Any]) -> list[Polygon]:
    kind = geometry.get("type")
    coords: Any = geometry.get("coordinates") or []
    if kind == "Polygon":
        raw: list[Any] = [coords]
    elif kind == "MultiPolygon":
        raw = list(coords)
    else:
        raise ValueError(f"geometry type {kind!r} is not Polygon or MultiPolygon")
    return [[[(float(x), float(y)) for x, y, *_ in ring] for ring in poly] for poly in raw]


def simplify(
    features: Sequence[Mapping[str, Any]], tolerance: float, *, min_ring: int = 4
) -> list[dict[str, Any]]:
    """Simplify Polygon/MultiPolygon features together, keeping shared borders shared.

    ``tolerance`` is in degrees of latitude; longitudes are scaled by the
    cosine of the mean latitude first, so the tolerance is the same distance
    in every direction. Rings that shrink below ``min_ring`` points
    (closing point included) are dropped, on both sides of a shared border alike.
    """
    shapes = [_polygons(f["geometry"]) for f in features]
    lats = [y for polys in shapes for poly in polys for ring in poly for _, y in ring]
    if not lats:
        return [dict(f) for f in features]
    scale = math.cos(math.radians(sum(lats) / len(lats)))
    owners: dict[Point, set[int]] = {}
    for fi, polys in enumerate(shapes):
        for poly in polys:
            for ring in poly:
                for p in ring:
                    owners.setdefault(p, set()).add(fi)
    cache: dict[tuple[Point, ...], list[Point]] = {}

    def arc(points: list[Point]) -> list[Point]:
        key = tuple(points)
        if key in cache:
            return cache[key]
        back = key[::-1]
        if back in cache:
            return cache[back][::-1]
        projected = [(x * scale, y) for x, y in points]
        kept = set(douglas_peucker(projected, tolerance))
        result = [p for p, q in zip(points, projected, strict=True) if q in kept]
        cache[key] = result
        return result

    def ring_simplified(ring: Ring) -> Ring:
        pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
        n = len(pts)
        if n < 3:
            return []
        fixed = [
            i
            for i in range(n)
            if owners[pts[i]] != owners[pts[i - 1]] or owners[pts[i]] != owners[pts[(i + 1) % n]]
        ]
        if not fixed:  # a ring shared whole (an enclave) or not shared at all
            start = min(range(n), key=lambda i: pts[i])
            rotated = pts[start:] + pts[:start]
            if rotated[1] > rotated[-1]:
                rotated = [rotated[0], *rotated[:0:-1]]
            out = arc([*rotated, rotated[0]])
        else:
            start = fixed[0]
            rotated = pts[start:] + pts[:start]
            cuts = [(i - start) % n for i in fixed] + [n]
            loop = [*rotated, rotated[0]]
            out = [loop[0]]
            for a, b in itertools.pairwise(cuts):
                out.extend(arc(loop[a : b + 1])[1:])
        return out if len(out) >= min_ring else []

    result = []
    for feature, polys in zip(features, shapes, strict=True):
        new_polys = []
        for poly in polys:
            outer = ring_simplified(poly[0])
            if not outer:
                continue
            holes = [r for r in (ring_simplified(h) for h in poly[1:]) if r]
            new_polys.append([outer, *holes])
        if not new_polys:  # never lose a municipality: keep its largest ring as it was
            largest = max((poly[0] for poly in polys), key=len)
            new_polys = [[largest]]
        coords = [[[[round(x, 5), round(y, 5)] for x, y in ring] for ring in p] for p in new_polys]
        geometry = (
            {"type": "Polygon", "coordinates": coords[0]}
            if len(coords) == 1
            else {"type": "MultiPolygon", "coordinates": coords}
        )
        result.append(
            {"type": "Feature", "properties": dict(feature["properties"]), "geometry": geometry}
        )
    return result


def _ring_area(ring: Ring) -> float:
    return 0.5 * sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True)
    )


def _inside(p: Point, poly: Polygon) -> bool:
    x, y = p
    inside = False
    for ring in poly:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
    return inside


@attrs.frozen
class Boundaries:
    """Municipal polygons by municipality id, with where the data came from."""

    shapes: Mapping[str, list[Polygon]]
    source: str
    attribution: str

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(min lon, min lat, max lon, max lat)`` of everything."""
        xs = [x for polys in self.shapes.values() for p in polys for r in p for x, _ in r]
        ys = [y for polys in self.shapes.values() for p in polys for r in p for _, y in r]
        return (min(xs), min(ys), max(xs), max(ys))

    def containing(self, lon: float, lat: float) -> str | None:
        """The municipality whose boundary contains the point, if any."""
        for mid, polys in self.shapes.items():
            if any(_inside((lon, lat), poly) for poly in polys):
                return mid
        return None

    def label_point(self, mid: str) -> Point:
        """A point inside the municipality's largest polygon, near its middle."""
        poly = max(self.shapes[mid], key=lambda p: abs(_ring_area(p[0])))
        outer = poly[0]
        area = _ring_area(outer)
        if area:
            cx = sum(
                (x1 + x2) * (x1 * y2 - x2 * y1)
                for (x1, y1), (x2, y2) in zip(outer, outer[1:] + outer[:1], strict=True)
            ) / (6 * area)
            cy = sum(
                (y1 + y2) * (x1 * y2 - x2 * y1)
                for (x1, y1), (x2, y2) in zip(outer, outer[1:] + outer[:1], strict=True)
            ) / (6 * area)
            if _inside((cx, cy), poly):
                return (cx, cy)
        xs = [x for x, _ in outer]
        ys = [y for _, y in outer]
        grid = [
            (min(xs) + (max(xs) - min(xs)) * i / 12, min(ys) + (max(ys) - min(ys)) * j / 12)
            for i in range(1, 12)
            for j in range(1, 12)
        ]
        inside = [p for p in grid if _inside(p, poly)]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        if not inside:
            return (mx, my)
        return min(inside, key=lambda p: (p[0] - mx) ** 2 + (p[1] - my) ** 2)


def load_boundaries(path: str | Path, *, municipalities: Iterable[str] = ()) -> Boundaries:
    """Read a boundary file; each feature needs ``properties.id`` and a (Multi)Polygon.

    Ids not among ``municipalities`` (when given) are an error, so a file of
    another region is not drawn by mistake.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read boundary file {p}: {exc}", option="geometry") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ReportError(f"{p}: not a GeoJSON FeatureCollection", option="geometry")
    known = set(municipalities)
    shapes: dict[str, list[Polygon]] = {}
    for i, f in enumerate(data.get("features") or []):
        props = (f or {}).get("properties") or {}
        mid = props.get("id")
        if not isinstance(mid, str):
            raise ReportError(f"{p}: features[{i}] has no string properties.id", option="geometry")
        if known and mid not in known:
            raise ReportError(
                f"{p}: features[{i}] id {mid!r} is not a municipality of the region",
                option="geometry",
            )
        try:
            shapes[mid] = _polygons(f.get("geometry") or {})
        except (TypeError, ValueError) as exc:
            raise ReportError(f"{p}: features[{i}] ({mid}): {exc}", option="geometry") from exc
    if not shapes:
        raise ReportError(f"{p}: no features", option="geometry")
    meta = data.get("tsur") or {}
    return Boundaries(shapes, str(meta.get("source", p.name)), str(meta.get("attribution", "")))


@lru_cache(maxsize=8)
def _bundled_ids() -> tuple[tuple[str, frozenset[str]], ...]:
    out = []
    folder = resources.files("tsur") / "data" / "geo"
    for entry in folder.iterdir():
        if entry.name.endswith(".geojson"):
            data = json.loads(entry.read_text("utf-8"))
            ids = frozenset(f["properties"]["id"] for f in data["features"])
            out.append((str(entry), ids))
    return tuple(sorted(out))


def bundled_geometry(region: Region) -> Path | None:
    """The shipped boundary file covering this region's municipalities, if there is one."""
    wanted = {t.id for t in region.municipalities}
    best: tuple[int, str] | None = None
    for path, ids in _bundled_ids():
        if not ids <= wanted:
            continue
        covered = len(ids & wanted)
        if covered * 2 >= len(wanted) and (best is None or covered > best[0]):
            best = (covered, path)
    return Path(best[1]) if best else None


class Projection:
    """Longitude/latitude to SVG pixels: equirectangular, scaled by cos(latitude).

    Over a region a few hundred kilometres across this keeps shapes true
    to within a few per cent; ``fit`` centres the box in ``width × height``.
    """

    def __init__(
        self, bbox: tuple[float, float, float, float], width: float, height: float, pad: float = 8
    ) -> None:
        x0, y0, x1, y1 = bbox
        self.k = math.cos(math.radians((y0 + y1) / 2))
        span_x = max((x1 - x0) * self.k, 1e-9)
        span_y = max(y1 - y0, 1e-9)
        self.scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
        self.ox = pad + ((width - 2 * pad) - span_x * self.scale) / 2 - x0 * self.k * self.scale
        self.oy = pad + ((height - 2 * pad) - span_y * self.scale) / 2 + y1 * self.scale
        self.width, self.height = width, height

    def __call__(self, lon: float, lat: float) -> Point:
        return (self.ox + lon * self.k * self.scale, self.oy - lat * self.scale)

    def path(self, polygons: Iterable[Polygon]) -> str:
        """SVG path data for polygons (holes included; draw with ``fill-rule: evenodd``)."""
        parts = []
        for poly in polygons:
            for ring in poly:
                pts = [self(x, y) for x, y in ring]
                body = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                parts.append(f"M{body}Z")
        return "".join(parts)


def _name_key(name: str) -> str:
    key = name.lower().replace("ё", "е").replace("городской округ", "").replace("г.о.", "")
    return " ".join(key.replace("-", " ").split())


def build_file(
    source: Path, region: Region, tolerance: float, *, name_key: str = "district"
) -> dict[str, Any]:
    """Match a source file's features to the region's municipalities and simplify them."""
    data = json.loads(source.read_text("utf-8"))
    by_name: dict[str, str] = {}
    for t in region.municipalities:
        for name in (t.name, *t.variants):
            by_name[_name_key(name)] = t.id
    features = []
    missing = []
    for f in data["features"]:
        name = str(f["properties"].get(name_key, ""))
        mid = by_name.get(_name_key(name))
        if mid is None:
            missing.append(name)
            continue
        features.append({"properties": {"id": mid, "name": name}, "geometry": f["geometry"]})
    if missing:
        raise ReportError(f"no municipality matches {missing}", option="source")
    return {"type": "FeatureCollection", "features": simplify(features, tolerance)}


def main(
    argv: Sequence[str] | None = None, *, load: Callable[..., RegionConfig] | None = None
) -> int:
    """Command line: simplify a source boundary file for a region."""
    parser = argparse.ArgumentParser(prog="python -m tsur.geometry", description=__doc__)
    parser.add_argument("source", type=Path, help="GeoJSON with one feature per municipality")
    parser.add_argument("out", type=Path, help="where to write the simplified file")
    parser.add_argument("--config", help="region file (default: the bundled region)")
    parser.add_argument("--tolerance", type=float, default=0.004, help="degrees of latitude")
    parser.add_argument("--name-key", default="district", help="property holding the name")
    parser.add_argument("--source-note", default="", help="text for the file's tsur.source")
    parser.add_argument("--attribution", default="", help="text for the file's tsur.attribution")
    args = parser.parse_args(argv)
    region = Region.from_config((load or load_region)(args.config))
    out = build_file(args.source, region, args.tolerance, name_key=args.name_key)
    out["tsur"] = {"source": args.source_note, "attribution": args.attribution}
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text.replace('{"type":"Feature"', '\n{"type":"Feature"') + "\n", "utf-8")
    points = sum(len(r) for f in out["features"] for p in _polygons(f["geometry"]) for r in p)
    print(f"{len(out['features'])} municipalities, {points} points, {len(text) // 1024} KiB")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
