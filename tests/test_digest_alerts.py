"""The digest's Alerts section (#22): the day's alerts, newest first, only when there were any."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tagwatch.reports.digest import (
    build_digest,
    md_escape,
    render_html,
    render_markdown,
    render_text,
    webhook_text,
)
from tagwatch.settings import Config
from tagwatch.storage import alerts as db
from tagwatch.storage.db import Store
from tests.digest_fixture import DAY, build_fixture_db, digest_config

NOW = datetime(2016, 11, 26, 6, 30, tzinfo=UTC)
HOSTILE_TITLE = "Pile-on against @<b>x</b> *now* [click](javascript:alert(1))"


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    config = digest_config(tmp_path)
    build_fixture_db(config)
    return config


def _alert(store: Store, title: str, at: datetime, *, kind: str = "surge", target: str = "") -> int:
    return db.insert_alert(
        store,
        kind=kind,
        cause=f"{kind}:{title}",
        target=target,
        title=title,
        lines=["a line"],
        examples=[],
        facts={},
        at=at,
    )


def _delivery(
    store: Store, alert_id: int, channel: str, status: str, at: datetime, **kw: str
) -> None:
    delivery_id = db.add_delivery(
        store,
        alert_id=alert_id,
        channel=channel,
        message=kw.get("message", "alert"),
        status="queued" if status in ("sent", "failed") else status,
        reason=kw.get("reason"),
        local_day=at.date().isoformat(),
        at=at,
    )
    if status in ("sent", "failed"):
        db.finish_delivery(store, delivery_id, status=status, attempts=1, at=at)


def _two_alerts_on_the_day(config: Config) -> None:
    with Store.open(config.db_path) as store:
        # 10:00 local, back to normal at 10:40: sent to the webhook, held back on Matrix.
        surge_at = datetime(2016, 11, 25, 9, 0, tzinfo=UTC)
        surge = _alert(store, "Surge on bluesky: 64 posts in the last 15 min", surge_at)
        _delivery(store, surge, "webhook", "sent", surge_at)
        _delivery(
            store, surge, "matrix", "suppressed", surge_at, reason="quiet hours (09:00-11:00)"
        )
        back = datetime(2016, 11, 25, 9, 40, tzinfo=UTC)
        db.resolve_alert(store, surge, at=back)
        _delivery(store, surge, "webhook", "sent", back, message="resolved")  # not counted
        # 16:00 local, still on: the daily cap held it back on one channel, the other failed.
        pile_at = datetime(2016, 11, 25, 15, 0, tzinfo=UTC)
        pile = _alert(store, HOSTILE_TITLE, pile_at, kind="pile_on", target="marija.bsky.social")
        _delivery(store, pile, "webhook", "suppressed", pile_at, reason="daily cap of 20 reached")
        _delivery(store, pile, "matrix", "failed", pile_at)
        # The day before, and 00:30 local on the day after: neither is the 25th's.
        _alert(store, "Yesterday's surge", datetime(2016, 11, 24, 12, 0, tzinfo=UTC))
        _alert(store, "Tomorrow's surge", datetime(2016, 11, 25, 23, 30, tzinfo=UTC))


def test_a_day_with_two_alerts_lists_both_newest_first(cfg: Config) -> None:
    _two_alerts_on_the_day(cfg)
    d = build_digest(cfg, DAY, now=NOW)
    assert [(a.kind, a.fired, a.resolved, a.target) for a in d.alerts] == [
        ("pile_on", "16:00", "", "marija.bsky.social"),
        ("surge", "10:00", "10:40", ""),
    ]
    pile, surge = d.alerts
    assert (surge.sent, surge.quiet_hours, surge.daily_cap, surge.failed) == (1, 1, 0, 0)
    assert surge.outcome == "sent 1, held back by quiet hours 1"
    assert pile.outcome == "held back by the daily cap 1, failed 1"

    text = render_text(d)
    assert "ALERTS (2, newest first)" in text
    assert text.index(HOSTILE_TITLE) < text.index("Surge on bluesky: 64 posts")
    assert "back to normal 10:40 · sent 1, held back by quiet hours 1" in text
    assert "pile_on · marija.bsky.social · still on · held back by the daily cap 1" in text
    assert "Yesterday's surge" not in text and "Tomorrow's surge" not in text

    md = render_markdown(d)
    assert "## Alerts" in md
    assert "| 10:00 | Surge on bluesky: 64 posts in the last 15 min | surge | 10:40 |" in md
    assert f"| 16:00 | {md_escape(HOSTILE_TITLE)} |" in md
    assert "<b>" not in md and "](javascript" not in md

    html = render_html(d)
    assert ">Alerts</h2>" in html
    assert "Surge on bluesky: 64 posts in the last 15 min" in html
    assert "@&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert html.index("&lt;b&gt;x") < html.index("Surge on bluesky")

    chat = webhook_text(d)
    assert "2 alerts: Pile-on against @&lt;b&gt;x&lt;/b&gt;" in chat


def test_an_empty_day_still_lists_its_alerts(cfg: Config) -> None:
    with Store.open(cfg.db_path) as store:
        _alert(store, "Collection from x has failed", datetime(2016, 11, 27, 8, tzinfo=UTC))
    d = build_digest(cfg, date(2016, 11, 27), now=NOW)
    assert d.empty
    assert "Collection from x has failed" in render_text(d)
    assert d.alerts[0].outcome == "not sent (no channel)"


def test_a_day_without_alerts_has_no_alerts_section(cfg: Config) -> None:
    with Store.open(cfg.db_path) as store:
        _alert(store, "Yesterday's surge", datetime(2016, 11, 24, 12, 0, tzinfo=UTC))
    d = build_digest(cfg, DAY, now=NOW)
    assert d.alerts == []
    assert "ALERTS" not in render_text(d)
    assert "## Alerts" not in render_markdown(d)
    assert ">Alerts</h2>" not in render_html(d)
    assert "alert" not in webhook_text(d)


def test_a_database_without_alert_tables_reads_as_no_alerts() -> None:
    conn = sqlite3.connect(":memory:")
    start, end = datetime(2016, 11, 25, tzinfo=UTC), datetime(2016, 11, 26, tzinfo=UTC)
    assert db.alerts_between(conn, start, end) == []
    assert db.alerts_since(conn, start) == []
