"""Typed settings (#19): one dataclass per section, generated from SETTINGS; checks in the loader.

Why each test: the dataclasses are what mypy sees, so a field missing or of
the wrong type would let a typo or a wrong use of a setting through unseen;
and a check of a setting's value done outside the loader would refuse a
config for one command and accept it for another.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tagwatch import settings_types
from tagwatch.errors import ConfigError
from tagwatch.monitor.docs import settings_types_source
from tagwatch.settings import SETTINGS, Config, parse_config, time_of_day, time_range

ROOT = Path(__file__).resolve().parent.parent
PLAIN = {str: str, int: int, float: float, bool: bool, date: date, datetime: datetime}


def test_settings_types_module_is_current() -> None:
    text = (ROOT / "tagwatch" / "settings_types.py").read_text(encoding="utf-8")
    assert text == settings_types_source(), "run: python -m tagwatch.monitor.docs"


def _expected(t: Any) -> Any:
    if isinstance(t, tuple):
        return tuple[t[0], ...]
    if t is dict:
        return Mapping[str, str]
    return PLAIN[t]


def test_every_section_dataclass_matches_settings_both_ways() -> None:
    by_section: dict[str, dict[str, Any]] = {}
    for s in SETTINGS:
        by_section.setdefault(s.section, {})[s.key] = _expected(s.type)
    assert set(settings_types.SECTION_TYPES) == set(by_section)
    for name, cls in settings_types.SECTION_TYPES.items():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        hints = typing.get_type_hints(cls, vars(settings_types))
        fields = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
        assert fields == by_section[name], f"[{name}]"


def test_config_reads_each_section_typed_and_frozen(config: Config) -> None:
    for name, cls in settings_types.SECTION_TYPES.items():
        if name != "event":  # config.event is the parsed EventConfig
            assert isinstance(getattr(config, name), cls)
            assert getattr(config, name) is config.sections[name]
    assert isinstance(config.x.budget_usd, float) and isinstance(config.digest.top_n, int)
    assert config.mastodon.instances == ("https://mastodon.social",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.x.budget_usd = 5.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _ = config.x.no_such_key  # type: ignore[attr-defined]


def test_platform_by_name(config: Config) -> None:
    for name in settings_types.PLATFORM_SECTIONS:
        section = config.platform(name)
        assert isinstance(section.enabled, bool) and section.interval_minutes > 0
    assert config.platform("x").interval_minutes == 15.0
    with pytest.raises(TypeError, match=r"\[storage\] holds a StorageSection"):
        config.platform("storage")


def test_section_get_and_as_dict(config: Config) -> None:
    assert config.x.get("query") == "#{tag} -is:retweet"
    assert config.smtp.as_dict()["port"] == 587
    with pytest.raises(KeyError, match="no setting 'colour'"):
        config.x.get("colour")


def test_times_of_day() -> None:
    assert time_of_day(" 7:30 ") == datetime(2016, 1, 1, 7, 30).time()
    assert time_of_day("") is None and time_of_day("24:00") is None
    assert time_range("23:00 - 07:00") == (time_of_day("23:00"), time_of_day("07:00"))
    assert time_range("23:00") is None and time_range("23:00-7h") is None


# Every setting with a `check`, and every cross-field check, with a value it refuses
# and the message it gives (the message each had before it moved into the loader).
REFUSED: list[tuple[dict[str, dict[str, Any]], str]] = [
    ({"storage": {"backup_every_hours": -1}}, "storage.backup_every_hours must be 0 (no backups)"),
    ({"storage": {"backup_keep": 0}}, "storage.backup_keep must be at least 1."),
    ({"bluesky": {"interval_minutes": 0}}, "bluesky.interval_minutes must be greater than 0."),
    ({"x": {"interval_minutes": -1}}, "x.interval_minutes must be greater than 0."),
    ({"mastodon": {"interval_minutes": 0}}, "mastodon.interval_minutes must be greater than 0."),
    ({"threads": {"interval_minutes": 0}}, "threads.interval_minutes must be greater than 0."),
    ({"instagram": {"interval_minutes": 0}}, "instagram.interval_minutes must be greater than 0."),
    (
        {"mastodon": {"instances": ["https://a.example", "b.example"]}},
        "mastodon.instances entry 'b.example' must start with https://",
    ),
    (
        {"mastodon": {"access_token_envs": {"other.example": "TOKEN"}}},
        "mastodon.access_token_envs has 'other.example', which is not in mastodon.instances",
    ),
    ({"x": {"query": "#HRHN2016"}}, "x.query '#HRHN2016' must contain {tag}, where each hashtag"),
    ({"x": {"monthly_post_budget": -1}}, "x.monthly_post_budget must be 0 (no limit) or more."),
    ({"x": {"daily_post_budget": -1}}, "x.daily_post_budget must be 0 (no limit) or more."),
    ({"x": {"budget_usd": -0.5}}, "x.budget_usd must be 0 (no limit) or more."),
    ({"x": {"price_per_post_usd": 0}}, "x.price_per_post_usd must be greater than 0 (X's price"),
    ({"x": {"price_per_user_usd": 0}}, "x.price_per_user_usd must be greater than 0 (X's price"),
    ({"x": {"price_per_media_usd": 0}}, "x.price_per_media_usd must be greater than 0 (X's"),
    ({"x": {"refresh_budget_share": 1.5}}, "x.refresh_budget_share must be between 0 and 1."),
    ({"instagram": {"enabled": True}}, "instagram.user_id is empty"),
    (
        {"schedule": {"session_interval_minutes": -1}},
        "schedule.session_interval_minutes must be 0 or more.",
    ),
    ({"schedule": {"jitter_seconds": -1}}, "schedule.jitter_seconds must be 0 or more."),
    ({"schedule": {"failure_alert_after": 0}}, "schedule.failure_alert_after must be 1 or more."),
    ({"schedule": {"digest_time": "7h30"}}, "schedule.digest_time '7h30' is not a time of day"),
    ({"streams": {"silence_seconds": 0}}, "streams.silence_seconds must be more than 0"),
    ({"streams": {"replay_window_minutes": -1}}, "streams.replay_window_minutes must be 0 or"),
    ({"streams": {"reconnect_max_seconds": 0}}, "streams.reconnect_max_seconds must be more"),
    (
        {"streams": {"jetstream_enabled": True, "jetstream_endpoints": []}},
        "streams.jetstream_endpoints is empty",
    ),
    ({"digest": {"recipients": ["a@b.org", "x"]}}, "digest.recipients entry 'x' is not an e-mail"),
    ({"digest": {"top_n": 0}}, "digest.top_n must be 1 or more, got 0."),
    ({"digest": {"public_url": "javascript:x"}}, "digest.public_url 'javascript:x' is not an"),
    ({"smtp": {"port": 70000}}, "smtp.port 70000 is not a TCP port; use 587 (STARTTLS)"),
    ({"smtp": {"timeout_seconds": 0}}, "smtp.timeout_seconds must be more than 0, got 0.0."),
    ({"smtp": {"ssl": True}}, "smtp.ssl and smtp.starttls are both true"),
    ({"wall": {"port": 0}}, "wall.port 0 is not a TCP port; use 1-65535"),
    ({"wall": {"moderation": "none"}}, "wall.moderation must be 'pre' or 'post', got 'none'."),
    ({"wall": {"max_posts": 0}}, "wall.max_posts must be 1 or more, got 0."),
    ({"wall": {"rotate_seconds": 0}}, "wall.rotate_seconds must be more than 0, got 0.0."),
    ({"wall": {"layout": "wide"}}, "wall.layout must be 'featured', 'grid' or 'ticker'"),
    ({"wall": {"logo": "logo.SVG"}}, "wall.logo 'logo.SVG' is an SVG; export the logo as PNG"),
    ({"wall": {"logo": "/nonexistent/logo.png"}}, "wall.logo '/nonexistent/logo.png': cannot"),
    ({"wall": {"accent_color": "#fff"}}, "wall.accent_color '#fff' is not a colour; write it"),
    ({"wall": {"theme": "auto"}}, "wall.theme must be 'dark' or 'light', got 'auto'."),
    ({"wall": {"font_scale": 3.5}}, "wall.font_scale must be between 0.5 and 3, got 3.5."),
    ({"wall": {"qr_link": "tiktok"}}, "wall.qr_link must be one of 'event', 'bluesky'"),
    (
        {"wall": {"media_hosts": ["https://files.example.org/"]}},
        "wall.media_hosts entry 'https://files.example.org/' is not a host name",
    ),
    ({"wall": {"media_hosts": ["*.com"]}}, "wall.media_hosts entry '*.com' is not a host name"),
    ({"wall": {"media_cache_mb": 0}}, "wall.media_cache_mb must be 1 or more, got 0."),
    ({"wall": {"trusted_authors": ["fb:ana"]}}, "wall.trusted_authors entry 'fb:ana' is not a"),
    ({"wall": {"preset_words": "on"}}, "wall.preset_words must be 'hold', 'hide' or 'off'"),
    ({"wall": {"hold_new_accounts_days": -1}}, "wall.hold_new_accounts_days must be 0 (rule off)"),
    ({"wall": {"hold_links_over": -1}}, "wall.hold_links_over must be 0 (rule off) or more"),
    ({"wall": {"hold_replies_per_hour": -1}}, "wall.hold_replies_per_hour must be 0 (rule off)"),
    (
        {"alerts": {"matrix_homeserver": "matrix.org", "matrix_room": "!a:b"}},
        "alerts.matrix_homeserver 'matrix.org' must start with https://.",
    ),
    (
        {"alerts": {"matrix_room": "!a:matrix.org"}},
        "alerts.matrix_homeserver and alerts.matrix_room go together",
    ),
    ({"alerts": {"email_recipients": ["ops"]}}, "alerts.email_recipients entry 'ops' is not an"),
    ({"alerts": {"surge_window_minutes": 0}}, "alerts.surge_window_minutes must be greater than"),
    ({"alerts": {"surge_factor": 0}}, "alerts.surge_factor must be greater than 0."),
    ({"alerts": {"surge_min_posts": 0}}, "alerts.surge_min_posts must be at least 1."),
    ({"alerts": {"pile_on_window_minutes": 0}}, "alerts.pile_on_window_minutes must be greater"),
    ({"alerts": {"pile_on_min_posts": 0}}, "alerts.pile_on_min_posts must be at least 1."),
    ({"alerts": {"post_factor": 0}}, "alerts.post_factor must be greater than 0."),
    ({"alerts": {"post_min_engagement": 0}}, "alerts.post_min_engagement must be at least 1."),
    ({"alerts": {"cooldown_minutes": -1}}, "alerts.cooldown_minutes must be 0 or more."),
    ({"alerts": {"quiet_hours": "late"}}, "alerts.quiet_hours 'late' is not a range of local"),
    ({"alerts": {"daily_cap": 0}}, "alerts.daily_cap must be at least 1."),
]


@pytest.mark.parametrize(("values", "message"), REFUSED)
def test_the_loader_refuses_each_value(
    config_dict: dict[str, Any], values: dict[str, dict[str, Any]], message: str
) -> None:
    for section, table in values.items():
        config_dict.setdefault(section, {}).update(table)
    with pytest.raises(ConfigError) as info:
        parse_config(config_dict, path="/etc/tagwatch/event.toml")
    assert str(info.value).startswith("/etc/tagwatch/event.toml: ")
    assert message in str(info.value)


def test_every_checked_setting_has_a_refusal_above() -> None:
    refused = {f"{s}.{k}" for values, _ in REFUSED for s, table in values.items() for k in table}
    checked = {f"{s.section}.{s.key}" for s in SETTINGS if s.check is not None}
    assert checked <= refused, sorted(checked - refused)


def test_the_edges_of_each_range_are_accepted(config_dict: dict[str, Any]) -> None:
    config_dict.update(
        storage={**config_dict.get("storage", {}), "backup_every_hours": 0, "backup_keep": 1},
        x={"refresh_budget_share": 1.0, "budget_usd": 0, "monthly_post_budget": 0},
        schedule={"digest_time": "", "jitter_seconds": 0, "failure_alert_after": 1},
        streams={"replay_window_minutes": 0},
        smtp={"port": 65535, "ssl": True, "starttls": False},
        wall={"port": 1, "max_posts": 1, "moderation": "post", "font_scale": 3, "layout": "grid"},
        alerts={"quiet_hours": "23:00-07:00", "cooldown_minutes": 0, "daily_cap": 1},
        digest={"public_url": "https://example.org/digests", "recipients": ["a@b.org"]},
    )
    config = parse_config(config_dict)
    assert config.smtp.port == 65535 and config.alerts.daily_cap == 1
    config_dict["wall"] = {"font_scale": 0.5, "accent_color": "#A0b1C2", "theme": "light"}
    assert parse_config(config_dict).wall.font_scale == 0.5


# Checks that need the outside world (or a command's flags), so they stay where they
# are used: (module, function) -> how many ConfigErrors it raises, and why it may.
OUTSIDE_WORLD: dict[tuple[str, str], tuple[int, str]] = {
    ("monitor/cli/outputs.py", "digest"): (1, "--send, with the webhook's environment variable"),
    ("monitor/preflight.py", "_writable_dir"): (1, "a folder that can be created and written"),
    ("monitor/logs.py", "setup_logging"): (1, "a log file that can be written"),
    ("reports/wall/server.py", "start"): (1, "a port the wall can listen on"),
    ("monitor/alerts/channels.py", "channels_from_config"): (2, "webhook URL, Matrix token"),
    ("reports/mailer.py", "smtp_settings"): (3, "host and sender to send with; the password"),
    ("reports/digest/build.py", "send_digest"): (1, "recipients, when the digest is sent"),
}


def _config_errors(path: Path) -> dict[str, int]:
    """Function name -> ConfigError(...) calls in it (the innermost function holding each)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, int] = {}

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            elif isinstance(child, ast.Call):
                callee = child.func
                called = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
                if called == "ConfigError":
                    found[function] = found.get(function, 0) + 1
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_no_module_but_the_loader_refuses_a_setting_value() -> None:
    found: dict[tuple[str, str], int] = {}
    for folder in ("monitor", "collectors", "storage", "reports"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for function, count in _config_errors(path).items():
                found[(path.relative_to(ROOT).as_posix(), function)] = count
    allowed = {key: count for key, (count, _) in OUTSIDE_WORLD.items()}
    assert found == allowed, (
        "a ConfigError outside tagwatch/settings.py: check the value in the loader (a `check`"
        " beside the setting in SETTINGS, or a section check), or, if it needs the outside"
        " world, add it to OUTSIDE_WORLD with why"
    )


def test_the_allow_list_test_sees_a_new_check(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f(config):\n    if config.x.budget_usd < 0:\n        raise ConfigError('no')\n",
        encoding="utf-8",
    )
    assert _config_errors(module) == {"f": 1}
