"""Charts: PNG bytes, byte-identical for identical input, safe with any user text."""

from __future__ import annotations

import io
import struct
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tagwatch.reports.charts import (
    bars_png,
    data_uri,
    lines_png,
    volume_per_day_png,
    volume_per_hour_png,
)
from tagwatch.settings import AgendaSession

TZ = ZoneInfo("Europe/Belgrade")
DAY = datetime(2016, 11, 24, tzinfo=TZ)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def text_chunks(png: bytes) -> list[bytes]:
    buf = io.BytesIO(png[8:])
    kinds = []
    while header := buf.read(8):
        length, kind = struct.unpack(">I4s", header)
        buf.read(length + 4)
        kinds.append(kind)
    return [k for k in kinds if k in (b"tEXt", b"iTXt", b"zTXt", b"tIME")]


def hourly() -> dict[str, list[tuple[datetime, int]]]:
    return {
        "bluesky": [(DAY + timedelta(hours=h), h % 5) for h in range(24)],
        "x": [(DAY + timedelta(hours=h), 2) for h in range(9, 18)],
    }


def test_volume_chart_is_deterministic_png_without_metadata() -> None:
    session = AgendaSession("Opening $plenary", DAY.replace(hour=10), DAY.replace(hour=12))
    first = volume_per_hour_png(hourly(), TZ, sessions=[session], title="Posts per hour")
    second = volume_per_hour_png(hourly(), TZ, sessions=[session], title="Posts per hour")
    assert first == second
    assert png_size(first) == (720, 300)
    assert text_chunks(first) == []


def test_volume_chart_depends_on_the_data() -> None:
    changed = hourly()
    changed["x"][0] = (changed["x"][0][0], 40)
    assert volume_per_hour_png(changed, TZ) != volume_per_hour_png(hourly(), TZ)


def test_empty_input_gives_a_no_data_image_not_an_error() -> None:
    for png in (
        volume_per_hour_png({}, TZ, title="Posts per hour"),
        volume_per_day_png({"x": [(DAY, 0)]}, TZ),
        bars_png([], title="Themes"),
        lines_png({}, TZ),
    ):
        assert png.startswith(PNG_MAGIC)


def test_user_text_labels_are_drawn_literally() -> None:
    # `$...$` would be mathtext and unbalanced `$` would raise; emoji lack a glyph.
    png = bars_png([("$money", 3), ("a $b$ c", 2), ("smile 😀 <b>", 1)], title="Voices $")
    assert png.startswith(PNG_MAGIC)
    width, height = png_size(png)
    assert width == 720 and height >= 140


def test_day_buckets_and_lines() -> None:
    daily = {"bluesky": [(DAY + timedelta(days=d), 10 * (d + 1)) for d in range(3)]}
    assert volume_per_day_png(daily, TZ).startswith(PNG_MAGIC)
    growth = {"likes": [(DAY + timedelta(hours=h), h * h) for h in range(30)]}
    assert lines_png(growth, TZ, title="Engagement").startswith(PNG_MAGIC)


def test_data_uri() -> None:
    assert data_uri(b"\x89PNG").startswith("data:image/png;base64,iVBO")


def test_every_platform_has_its_own_colour_far_from_the_others():
    """Stacked bars are read by colour: two platforms in near-identical shades read as one."""
    from tagwatch.reports.charts import PLATFORM_COLORS

    def rgb(hex_colour: str) -> tuple[int, int, int]:
        h = hex_colour.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    names = sorted(PLATFORM_COLORS)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            distance = (
                sum(
                    (p - q) ** 2
                    for p, q in zip(rgb(PLATFORM_COLORS[a]), rgb(PLATFORM_COLORS[b]), strict=True)
                )
                ** 0.5
            )
            assert distance > 80, f"{a} and {b} are too alike ({distance:.0f})"
