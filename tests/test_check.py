"""`tagwatch check`: one cheap request per platform against the loopback fakes, one line each.

The real client libraries talk to the fakes (atproto, tweepy, httpx, smtplib),
so a ✓ here is what a real server that answers like the fake would give; each
✗ must name its cause, and the command exits 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from tagwatch.collectors.bluesky.client import forget_sessions
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.monitor import check as checks
from tagwatch.monitor.check import CheckResult, check_disk, run_checks
from tagwatch.monitor.cli import cli
from tagwatch.settings import Config, parse_config
from tagwatch.storage import quotas
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict, free_port, write_config_toml
from tests.test_digest_send import PASSWORD as SMTP_PASSWORD
from tests.test_digest_send import Authenticator, Inbox

HANDLE = "hrhouse.bsky.social"
BSKY_PASSWORD = "abcd-efgh-ijkl-mnop"
X_TOKEN = "x-bearer-Check-77"
THREADS_TOKEN = "threads-token-Check-31"
IG_TOKEN = "ig-token-Check-52"
IG_USER = "17841400000000001"
WALL_TOKEN = "w" * 43
NOW = datetime.now(UTC)


@dataclass
class World:
    bluesky: FakeBluesky
    x: FakeX
    mastodon: FakeMastodon
    threads: FakeThreads
    instagram: FakeInstagram
    inbox: Inbox
    smtp_port: int
    tmp: Path

    def config_dict(self) -> dict[str, Any]:
        data = base_config_dict(self.tmp)
        today = NOW.date()
        data["event"].update(timezone="UTC", start=today, end=today + timedelta(days=2))
        data["bluesky"] = {"enabled": True, "service": self.bluesky.url}
        data["x"] = {"enabled": True, "api_base_url": self.x.url}
        data["mastodon"] = {"enabled": True, "instances": [self.mastodon.base_url]}
        data["threads"] = {"enabled": True, "api_base_url": self.threads.url}
        data["instagram"] = {
            "enabled": True,
            "api_base_url": self.instagram.url,
            "user_id": IG_USER,
        }
        data["smtp"] = {
            "host": "127.0.0.1",
            "port": self.smtp_port,
            "starttls": False,
            "user": "digest",
            "sender": "Tagwatch <digest@example.org>",
            "timeout_seconds": 10.0,
        }
        data["digest"] = {"recipients": ["comms@example.org"]}
        return data

    def config(self, data: dict[str, Any] | None = None) -> Config:
        return parse_config(data or self.config_dict(), path=self.tmp / "config.toml")

    def run(self, *args: str, data: dict[str, Any] | None = None) -> tuple[int, str]:
        path = write_config_toml(self.tmp / "config.toml", data or self.config_dict())
        result = CliRunner().invoke(cli, ["--config", str(path), "check", *args])
        return result.exit_code, result.output


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    forget_sessions()
    for env, value in {
        "TAGWATCH_BLUESKY_HANDLE": HANDLE,
        "TAGWATCH_BLUESKY_APP_PASSWORD": BSKY_PASSWORD,
        "TAGWATCH_X_BEARER_TOKEN": X_TOKEN,
        "TAGWATCH_THREADS_ACCESS_TOKEN": THREADS_TOKEN,
        "TAGWATCH_INSTAGRAM_ACCESS_TOKEN": IG_TOKEN,
        "TAGWATCH_SMTP_PASSWORD": SMTP_PASSWORD,
        "TAGWATCH_WALL_TOKEN": WALL_TOKEN,
    }.items():
        monkeypatch.setenv(env, value)
    inbox, port = Inbox(), free_port()
    smtp = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=Authenticator(),
        auth_require_tls=False,
    )
    smtp.start()
    bluesky = FakeBluesky()
    bluesky.add_account(HANDLE, BSKY_PASSWORD)
    x = FakeX(bearer_token=X_TOKEN)
    # Seven posts a day over the week the counts cover: 49 in all.
    author = x.add_user("2244994945", "hrhn", "Human Rights House")
    midnight = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
    for day in range(7):
        for n in range(7):
            at = midnight - timedelta(days=day) + timedelta(hours=12, minutes=n)
            at = at if day else NOW - timedelta(minutes=n + 1)
            x.add_tweet(make_tweet(snowflake(at, n), "Day of #HRHN2016", author, created_at=at))
    mastodon = FakeMastodon()
    threads = FakeThreads(token=THREADS_TOKEN)
    instagram = FakeInstagram(token=IG_TOKEN, user_id=IG_USER)
    servers = [bluesky, x, mastodon, threads, instagram]
    for server in servers:
        server.start()
    try:
        yield World(bluesky, x, mastodon, threads, instagram, inbox, port, tmp_path)
    finally:
        for server in servers:
            server.stop()
        smtp.stop()
        forget_sessions()


def line(output: str, name: str) -> str:
    found = [ln for ln in output.splitlines() if ln[2:].startswith(name + " ")]
    assert len(found) == 1, output
    return found[0]


def test_all_green_reads_no_posts_and_creates_nothing(world: World) -> None:
    code, output = world.run()
    assert code == 0, output
    for name in ("database", "bluesky", "x", "mastodon", "threads", "instagram", "smtp", "wall"):
        assert line(output, name).startswith("✓"), output
    assert line(output, "disk").startswith("✓")
    assert f"logged in as {HANDLE}" in line(output, "bluesky")
    x_line = line(output, "x")
    assert "search allowed" in x_line and "billed per request by X" in x_line
    # 49 posts over the 6 days and the part of today counted: 7 or 8 a day.
    assert re.search(r"; [78] posts a day over the last 7 days", x_line), x_line
    assert "open to logged-out readers" in line(output, "mastodon")
    assert "keyword search approved" in line(output, "threads")
    assert "30 of 30 hashtags left" in line(output, "instagram")
    # Nothing read but the proofs: no search, no timeline, no media; no mail sent.
    assert world.bluesky.count("app.bsky.feed.searchPosts") == 0
    assert world.bluesky.count("com.atproto.server.createSession") == 1
    assert [r.path for r in world.x.requests] == ["/2/tweets/counts/recent"]
    assert world.mastodon.count("/api/v1/") == 0 and world.mastodon.count("/api/v2/instance") == 1
    assert world.threads.count("/v1.0/keyword_search") == 0
    assert world.instagram.count("/v21.0/ig_hashtag_search") == 0
    assert world.inbox.envelopes == []
    assert not world.config().db_path.exists()
    for secret in (BSKY_PASSWORD, X_TOKEN, THREADS_TOKEN, IG_TOKEN, SMTP_PASSWORD, WALL_TOKEN):
        assert secret not in output


def test_wrong_bluesky_password(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", "wrong-pass-word-xyz")
    code, output = world.run()
    assert code == 1
    bsky = line(output, "bluesky")
    assert bsky.startswith("✗") and f"Bluesky refused the login of {HANDLE}" in bsky
    assert "app password" in bsky.lower()
    assert "wrong-pass-word-xyz" not in output
    assert line(output, "x").startswith("✓")  # the others are still checked


def test_missing_bluesky_variables_are_named(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAGWATCH_BLUESKY_APP_PASSWORD")
    code, output = world.run()
    assert code == 1
    assert "set $TAGWATCH_BLUESKY_APP_PASSWORD" in line(output, "bluesky")


def test_x_token_without_search_access(world: World) -> None:
    world.x.deny("/2/tweets/search")
    world.x.deny("/2/tweets/counts")
    code, output = world.run()
    assert code == 1
    x_line = line(output, "x")
    assert x_line.startswith("✗")
    assert "access level does not include search" in x_line
    assert "Upgrade the X API access level" in x_line


def test_x_token_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", "not-the-token-8812")
    code, output = world.run()
    assert code == 1
    assert "X refused the bearer token in TAGWATCH_X_BEARER_TOKEN" in line(output, "x")
    assert "not-the-token-8812" not in output


def test_mastodon_instance_down(world: World) -> None:
    world.mastodon.go_down()
    code, output = world.run()
    assert code == 1
    masto = line(output, "mastodon")
    assert masto.startswith("✗") and f"cannot reach {world.mastodon.base_url}" in masto
    assert "remove it from mastodon.instances while it is down" in masto


def test_mastodon_instance_closed_to_logged_out_readers(world: World) -> None:
    with FakeMastodon(hashtag_feeds="authenticated") as closed:
        data = world.config_dict()
        data["mastodon"]["instances"] = [world.mastodon.base_url, closed.base_url]
        code, output = world.run(data=data)
        assert closed.count("/api/v1/") == 0  # the configuration said it: no timeline asked
    assert code == 1
    lines = [ln for ln in output.splitlines() if ln[2:].startswith("mastodon ")]
    assert lines[0].startswith("✓")
    assert lines[1].startswith("✗")
    assert f"hashtag timeline closed to logged-out readers on {closed.domain}" in lines[1]
    assert "add an access token" in lines[1]


def test_mastodon_closed_instance_with_a_token_passes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon(hashtag_feeds="authenticated", tokens=["masto-tok-1"]) as closed:
        monkeypatch.setenv("TAGWATCH_CLOSED_TOKEN", "masto-tok-1")
        data = world.config_dict()
        data["mastodon"].update(
            instances=[closed.base_url],
            access_token_envs={closed.base_url: "TAGWATCH_CLOSED_TOKEN"},
        )
        code, output = world.run(data=data)
    assert code == 0, output
    assert "read with the token in $TAGWATCH_CLOSED_TOKEN" in line(output, "mastodon")


def test_unwritable_database_folder(world: World) -> None:
    not_a_folder = world.tmp / "event"
    not_a_folder.write_text("a file where the folder should be", encoding="utf-8")
    data = world.config_dict()
    data["storage"] = {"path": str(not_a_folder / "tagwatch.db")}
    code, output = world.run(data=data)
    assert code == 1
    db = line(output, "database")
    assert db.startswith("✗")
    assert f"the folder {not_a_folder} for the database is not a folder" in db
    assert "change [storage] path" in db


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root writes through folder permissions",
)
def test_read_only_database_folder(world: World) -> None:
    folder = world.tmp / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        data = world.config_dict()
        data["storage"] = {"path": str(folder / "tagwatch.db")}
        code, output = world.run(data=data)
    finally:
        folder.chmod(0o755)
    assert code == 1
    assert "cannot be written" in line(output, "database")


def test_database_that_cannot_take_a_write(world: World) -> None:
    path = world.config().db_path
    path.write_bytes(b"this is not an SQLite database, but it is in the way" * 100)
    code, output = world.run()
    assert code == 1
    db = line(output, "database")
    assert db.startswith("✗") and f"{path} cannot be written (file is not a database)" in db
    assert "tagwatch restore" in db


def test_existing_database_is_checked_and_its_ledgers_read(world: World) -> None:
    config = world.config()
    with Store.open(config.db_path) as store:
        for n in range(29):  # 29 other hashtags asked this week: room for one more
            quotas.record_query(store.conn, "instagram", f"other{n}", NOW - timedelta(days=1))
    code, output = world.run()
    assert code == 0, output
    assert "writable" in line(output, "database")
    assert "1 of 30 hashtags left" in line(output, "instagram")
    with Store.open(config.db_path) as store:
        quotas.record_query(store.conn, "instagram", "other29", NOW - timedelta(days=1))
    code, output = world.run()
    assert code == 1
    ig = line(output, "instagram")
    assert ig.startswith("✗") and "0 of 30 hashtags left" in ig and "needs 1 more" in ig


def test_threads_without_search_approval(world: World) -> None:
    with FakeThreads(token=THREADS_TOKEN, approved=False, owner="hrh_org") as fake:
        data = world.config_dict()
        data["threads"]["api_base_url"] = fake.url
        code, output = world.run(data=data)
        assert fake.count("/v1.0/keyword_search") == 0
    assert code == 1
    threads = line(output, "threads")
    assert threads.startswith("✗") and "only the token owner's own posts (@hrh_org)" in threads
    assert "Request threads_keyword_search in App Review" in threads


def test_revoked_instagram_token(world: World) -> None:
    world.instagram.revoked = True
    code, output = world.run()
    assert code == 1
    assert "Instagram refused the access token" in line(output, "instagram")


def test_wall_token_too_short_or_missing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "short-token")
    code, output = world.run()
    assert code == 1
    wall = line(output, "wall")
    assert wall.startswith("✗") and "has 11 characters, fewer than 24" in wall
    assert "token_urlsafe(32)" in wall and "short-token" not in output
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN")
    code, output = world.run()
    assert code == 0 and "not needed unless you serve the wall" in line(output, "wall")
    data = world.config_dict()
    data["schedule"] = {"serve_wall": True}
    code, output = world.run(data=data)
    assert code == 1 and "no moderation token in $TAGWATCH_WALL_TOKEN" in line(output, "wall")


def test_smtp_wrong_password(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_SMTP_PASSWORD", "not-it-4411")
    code, output = world.run()
    assert code == 1
    smtp = line(output, "smtp")
    assert smtp.startswith("✗") and "refused the login of 'digest'" in smtp
    assert "not-it-4411" not in output and world.inbox.envelopes == []


def test_send_test_mails_one_message(world: World) -> None:
    code, output = world.run("--send-test")
    assert code == 0, output
    assert "sent a test message to comms@example.org" in line(output, "smtp")
    (message,) = world.inbox.messages()
    assert message["Subject"].startswith("tagwatch check: test message")
    assert message["To"] == "comms@example.org"


def test_no_mail_configured_means_no_smtp_line(world: World) -> None:
    data = world.config_dict()
    del data["smtp"], data["digest"]
    code, output = world.run(data=data)
    assert code == 0, output
    assert "smtp" not in output


def test_disk_forecast_uses_x_counts_and_says_its_assumptions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = world.config()
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda _p: type("U", (), {"free": 10**12})())
    ok = check_disk(config, NOW, 1_000.0)
    # 3 days ahead x (X 1,000 + 4 other platforms x 5,000) x 8 KB x (1 + 8 backups)
    expected = 3 * (1_000 + 4 * checks.POSTS_PER_DAY) * checks.BYTES_PER_POST * 9
    assert ok.ok and f"forecast needs {expected / 1e9:,.1f} GB" in ok.detail
    assert "X 1,000/day from its counts" in ok.detail and "bluesky 5,000/day assumed" in ok.detail
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda _p: type("U", (), {"free": 10**6})())
    low = check_disk(config, NOW, 1_000.0)
    assert not low.ok and "larger disk" in low.line()
    over = check_disk(config, NOW + timedelta(days=5), None)
    assert over.ok and "0 posts over 0 day(s) ahead" in over.detail


def test_x_forecast_of_the_days_ahead(world: World) -> None:
    data = world.config_dict()
    for name in ("bluesky", "mastodon", "threads", "instagram"):
        data[name]["enabled"] = False
    results = {r.name: r for r in run_checks(world.config(data), now=NOW)}
    x = results["x"]
    assert x.ok
    # 49 posts counted over the last 7 days (6 days and today so far) -> 3 event days ahead.
    assert "the event's 3 day(s) ahead" in x.detail
    assert "1 counts request(s)" in x.detail


def test_result_line_format() -> None:
    assert CheckResult("x", True, "fine").line() == "✓ x         fine"
    assert CheckResult("x", False, "broken", "fix it").line() == "✗ x         broken: fix it"


def test_event_days_ahead() -> None:
    data = base_config_dict(Path("/tmp"))
    data["event"].update(timezone="UTC", start=date(2016, 11, 24), end=date(2016, 11, 26))
    config = parse_config(data, path=Path("/tmp/config.toml"))
    at = datetime(2016, 11, 25, 12, tzinfo=UTC)
    assert checks._days_ahead(config, at - timedelta(days=10)) == 3
    assert checks._days_ahead(config, at) == 2
    assert checks._days_ahead(config, at + timedelta(days=5)) == 0
