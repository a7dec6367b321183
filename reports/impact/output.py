"""Writing the impact report to a folder: HTML, PDF, chart PNGs and the CSVs behind them.

Why one folder of plain files: partners paste the charts into their own
reports and re-use the figures, so each chart is a PNG of its own and each
chart or table has the CSV of exactly its figures beside it. The HTML carries
its charts inside (data: URIs) so it can be mailed as one file.
"""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from tagwatch.errors import StorageError, TagwatchError
from tagwatch.records import utcnow
from tagwatch.reports import charts
from tagwatch.reports.export import export_rows, period_bounds, write_csv
from tagwatch.reports.export_xlsx import write_xlsx
from tagwatch.reports.figures import ENGAGEMENT_LABEL
from tagwatch.reports.impact.charts import grouped_bars_png, session_legend, timeline_png
from tagwatch.reports.impact.report import PROSE, REACH_DEFINITION, ImpactReport, Table
from tagwatch.reports.urls import safe_url
from tagwatch.settings import Config

__all__ = [
    "Chart",
    "make_charts",
    "write_csvs",
    "write_posts_xlsx",
    "render_html",
    "write_report",
    "make_report",
    "FILE_STEM",
]

FILE_STEM = "impact-report"


@dataclass
class Chart:
    name: str  # charts/<name>.png
    title: str
    png: bytes
    table: str  # the CSV (data/<table>.csv) holding the figures drawn
    caption: str = ""

    @property
    def data_uri(self) -> str:
        return charts.data_uri(self.png)


def make_charts(report: ImpactReport, sessions: Any = ()) -> dict[str, Chart]:
    """Every chart of the report, each drawn from one of its tables."""
    t = report.tables
    tz = report.generated_at.tzinfo
    assert tz is not None
    lo = datetime.combine(report.start_day, time(0), tzinfo=tz)
    hi = datetime.combine(report.end_day + timedelta(days=1), time(0), tzinfo=tz)
    sessions = [s for s in sessions if s.end > lo and s.start < hi]
    out = [
        Chart(
            "volume_timeline",
            "Posts per hour, with the agenda sessions shaded",
            timeline_png(report.series["volume"], tz, sessions=sessions),
            "timeline_hourly",
            caption="Sessions: " + "; ".join(session_legend(sessions, tz)) + "."
            if sessions
            else "",
        ),
        Chart(
            "posts_per_day",
            "Posts per day",
            charts.bars_png([(r["day"], r["posts"]) for r in t["per_day"].rows], horizontal=False),
            "per_day",
        ),
        Chart(
            "posts_per_platform",
            "Posts per platform",
            charts.bars_png(
                [(r["platform"], r["posts"]) for r in t["per_platform"].rows],
                colors=[
                    charts.PLATFORM_COLORS.get(r["platform"], charts.OTHER)
                    for r in t["per_platform"].rows
                ],
            ),
            "per_platform",
        ),
        Chart(
            "engagement_growth",
            "Total engagement over time",
            charts.lines_png({"engagement": report.series["growth"]}, tz, ylabel=ENGAGEMENT_LABEL),
            "engagement_growth",
        ),
        Chart(
            "themes",
            "Themes of the event",
            charts.bars_png([(r["theme"], r["posts"]) for r in t["themes"].rows]),
            "themes",
        ),
        Chart(
            "themes_by_day",
            "Main themes day by day (posts)",
            grouped_bars_png(
                [f"{d:%a} {d.day} {d:%b}" for d in report.series["days"]],
                report.series["themes"],
                ylabel="posts",
            ),
            "themes_by_day",
        ),
        Chart(
            "languages",
            "Languages",
            charts.bars_png([(r["name"], r["posts"]) for r in t["languages"].rows]),
            "languages",
        ),
    ]
    return {c.name: c for c in out}


def _cell(value: Any) -> Any:
    return "" if value is None else value


def write_table_csv(table: Table, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.keys)
        for row in table.rows:
            writer.writerow([_cell(row.get(k)) for k in table.keys])


def write_csvs(report: ImpactReport, conn: Any, config: Config, data_dir: Path) -> list[Path]:
    """One CSV per table, plus posts.csv: the export of the same period, to recount from."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in report.tables.values():
        path = data_dir / f"{table.name}.csv"
        write_table_csv(table, path)
        paths.append(path)
    start, end = period_bounds(config.event, report.start_day, report.end_day)
    posts = data_dir / "posts.csv"
    with open(posts, "w", encoding="utf-8", newline="") as fh:
        write_csv(export_rows(conn, start=start, end=end), fh)
    paths.append(posts)
    return paths


def write_posts_xlsx(report: ImpactReport, conn: Any, config: Config, data_dir: Path) -> Path:
    """posts.xlsx beside posts.csv: the same posts for partners who open a spreadsheet."""
    start, end = period_bounds(config.event, report.start_day, report.end_day)
    path = data_dir / "posts.xlsx"
    write_xlsx(export_rows(conn, start=start, end=end), path)
    return path


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("tagwatch.reports.impact", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else ("" if v is None else v)
    env.filters["url"] = safe_url
    env.filters["when"] = lambda t: t.strftime("%a %-d %b %Y, %H:%M") if t else ""
    return env


def render_html(report: ImpactReport, chart_map: dict[str, Chart]) -> str:
    template = _env().get_template("impact.html.j2")
    return template.render(
        r=report,
        s=report.summary,
        t=report.tables,
        m=report.methodology,
        charts=chart_map,
        reach_definition=REACH_DEFINITION,
        prose=PROSE,
        csv_files=sorted(f"{name}.csv" for name in report.tables) + ["posts.csv", "posts.xlsx"],
    )


def write_report(report: ImpactReport, conn: Any, config: Config, out_dir: Path) -> dict[str, Any]:
    """Write every output; returns their paths ("html", "pdf", "charts", "csv", "xlsx")."""
    from tagwatch.reports.impact.pdf import write_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    chart_map = make_charts(report, config.event.sessions)
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    pngs = []
    for chart in chart_map.values():
        path = chart_dir / f"{chart.name}.png"
        path.write_bytes(chart.png)
        pngs.append(path)
    csvs = write_csvs(report, conn, config, out_dir / "data")
    xlsx = write_posts_xlsx(report, conn, config, out_dir / "data")
    html = out_dir / f"{FILE_STEM}.html"
    html.write_text(render_html(report, chart_map), encoding="utf-8")
    pdf = out_dir / f"{FILE_STEM}.pdf"
    write_pdf(report, chart_map, pdf)
    return {"html": html, "pdf": pdf, "charts": pngs, "csv": csvs, "xlsx": xlsx}


def make_report(
    config: Config,
    start_day: date,
    end_day: date,
    out_dir: Path,
    *,
    compare: tuple[date | None, date | None] | None = None,
    compare_db: Path | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What `tagwatch report` does: read the store, build the figures, write every file.

    `compare` is (first, last) day of the earlier period, in `compare_db` when
    given (None days: all of that database), else in this database.
    """
    from tagwatch.reports.impact.report import build_report
    from tagwatch.storage.db import Store, connect

    with Store.open(config.db_path) as store:
        other = None
        try:
            spec = None
            if compare is not None:
                other = connect(compare_db, readonly=True) if compare_db else None
                spec = (other or store.conn, compare[0], compare[1])
            try:
                report = build_report(
                    store.conn, config, start_day, end_day, now=now or utcnow(), compare=spec
                )
            except sqlite3.DatabaseError as exc:
                if other is None:
                    raise
                raise StorageError(
                    f"--compare-db {compare_db} is not a tagwatch database ({exc})."
                ) from exc
            try:
                return write_report(report, store.conn, config, out_dir)
            except OSError as exc:
                raise TagwatchError(
                    f"Cannot write the report into {out_dir}: {exc.strerror or exc}."
                    " Choose another folder with --out."
                ) from exc
        finally:
            if other is not None:
                other.close()
