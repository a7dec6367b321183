"""Secrets: no token or password ever reaches a log, the database, an output or an error.

Every setting that names a secret's environment variable (`secret_env` in
SETTINGS) gets a distinctive fake value; tagwatch then collects (with refused
credentials too), logs, reports status, exports, writes the digest, fails to
mail it, writes the impact report and serves the wall. Every byte it printed
or wrote, the database file included, is searched for each secret.
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pytest

from tagwatch.collectors.bluesky import forget_sessions
from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.collectors.fakes.x import FakeX
from tagwatch.reports.wall.app import create_app
from tagwatch.settings import SETTINGS, load_config
from tests.reliability_support import bluesky_event

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

MASTODON_TOKEN_ENV = "TAGWATCH_TEST_MASTODON_TOKEN"


def _secrets() -> dict[str, str]:
    envs = [s.default for s in SETTINGS if s.secret_env and isinstance(s.default, str)]
    envs.append(MASTODON_TOKEN_ENV)
    return {env: f"S3CR3T-{env.lower().replace('_', '-')}-q7v" for env in envs}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_secret_in_any_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = _secrets()
    assert {"TAGWATCH_X_BEARER_TOKEN", "TAGWATCH_SMTP_PASSWORD", "TAGWATCH_WALL_TOKEN"} <= set(
        secrets
    )
    for env, value in secrets.items():
        monkeypatch.setenv(env, value)
    secrets["TAGWATCH_DIGEST_WEBHOOK_URL"] = secrets["TAGWATCH_DIGEST_WEBHOOK_URL"]
    # The webhook URL is itself the secret: make it a URL that fails, as a real one might.
    webhook = f"http://127.0.0.1:{_closed_port()}/hooks/{secrets['TAGWATCH_DIGEST_WEBHOOK_URL']}"
    monkeypatch.setenv("TAGWATCH_DIGEST_WEBHOOK_URL", webhook)
    printed: list[str] = []

    with (
        FakeX(bearer_token="the-real-token-is-another") as x,
        FakeMastodon(require_auth=True, tokens=["another-token"]) as masto,
        bluesky_event(
            tmp_path,
            monkeypatch,
            password=secrets["TAGWATCH_BLUESKY_APP_PASSWORD"],
            x={"enabled": True, "api_base_url": x.url},
            mastodon={
                "enabled": True,
                "instances": [masto.base_url],
                "access_token_envs": {masto.base_url: MASTODON_TOKEN_ENV},
            },
            smtp={"host": "127.0.0.1", "port": _closed_port(), "user": "comms", "starttls": False},
            digest={"recipients": ["comms@example.org"]},
            schedule={"log_file": str(tmp_path / "tagwatch.log"), "failure_alert_after": 1},
            wall={"moderation": "post"},
            # Alerts stored, not sent (no channel's variable is set): the refused credentials
            # raise "collection has failed" alerts, which the moderators' panel then lists.
            alerts={"enabled": True, "webhook_url_env": "TAGWATCH_TEST_NO_ALERTS_WEBHOOK"},
        ) as ev,
    ):
        ev.post("alice.bsky.social", "Opening of the assembly #HRHN2016")

        def run(*args: str, ok: bool = True) -> None:
            result = ev.cli(*args)
            printed.append(result.output + str(result.exception or ""))
            assert (result.exit_code == 0) is ok, (args, result.output, result.exception)

        run("collect", ok=False)  # Bluesky collects; X and Mastodon refuse the credentials
        runs = ev.db_bytes()
        assert b"auth" in runs.lower() or b"401" in runs
        run("status")
        outputs = ev.outputs()
        run(
            "digest",
            "--date",
            ev.day.isoformat(),
            "--out",
            str(tmp_path / "d2"),
            "--send",
            ok=False,
        )

        with TestClient(create_app(load_config(ev.config), poll_interval=0.02)) as wall:
            token = {"Authorization": f"Bearer {secrets['TAGWATCH_WALL_TOKEN']}"}
            # The moderation API's real routes (reports/wall/app.py), each answering 200, so
            # what is searched is the moderators' data, not a 404 page.
            posts = wall.get("/api/moderation/posts?show=all", headers=token)
            assert posts.status_code == 200 and posts.json()["posts"], posts.text
            printed.append(posts.text)
            post_id = posts.json()["posts"][0]["id"]
            action = wall.post(
                "/api/moderation/action",
                json={"action": "approve", "post_id": post_id},
                headers=token,
            )
            assert action.status_code == 200, action.text
            printed.append(action.text)
            alerts = wall.get("/api/moderation/alerts", headers=token)
            assert alerts.status_code == 200 and alerts.json()["alerts"], alerts.text
            printed.append(alerts.text)
            for path in ("/", "/moderate", "/api/wall", "/api/moderation/log"):
                answer = wall.get(path, headers=token)
                assert answer.status_code == 200, (path, answer.status_code)
                printed.append(answer.text)
            assert post_id in {
                e["post_id"] for e in wall.get("/api/moderation/log", headers=token).json()["log"]
            }

        # Bluesky now refuses the app password (changed elsewhere): that error too.
        forget_sessions()
        (tmp_path / "test.db.bluesky-session").unlink(missing_ok=True)
        ev.fake.revoke_sessions()
        ev.fake.passwords = {did: "changed-elsewhere" for did in ev.fake.passwords}
        run("collect", "--platform", "bluesky", ok=False)
        run("status")

    errors = ev.db_bytes()
    assert b"app password" in errors.lower() or b"refused" in errors.lower()
    everything = {"printed": "\n".join(printed).encode()}
    everything.update({f"out/{k}": v for k, v in outputs.items()})
    everything.update(
        {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    )
    assert "tagwatch.log" in everything and "test.db" in everything
    for env, secret in secrets.items():
        for name, content in everything.items():
            assert secret.encode() not in content, f"{env} leaked into {name}"
