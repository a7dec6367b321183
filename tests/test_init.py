"""`tagwatch init`: flags or questions in a terminal -> a config tagwatch accepts."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.monitor.cli import cli
from tagwatch.monitor.init_config import (
    InitAnswers,
    check_hashtags,
    check_instances,
    render_config,
    render_env_example,
)
from tagwatch.settings import SETTINGS, load_config

ROOT = Path(__file__).resolve().parent.parent
EVENT = [
    "--name",
    "Human Rights House Network Assembly 2016",
    "--hashtag",
    "#HRHN2016",
    "--hashtag",
    "FreeAzerbaijan",
    "--start",
    "2016-11-24",
    "--end",
    "2016-11-26",
    "--timezone",
    "Europe/Belgrade",
    "--language",
    "en",
    "--language",
    "sr",
]


def run_init(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", "--yes", *args])
    return result.exit_code, result.output


def env_lines(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_flags_write_a_config_that_loads(tmp_path: Path) -> None:
    out = tmp_path / "event" / "config.toml"
    code, output = run_init(*EVENT, "--platform", "bluesky", "--out", str(out))
    assert code == 0, output
    config = load_config(out)
    ev = config.event
    assert ev.name == "Human Rights House Network Assembly 2016"
    assert ev.hashtags == ("HRHN2016", "FreeAzerbaijan")  # '#' dropped
    assert (ev.start, ev.end, ev.timezone) == (
        date(2016, 11, 24),
        date(2016, 11, 26),
        "Europe/Belgrade",
    )
    assert ev.languages == ("en", "sr")
    assert config.db_path == out.parent / "tagwatch.db"
    assert config.bluesky.enabled and not config.x.enabled and not config.mastodon.enabled
    assert f"Wrote {out}" in output


@pytest.mark.parametrize(
    ("platform", "extra", "expected"),
    [
        ("bluesky", [], {"handle_env": "TAGWATCH_BLUESKY_HANDLE"}),
        ("x", [], {"bearer_token_env": "TAGWATCH_X_BEARER_TOKEN", "monthly_post_budget": 10000}),
        (
            "mastodon",
            ["--mastodon-instance", "mastodon.social", "--mastodon-instance", "https://hoot.ex/"],
            {"instances": ["https://mastodon.social", "https://hoot.ex"]},
        ),
        ("threads", [], {"access_token_env": "TAGWATCH_THREADS_ACCESS_TOKEN"}),
        (
            "instagram",
            ["--instagram-user-id", "17841400000000000"],
            {"user_id": "17841400000000000", "access_token_env": "TAGWATCH_INSTAGRAM_ACCESS_TOKEN"},
        ),
    ],
)
def test_each_platform_section_round_trips(
    tmp_path: Path, platform: str, extra: list[str], expected: dict[str, object]
) -> None:
    out = tmp_path / "config.toml"
    code, output = run_init(*EVENT, "--platform", platform, *extra, "--out", str(out))
    assert code == 0, output
    raw = tomllib.loads(out.read_text(encoding="utf-8"))
    # Only the sections that apply: the chosen platform's and none of the others'.
    assert set(raw) == {"event", "storage", platform}
    section = load_config(out).platform(platform)
    assert section.enabled is True
    for key, value in expected.items():  # a list comes back a tuple (sections are frozen)
        assert section.get(key) == (tuple(value) if isinstance(value, list) else value)


def test_config_comments_are_the_settings_descriptions(tmp_path: Path) -> None:
    answers = InitAnswers(
        name="E",
        hashtags=("E",),
        start=date(2016, 11, 24),
        end=date(2016, 11, 24),
        timezone="UTC",
        languages=("en",),
        platforms=("bluesky", "x", "mastodon", "threads", "instagram"),
        instagram_user_id="17841400000000000",
    )
    lines = render_config(answers).splitlines()
    by_key = {(s.section, s.key): s.description for s in SETTINGS}
    section = ""
    checked = 0
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key = line.split("=")[0].strip()
            assert lines[i - 1] == f"# {by_key[(section, key)]}", key
            checked += 1
    assert checked >= 15


def test_env_example_names_every_variable_of_the_chosen_platforms_without_values(
    tmp_path: Path,
) -> None:
    out = tmp_path / "config.toml"
    code, output = run_init(*EVENT, "--platform", "bluesky", "--platform", "x", "--out", str(out))
    assert code == 0, output
    config = load_config(out)
    env = env_lines(tmp_path / ".env.example")
    wanted = {
        config.bluesky.handle_env,
        config.bluesky.password_env,
        config.x.bearer_token_env,
        config.wall.token_env,
    }
    assert set(env) == wanted
    assert all(value == "" for value in env.values())
    text = (tmp_path / ".env.example").read_text(encoding="utf-8")
    assert "# [x] bearer_token_env: Environment variable holding the X API bearer token." in text


def test_env_example_for_mastodon_alone_has_only_the_wall_token() -> None:
    answers = InitAnswers(
        name="E",
        hashtags=("E",),
        start=date(2016, 11, 24),
        end=date(2016, 11, 24),
        timezone="UTC",
        languages=("en",),
        platforms=("mastodon",),
    )
    text = render_env_example(answers)
    assert [ln for ln in text.splitlines() if ln and not ln.startswith("#")] == [
        "TAGWATCH_WALL_TOKEN="
    ]
    assert "Mastodon needs none" in text


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "config.toml"
    out.write_text("# mine\n", encoding="utf-8")
    code, output = run_init(*EVENT, "--out", str(out))
    assert code == 2
    assert f"{out} already exists" in output and "--force" in output
    assert out.read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / ".env.example").exists()

    code, output = run_init(*EVENT, "--out", str(out), "--force")
    assert code == 0, output
    assert load_config(out).event.hashtags == ("HRHN2016", "FreeAzerbaijan")


def test_refuses_to_overwrite_an_env_example_without_force(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("TAGWATCH_X_BEARER_TOKEN=kept\n", encoding="utf-8")
    code, output = run_init(*EVENT, "--out", str(tmp_path / "config.toml"))
    assert code == 2
    assert ".env.example already exists" in output and "--force" in output
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--start", "24.11.2016"], "First day '24.11.2016' is not a date; use YYYY-MM-DD."),
        (["--end", "2016-11-20"], "Last day 2016-11-20 is before the first day 2016-11-24."),
        (["--timezone", "Belgrade"], "Timezone 'Belgrade' is not a known IANA timezone"),
        (["--language", "eng"], "Unknown language code(s): eng."),
        (["--hashtag", "human rights"], "Hashtag 'human rights' is not one word"),
        (["--hashtag", "#"], None),  # an empty tag beside good ones is simply dropped
        (["--name", "  "], "The event's name is empty"),
        (["--platform", "x", "--mastodon-instance", "m.social"], "add --platform mastodon"),
        (["--platform", "x", "--instagram-user-id", "1784"], "add --platform instagram"),
        (
            ["--platform", "instagram", "--instagram-user-id", "my_account"],
            "The Instagram user id is the number of your Business or Creator account",
        ),
        (["--platform", "instagram"], "The Instagram user id is the number"),
        (
            ["--platform", "mastodon", "--mastodon-instance", "ftp://m.social"],
            "Mastodon instance 'ftp://m.social' is not a web address",
        ),
    ],
)
def test_bad_flags_are_refused_and_nothing_is_written(
    tmp_path: Path, change: list[str], message: str | None
) -> None:
    out = tmp_path / "config.toml"
    args = list(EVENT)
    flag = change[0]
    if flag not in ("--hashtag", "--language", "--platform", "--mastodon-instance"):  # repeatable
        i = args.index(flag)
        del args[i : i + 2]
    code, output = run_init(*args, *change, "--out", str(out))
    if message is None:
        assert code == 0, output
        return
    assert code == 2, output
    assert message in output
    assert not out.exists()


def test_without_a_terminal_missing_answers_are_named(tmp_path: Path) -> None:
    code, output = run_init("--name", "E", "--out", str(tmp_path / "config.toml"))
    assert code == 2
    assert "Missing --hashtag, --start, --end" in output
    assert not (tmp_path / "config.toml").exists()


def test_answer_checks() -> None:
    assert check_hashtags(["#HRHN2016", "hrhn2016", "Belgrade_2016"]) == (
        "HRHN2016",
        "Belgrade_2016",
    )
    assert check_instances(["mastodon.social/"]) == ("https://mastodon.social",)


# -- interactive, in a real pseudo-terminal -------------------------------------------------


class Terminal:
    """`tagwatch init` with a pty as its terminal, answered like a person would."""

    def __init__(self, *args: str, cwd: Path):
        self.master, slave = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tagwatch.monitor.cli import main; main()", "init", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""
        self.transcript = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; saw:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"ended before {text!r}; saw:\n{self.seen}")
                text_read = chunk.decode("utf-8", "replace")
                self.seen += text_read
                self.transcript += text_read
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def answer(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\r")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


def test_interactive_questions_in_a_terminal_ask_again_after_a_bad_answer(
    tmp_path: Path,
) -> None:
    term = Terminal("--out", "config.toml", cwd=tmp_path)
    term.expect("Event name:")
    term.answer("Belgrade Assembly")
    term.expect("Hashtags to follow")
    term.answer("#HRHN2016 FreeAzerbaijan")
    term.expect("First day of the event (YYYY-MM-DD):")
    term.answer("24/11/2016")
    term.expect("'24/11/2016' is not a date; use YYYY-MM-DD.")
    term.expect("First day of the event (YYYY-MM-DD):")
    term.answer("2016-11-24")
    term.expect("Last day of the event (YYYY-MM-DD):")
    term.answer("2016-11-23")
    term.expect("is before the first day 2016-11-24")
    term.answer("2016-11-26")
    term.expect("Timezone of the event")
    term.answer("Mars/Olympus")
    term.expect("'Mars/Olympus' is not a known IANA timezone")
    term.answer("Europe/Belgrade")
    term.expect("Languages expected")
    term.answer("en, xx")
    term.expect("Unknown language code(s): xx.")
    term.answer("en, sr")
    term.expect("Platforms to follow")
    term.answer("mastodon")
    term.expect("Mastodon instances to read")
    term.answer("")  # the default, mastodon.social
    term.expect("Wrote config.toml")
    assert term.close() == 0

    config = load_config(tmp_path / "config.toml")
    assert config.event.name == "Belgrade Assembly"
    assert config.event.hashtags == ("HRHN2016", "FreeAzerbaijan")
    assert (config.event.start, config.event.end) == (date(2016, 11, 24), date(2016, 11, 26))
    assert config.event.timezone == "Europe/Belgrade"
    assert config.event.languages == ("en", "sr")
    assert config.mastodon.instances == ("https://mastodon.social",)
    assert not config.bluesky.enabled


def test_interactive_asks_only_what_the_flags_leave_out(tmp_path: Path) -> None:
    term = Terminal(*EVENT, "--platform", "x", cwd=tmp_path)
    term.expect("Wrote config.toml")
    assert term.close() == 0
    # Every answer came from a flag: nothing was asked.
    assert term.transcript.startswith("Wrote config.toml"), term.transcript
    assert load_config(tmp_path / "config.toml").x.enabled


# -- the written config collects -------------------------------------------------------------


def test_init_config_collects_from_a_fake_mastodon(tmp_path: Path) -> None:
    with FakeMastodon() as inst:
        for n in range(3):
            inst.toot(
                "alice",
                f"<p>Post {n} #HRHN2016</p>",
                tags=["hrhn2016"],
                created_at=datetime(2016, 11, 24, 9, n, tzinfo=UTC),
            )
        out = tmp_path / "config.toml"
        code, output = run_init(
            *EVENT,
            "--platform",
            "mastodon",
            "--mastodon-instance",
            inst.base_url,
            "--out",
            str(out),
        )
        assert code == 0, output
        result = CliRunner().invoke(cli, ["--config", str(out), "collect"])
    assert result.exit_code == 0, result.output
    assert "mastodon" in result.output
    from tagwatch.storage.db import connect

    conn = connect(tmp_path / "tagwatch.db", readonly=True)
    try:
        assert conn.execute("select count(*) from posts").fetchone()[0] == 3
    finally:
        conn.close()


def test_an_existing_config_is_refused_before_any_question(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("# mine\n", encoding="utf-8")
    term = Terminal(cwd=tmp_path)
    term.expect("already exists")
    assert term.close() == 2
    assert "Event name" not in term.transcript
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == "# mine\n"
