"""The HTML report of the demo data in a real browser.

Headless Chromium (Debian's ``chromium`` package) loads the file, runs its
script and dumps the DOM: the maps and charts must be on screen with a real
size, and the measure switch must recolour the map. A screenshot is taken
and checked; ``TSUR_UPDATE_SCREENSHOT=1`` also copies it to
docs/report-screenshot.png.

Without /usr/bin/chromium the browser tests are skipped with the reason,
except under ``CI=true``, where the browser is installed or the run fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import tsur.default_plugins.renderers as renderers
from tsur import Engine
from tsur.analytics import demo_report
from tsur.cli import main
from tsur.default_plugins.commands import DEMO_NOW

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"]


def require_chromium() -> str:
    """The browser's path; skip without it (install it, or fail, under CI)."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.environ.get("CI") == "true":
        if os.geteuid() != 0:
            pytest.fail("CI must run the browser test: install chromium (apt-get, as root)")
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        done = subprocess.run(INSTALL, capture_output=True, text=True)
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"CI must run the browser test; installing chromium failed: {done.stderr}")
        return str(CHROMIUM)
    pytest.skip(
        "headless Chromium is not installed (/usr/bin/chromium); "
        "install it with: apt-get install -y chromium"
    )


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``tsur demo`` on SQLite, then its report written by :func:`demo_report`."""
    folder = tmp_path_factory.mktemp("demo")
    db = str(folder / "demo.db")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--db", db]) == 0
    engine = Engine.from_config(
        None, db=db, entry_points=False, clock=lambda: DEMO_NOW, plugins=[renderers]
    )
    with engine:
        path = demo_report(engine, folder / "report.html")
    yield path


def test_demo_report_is_one_self_contained_file(demo_html: Path) -> None:
    html = demo_html.read_text("utf-8")
    assert "Самарская область — обращения граждан, ноябрь 2026" in html
    assert len(re.findall(r'class="area" data-id="', html)) == 37
    # nothing is fetched when the page is viewed: no links, sources, imports or fonts
    assert not re.search(r"<link|<img|<iframe|\ssrc=|\shref=|url\(|@import", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert 100_000 < len(html.encode("utf-8")) < 600_000


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        require_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_maps_and_charts_render_in_a_browser(demo_html: Path, tmp_path: Path) -> None:
    # opened with per-capita rates selected: the measure buttons' script must recolour the map
    dom = chromium(
        "--window-size=1400,2000",
        "--dump-dom",
        demo_html.as_uri() + "#measure=per_10k",
        profile=tmp_path / "profile",
    ).stdout
    root = re.search(r"<html[^>]*>", dom)
    assert root is not None
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', root.group(0)))
    assert attrs["data-ready"] == "yes", "the page's script did not finish"
    assert attrs["data-map-areas"] == "37"
    graphic = r'<svg class="((?:map|chart) [\w-]+)"[^>]*data-rendered="(\d+)x(\d+)"'
    sizes = re.findall(graphic, dom)
    kinds = {kind for kind, _, _ in sizes}
    assert {"map choropleth", "map point-map", "chart line-chart", "chart bar-chart"} <= kinds
    assert "chart share-strip" in kinds
    for kind, w, h in sizes:
        assert int(w) > 200 and int(h) > 40, f"{kind} is not visible: {w}x{h}"
    assert int(attrs["data-visible-graphics"]) == len(sizes)

    svg = re.search(r'<svg class="map choropleth"[^>]*data-measure="(\w+)"', dom)
    assert svg is not None and svg.group(1) == "per_10k"
    areas = [
        dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        for tag in re.findall(r'<path [^>]*class="area"[^>]*>', dom)
    ]
    assert len(areas) == 37
    assert all(a["fill"] == a["data-fill-per_10k"] for a in areas)
    assert any(a["data-fill-per_10k"] != a["data-fill-count"] for a in areas)
    legends = dict(re.findall(r'<g class="legend" data-measure="(\w+)"([^>]*)>', dom))
    assert "none" not in legends["per_10k"] and "display: none" in legends["count"]


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values of the image data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_screenshot(demo_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(
        f"--screenshot={shot}", "--window-size=1400,2000", demo_html.as_uri(), profile=tmp_path
    )
    width, height, distinct = png_facts(shot.read_bytes())
    assert (width, height) == (1400, 2000)
    assert distinct > 200, "the screenshot looks blank"
    if os.environ.get("TSUR_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "report-screenshot.png")
