"""Charts only the impact report needs, in the style of `tagwatch.reports.charts`.

Why not `charts.volume_png`: the report spans several days, where an hourly
axis needs one label per day and session titles would collide; here sessions
are numbered on the chart and listed in the caption. Themes by day are
discrete days, so grouped bars, not lines through the hours between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from matplotlib import dates as mdates
from matplotlib.ticker import MaxNLocator

from tagwatch.reports.charts import (
    INK,
    MUTED,
    PALETTE,
    _figure,
    _no_data,
    _png,
    _style,
    platform_color,
)
from tagwatch.settings import AgendaSession

__all__ = ["timeline_png", "grouped_bars_png", "session_legend"]


def timeline_png(
    series_by_platform: Mapping[str, Sequence[tuple[datetime, int]]],
    tz: tzinfo,
    *,
    sessions: Sequence[AgendaSession] = (),
    size: tuple[float, float] = (7.2, 3.0),
) -> bytes:
    """Hourly stacked bars over several days; session n shaded and marked "n"."""
    with _style():
        fig = _figure(size)
        series = {p: list(s) for p, s in series_by_platform.items() if s}
        if not any(n for s in series.values() for _, n in s):
            return _no_data(fig, "")
        ax = fig.add_subplot()
        hours = sorted({t for s in series.values() for t, _ in s})
        xs = [mdates.date2num(t.astimezone(tz).replace(tzinfo=None)) for t in hours]
        width = 1 / 24
        bottom = [0] * len(hours)
        for i, platform in enumerate(sorted(series)):
            counts = dict(series[platform])
            heights = [counts.get(t, 0) for t in hours]
            ax.bar(
                xs,
                heights,
                width=width,
                bottom=bottom,
                align="edge",
                linewidth=0,
                color=platform_color(platform, i),
                label=platform,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        top = max(bottom) or 1
        lo, hi = xs[0], xs[-1] + width
        for n, session in enumerate(sessions, start=1):
            s0 = mdates.date2num(session.start.astimezone(tz).replace(tzinfo=None))
            s1 = mdates.date2num(session.end.astimezone(tz).replace(tzinfo=None))
            if s1 <= lo or s0 >= hi:
                continue
            ax.axvspan(max(s0, lo), min(s1, hi), color="#f2cc8f", alpha=0.35, linewidth=0, zorder=0)
            ax.text(
                (s0 + s1) / 2,
                top * 1.04,
                str(n),
                ha="center",
                va="bottom",
                fontsize=8,
                color=INK,
                fontweight="bold",
            )
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, top * 1.15)
        ax.xaxis_date(tz=None)
        days = hi - lo
        if days <= 1.1:
            ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3)))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        else:
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, int(days) // 8)))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))
            ax.xaxis.set_minor_locator(mdates.HourLocator(byhour=[6, 12, 18]))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("posts per hour")
        ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
        ax.set_axisbelow(True)
        # Above the plot, so it never covers a bar or a session number.
        ax.legend(
            frameon=False,
            fontsize=8,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=max(1, len(series)),
        )
        fig.tight_layout()
        return _png(fig)


def grouped_bars_png(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "",
    size: tuple[float, float] = (7.2, 2.8),
) -> bytes:
    """One group of bars per label in `groups` (days), one bar per series (themes)."""
    with _style():
        fig = _figure(size)
        if not groups or not any(v for vals in series.values() for v in vals):
            return _no_data(fig, "")
        ax = fig.add_subplot()
        names = list(series)
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(groups))]
            label = name if len(name) <= 30 else name[:29] + "…"
            ax.bar(
                xs, series[name], width=width * 0.92, color=PALETTE[i % len(PALETTE)], label=label
            )
        ax.set_xticks(range(len(groups)), groups)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel, color=MUTED)
        ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", length=0)
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        return _png(fig)


def session_legend(sessions: Sequence[AgendaSession], tz: tzinfo) -> list[str]:
    """Caption lines matching the numbers drawn on the timeline."""
    out = []
    for n, s in enumerate(sessions, start=1):
        start, end = s.start.astimezone(tz), s.end.astimezone(tz)
        same_day = start.date() == (end - timedelta(microseconds=1)).date()
        end_text = f"{end:%H:%M}" if same_day else f"{end:%a %H:%M}"
        out.append(f"{n}. {start:%a %H:%M}–{end_text} {s.title}")
    return out
