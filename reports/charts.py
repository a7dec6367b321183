"""Charts as PNG bytes, shared by the digest and the impact report.

Why this shape: reports embed charts in e-mail (cid:) and in files (data: URIs),
so a chart is just bytes. We use matplotlib's object API with the Agg canvas (no
pyplot, no global state), so charts can be drawn from any thread of the
scheduler, and strip PNG metadata so the same figures always give the same
bytes. Labels carry user text (handles, themes): mathtext parsing is off, so a
`$` in a name is drawn as a dollar sign instead of failing.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates  # noqa: E402
from matplotlib import rc_context  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tagwatch.settings import AgendaSession  # noqa: E402

__all__ = [
    "PLATFORM_COLORS",
    "PLATFORM_LABELS",
    "PALETTE",
    "volume_png",
    "volume_per_hour_png",
    "volume_per_day_png",
    "bars_png",
    "lines_png",
    "data_uri",
]

PLATFORM_COLORS: dict[str, str] = {
    "bluesky": "#1185fe",
    "x": "#14171a",
    "mastodon": "#6364ff",
    # Threads is black in its own brand, like X: a mid grey keeps the two apart in a stacked chart.
    "threads": "#8a8d91",
    "instagram": "#d62976",
}
# Legends name platforms as people write them.
PLATFORM_LABELS: dict[str, str] = {
    "bluesky": "Bluesky",
    "x": "X",
    "mastodon": "Mastodon",
    "threads": "Threads",
    "instagram": "Instagram",
}
PALETTE = ("#1f6f8b", "#e07a5f", "#81b29a", "#f2cc8f", "#3d405b", "#99a1a6", "#c06c84")
OTHER = "#99a1a6"
INK = "#222222"
MUTED = "#666666"
DPI = 100

_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "text.parse_math": False,
    "svg.hashsalt": "tagwatch",
    "axes.edgecolor": "#cccccc",
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def _style() -> Iterator[None]:
    with rc_context(_RC), warnings.catch_warnings():  # type: ignore[arg-type]
        # Emoji and rare scripts are missing from DejaVu: drawn as boxes, not an error.
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from.*")
        warnings.filterwarnings("ignore", message=r".*missing from font.*")
        yield


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" text chunk: identical input gives identical bytes.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _no_data(fig: Figure, title: str) -> bytes:
    ax = fig.add_subplot()
    ax.set_axis_off()
    if title:
        ax.set_title(title, loc="left", color=INK)
    ax.text(0.5, 0.5, "No data", ha="center", va="center", color=MUTED, fontsize=12)
    return _png(fig)


def platform_color(name: str, index: int = 0) -> str:
    return PLATFORM_COLORS.get(name, PALETTE[index % len(PALETTE)] if index else OTHER)


def volume_png(
    series_by_platform: Mapping[str, Sequence[tuple[datetime, int]]],
    tz: tzinfo,
    *,
    bucket: timedelta = timedelta(hours=1),
    sessions: Sequence[AgendaSession] = (),
    title: str = "",
    ylabel: str = "posts",
    size: tuple[float, float] = (7.2, 3.0),
) -> bytes:
    """Stacked bars of posts per time bucket, one colour per platform, sessions shaded."""
    with _style():
        fig = _figure(size)
        series = {p: list(s) for p, s in series_by_platform.items() if s}
        if not series or not any(n for s in series.values() for _, n in s):
            return _no_data(fig, title)
        ax = fig.add_subplot()
        starts = sorted({t.astimezone(tz) for s in series.values() for t, _ in s})
        index = {t: i for i, t in enumerate(starts)}
        xs = [mdates.date2num(t.replace(tzinfo=None)) for t in starts]
        width = bucket / timedelta(days=1) * 0.85
        bottom = [0.0] * len(starts)
        for i, platform in enumerate(sorted(series)):
            heights = [0.0] * len(starts)
            for t, n in series[platform]:
                heights[index[t.astimezone(tz)]] += n
            ax.bar(
                xs,
                heights,
                width=width,
                bottom=bottom,
                align="edge",
                color=platform_color(platform, i),
                label=PLATFORM_LABELS.get(platform, platform),
                linewidth=0,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        top = max(bottom) or 1
        lo = xs[0]
        hi = xs[-1] + bucket / timedelta(days=1)
        for j, session in enumerate(sessions):
            s0 = mdates.date2num(session.start.astimezone(tz).replace(tzinfo=None))
            s1 = mdates.date2num(session.end.astimezone(tz).replace(tzinfo=None))
            if s1 <= lo or s0 >= hi:
                continue
            s0, s1 = max(s0, lo), min(s1, hi)
            ax.axvspan(s0, s1, color="#f2cc8f", alpha=0.25, linewidth=0, zorder=0)
            label = session.title if len(session.title) <= 28 else session.title[:27] + "…"
            ax.text(
                s0 + (hi - lo) * 0.004,
                top * (1.24 - 0.09 * (j % 2)),
                label,
                fontsize=7,
                color=MUTED,
                va="top",
            )
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, top * 1.27 if sessions else top * 1.05)
        ax.xaxis_date(tz=None)
        if bucket < timedelta(days=1):
            span_days = hi - lo
            step = 3 if span_days <= 1.1 else max(6, int(span_days) * 6 // 3)
            ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, min(step, 24))))
            ax.xaxis.set_major_formatter(
                mdates.DateFormatter("%H:%M" if span_days <= 1.1 else "%d %b %H:%M")
            )
        else:
            ax.xaxis.set_major_locator(mdates.DayLocator())
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
        ax.set_axisbelow(True)
        if title:
            ax.set_title(title, loc="left", color=INK)
        ax.legend(
            frameon=False,
            fontsize=8,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=len(series),
            borderaxespad=0.2,
        )
        fig.tight_layout()
        return _png(fig)


def volume_per_hour_png(
    series_by_platform: Mapping[str, Sequence[tuple[datetime, int]]], tz: tzinfo, **kw: Any
) -> bytes:
    return volume_png(series_by_platform, tz, bucket=timedelta(hours=1), **kw)


def volume_per_day_png(
    series_by_platform: Mapping[str, Sequence[tuple[datetime, int]]], tz: tzinfo, **kw: Any
) -> bytes:
    return volume_png(series_by_platform, tz, bucket=timedelta(days=1), **kw)


def bars_png(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "",
    colors: str | Sequence[str] | None = None,
    horizontal: bool = True,
    value_format: str = "{:,.0f}",
    size: tuple[float, float] | None = None,
) -> bytes:
    """Labelled bars in the given order (top-down when horizontal), each with its value."""
    items = [(str(label), float(value)) for label, value in items]
    if size is None:
        size = (7.2, max(1.4, 0.32 * len(items) + 0.7)) if horizontal else (7.2, 3.0)
    with _style():
        fig = _figure(size)
        if not items:
            return _no_data(fig, title)
        if colors is None:
            fill: list[str] = [PALETTE[0]] * len(items)
        elif isinstance(colors, str):
            fill = [colors] * len(items)
        else:
            fill = [colors[i % len(colors)] for i in range(len(items))]
        labels = [lbl if len(lbl) <= 40 else lbl[:39] + "…" for lbl, _ in items]
        values = [v for _, v in items]
        ax = fig.add_subplot()
        positions = list(range(len(items)))
        peak = max(values) or 1
        if horizontal:
            ax.barh(positions, values, color=fill, height=0.7)
            ax.set_yticks(positions, labels)
            ax.invert_yaxis()
            ax.set_xlim(0, peak * 1.15)
            ax.xaxis.set_visible(False)
            ax.spines["bottom"].set_visible(False)
            for y, v in zip(positions, values, strict=True):
                ax.text(v + peak * 0.01, y, value_format.format(v), va="center", fontsize=8)
        else:
            ax.bar(positions, values, color=fill, width=0.7)
            ax.set_xticks(positions, labels)
            ax.set_ylim(0, peak * 1.15)
            for x, v in zip(positions, values, strict=True):
                ax.text(x, v + peak * 0.01, value_format.format(v), ha="center", fontsize=8)
        ax.tick_params(length=0)
        if title:
            ax.set_title(title, loc="left", color=INK)
        fig.tight_layout()
        return _png(fig)


def lines_png(
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    tz: tzinfo,
    *,
    title: str = "",
    ylabel: str = "",
    colors: Mapping[str, str] | None = None,
    size: tuple[float, float] = (7.2, 3.0),
) -> bytes:
    """One line per named series over time (local time on the axis)."""
    with _style():
        fig = _figure(size)
        data = {name: sorted(points) for name, points in series.items() if points}
        if not data:
            return _no_data(fig, title)
        ax = fig.add_subplot()
        for i, name in enumerate(sorted(data)):
            pts = data[name]
            xs = [mdates.date2num(t.astimezone(tz).replace(tzinfo=None)) for t, _ in pts]
            color = (colors or {}).get(name) or platform_color(name, i + 1)
            label = PLATFORM_LABELS.get(name, name)
            ax.plot(xs, [v for _, v in pts], color=color, label=label, linewidth=1.6)
        ax.xaxis_date(tz=None)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
        if title:
            ax.set_title(title, loc="left", color=INK)
        if len(data) > 1:
            ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return _png(fig)


def data_uri(png: bytes) -> str:
    """For files on disk: the image travels inside the HTML, no side files to lose."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
