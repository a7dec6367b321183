"""Every config error names the key and the file, and exits 2 through the CLI."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagwatch.errors import ConfigError
from tagwatch.monitor.cli import cli
from tagwatch.settings import SETTINGS, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_is_valid():
    config = load_config(ROOT / "config.toml")
    assert config.event.hashtags == ("HRHN2016",)
    assert config.event.tags == frozenset({"hrhn2016"})
    assert config.event.timezone == "Europe/Belgrade"
    assert config.event.start == date(2016, 11, 24)
    assert len(config.event.sessions) >= 3
    first = config.event.sessions[0]
    assert first.start.utcoffset().total_seconds() == 3600  # Belgrade in November: UTC+1
    assert config.bluesky.enabled is True
    assert config.db_path == ROOT / "tagwatch.db"


def test_defaults_filled_in(config):
    assert config.x.enabled is False
    assert config.x.api_base_url == "https://api.twitter.com"
    assert config.mastodon.instances == ("https://mastodon.social",)  # lists are frozen: tuples


def test_hashtags_lose_hash_and_dedupe_case_insensitively(config_dict):
    config_dict["event"]["hashtags"] = ["#HRHN2016", "hrhn2016", " FreeAzerbaijan "]
    config = parse_config(config_dict)
    assert config.event.hashtags == ("hrhn2016", "FreeAzerbaijan")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["event"].update(colour="red"), "unknown key 'event.colour'"),
        (lambda d: d.update(twitter={}), "unknown section [twitter]"),
        (lambda d: d["event"].update(hashtags=[]), "event.hashtags is empty"),
        (lambda d: d["event"].update(hashtags=["#"]), "event.hashtags is empty"),
        (lambda d: d["event"].update(hashtags="HRHN2016"), "event.hashtags must be a list of str"),
        (lambda d: d["event"].update(hashtags=["two words"]), "contains spaces"),
        (lambda d: d["event"].pop("hashtags"), "missing required key 'event.hashtags'"),
        (lambda d: d["event"].pop("name"), "missing required key 'event.name'"),
        (lambda d: d.pop("event"), "missing [event] section"),
        (lambda d: d["event"].update(timezone="Mars/Olympus"), "not a known IANA timezone"),
        (lambda d: d["event"].update(start="2016-11-24"), "event.start must be a date"),
        (lambda d: d["event"].update(end=date(2016, 11, 1)), "is before event.start"),
        (lambda d: d.update(bluesky={"enabled": "yes"}), "bluesky.enabled must be a true/false"),
        (lambda d: d.update(x={"interval_minutes": 0}), "x.interval_minutes must be greater"),
        (lambda d: d.update(mastodon={"instances": ["mastodon.social"]}), "must start with https"),
        (lambda d: d.update(storage="db.sqlite"), "[storage] must be a table"),
        (
            lambda d: d["event"].update(sessions=[{"title": "x"}]),
            "missing required key 'event.sessions.start'",
        ),
    ],
)
def test_config_errors_name_the_key_and_file(config_dict, mutate, message):
    mutate(config_dict)
    with pytest.raises(ConfigError) as info:
        parse_config(config_dict, path="/etc/tagwatch/event.toml")
    assert message in str(info.value)
    assert "/etc/tagwatch/event.toml" in str(info.value)


def test_session_that_ends_before_it_starts(config_dict):
    from datetime import datetime

    config_dict["event"]["sessions"] = [
        {"title": "Panel", "start": datetime(2016, 11, 24, 12), "end": datetime(2016, 11, 24, 11)}
    ]
    with pytest.raises(ConfigError, match="'Panel'.*ends before it starts"):
        parse_config(config_dict)


def test_missing_file_error(tmp_path):
    with pytest.raises(ConfigError, match="not found.*--config"):
        load_config(tmp_path / "absent.toml")


def test_invalid_toml_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[event\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_cli_exits_2_with_one_clear_message(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[event]\nname = "E"\nhashtags = []\nstart = 2016-11-24\nend = 2016-11-26\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "event.hashtags is empty" in result.output
    assert "Traceback" not in result.output


def test_config_from_environment_variable(tmp_path, monkeypatch):
    shutil.copy(ROOT / "config.toml", tmp_path / "elsewhere.toml")
    monkeypatch.setenv("TAGWATCH_CONFIG", str(tmp_path / "elsewhere.toml"))
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    assert "Human Rights House Network Assembly 2016" in result.output


def test_secrets_come_from_environment_only(config, monkeypatch):
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", "tok-123")
    assert config.secret(config.x.bearer_token_env) == "tok-123"
    monkeypatch.delenv("TAGWATCH_X_BEARER_TOKEN")
    assert config.secret(config.x.bearer_token_env) is None


def test_every_setting_has_a_description():
    for s in SETTINGS:
        assert s.description.strip(), f"{s.section}.{s.key} has no description"
    keys = [(s.section, s.key) for s in SETTINGS]
    assert len(keys) == len(set(keys)), "a setting is declared twice"
