"""Where alerts go: a Slack-compatible webhook, a Matrix room, e-mail through [smtp].

Each channel sends one `Message` or raises `DeliveryError` (a 429 as
`DeliveryRateLimited`, carrying how long the server asked to wait); the
engine's sender thread retries. Secrets (the webhook URL, the Matrix token,
the SMTP password) come from environment variables and never appear in an
error: the webhook and e-mail reuse the digest's senders in
`tagwatch.reports.mailer`, which already keep to that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import httpx

from tagwatch.errors import ConfigError, DeliveryError, DeliveryRateLimited
from tagwatch.monitor.alerts.render import Message
from tagwatch.reports.mailer import build_message, post_webhook, send_message, smtp_settings
from tagwatch.settings import Config

__all__ = ["Channel", "WebhookChannel", "MatrixChannel", "EmailChannel", "channels_from_config"]


class Channel(Protocol):
    name: str

    def send(self, message: Message, *, key: str) -> None:
        """Deliver once; `key` is the same for every retry of one delivery."""


@dataclass
class WebhookChannel:
    """Slack incoming webhook; Mattermost and Rocket.Chat take the same `{"text": ...}` body."""

    url: str
    timeout: float = 10.0
    name: str = "webhook"

    def send(self, message: Message, *, key: str) -> None:
        post_webhook(
            self.url,
            {"text": message.slack},
            timeout=self.timeout,
            what="an alert",
            setting="alerts.webhook_url_env",
        )


@dataclass
class MatrixChannel:
    """`PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`, as the
    client-server spec defines it; the transaction id makes a retried send idempotent."""

    homeserver: str
    room: str
    token: str
    timeout: float = 10.0
    name: str = "matrix"

    def send(self, message: Message, *, key: str) -> None:
        url = (
            f"{self.homeserver.rstrip('/')}/_matrix/client/v3/rooms/{quote(self.room, safe='')}"
            f"/send/m.room.message/{quote(key, safe='')}"
        )
        body = {
            "msgtype": "m.text",
            "body": message.text,
            "format": "org.matrix.custom.html",
            "formatted_body": message.html,
        }
        try:
            response = httpx.put(
                url,
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Could not reach the Matrix homeserver {self.homeserver}: {type(exc).__name__}."
                " Check alerts.matrix_homeserver and the network."
            ) from None
        if response.status_code == 200:
            return
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = str(error.get("errcode") or "")
        if response.status_code == 429 or code == "M_LIMIT_EXCEEDED":
            wait = error.get("retry_after_ms")
            raise DeliveryRateLimited(
                "The Matrix homeserver is rate-limiting tagwatch (M_LIMIT_EXCEEDED).",
                retry_after=float(wait) / 1000 if isinstance(wait, int | float) else None,
            )
        reason = f"{code} {str(error.get('error') or '')[:200]}".strip() or "no reason given"
        if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN") or response.status_code == 401:
            hint = "the access token in alerts.matrix_token_env is refused; make a new one"
        elif code == "M_FORBIDDEN" or response.status_code == 403:
            hint = f"the account may not post in {self.room}; invite it and join the room"
        else:
            hint = "check alerts.matrix_homeserver and alerts.matrix_room"
        raise DeliveryError(
            f"The Matrix homeserver answered HTTP {response.status_code} ({reason}): {hint}."
        )


@dataclass
class EmailChannel:
    config: Config
    recipients: tuple[str, ...]
    name: str = "email"

    def send(self, message: Message, *, key: str) -> None:
        settings = smtp_settings(self.config)
        msg = build_message(
            sender=settings.sender,
            recipients=self.recipients,
            subject=message.subject,
            text=message.text,
            html=message.html,
        )
        send_message(settings, msg, self.recipients)


def channels_from_config(config: Config) -> list[Channel]:
    """The channels `[alerts]` sets up; ConfigError names what is half set up."""
    cfg = config.alerts
    source = str(config.path)
    out: list[Channel] = []
    url = config.secret(cfg.webhook_url_env) if cfg.webhook_url_env else None
    if url:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"The environment variable {cfg.webhook_url_env} (alerts.webhook_url_env) does"
                " not hold a web address; paste the webhook URL from Slack, Mattermost or"
                " Rocket.Chat there."
            )
        out.append(WebhookChannel(url, timeout=float(config.collect.timeout_seconds)))
    if cfg.matrix_homeserver:  # with matrix_room, an http(s) URL: the loader checks both
        token = config.secret(cfg.matrix_token_env)
        if token is None:
            raise ConfigError(
                f"{source}: alerts.matrix_room is set but the environment variable"
                f" {cfg.matrix_token_env} (alerts.matrix_token_env) is empty; export the access"
                " token of the Matrix account that posts the alerts."
            )
        out.append(
            MatrixChannel(
                cfg.matrix_homeserver,
                cfg.matrix_room,
                token,
                timeout=float(config.collect.timeout_seconds),
            )
        )
    if cfg.email_recipients:  # each an address: the loader checks them
        smtp_settings(config)  # a missing host or sender refuses now, not at the first alert
        out.append(EmailChannel(config, tuple(cfg.email_recipients)))
    return out


def new_key_prefix() -> str:
    """Per runner: Matrix transaction ids must not repeat across restarts."""
    return uuid.uuid4().hex[:12]
