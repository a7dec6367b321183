"""The post-event impact report, for donors and partners.

One package, one job per module:

    report.py    the figures, as plain data (`ImpactReport`), from one read of the period
    tables.py    each table of the report, built from those figures
    table.py     `Table`: one table or chart's rows, rendered in HTML and PDF, written as CSV
    method.py    the methodology: passes, gaps and the prose that explains them
    charts.py    the charts only this report draws
    output.py    writing the folder: HTML (templates/), PDF, PNGs, CSVs, XLSX
    pdf.py       the A4 PDF, drawn with reportlab (imported only when a PDF is written)

Callers import from here (`from tagwatch.reports.impact import build_report, make_report`).
"""

from __future__ import annotations

from tagwatch.reports.impact.output import (
    FILE_STEM,
    Chart,
    make_charts,
    make_report,
    render_html,
    write_report,
)
from tagwatch.reports.impact.report import (
    PROSE,
    REACH_DEFINITION,
    Gap,
    ImpactReport,
    Methodology,
    build_report,
)
from tagwatch.reports.impact.table import Table

__all__ = [
    "FILE_STEM",
    "PROSE",
    "REACH_DEFINITION",
    "Chart",
    "Gap",
    "ImpactReport",
    "Methodology",
    "Table",
    "build_report",
    "make_charts",
    "make_report",
    "render_html",
    "write_report",
]
