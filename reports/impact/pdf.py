"""The impact report as an A4 PDF, drawn with reportlab.

Why reportlab and not a browser printing the HTML: the PDF must come out of
`pip install tagwatch` on any machine, with no browser or system library.
Why DejaVu Sans from matplotlib's own data: it is always installed with our
dependencies and covers Latin, Cyrillic, Greek, Hebrew and Arabic letters,
which the PDF base fonts do not. Characters it lacks (emoji) are left out
rather than printed as empty boxes.

Every piece of user text (posts, names, handles, errors) goes through `_text`,
which escapes reportlab's paragraph markup, so a post cannot change the layout.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as RLTable

from tagwatch.reports.impact.method import plural
from tagwatch.reports.impact.report import PROSE, REACH_DEFINITION, ImpactReport, Table
from tagwatch.reports.urls import safe_url

__all__ = ["write_pdf", "SECTION_TITLES"]

SECTION_TITLES = ("Summary", "Activity", "Engagement", "Themes and languages", "Methodology")
ACCENT = colors.HexColor("#1f6f8b")
MUTED = colors.HexColor("#666666")
SOFT = colors.HexColor("#f5f7f8")
RULE = colors.HexColor("#dddddd")
GAP = colors.HexColor("#8a3b12")
MARGIN = 15 * mm
POST_CHARS = 800  # a long X post quoted in full would not fit on a page
CELL_CHARS = 300
WIDTH = A4[0] - 2 * MARGIN


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont("TWSans", str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont("TWSans-Bold", str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily("TWSans", normal="TWSans", bold="TWSans-Bold")
    return "TWSans", "TWSans-Bold"


@lru_cache(maxsize=1)
def _glyphs() -> frozenset[int]:
    font = pdfmetrics.getFont(_fonts()[0])
    return frozenset(font.face.charToGlyph)  # type: ignore[attr-defined]


def _clip(value: Any, limit: int = CELL_CHARS) -> Any:
    """Long text shortened: a box taller than a page cannot be laid out at all."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1].rstrip() + "… (shortened; full text in data/)"
    return value


def _text(value: Any) -> str:
    """User text made safe for a Paragraph: markup escaped, unknown glyphs dropped."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    known = _glyphs()
    kept = "".join(c for c in str(value) if ord(c) in known or c in "\n\t")
    return escape(kept).replace("\n", "<br/>")


@lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    base = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=13)
    return {
        "body": base,
        "title": ParagraphStyle(
            "title", base, fontName=bold, fontSize=22, leading=27, textColor=ACCENT
        ),
        "lead": ParagraphStyle("lead", base, textColor=MUTED, fontSize=10.5, leading=14),
        "h2": ParagraphStyle(
            "h2",
            base,
            fontName=bold,
            fontSize=15,
            leading=19,
            textColor=ACCENT,
            spaceBefore=4,
            spaceAfter=6,
        ),
        "h3": ParagraphStyle(
            "h3", base, fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=3
        ),
        "note": ParagraphStyle("note", base, fontSize=8, leading=10.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "num": ParagraphStyle("num", base, fontSize=8, leading=10, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", base, fontName=bold, fontSize=8, leading=10),
        "big": ParagraphStyle(
            "big", base, fontName=bold, fontSize=17, leading=21, textColor=ACCENT
        ),
        "gap": ParagraphStyle("gap", base, textColor=GAP),
        "post": ParagraphStyle("post", base, fontSize=9, leading=12),
    }


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(text, _styles()[style])


def _widths(table: Table, numeric: set[str]) -> list[float]:
    """Room by content: numbers and header words never break; long text takes the rest."""
    regular, bold = _fonts()
    pad = 13.0  # the cell's left and right padding, and a little air

    def fits(text: str, font: str) -> float:
        return pdfmetrics.stringWidth(text, font, 8) + pad

    cells = {k: [_text(r.get(k)) for r in table.rows] for k in table.keys}
    flexible = [k for k in table.keys if k not in numeric and max(map(len, cells[k])) > 16]
    least = []
    for key, label in table.columns:
        words = [fits(w, bold) for w in label.split()] or [pad]
        if key in flexible:
            # A long word (a URL, a 60-letter handle) is split rather than given the page.
            words_in = (fits(w, regular) for v in cells[key] for w in (v.split() or [""]))
            value = min(max(words_in), WIDTH * 0.3)
        else:
            value = max(fits(v, regular) for v in cells[key])
        least.append(max(*words, value))
    if sum(least) > WIDTH:  # too many columns: shrink all, some headers will wrap
        return [w * WIDTH / sum(least) for w in least]
    spare = WIDTH - sum(least)
    share = {k: min(max(map(len, cells[k])), 60) for k in flexible} or {k: 1 for k in table.keys}
    total = sum(share.values())
    return [w + spare * share.get(k, 0) / total for w, k in zip(least, table.keys, strict=True)]


def _table(table: Table) -> list[Any]:
    st = _styles()
    if not table.rows:
        return [_p("None in this period.", "note")]
    numeric = {k for k in table.keys if isinstance(table.rows[0].get(k), int | float)}
    widths = _widths(table, numeric)
    head = [Paragraph(_text(label), st["head"]) for _, label in table.columns]
    body = [
        [
            Paragraph(_text(_clip(row.get(k))), st["num" if k in numeric else "cell"])
            for k in table.keys
        ]
        for row in table.rows
    ]
    t = RLTable([head, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), SOFT),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    out: list[Any] = [t]
    if table.note:
        out += [Spacer(1, 2), _p(_text(table.note), "note")]
    return out


def _figure(chart: Any, width: float) -> list[Any]:
    """A chart scaled to `width`, with its caption and the CSV behind it."""
    img = Image(io.BytesIO(chart.png), hAlign="LEFT")
    img.drawWidth, img.drawHeight = width, img.imageHeight * width / img.imageWidth
    text = f"{_text(chart.title)}. {_text(chart.caption)} Data: data/{_text(chart.table)}.csv"
    return [img, _p(text, "note")]


def _chart(chart: Any, fraction: float = 1.0) -> list[Any]:
    return [KeepTogether(_figure(chart, WIDTH * fraction)), Spacer(1, 6)]


def _charts_side_by_side(left: Any, right: Any) -> list[Any]:
    """Two small charts in one row: each alone left most of a page blank below it."""
    gap = 4 * mm
    half = (WIDTH - gap) / 2
    row = RLTable(
        [[_figure(left, half), _figure(right, half)]],
        colWidths=[half + gap, half],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        ),
        hAlign="LEFT",
    )
    return [row, Spacer(1, 6)]


def _titled(title: str, table: Table) -> list[Any]:
    """A heading never left alone at the foot of a page, nor a short table's note."""
    parts = [_p(_text(title), "h3"), *_table(table)]
    return [KeepTogether(parts)] if len(table.rows) <= 25 else parts


def _cards(r: ImpactReport) -> RLTable:
    s = r.summary
    peak = s.peak_hour.strftime("%H:00") if s.peak_hour else "–"
    peak_label = (
        f"busiest hour: {s.peak_hour:%a} {s.peak_hour.day} {s.peak_hour:%b}, "
        f"{s.peak_hour_posts:,} posts"
        if s.peak_hour
        else "busiest hour"
    )
    items = [
        (f"{s.posts:,}", "posts"),
        (f"{s.authors:,}", "unique authors"),
        (f"{s.engagement:,}", "engagements (likes, reposts, replies, quotes)"),
        (f"{s.reach:,}", "estimated reach (an estimate: followers of the authors)"),
        (peak, peak_label),
        (str(len(s.platforms)), "platforms: " + (", ".join(s.platforms) or "none")),
    ]
    cells = [[_p(_text(v), "big"), _p(_text(label), "note")] for v, label in items]
    grid = [[cells[i], cells[i + 1], cells[i + 2]] for i in (0, 3)]
    t = RLTable(grid, colWidths=[WIDTH / 3] * 3)
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), SOFT),
                ("LINEAFTER", (0, 0), (1, -1), 4, colors.white),
                ("LINEBELOW", (0, 0), (-1, 0), 4, colors.white),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return t


def _when(t: Any) -> str:
    return f"{t:%a} {t.day} {t:%b %Y, %H:%M}" if t else ""


def _summary(r: ImpactReport) -> list[Any]:
    s = r.summary
    tags = " or ".join(f"#{h}" for h in r.hashtags)
    story = [
        _p(_text(r.event_name), "title"),
        _p(
            _text(
                f"Social media impact report · {tags} · {r.period_label()} ({r.timezone})"
                + (f" · {safe_url(r.event_url)}" if safe_url(r.event_url) else "")
            ),
            "lead",
        ),
        Spacer(1, 8),
        _p("Summary", "h2"),
        _cards(r),
        Spacer(1, 8),
        _p(
            _text(
                f"{r.period_sentence()}, {s.authors:,} accounts published {s.posts:,} posts "
                f"with {tags}, which received {s.likes:,} likes, {s.reposts:,} reposts, "
                f"{s.replies:,} replies and {s.quotes:,} quotes."
                + (
                    f" The platform reported {s.views:,} views of {s.posts_with_views:,} posts."
                    if s.posts_with_views
                    else ""
                )
            )
        ),
        Spacer(1, 4),
        _p(_text(REACH_DEFINITION), "note"),
    ]
    story += _titled(r.tables["per_day"].title, r.tables["per_day"])
    story += _titled(r.tables["per_platform"].title, r.tables["per_platform"])
    if r.comparison is not None:
        story += _titled(r.tables["comparison"].title, r.tables["comparison"])
    return story


def _posts(r: ImpactReport) -> list[Any]:
    story: list[Any] = []
    for p in r.top_posts:
        meta = (
            f"#{p['rank']} · {p['platform']} · <b>{_text(p['who'])}</b>"
            + (f" ({_text(p['author'])})" if p["author"] else "")
            + f" · {_text(p['posted_local'])}"
        )
        counts = _text(p["counts"])
        if url := safe_url(p["url"]):
            counts += f" · {_text(url)}"
        box = RLTable(
            [
                [
                    [
                        _p(meta, "note"),
                        _p(_text(_clip(p["text"], POST_CHARS)), "post"),
                        _p(counts, "note"),
                    ]
                ]
            ],
            colWidths=[WIDTH],
        )
        box.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), SOFT),
                    ("LINEBEFORE", (0, 0), (0, -1), 2.5, ACCENT),
                    ("TOPPADDING", (0, 0), (-1, -1), 4),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ]
            )
        )
        story += [box, Spacer(1, 4)]
    if not r.top_posts:
        story.append(_p("No posts to show."))
    story.append(_p(_text(r.tables["top_posts"].note), "note"))
    return story


def _methodology(r: ImpactReport) -> list[Any]:
    m = r.methodology
    tags = " or ".join(f"#{h}" for h in r.hashtags)
    story: list[Any] = [
        _p("Methodology", "h2"),
        _p("What the figures cover", "h3"),
        _p(
            _text(
                f"Public posts carrying {tags} (in any letter case) created on "
                f"{r.period_label()}, days counted in {r.timezone}. Every figure is recounted "
                "from data/posts.csv, the same list of posts that `tagwatch export` gives for "
                "this period (also as a spreadsheet, data/posts.xlsx)."
            )
        ),
        _p("Platforms", "h3"),
        _p(
            _text(
                f"Collected: {', '.join(m.platforms_enabled) or 'none'}."
                + (
                    f" Not collected: {', '.join(m.platforms_not_collected)} "
                    "(posts there are not in this report)."
                    if m.platforms_not_collected
                    else ""
                )
            )
        ),
    ]
    if m.mastodon_instances:
        story.append(
            _p(
                _text(
                    f"Mastodon: the public hashtag timelines of {', '.join(m.mastodon_instances)}. "
                    + PROSE["mastodon"]
                )
            )
        )
    if m.unknown_text():
        story.append(_p(_text(m.unknown_text())))
    story.append(_p("Collection passes and gaps", "h3"))
    if m.passes.rows:
        story += _table(m.passes)
    else:
        story.append(_p(_text(PROSE["no_passes"])))
    if m.gaps:
        story.append(
            _p(
                _text(
                    f"{plural(len(m.gaps), 'pass', 'passes')} did not complete. " + PROSE["gaps"]
                ),
                "gap",
            )
        )
        for g in m.gaps:
            line = f"• {g.collector}: {g.status.replace('_', ' ')} at {_when(g.started)}"
            if g.error:
                line += f" ({g.error})"
            line += f"; next completed pass: {_when(g.next_success) or 'none recorded'}."
            story.append(_p(_text(line), "gap"))
    elif m.passes.rows:
        story.append(_p("Every recorded pass completed: no gaps."))
    as_of = f" Latest refresh: {_when(m.engagement_as_of)}." if m.engagement_as_of else ""
    story += [
        _p("Deleted and restricted posts", "h3"),
        _p(_text(m.deleted_text())),
        _p(_text(m.restricted_text())),
        _p("Engagement and reach", "h3"),
        _p(_text(PROSE["engagement"]) + as_of),
        _p(_text(REACH_DEFINITION)),
        _p("Not collected", "h3"),
        _p(_text(PROSE["not_collected"])),
        _p("Data files", "h3"),
        _p(
            _text(
                "Each chart and table has the CSV of its figures in data/ and each chart is a PNG "
                "in charts/: "
                + ", ".join(sorted(f"{n}.csv" for n in r.tables) + ["posts.csv", "posts.xlsx"])
                + "."
            )
        ),
        Spacer(1, 6),
        _p(_text(f"Generated by tagwatch on {_when(r.generated_at)} ({r.timezone})."), "note"),
    ]
    return story


def _story(r: ImpactReport, charts: dict[str, Any]) -> list[Any]:
    t = r.tables
    story = _summary(r)
    story += [PageBreak(), _p("Activity", "h2"), *_chart(charts["volume_timeline"])]
    if t["sessions"].rows:
        story += _titled(t["sessions"].title, t["sessions"])
    story += _charts_side_by_side(charts["posts_per_day"], charts["posts_per_platform"])
    story += [PageBreak(), _p("Engagement", "h2"), *_chart(charts["engagement_growth"])]
    story += [_p(_text(t["engagement_growth"].note), "note")]
    story += [_p(_text(t["top_posts"].title), "h3"), *_posts(r)]
    story += _titled(t["top_voices"].title, t["top_voices"])
    story += [PageBreak(), _p("Themes and languages", "h2"), *_chart(charts["themes"])]
    story += [_p(_text(t["themes"].note), "note")]
    story += _titled(t["themes_by_day"].title, t["themes_by_day"])
    story += [Spacer(1, 6), *_chart(charts["themes_by_day"])]
    story += [_p(_text(t["languages"].title), "h3"), *_chart(charts["languages"], 0.8)]
    story += [_p(_text(t["languages"].note), "note")]
    story += [KeepTogether([_p("Countries", "h3"), _p(_text(PROSE["countries"]))])]
    story += [PageBreak(), *_methodology(r)]
    return story


def write_pdf(report: ImpactReport, charts: dict[str, Any], path: Path) -> None:
    regular, _ = _fonts()
    footer = f"{report.event_name} · impact report · {report.period_label()}"

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor(MUTED)
        # drawString does not parse markup, but keep the footer to glyphs the font has.
        safe = "".join(c for c in footer if ord(c) in _glyphs())
        canvas.drawString(MARGIN, 9 * mm, safe[:120])
        canvas.drawRightString(A4[0] - MARGIN, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=16 * mm,
        title=f"{report.event_name}: social media impact report",
        author="tagwatch",
        subject=report.period_label(),
        creator="tagwatch",
    )
    doc.build(_story(report, charts), onFirstPage=on_page, onLaterPages=on_page)
