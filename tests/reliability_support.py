"""Shared by the reliability tests (#12): a Bluesky event on the fake, run through the CLI.

Each test drives tagwatch as a user would (`collect`, `export`, `digest`,
`report`, `status` through click's runner, against a config file) and then
looks at every byte it wrote.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tagwatch.collectors.bluesky import forget_sessions
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.monitor.cli import cli
from tests.conftest import base_config_dict, write_config_toml

HANDLE = "tagwatch-rel.bsky.social"
PASSWORD = "rel0-test-pass-word"


@dataclass
class Event:
    fake: FakeBluesky
    config: Path
    db: Path
    tmp: Path
    day: date  # the local (UTC) day the posts were made

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def post(self, handle: str, text: str, *, name: str = "") -> str:
        self.fake.add_author(handle, name)
        at = datetime.combine(self.day, datetime.min.time(), UTC) + timedelta(hours=12)
        return self.fake.add_post(
            handle, text, created_at=at + timedelta(seconds=len(self.fake.posts))
        )

    def outputs(self) -> dict[str, bytes]:
        """Run export (JSONL, CSV), digest and report; every file they wrote, by name."""
        out = self.tmp / "out"
        out.mkdir(exist_ok=True)
        for fmt in ("jsonl", "csv"):
            result = self.cli("export", "--format", fmt, "--out", str(out / f"export.{fmt}"))
            assert result.exit_code == 0, (result.output, result.exception)
        result = self.cli("digest", "--date", self.day.isoformat(), "--out", str(out / "digest"))
        assert result.exit_code == 0, (result.output, result.exception)
        result = self.cli("report", "--out", str(out / "report"))
        assert result.exit_code == 0, (result.output, result.exception)
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def db_bytes(self) -> bytes:
        """The database file and its WAL/SHM companions, as they are on disk."""
        return b"".join(
            p.read_bytes()
            for p in self.tmp.iterdir()
            if p.name.startswith(self.db.name) and p.is_file()
        )


@contextmanager
def bluesky_event(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    password: str = PASSWORD,
    **sections: dict[str, Any],
) -> Iterator[Event]:
    """A fake Bluesky with an account, and a config collecting from it for yesterday's event."""
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", password)
    # Noon of a day well inside the event, so no test meets midnight.
    day = datetime.now(UTC).date() - timedelta(days=1)
    forget_sessions()
    with FakeBluesky(page_size=25) as fake, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fake.add_account(HANDLE, password)
        data = base_config_dict(tmp_path)
        data["event"].update(
            {"timezone": "UTC", "start": day - timedelta(days=1), "end": day + timedelta(days=2)}
        )
        data["bluesky"] = {"enabled": True, "service": fake.url}
        data["collect"] = {"backfill_days": 1}
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        config = write_config_toml(tmp_path / "config.toml", data)
        yield Event(fake, config, tmp_path / "test.db", tmp_path, day)
    forget_sessions()
