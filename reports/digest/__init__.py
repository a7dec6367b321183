"""The daily digest: what happened on the hashtag yesterday, readable in two minutes.

One package, one job per module, so the shape is visible from the folder:

    build.py     the figures a communications team needs, chosen from the analysis; write, send
    model.py     the plain data (`Digest`) every template renders
    render.py    HTML (e-mail and file), Markdown, text and the chat summary, from templates/
    health.py    how collection went that day, from the runs table

Callers import from here (`from tagwatch.reports.digest import build_digest`); the modules
are the place to read how.
"""

from __future__ import annotations

from tagwatch.reports.digest.build import (
    build_digest,
    default_day,
    out_dir,
    post_digest_webhook,
    send_daily_digest,
    send_digest,
    write_digest,
)
from tagwatch.reports.digest.health import CollectorDay, collection_day
from tagwatch.reports.digest.model import (
    PLATFORM_NAMES,
    PLATFORMS,
    Account,
    AlertView,
    Digest,
    DigestResult,
    Figure,
    PostView,
    SessionView,
    Share,
    ThemeView,
)
from tagwatch.reports.digest.render import (
    email_parts,
    md_escape,
    plain,
    render_html,
    render_markdown,
    render_text,
    webhook_text,
)

__all__ = [
    "Account",
    "AlertView",
    "CollectorDay",
    "Digest",
    "DigestResult",
    "Figure",
    "PLATFORMS",
    "PLATFORM_NAMES",
    "PostView",
    "SessionView",
    "Share",
    "ThemeView",
    "build_digest",
    "collection_day",
    "default_day",
    "email_parts",
    "md_escape",
    "out_dir",
    "plain",
    "post_digest_webhook",
    "render_html",
    "render_markdown",
    "render_text",
    "send_daily_digest",
    "send_digest",
    "webhook_text",
    "write_digest",
]
