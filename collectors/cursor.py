"""One cursor format for every platform: where the reading of one query stands.

A cursor is stored per (collector, query) in the same transaction as the
posts it covers (`Collector.store_page`), as one JSON object:

    {"v": 1, "newest": "...", "pending": [{...}, ...], "last_pass": "..."}

- `newest`: the newest position already stored, from which the next pass reads
  on: an id where the platform pages by id (X, Mastodon), an ISO time where it
  pages by time (Bluesky's high-water mark, Threads, Instagram).
- `pending`: walks a pass began and did not finish (page cap, budget, rate
  limit, crash), oldest first, each a small object of named bounds in the
  platform's own terms (X ``since_id``/``until_id``, Mastodon ``max_id``,
  Bluesky ``top``/``until``, Threads ``since``/``until``/``after``/``stop_at``).
- `last_pass`: when the query was last read to its end (Instagram warns when
  two passes lie further apart than its API reaches back).

Before this format each platform kept its own; event databases written then
must resume where they stopped, so `Cursor.read` takes the platform's reader
of its old format (`legacy`) and uses it for any value that is not this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cursor", "Bounds", "LegacyReader", "VERSION"]

VERSION = 1
Bounds = dict[str, str | None]  # one pending walk: named bounds, each a string or null
LegacyReader = Callable[[str], "Cursor | None"]


@dataclass
class Cursor:
    newest: str | None = None
    pending: list[Bounds] = field(default_factory=list)
    last_pass: str | None = None

    def dump(self) -> str:
        data: dict[str, Any] = {"v": VERSION, "newest": self.newest, "pending": self.pending}
        if self.last_pass is not None:
            data["last_pass"] = self.last_pass
        return json.dumps(data)

    @classmethod
    def read(cls, value: str | None, legacy: LegacyReader | None = None) -> Cursor:
        """The stored value as a Cursor; an old platform format through `legacy`.

        A value nobody can read (hand-edited, cut off) gives an empty cursor: the
        next pass starts from the backfill start again, and the store keeps each
        post once, so nothing is lost but requests.
        """
        if not value:
            return cls()
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("v") == VERSION:
            return cls(
                newest=_text(data.get("newest")),
                pending=[_bounds(b) for b in data.get("pending") or [] if isinstance(b, dict)],
                last_pass=_text(data.get("last_pass")),
            )
        old = legacy(value) if legacy is not None else None
        return old if old is not None else cls()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _bounds(value: dict[str, Any]) -> Bounds:
    return {str(k): _text(v) for k, v in value.items()}


def json_object(value: str) -> dict[str, Any] | None:
    """An old cursor's JSON object, or None (for the legacy readers)."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
