"""The export as a spreadsheet (XLSX) for partners who open it in Excel or LibreOffice.

Why not just the CSV: a spreadsheet opening a CSV guesses each cell's type. A
post that begins with `=`, `+`, `-` or `@` becomes a formula it runs (a
`=HYPERLINK(...)` that sends the reader anywhere, a `=cmd|...` that Excel
offers to execute), X's 19-digit ids lose their last digits as numbers, and
dates come out in whatever format the locale guesses. Here every cell's type is
written down: text cells are strings, explicitly (openpyxl would otherwise
store a string starting with "=" as a formula), counts are numbers, times are
real date-times, and an unknown count is an empty cell, not 0.

Why openpyxl: it is well kept, pure Python, and reads the file back in tests.
The write-only mode streams rows to the file, so a 100,000-post export does
not build the whole sheet in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from tagwatch.records import parse_iso
from tagwatch.reports.export import EXPORT_FIELDS

__all__ = ["write_xlsx", "XLSX_HEADERS", "MAX_CELL_CHARS"]

# Header text per field: the export's names, except the time, which says its zone.
XLSX_HEADERS = tuple("created_at (UTC)" if f == "created_at" else f for f in EXPORT_FIELDS)
NUMBERS = frozenset({"likes", "reposts", "replies", "quotes", "views", "sentiment"})
WIDTHS = {"text": 80, "url": 40, "author_name": 24, "author_handle": 24, "id": 24}
WIDTHS |= {"created_at": 20, "hashtags": 24, "mentions": 24, "session": 32, "author_id": 24}
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell; longer text would not open
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"


def _text(ws: WriteOnlyWorksheet, value: str) -> Cell:
    # XML cannot carry most control characters; U+FFFD shows where one was.
    value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - 1] + "…"
    cell = WriteOnlyCell(ws, value)
    cell.data_type = "s"  # never "f": a post starting with "=" stays text
    return cell


def _cell(ws: WriteOnlyWorksheet, field: str, value: Any) -> Cell | None:
    if value is None or value == "" or value == []:
        return None  # unknown, not worked out, or none: an empty cell
    if field == "created_at":
        cell = WriteOnlyCell(ws, parse_iso(value).replace(tzinfo=None))
        cell.number_format = DATE_FORMAT
        return cell
    if field in NUMBERS or field == "deleted":
        return WriteOnlyCell(ws, value)
    if isinstance(value, list):
        value = ";".join(value)
    return _text(ws, str(value))


def write_xlsx(rows: Iterator[dict[str, Any]], path: Path) -> int:
    """Write export records (with unknown counts as None) to `path`; returns the row count.

    The file is opened first, so a path that cannot be written fails before any work
    (and leaves no half-written sheet behind in openpyxl's temporary files).
    """
    with open(path, "wb") as fh:
        return _write(rows, fh)


def _write(rows: Iterator[dict[str, Any]], fh: BinaryIO) -> int:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("posts")
    ws.freeze_panes = "A2"
    for i, field in enumerate(EXPORT_FIELDS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = WIDTHS.get(field, 12)
    bold = Font(bold=True)
    header = []
    for name in XLSX_HEADERS:
        cell = _text(ws, name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    n = 0
    for row in rows:
        ws.append([_cell(ws, field, row[field]) for field in EXPORT_FIELDS])
        n += 1
    wb.save(fh)
    return n
