"""One table of the impact report: rendered in HTML and PDF, written as CSV.

Every chart and table of the report is a `Table` with fixed columns, so the
three renderings can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Table", "period_where"]


@dataclass
class Table:
    """Rows with fixed columns: rendered in HTML and PDF, written as `<name>.csv`."""

    name: str
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Any]]
    note: str = ""

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.columns]


def period_where(start: str | None, end: str | None, column: str = "created_at") -> tuple:
    where, params = ["1 = 1"], []
    if start:
        where.append(f"{column} >= ?")
        params.append(start)
    if end:
        where.append(f"{column} < ?")
        params.append(end)
    return " and ".join(where), params
