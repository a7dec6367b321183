"""The moderation page's alerts panel (#22): its API route, behind the moderator token."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.reports.wall.app import create_app
from tagwatch.settings import parse_config
from tagwatch.storage import alerts as db
from tagwatch.storage.db import Store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "alerts-test-token-3b7a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2016, 11, 24, 13, 20, tzinfo=UTC)
EXAMPLE_TEXT = "EXAMPLE-post-text-not-for-the-panel"


def add_alert(
    store: Store,
    title: str,
    fired: datetime,
    *,
    resolved: datetime | None = None,
    kind: str = "surge",
    target: str = "bluesky",
) -> int:
    """An alert as the engine stores it (tagwatch.storage.alerts), with its deliveries."""
    alert_id = db.insert_alert(
        store,
        kind=kind,
        cause=f"{kind}:{title}",
        target=target,
        title=title,
        lines=["why it fired"],
        examples=[
            db.StoredExample("https://bsky.app/p/1", "a.bsky.social", "bluesky", EXAMPLE_TEXT)
        ],
        facts={"posts": 64},
        at=fired,
    )
    sent = db.add_delivery(
        store,
        alert_id=alert_id,
        channel="webhook",
        message="alert",
        status="queued",
        local_day="2016-11-24",
        at=fired,
    )
    db.finish_delivery(store, sent, status="sent", attempts=1, at=fired)
    db.add_delivery(
        store,
        alert_id=alert_id,
        channel="matrix",
        message="alert",
        status="suppressed",
        reason="quiet hours (00:30-06:30)",
        local_day="2016-11-24",
        at=fired,
    )
    if resolved is not None:
        db.resolve_alert(store, alert_id, at=resolved)
        db.add_delivery(
            store,
            alert_id=alert_id,
            channel="webhook",
            message="resolved",
            status="sent",
            local_day="2016-11-24",
            at=resolved,
        )
    return alert_id


@pytest.fixture
def client(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Store]]:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    with TestClient(create_app(config, now=lambda: NOW, poll_interval=0.02)) as c:
        yield c, store
    store.close()


def test_the_route_lists_the_last_days_alerts_newest_first(client) -> None:
    c, store = client
    hour = timedelta(hours=1)
    surge = add_alert(store, "Surge on bluesky: 64 posts", NOW - 2 * hour, resolved=NOW - hour)
    add_alert(store, "Old and over", NOW - 30 * hour, resolved=NOW - 29 * hour)
    still_on = add_alert(
        store, "Collection from x has failed", NOW - 30 * hour, kind="collection", target="x"
    )
    r = c.get("/api/moderation/alerts", headers=AUTH)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["now"] == "2016-11-24T13:20:00.000000Z"
    # Fired in the last 24 h, or still on: the old resolved one is left out.
    assert [a["id"] for a in body["alerts"]] == [still_on, surge]
    first = body["alerts"][1]
    assert first == {
        "id": surge,
        "kind": "surge",
        "title": "Surge on bluesky: 64 posts",
        "target": "bluesky",
        "fired_at": "2016-11-24T11:20:00.000000Z",
        "resolved_at": "2016-11-24T12:20:00.000000Z",
        # The alert's own message per channel; the "back to normal" one is not its outcome.
        "deliveries": [
            {"channel": "webhook", "status": "sent", "reason": None},
            {"channel": "matrix", "status": "suppressed", "reason": "quiet hours (00:30-06:30)"},
        ],
    }
    assert body["alerts"][0]["resolved_at"] is None
    assert EXAMPLE_TEXT not in r.text  # the panel lists alerts, it does not quote posts


def test_the_route_needs_the_moderator_token(client) -> None:
    c, store = client
    add_alert(store, "Surge on bluesky: 64 posts", NOW - timedelta(hours=1))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = c.get("/api/moderation/alerts", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"error": "Wrong or missing moderation token."}
        assert "Surge" not in r.text


def test_the_route_is_off_when_moderation_is(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN", raising=False)
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    with TestClient(create_app(config, now=lambda: NOW, poll_interval=0.02)) as c:
        r = c.get("/api/moderation/alerts", headers=AUTH)
    assert r.status_code == 403
    assert "set the environment variable TAGWATCH_WALL_TOKEN" in r.json()["error"]


def test_no_alerts_is_an_empty_list(client) -> None:
    c, _ = client
    assert c.get("/api/moderation/alerts", headers=AUTH).json()["alerts"] == []
