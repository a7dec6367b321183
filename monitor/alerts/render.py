"""An alert as each channel shows it: plain text, Slack mrkdwn, Matrix HTML, e-mail.

Post text in an alert is whatever a stranger wrote, so in every channel it is
text, never markup: Slack mrkdwn escapes `&`, `<` and `>` (the three characters
Slack itself decodes: https://api.slack.com/reference/surfaces/formatting#escaping),
which also disarms `<!channel>` and forged `<url|label>` links; Matrix's
`formatted_body` is HTML-escaped. Links pass the one URL guard
(`tagwatch.reports.urls.safe_url`), and a restricted author's words are never quoted.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from tagwatch.reports.urls import safe_url
from tagwatch.storage.alerts import AlertRow, StoredExample

__all__ = ["Message", "render", "render_test", "slack_escape"]

QUOTE_CHARS = 200


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # plain text: e-mail, Matrix `body`
    slack: str  # Slack mrkdwn
    html: str  # Matrix `formatted_body`, the e-mail's HTML part


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(example: StoredExample) -> str | None:
    if example.text is None:
        return None
    text = " ".join(example.text.split())
    return text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else "")


def _example_parts(e: StoredExample) -> tuple[str, str, str]:
    """(plain, mrkdwn, html) of one example post."""
    url = safe_url(e.url)
    quote = _quote(e)
    who = f"@{e.author} ({e.platform})"
    said = f": “{quote}”" if quote is not None else " (author restricts logged-out viewing)"
    plain = f"- {who}{said}" + (f" {url}" if url else "")
    # A guarded URL holds no '<', '>' or whitespace; '|' would end Slack's link target,
    # and '&' is escaped inside a link like anywhere else in mrkdwn.
    link = f" <{slack_escape(url).replace('|', '%7C')}|open>" if url else ""
    mrkdwn = f"• {slack_escape(who)}{slack_escape(said)}{link}"
    html_link = f' <a href="{html.escape(url)}">open</a>' if url else ""
    markup = f"<li>{html.escape(who)}{html.escape(said)}{html_link}</li>"
    return plain, mrkdwn, markup


def render(alert: AlertRow, event_name: str, *, resolved: bool = False) -> Message:
    if resolved:
        head = f"Back to normal: {alert.title}"
        lines: tuple[str, ...] = (f"Raised at {alert.fired_at}, back to normal now.",)
        examples: tuple[StoredExample, ...] = ()
    else:
        head, lines, examples = alert.title, alert.lines, alert.examples
    subject = f"[{event_name}] {head}"
    parts = [_example_parts(e) for e in examples]
    text = "\n".join([head, *lines, *(p[0] for p in parts)])
    slack = "\n".join(
        [f"*{slack_escape(head)}*", *(slack_escape(x) for x in lines), *(p[1] for p in parts)]
    )
    body = f"<p><strong>{html.escape(head)}</strong></p>" + "".join(
        f"<p>{html.escape(x)}</p>" for x in lines
    )
    if parts:
        body += "<ul>" + "".join(p[2] for p in parts) + "</ul>"
    return Message(subject=subject, text=text, slack=slack, html=body)


def render_test(event_name: str, channel: str) -> Message:
    head = f"tagwatch test message for {event_name}"
    line = f"Alerts reach this {channel} channel. Nothing is happening: this is only a test."
    return Message(
        subject=f"[{event_name}] {head}",
        text=f"{head}\n{line}",
        slack=f"*{slack_escape(head)}*\n{slack_escape(line)}",
        html=f"<p><strong>{html.escape(head)}</strong></p><p>{html.escape(line)}</p>",
    )
