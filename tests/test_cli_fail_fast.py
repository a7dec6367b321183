"""`tagwatch run`, `collect` and `wall` refuse a wrong setting at start, not the next morning.

Each case is a setting that used to be found only when its job ran (the digest
at 07:30, a collector's first pass, the first backup): now the command exits 2
at once with the key named, and nothing is created in the database.
The modules a runner imports are imported here first, so the one-second bound
times the checks, not Python loading matplotlib.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import tagwatch.monitor.preflight  # noqa: F401 - warm imports (see the docstring)
import tagwatch.monitor.runner  # noqa: F401
import tagwatch.monitor.scheduler  # noqa: F401
import tagwatch.reports.digest  # noqa: F401
import tagwatch.reports.wall.app  # noqa: F401
from tagwatch.monitor.cli import cli

BASE = """\
[event]
name = "Test Assembly"
hashtags = ["HRHN2016"]
timezone = "Europe/Belgrade"
start = 2016-11-24
end = 2016-11-26

"""


def _config(tmp_path: Path, extra: str) -> Path:
    """BASE plus `extra`; [storage] and [schedule] get their test values, merged if present."""
    extra = textwrap.dedent(extra)
    for section, line in (("[storage]", 'path = "test.db"'), ("[schedule]", 'log_file = ""')):
        if section in extra:
            extra = extra.replace(section, f"{section}\n{line}", 1)
        else:
            extra += f"\n{section}\n{line}\n"
    path = tmp_path / "config.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


def _refused(tmp_path: Path, command: list[str], extra: str, message: str) -> str:
    config = _config(tmp_path, extra)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--config", str(config), *command])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, (result.output, result.exception)
    assert message in result.output
    assert elapsed < 1.0, elapsed
    assert not (tmp_path / "test.db").exists()  # refused before anything was written
    return result.output


MAIL = """
[digest]
recipients = ["comms@example.org"]

[smtp]
host = "127.0.0.1"
sender = "Comms <comms@example.org>"
"""


@pytest.mark.timeout(60)  # without the check, `run` would run until the test's timeout
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            MAIL.replace('sender = "', 'port = 70000\nsender = "'),
            "smtp.port 70000 is not a TCP port; use 587 (STARTTLS), 465 (ssl = true) or 25.",
        ),
        (MAIL.replace("[smtp]", "top_n = 0\n\n[smtp]"), "digest.top_n must be 1 or more, got 0."),
        (
            MAIL.replace("[smtp]", 'top_n = "five"\n\n[smtp]'),
            "digest.top_n must be a integer, got 'five'",
        ),
        (MAIL.replace("[smtp]", "top_count = 5\n\n[smtp]"), "unknown key 'digest.top_count'"),
        (
            MAIL.replace('sender = "', 'timeout_seconds = 0.0\nsender = "'),
            "smtp.timeout_seconds must be more than 0, got 0.0.",
        ),
        (MAIL.replace('sender = "Comms <comms@example.org>"', ""), "smtp.sender is not set"),
        (
            MAIL.replace(
                'sender = "', 'user = "comms"\npassword_env = "TW_UNSET_PW_18"\nsender = "'
            ),
            "the environment variable TW_UNSET_PW_18 (smtp.password_env) is empty",
        ),
        (
            MAIL.replace('"comms@example.org"]', '"comms at example.org"]'),
            "digest.recipients entry 'comms at example.org' is not an e-mail address",
        ),
        (
            MAIL.replace("[smtp]", 'public_url = "javascript:alert(1)"\n\n[smtp]'),
            "digest.public_url 'javascript:alert(1)' is not an http(s) URL",
        ),
        ('[schedule]\ndigest_time = "7h30"\n', "schedule.digest_time '7h30' is not a time of day"),
        ("[streams]\nsilence_seconds = 0.0\n", "streams.silence_seconds must be more than 0"),
        (
            '[schedule]\nserve_wall = true\n[wall]\nmoderation = "later"\n',
            "wall.moderation must be 'pre' or 'post', got 'later'.",
        ),
        (
            '[schedule]\nserve_wall = true\n[wall]\nhost = "0.0.0.0"\n',
            "Refusing to serve the wall on 0.0.0.0",
        ),
    ],
)
def test_run_refuses_a_bad_setting_at_once(tmp_path: Path, extra: str, message: str) -> None:
    _refused(tmp_path, ["run"], extra, message)


@pytest.mark.timeout(60)
def test_run_refuses_a_digest_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "digests").write_text("not a folder", encoding="utf-8")
    output = _refused(tmp_path, ["run"], "", "digest.out_dir")
    assert "set digest.out_dir to a writable folder" in output


@pytest.mark.timeout(60)
def test_run_refuses_a_backup_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "copies").write_text("not a folder", encoding="utf-8")
    output = _refused(tmp_path, ["run"], '[storage]\nbackup_dir = "copies"\n', "storage.backup_dir")
    assert "set storage.backup_dir to a writable folder" in output


def test_digest_send_names_a_bad_smtp_port(tmp_path: Path) -> None:
    extra = MAIL.replace('sender = "', 'port = 0\nsender = "')
    config = _config(tmp_path, extra)
    result = CliRunner().invoke(cli, ["--config", str(config), "digest", "--send"])
    assert result.exit_code == 2
    assert "smtp.port 0 is not a TCP port" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[wall]\nmax_posts = 0\n", "wall.max_posts must be 1 or more, got 0."),
        ("[wall]\nrotate_seconds = 0.0\n", "wall.rotate_seconds must be more than 0, got 0.0."),
        ('[wall]\nmoderation = "none"\n', "wall.moderation must be 'pre' or 'post'"),
    ],
)
def test_wall_refuses_a_bad_setting_at_once(tmp_path: Path, extra: str, message: str) -> None:
    _refused(tmp_path, ["wall"], extra, message)


def test_collect_refuses_a_collector_setting_before_any_pass(tmp_path: Path) -> None:
    """x.query without {tag} used to fail every pass ("cannot start"); now collect refuses."""
    config = _config(tmp_path, '[x]\nenabled = true\nquery = "#HRHN2016"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "collect"])
    assert result.exit_code == 2, result.output
    assert "x.query '#HRHN2016' must contain {tag}" in result.output
    # Refused by the loader (#19): before the database is opened, so no failed pass in it.
    assert not (tmp_path / "test.db").exists()
