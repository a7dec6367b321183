"""Deletion: a post deleted upstream leaves the database, the wall, exports and reports.

With [storage] vacuum_after_purge the pass that purged it rewrites the file, so
its text is not even left in free pages: the test greps the raw bytes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tagwatch.reports.wall.app import create_app
from tagwatch.settings import load_config
from tests.reliability_support import bluesky_event
from tests.wall_support import caught_up

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

GONE = "Regret-this-post-4711 please forget me #HRHN2016"
KEPT = "A post that stays #HRHN2016"


@pytest.mark.parametrize("vacuum", [True, False])
def test_deleted_upstream_is_purged_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vacuum: bool
) -> None:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "wall-token-for-deletion")
    with bluesky_event(
        tmp_path,
        monkeypatch,
        storage={"vacuum_after_purge": vacuum},
        wall={"moderation": "post"},
    ) as ev:
        gone = ev.post("regret.bsky.social", GONE)
        ev.post("stays.bsky.social", KEPT)
        assert ev.cli("collect").exit_code == 0
        assert GONE.encode() in ev.db_bytes()

        with TestClient(create_app(load_config(ev.config), poll_interval=0.02)) as wall:
            before = wall.get("/api/wall").json()
            assert GONE in [p["text"] for p in before["show"]]

            ev.fake.delete_post(gone)
            result = ev.cli("collect")
            assert result.exit_code == 0, result.output
            lingering = b"Regret-this-post-4711" in ev.db_bytes()
            # The control: with the wall still reading, the purged page's old copy is still
            # in the file (the WAL) unless VACUUM ran: why the key exists.
            assert lingering is not vacuum

            # The wall drops it at once: the next poll says to remove it.
            caught_up(wall)
            after = wall.get(f"/api/wall?since={before['seq']}").json()
            assert after["remove"] and GONE not in str(after)
            assert GONE not in wall.get("/api/wall").text

        outputs = ev.outputs()
        assert KEPT.encode() in outputs["export.jsonl"]
        for name, content in outputs.items():
            assert GONE.encode() not in content, name
            assert b"Regret-this-post-4711" not in content, name
        if vacuum:
            assert b"Regret-this-post-4711" not in ev.db_bytes()
            assert KEPT.encode() in ev.db_bytes()
        # Without VACUUM, whether the old copy is still there once everyone closed the file
        # depends on SQLite's last checkpoint: nothing is promised.
