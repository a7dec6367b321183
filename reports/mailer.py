"""Mailing the digest, and posting its summary to a chat webhook.

Why a module of its own: the CLI (`digest --send`) and the scheduler's daily job
send the same way, and the delivery rules live in one place: the password and
the webhook URL come only from environment variables and never appear in an
error message (a webhook URL is itself a credential), and every failure
becomes a `DeliveryError` that says what to check.

The message is the shape mail clients render best:

    multipart/alternative
    ├── text/plain                 the text digest, for clients that show no HTML
    └── multipart/related
        ├── text/html              references each chart as <img src="cid:...">
        └── image/png ...          one part per chart, Content-ID matching the HTML
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

from tagwatch.errors import ConfigError, DeliveryError, DeliveryRateLimited
from tagwatch.settings import Config

__all__ = [
    "InlineImage",
    "SmtpSettings",
    "build_message",
    "smtp_settings",
    "send_message",
    "check_login",
    "smtp_session",
    "webhook_url",
    "post_webhook",
]


# Deliberately loose: catches a name or a typo'd list entry, not every RFC 5322 nuance.


@dataclass(frozen=True)
class InlineImage:
    cid: str  # bare Content-ID, as used in the HTML: src="cid:<cid>"
    png: bytes
    filename: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str
    password: str | None
    sender: str
    timeout: float


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str,
    images: Sequence[InlineImage] = (),
    date: float | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = make_msgid(domain="tagwatch.invalid")
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    for image in images:
        html_part.add_related(
            image.png,
            maintype="image",
            subtype="png",
            cid=f"<{image.cid}>",
            filename=image.filename,
            disposition="inline",
        )
    return msg


def smtp_settings(config: Config) -> SmtpSettings:
    """[smtp] as sending needs it; ConfigError says which key to set.

    Port, timeout, ssl with starttls and the recipients' form are refused by the
    loader; what is left is what only sending needs (a host, a sender, the password).
    """
    smtp = config.smtp
    source = str(config.path)
    if not smtp.host:
        raise ConfigError(
            f"{source}: smtp.host is not set, so the digest cannot be mailed. Add an [smtp] "
            "section with host, port and sender (or run without --send)."
        )
    if not smtp.sender:
        raise ConfigError(
            f"{source}: smtp.sender is not set; give the From address, "
            'e.g. sender = "Comms <comms@example.org>".'
        )
    password = None
    if smtp.user:
        password = config.secret(smtp.password_env)
        if password is None:
            raise ConfigError(
                f"{source}: smtp.user is set but the environment variable {smtp.password_env} "
                "(smtp.password_env) is empty; export the SMTP password there."
            )
    return SmtpSettings(
        host=smtp.host,
        port=smtp.port,
        starttls=smtp.starttls,
        ssl=smtp.ssl,
        user=smtp.user,
        password=password,
        sender=smtp.sender,
        timeout=smtp.timeout_seconds,
    )


def send_message(settings: SmtpSettings, msg: EmailMessage, recipients: Sequence[str]) -> list[str]:
    """Deliver `msg`; returns the recipients the server accepted."""
    with smtp_session(settings) as server:
        refused = server.send_message(msg, from_addr=settings.sender, to_addrs=list(recipients))
    return [r for r in recipients if r not in refused]


def check_login(settings: SmtpSettings) -> None:
    """Connect, TLS and log in as sending would, then quit: nothing is sent (`tagwatch check`)."""
    with smtp_session(settings):
        pass


@contextmanager
def smtp_session(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP connection; every failure, inside the block too, a `DeliveryError`.

    One place for connecting, STARTTLS and the login, so a check of the login and a
    real delivery meet the server the same way and fail with the same advice.
    """
    where = f"{settings.host}:{settings.port}"
    context = ssl.create_default_context()
    server: smtplib.SMTP | None = None
    try:
        if settings.ssl:
            server = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        server.ehlo()
        if settings.starttls:
            server.starttls(context=context)
            server.ehlo()
        if settings.user:
            server.login(settings.user, settings.password or "")
        yield server
    except smtplib.SMTPNotSupportedError as exc:
        if "STARTTLS" in str(exc):
            hint = (
                "If this server has no STARTTLS, set smtp.starttls = false (only on a trusted "
                "network) or use its TLS port with smtp.ssl = true"
            )
        else:
            hint = (
                "The server offers no login here: leave smtp.user empty if it needs none, or "
                "connect with TLS first (smtp.starttls or smtp.ssl), which many servers require"
            )
        raise DeliveryError(
            f"Could not mail the digest through {where}: {_reason(exc)}. {hint}."
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"The SMTP server {where} refused the login of {settings.user!r}: {_reason(exc)}. "
            "Check smtp.user and the password in the environment variable smtp.password_env."
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"The SMTP server {where} refused every recipient "
            f"({', '.join(sorted(exc.recipients))}); check [digest] recipients."
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            f"Could not mail the digest through {where}: {_reason(exc)}. Check smtp.host, "
            "smtp.port and the network; the digest files are written."
        ) from None
    finally:
        if server is not None:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return f"{exc.smtp_code} {text}".strip().rstrip(".")
    return (str(exc) or type(exc).__name__).rstrip(".")


def webhook_url(config: Config) -> str | None:
    env = config.digest.webhook_url_env
    return config.secret(env) if env else None


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = 30.0,
    what: str = "the digest summary",
    setting: str = "digest.webhook_url_env",
) -> None:
    """POST Slack-compatible JSON. Errors never quote the URL: it carries the token.

    A 429 raises `DeliveryRateLimited` with the server's Retry-After (seconds),
    so a caller that retries (the alert sender) waits as long as it was asked.
    """
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"Could not post {what} to the chat webhook: {type(exc).__name__}. "
            f"Check the URL in the environment variable named by {setting}."
        ) from None
    if response.status_code == 429:
        raise DeliveryRateLimited(
            f"The chat webhook answered HTTP 429 (too many messages) to {what}.",
            retry_after=_seconds(response.headers.get("retry-after")),
        )
    if response.status_code >= 400:
        raise DeliveryError(
            f"The chat webhook answered HTTP {response.status_code} "
            f"({response.text[:200].strip() or 'no reason given'}); check the URL in the "
            f"environment variable named by {setting}."
        )


def _seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is not used by chat servers)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
