"""`tagwatch browse`: the database in Datasette, read-only, described for researchers.

Datasette opens a database file given to it in its default ("mutable") mode
with `?mode=ro` connections and re-reads it as it changes, which is what a file
that `tagwatch run` is writing needs: `-i` (immutable) would promise SQLite the
file never changes, and stale or torn reads follow when it does. So tagwatch
never asks Datasette for a write connection, and SQLite refuses writes on the
ones it has (see datasette/database.py, `Database.connect`).

What the tables and columns mean, the canned queries and the hidden tables live
in `browse_metadata.json`; this module adds what depends on the event (title,
source, the local-day shift) and serves it. Datasette is an optional extra
(`pip install 'tagwatch[browse]'`), imported only here and only when used.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, time
from importlib import resources
from pathlib import Path
from typing import Any

from tagwatch.errors import UsageError
from tagwatch.settings import Config

__all__ = [
    "INSTALL_HINT",
    "HIDDEN_COLUMNS",
    "database_name",
    "browse_metadata",
    "make_datasette",
    "serve",
]

INSTALL_HINT = "pip install 'tagwatch[browse]'"

# Columns left out of a table's default HTML page (still in its row pages, JSON and CSV):
# the raw API payloads, long and of use only to someone checking what a platform sent.
HIDDEN_COLUMNS: dict[str, tuple[str, ...]] = {"posts": ("raw",)}


def database_name(db_path: Path) -> str:
    """The name Datasette gives a database file: its stem (tagwatch.db -> tagwatch)."""
    return db_path.stem


def _day_shift(config: Config) -> str:
    """SQLite date modifier from UTC to the event's local day, at the event's first day.

    SQLite knows no timezones; an event rarely spans a DST change, and the README says
    these per-day figures use the offset of the first day.
    """
    start = datetime.combine(config.event.start, time(12), tzinfo=config.event.tz)
    offset = start.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return f"{minutes:+d} minutes"


def browse_metadata(config: Config) -> dict[str, Any]:
    """Datasette metadata for this event's database."""
    text = resources.files("tagwatch.monitor").joinpath("browse_metadata.json").read_text("utf-8")
    base = json.loads(text)
    base.pop("_comment", None)
    db: dict[str, Any] = {
        "tables": copy.deepcopy(base.pop("tables")),
        "queries": copy.deepcopy(base.pop("queries")),
    }
    shift = _day_shift(config)
    for query in db["queries"].values():
        query["sql"] = query["sql"].replace("{day_shift}", shift)
    ev = config.event
    tags = " ".join(f"#{t}" for t in ev.hashtags)
    minutes = int(shift.split()[0])
    utc = f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    db["description"] = (
        f"Posts with {tags} from {ev.start} to {ev.end}. Times in the tables are UTC; the"
        f" per-day query counts local days in {ev.timezone} ({utc}, its offset on the first day)."
    )
    meta: dict[str, Any] = {
        "title": f"{ev.name}: {tags}",
        **base,
        "source": f"{base['source']} for {ev.name}",
        "databases": {database_name(config.db_path): db},
    }
    if ev.url:
        meta["about"] = ev.name
        meta["about_url"] = ev.url
    return meta


def _datasette_class() -> Any:
    try:
        from datasette.app import Datasette
    except ImportError as exc:
        raise UsageError(
            f"tagwatch browse needs Datasette, which is not installed: {INSTALL_HINT}"
        ) from exc
    _register_plugin()
    return Datasette


def make_datasette(config: Config) -> Any:
    """A Datasette over the config's database, read-only, with tagwatch's metadata."""
    Datasette = _datasette_class()
    path = config.db_path
    if not path.is_file():
        raise UsageError(
            f"No database at {path} yet: run `tagwatch collect` (or `tagwatch run`) first, "
            "or check [storage] path in the config."
        )
    ds = Datasette(
        [str(path)],
        metadata=browse_metadata(config),
        settings={"suggest_facets": False},
    )
    ds.tagwatch_hidden_columns = {database_name(path): HIDDEN_COLUMNS}
    return ds


def serve(ds: Any, host: str, port: int, *, open_url: str | None = None) -> None:
    """Run a `make_datasette` app under uvicorn until Ctrl-C."""
    import uvicorn

    if open_url:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(open_url,)).start()
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on")


# -- the in-process plugin -----------------------------------------------------------------


def _hide_columns(app: Any, datasette: Any) -> Any:
    """ASGI wrapper: a table's HTML page without its hidden columns unless ?_col/_nocol says.

    Datasette's metadata has no "hidden column"; its `?_nocol=` does exactly this
    for one request, so the default view is given it.
    """

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Read at request time: Datasette builds its app (for `.client`) inside __init__,
        # before make_datasette can say what to hide. Other Datasettes have none.
        hidden: dict[str, dict[str, tuple[str, ...]]] = getattr(
            datasette, "tagwatch_hidden_columns", {}
        )
        if hidden and scope.get("type") == "http":
            parts = scope.get("path", "").strip("/").split("/")
            query = scope.get("query_string", b"").decode("latin-1")
            if len(parts) == 2 and "_col=" not in query and "_nocol=" not in query:
                columns = hidden.get(parts[0], {}).get(parts[1], ())
                if columns:
                    extra = "&".join(f"_nocol={c}" for c in columns)
                    query = f"{query}&{extra}" if query else extra
                    scope = {**scope, "query_string": query.encode("latin-1")}
        await app(scope, receive, send)

    return wrapped


def _register_plugin() -> None:
    """Register the column-hiding wrapper as a Datasette plugin, once per process.

    Datasette lists plugins by module name, so the plugin is a module object.
    """
    import types

    from datasette import hookimpl
    from datasette.plugins import pm

    if pm.get_plugin("tagwatch_browse") is not None:
        return

    @hookimpl
    def asgi_wrapper(datasette: Any) -> Any:
        return lambda app: _hide_columns(app, datasette)

    plugin = types.ModuleType("tagwatch_browse")
    plugin.asgi_wrapper = asgi_wrapper  # type: ignore[attr-defined]
    pm.register(plugin, name="tagwatch_browse")
