"""Shared fixtures: a fresh store, a valid config, and the example config's text."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tagwatch.records import Author, Post
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store

ROOT = Path(__file__).resolve().parent.parent
# Real recorded platform answers, copied in with their provenance (fixtures/recorded/README.md):
# tests read nothing outside the repository.
RECORDED = Path(__file__).resolve().parent / "fixtures" / "recorded"


def base_config_dict(tmp_path: Path) -> dict[str, Any]:
    from datetime import date

    return {
        "event": {
            "name": "Test Assembly",
            "hashtags": ["HRHN2016"],
            "timezone": "Europe/Belgrade",
            "start": date(2016, 11, 24),
            "end": date(2016, 11, 26),
        },
        "storage": {"path": str(tmp_path / "test.db")},
    }


@pytest.fixture
def config_dict(tmp_path: Path) -> dict[str, Any]:
    return base_config_dict(tmp_path)


@pytest.fixture
def config(tmp_path: Path, config_dict: dict[str, Any]) -> Config:
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def fresh_store() -> Iterator[Store]:
    store = Store.open(":memory:")
    yield store
    store.close()


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    s = Store.open(config.db_path)
    yield s
    s.close()


def free_port() -> int:
    """A loopback port free right now, for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_post(n: int = 1, **overrides: Any) -> Post:
    """A plausible post; tests override only what they assert on."""
    fields: dict[str, Any] = {
        "platform": "bluesky",
        "platform_id": f"at://did:plc:author{n}/app.bsky.feed.post/{n}",
        "url": f"https://bsky.app/profile/author{n}.bsky.social/post/{n}",
        "author": Author(f"did:plc:author{n}", f"author{n}.bsky.social", f"Author {n}", 100 * n),
        "text": f"Post {n} about #HRHN2016",
        "created_at": datetime(2016, 11, 24, 10, n % 60, tzinfo=UTC),
        "lang": "en",
        "hashtags": ("HRHN2016",),
        "likes": n,
    }
    fields.update(overrides)
    return Post(**fields)


def _toml_value(value: Any) -> str:
    from datetime import date

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    raise TypeError(f"no TOML form for {value!r}")


def write_config_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write a config dict (as `base_config_dict` builds it) as a TOML file, for CLI tests.

    Covers sections of plain values, lists and inline tables; not [[event.sessions]].
    """
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
