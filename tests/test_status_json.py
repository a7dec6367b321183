"""`tagwatch status --json`: the facts `status` shows, as one JSON object (#17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.collectors.x import XCollector
from tagwatch.monitor.cli import cli
from tagwatch.settings import load_config
from tagwatch.storage.db import Store

TOKEN = "status-json-token"


def write_config(tmp_path: Path, fake: FakeX, extra: str = "") -> Path:
    today = datetime.now(UTC).date()
    path = tmp_path / "c.toml"
    path.write_text(
        f"""
[event]
name = "Test Assembly"
hashtags = ["HRHN2016"]
timezone = "Europe/Belgrade"
start = {today - timedelta(days=1)}
end = {today + timedelta(days=1)}

[storage]
path = "{tmp_path / "s.db"}"
backup_dir = "{tmp_path / "backups"}"

[x]
enabled = true
api_base_url = "{fake.url}"
budget_usd = 50.0
refresh_budget_share = 0
{extra}
""",
        encoding="utf-8",
    )
    return path


def status_json(path: Path) -> dict:
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # nothing but the object on stdout


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    with FakeX(bearer_token=TOKEN) as server:
        yield server


def test_status_json_carries_the_contract_and_the_ledger_spend(tmp_path: Path, fake: FakeX):
    now = datetime.now(UTC).replace(microsecond=0)
    authors = [fake.add_user(str(900 + a), f"speaker{a}") for a in range(7)]
    for i in range(40):
        at = now - timedelta(minutes=50 - i)
        fake.add_tweet(
            make_tweet(
                snowflake(at, i), f"Panel {i} & Q<A> #HRHN2016", authors[i % 7], created_at=at
            )
        )
    path = write_config(tmp_path, fake)
    config = load_config(path)
    with Store.open(config.db_path) as store:
        record = XCollector(config, store).run_pass()
    assert record.status == "ok", record.error

    data = status_json(path)
    x = data["platforms"]["x"]
    # What the fake returned, priced by the list: 40 posts and their 7 authors.
    assert x["spent_usd_month"] == pytest.approx(40 * 0.005 + 7 * 0.010)
    assert x["budget_usd_month"] == 50.0
    assert x["posts"] == 40 and x["failures_in_a_row"] == 0 and x["last_error"] is None
    assert x["last_success"] and x["budget"]["month"] == {"post": 40, "user": 7, "media": 0}
    for name in ("bluesky", "mastodon"):
        assert data["platforms"][name]["posts"] == 0
        assert data["platforms"][name]["last_success"] is None  # never ran: unknown
    assert data["streams"] == {}
    assert data["backup"]["newest"] is None
    assert data["posts"]["total"] == 40

    text = CliRunner().invoke(cli, ["--config", str(path), "status"]).output
    assert "  x                40" in text
    assert "X spend this month: $0.27 of $50.00 (40 posts $0.20, 7 users $0.07" in text


def test_status_json_names_streams_failures_and_the_newest_backup(tmp_path: Path, fake: FakeX):
    path = write_config(tmp_path, fake)
    config = load_config(path)
    with Store.open(config.db_path) as store:
        with store.transaction() as conn:
            conn.execute(
                "insert into streams (name, state, error, updated_at)"
                " values ('x filtered stream', 'reconnecting', 'X closed the stream', '')"
            )
        fake.fail("/2/tweets/search/recent", 401)
        record = XCollector(config, store).run_pass()
    assert record.status == "failed"
    result = CliRunner().invoke(cli, ["--config", str(path), "backup"])
    assert result.exit_code == 0, result.output

    data = status_json(path)
    stream = data["streams"]["x filtered stream"]
    assert stream["state"] == "reconnecting" and stream["last_error"] == "X closed the stream"
    x = data["platforms"]["x"]
    assert x["failures_in_a_row"] == 1 and "401 Unauthorized" in x["last_error"]
    assert x["last_success"] is None
    assert data["backup"]["count"] == 1 and data["backup"]["newest"].endswith("Z")
    assert data["runner"]["state"] == "stopped"
    assert TOKEN not in json.dumps(data)


def test_status_json_with_a_bad_config_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[event]\nname = 'x'\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""  # a script parsing stdout sees no half object
    assert "Error:" in result.stderr


def test_status_says_who_can_moderate_the_wall_and_which_languages_have_no_word_list(
    tmp_path: Path, fake: FakeX, monkeypatch: pytest.MonkeyPatch
):
    wall = '\n[wall]\nmoderators = { ana = "TW_TOKEN_ANA", bo = "TW_TOKEN_BO" }\n'
    path = write_config(tmp_path, fake, wall)
    path.write_text(
        path.read_text().replace("timezone =", 'languages = ["sr", "en"]\ntimezone ='),
        encoding="utf-8",
    )
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN", raising=False)
    monkeypatch.delenv("TW_TOKEN_BO", raising=False)
    monkeypatch.setenv("TW_TOKEN_ANA", "ana-secret-token-123456")
    data = status_json(path)["wall"]
    assert data == {
        "moderation": "pre",
        "open": True,
        "moderators": ["ana"],
        "moderators_missing": {"bo": "TW_TOKEN_BO"},
        "preset_words": "hold",
        "languages_without_word_list": ["sr"],
    }
    text = CliRunner().invoke(cli, ["--config", str(path), "status"]).output
    assert "Wall: pre-moderation, moderators ana" in text
    assert "moderator bo cannot log in: $TW_TOKEN_BO is not set" in text
    assert "no preset word list for sr" in text
    assert "ana-secret-token-123456" not in text + json.dumps(data)
    # With no token at all, the wall is closed, and status says so.
    monkeypatch.delenv("TW_TOKEN_ANA")
    text = CliRunner().invoke(cli, ["--config", str(path), "status"]).output
    assert "Wall: closed, no moderator token is set" in text
