"""Sending the digest: a real SMTP server on loopback (aiosmtpd) and a loopback chat webhook."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from tagwatch.errors import ConfigError, DeliveryError
from tagwatch.monitor.cli import cli
from tagwatch.reports.digest import build_digest, send_daily_digest, send_digest
from tagwatch.settings import Config
from tests.conftest import free_port
from tests.digest_fixture import DAY, SECRET_TEXT, build_fixture_db, digest_config

NOW = datetime(2016, 11, 26, 6, 30, tzinfo=UTC)
PASSWORD = "s3cret-smtp-password"


class Inbox:
    """aiosmtpd handler keeping every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        ok = data.login == b"digest" and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: the server answers 535 itself (handled=True would leave it silent).
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int, Authenticator]]:
    inbox, auth, port = Inbox(), Authenticator(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False
    )
    controller.start()
    try:
        yield inbox, port, auth
    finally:
        controller.stop()


def mail_config(
    tmp_path: Path, port: int, *, digest: dict[str, Any] | None = None, **smtp: Any
) -> Config:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "sender": "Tagwatch <digest@example.org>",
        "timeout_seconds": 10.0,
        **smtp,
    }
    config = digest_config(
        tmp_path,
        smtp=settings,
        digest={"recipients": ["comms@example.org", "director@example.org"], **(digest or {})},
    )
    build_fixture_db(config)
    return config


def test_email_received_and_parsed_back(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path
) -> None:
    inbox, port, _ = smtp
    config = mail_config(tmp_path, port)
    digest = build_digest(config, DAY, now=NOW)
    accepted = send_digest(config, digest)
    assert accepted == ["comms@example.org", "director@example.org"]
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "digest@example.org"
    assert envelope.rcpt_tos == ["comms@example.org", "director@example.org"]
    (msg,) = inbox.messages()
    assert msg["To"] == "comms@example.org, director@example.org"
    assert msg["Subject"] == (
        "HRHN Assembly 2016 digest, Fri 25 Nov: 8 posts (collection problems)"
    )
    # multipart/alternative: text first, then the HTML with its images in multipart/related.
    assert msg.get_content_type() == "multipart/alternative"
    text_part, related = msg.get_payload()  # type: ignore[misc]
    assert text_part.get_content_type() == "text/plain"
    assert "Posts                     8   +4 (+100%) vs day before" in text_part.get_content()
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_content()
    assert [i.get_content_type() for i in images] == ["image/png", "image/png"]
    cids = [i["Content-ID"].strip("<>") for i in images]
    assert re.findall(r'src="cid:([^"]+)"', html) == cids
    for image in images:
        assert image.get_content_disposition() == "inline"
        assert image.get_content().startswith(b"\x89PNG")
    assert "data:image" not in html
    assert SECRET_TEXT not in envelope.content.decode("utf-8", "replace")


def test_smtp_login_uses_the_password_from_the_environment(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port, auth = smtp
    config = mail_config(tmp_path, port, user="digest", password_env="TEST_DIGEST_SMTP_PW")
    monkeypatch.setenv("TEST_DIGEST_SMTP_PW", PASSWORD)
    send_digest(config, build_digest(config, DAY, now=NOW))
    assert auth.logins == ["digest"] and len(inbox.envelopes) == 1
    monkeypatch.setenv("TEST_DIGEST_SMTP_PW", "wrong-password")
    with pytest.raises(DeliveryError) as refused:
        send_digest(config, build_digest(config, DAY, now=NOW))
    assert "refused the login of 'digest'" in str(refused.value)
    assert "wrong-password" not in str(refused.value)


def test_missing_password_variable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_DIGEST_SMTP_PW", raising=False)
    config = mail_config(tmp_path, 25, user="digest", password_env="TEST_DIGEST_SMTP_PW")
    with pytest.raises(ConfigError, match="environment variable TEST_DIGEST_SMTP_PW"):
        send_digest(config, build_digest(config, DAY, now=NOW))


def test_starttls_refused_by_server_says_what_to_change(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path
) -> None:
    _, port, _ = smtp
    config = mail_config(tmp_path, port, starttls=True)
    with pytest.raises(DeliveryError, match="set smtp.starttls = false"):
        send_digest(config, build_digest(config, DAY, now=NOW))


def test_login_on_a_server_without_auth_says_what_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)  # no AUTH offered
    controller.start()
    try:
        monkeypatch.setenv("TEST_DIGEST_SMTP_PW", PASSWORD)
        config = mail_config(tmp_path, port, user="digest", password_env="TEST_DIGEST_SMTP_PW")
        with pytest.raises(DeliveryError) as failed:
            send_digest(config, build_digest(config, DAY, now=NOW))
    finally:
        controller.stop()
    message = str(failed.value)
    assert "SMTP AUTH extension not supported by server. The server offers no login" in message
    assert PASSWORD not in message


def test_unreachable_server_is_a_delivery_error(tmp_path: Path) -> None:
    config = mail_config(tmp_path, free_port())
    with pytest.raises(DeliveryError, match=r"Could not mail the digest through 127\.0\.0\.1:"):
        send_digest(config, build_digest(config, DAY, now=NOW))


@pytest.mark.parametrize(
    ("smtp", "message"),
    [
        ({"host": ""}, "smtp.host is not set"),
        ({"sender": ""}, "smtp.sender is not set"),
        ({"ssl": True, "starttls": True}, "smtp.ssl and smtp.starttls are both true"),
    ],
)
def test_smtp_config_errors(tmp_path: Path, smtp: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # ssl with starttls: refused by the loader
        config = mail_config(tmp_path, 25, **smtp)
        send_digest(config, build_digest(config, DAY, now=NOW))


def test_a_recipient_that_is_not_an_address_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digest.recipients entry 'Comms Team' is not an e-mail"):
        mail_config(tmp_path, 25, digest={"recipients": ["comms@example.org", "Comms Team"]})


def test_top_n_below_one_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="digest.top_n must be 1 or more, got 0"):
        mail_config(tmp_path, 25, digest={"top_n": 0})


class Hook:
    """A loopback chat webhook recording what it was sent."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status < 400 else b"invalid_token")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_daily_job_writes_mails_and_posts_the_webhook(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port, _ = smtp
    config = mail_config(
        tmp_path, port, digest={"public_url": "https://comms.example.org/digests/"}
    )
    with Hook() as hook:
        monkeypatch.setenv("TAGWATCH_DIGEST_WEBHOOK_URL", hook.url)
        result = send_daily_digest(config, now=NOW)
    assert result.day == DAY
    assert result.paths["html"] == tmp_path / "out" / "digest-2016-11-25.html"
    assert result.paths["html"].exists()
    assert result.emailed_to == ["comms@example.org", "director@example.org"]
    assert len(inbox.envelopes) == 1
    assert result.webhook_posted
    (body,) = hook.bodies
    assert list(body) == ["text"]
    text = body["text"]
    assert text.startswith("*HRHN Assembly 2016: daily digest for Friday 25 November 2016*\n")
    assert "posts: 8 (+4 (+100%) vs day before)" in text
    assert ":warning: x: FAILING" in text
    assert text.endswith(
        "<https://comms.example.org/digests/digest-2016-11-25.html|Read the digest>"
    )
    assert "<script" not in text and SECRET_TEXT not in text


def test_webhook_failure_never_shows_the_url(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port, _ = smtp
    config = mail_config(tmp_path, port)
    with Hook(status=403) as hook:
        monkeypatch.setenv("TAGWATCH_DIGEST_WEBHOOK_URL", hook.url)
        with pytest.raises(DeliveryError) as failed:
            send_daily_digest(config, DAY, now=NOW)
    assert "HTTP 403 (invalid_token)" in str(failed.value)
    assert "XXXX" not in str(failed.value) and "127.0.0.1" not in str(failed.value)
    # The files were written before delivery was attempted.
    assert (tmp_path / "out" / "digest-2016-11-25.txt").exists()


def config_file(tmp_path: Path, db_path: Path, extra: str) -> Path:
    """A config.toml on disk for the CLI: the fixture event, its database, and `extra` TOML."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[event]
name = "HRHN Assembly 2016"
hashtags = ["HRHN2016"]
timezone = "Europe/Belgrade"
start = 2016-11-24
end = 2016-11-26

[storage]
path = "{db_path}"
{extra}""",
        encoding="utf-8",
    )
    return path


def test_cli_digest_writes_files(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    build_fixture_db(config)
    path = str(config_file(tmp_path, config.db_path, '[digest]\nout_dir = "my-digests"\n'))
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", path, "digest", "--date", "2016-11-25"])
    assert result.exit_code == 0, result.output
    assert "Digest for Friday 25 November 2016: 8 posts." in result.output
    assert "collection: X: FAILING" in result.output
    assert (tmp_path / "my-digests" / "digest-2016-11-25.html").exists()
    out = tmp_path / "elsewhere"
    result = runner.invoke(
        cli, ["--config", path, "digest", "--date", "2016-11-28", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Digest for Monday 28 November 2016: 0 posts." in result.output
    assert (out / "digest-2016-11-28.txt").read_text(encoding="utf-8").count("No posts") == 1

    bad = runner.invoke(cli, ["--config", path, "digest", "--date", "25/11/2016"])
    assert bad.exit_code == 2
    assert "Error: --date '25/11/2016' is not a date; use YYYY-MM-DD." in bad.output

    nowhere = runner.invoke(cli, ["--config", path, "digest", "--send"])
    assert nowhere.exit_code == 2
    assert "--send has nowhere to send the digest" in nowhere.output
    assert "(TAGWATCH_DIGEST_WEBHOOK_URL)" in nowhere.output


def test_cli_send_to_the_webhook_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = digest_config(tmp_path)
    build_fixture_db(config)
    path = str(config_file(tmp_path, config.db_path, ""))
    with Hook() as hook:
        monkeypatch.setenv("TAGWATCH_DIGEST_WEBHOOK_URL", hook.url)
        result = CliRunner().invoke(
            cli, ["--config", path, "digest", "--date", "2016-11-25", "--send"]
        )
    assert result.exit_code == 0, result.output
    assert "Posted the summary to the chat webhook." in result.output
    assert "Mailed" not in result.output
    assert len(hook.bodies) == 1


def test_cli_digest_send(smtp: tuple[Inbox, int, Authenticator], tmp_path: Path) -> None:
    inbox, port, _ = smtp
    config = mail_config(tmp_path, port)
    extra = f"""
[digest]
recipients = ["comms@example.org"]

[smtp]
host = "127.0.0.1"
port = {port}
starttls = false
sender = "digest@example.org"
"""
    path = str(config_file(tmp_path, config.db_path, extra))
    result = CliRunner().invoke(cli, ["--config", path, "digest", "--date", "2016-11-25", "--send"])
    assert result.exit_code == 0, result.output
    assert "Mailed to comms@example.org" in result.output
    assert [e.rcpt_tos for e in inbox.envelopes] == [["comms@example.org"]]

    no_host = config_file(tmp_path, config.db_path, '[digest]\nrecipients = ["a@example.org"]\n')
    failed = CliRunner().invoke(cli, ["--config", str(no_host), "digest", "--send"])
    assert failed.exit_code == 2
    assert "smtp.host is not set, so the digest cannot be mailed" in failed.output


def test_the_scheduler_daily_job_reaches_the_digest(
    smtp: tuple[Inbox, int, Authenticator], tmp_path: Path
) -> None:
    """Through the runner's own seam (tagwatch.monitor.jobs), with the runner's store."""
    from tagwatch.monitor.jobs import daily_digest
    from tagwatch.storage.db import Store

    inbox, port, _ = smtp
    config = mail_config(tmp_path, port)
    with Store.open(config.db_path) as store:
        daily_digest(config, DAY, store=store)
    assert (tmp_path / "out" / "digest-2016-11-25.html").exists()
    (msg,) = inbox.messages()
    assert msg["Subject"].startswith("HRHN Assembly 2016 digest, Fri 25 Nov: 8 posts")


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography comes with atproto)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_and_login_against_a_server_with_a_certificate(
    mode: str, tls_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default path (STARTTLS then login) and implicit TLS, certificate verified."""
    import ssl

    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox, auth, port = Inbox(), Authenticator(), free_port()
    tls: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True}
        if mode == "starttls"
        else {"ssl_context": server_tls}
    )
    # aiosmtpd counts only STARTTLS as TLS for AUTH; with implicit TLS every byte is encrypted.
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=auth,
        auth_require_tls=mode == "starttls",
        **tls,
    )
    controller.start()
    try:
        # The client trusts our certificate the standard way: OpenSSL's SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("TEST_DIGEST_SMTP_PW", PASSWORD)
        config = mail_config(
            tmp_path,
            port,
            starttls=mode == "starttls",
            ssl=mode == "ssl",
            user="digest",
            password_env="TEST_DIGEST_SMTP_PW",
        )
        assert send_digest(config, build_digest(config, DAY, now=NOW))
    finally:
        controller.stop()
    assert auth.logins == ["digest"]
    assert len(inbox.envelopes) == 1
