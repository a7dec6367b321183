"""The digest as HTML (e-mail and file), Markdown, plain text and a chat summary.

Why templates with these filters: every post text, name and handle is someone
else's words. HTML autoescaping turns a `<script>` into visible text; the
Markdown filter also escapes what Markdown would interpret (and raw HTML,
which Markdown passes through); links pass the one URL guard (`tagwatch.reports.urls.safe_url`,
http and https only), so a `javascript:` URL in a payload can never become a
clickable link.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tagwatch.reports.charts import data_uri
from tagwatch.reports.digest.model import Digest
from tagwatch.reports.mailer import InlineImage
from tagwatch.reports.urls import safe_url

__all__ = [
    "render_html",
    "render_markdown",
    "render_text",
    "email_parts",
    "webhook_text",
    "md_escape",
    "plain",
    "safe_url",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")
_MD_LEADING = re.compile(r"^(\d+)([.)])|^([-+=])")
_SPACE = re.compile(r"\s+")
# Could make the rest of a line render right-to-left, disguising what follows.
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def plain(value: object) -> str:
    """One line of text: control and bidi-override characters dropped, whitespace runs made one."""
    text = "" if value is None else str(value)
    text = "".join(
        " " if unicodedata.category(ch) == "Cc" or ch in _BIDI_OVERRIDES else ch for ch in text
    )
    return _SPACE.sub(" ", text).strip()


def md_escape(value: object) -> str:
    """Literal text inside Markdown: no emphasis, links, headings or raw HTML."""
    text = plain(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # A list marker or numbered item only counts at the start of a line.
    return _MD_LEADING.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def _num(value: float | int) -> str:
    return f"{value:,}"


def _plural(value: int, noun: str, plural: str = "") -> str:
    """`3|plural("post")` -> "3 posts"; the number formatted with thousands separators."""
    return f"{value:,} {noun if value == 1 else (plural or noun + 's')}"


def _pct(value: float) -> str:
    return f"{round(100 * value)}%"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, plain=plain, url=safe_url, num=_num, pct=_pct, plural=_plural)
    return env


_ENV: Environment | None = None


def env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def _cid(digest: Digest, name: str) -> str:
    return f"{name}.{digest.file_stem}@tagwatch"


def render_html(digest: Digest, *, inline: Literal["cid", "data"] = "data") -> str:
    """HTML for mail clients: tables, inline CSS, no scripts; charts as cid: or data: images."""

    def img(name: str) -> str:
        if inline == "cid":
            return "cid:" + _cid(digest, name)
        return data_uri(digest.charts[name])

    return env().get_template("digest.html.j2").render(d=digest, img=img)


def render_markdown(digest: Digest) -> str:
    charts = {name: f"{digest.file_stem}-{name}.png" for name in digest.charts}
    return env().get_template("digest.md.j2").render(d=digest, charts=charts)


def render_text(digest: Digest) -> str:
    return env().get_template("digest.txt.j2").render(d=digest)


def email_parts(digest: Digest) -> tuple[str, str, list[InlineImage]]:
    """Plain text, HTML referencing cid: images, and those images."""
    images = [
        InlineImage(_cid(digest, name), png, f"{digest.file_stem}-{name}.png")
        for name, png in digest.charts.items()
    ]
    return render_text(digest), render_html(digest, inline="cid"), images


def _slack(value: object) -> str:
    # Slack's own escaping: only these three are control characters in message text.
    return plain(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_text(digest: Digest, link: str = "") -> str:
    """A few lines for a chat channel (Slack-compatible mrkdwn); post text is never quoted."""
    lines = [f"*{_slack(digest.title)}*"]
    if digest.empty:
        lines.append("No posts on this day.")
    else:
        figures = []
        for f in digest.headline[:3]:
            change = f" ({f.change} vs day before)" if f.change else ""
            figures.append(f"{f.label.lower()}: {f.value:,}{change}")
        lines.append("; ".join(figures))
        if digest.themes:
            label = "New and rising" if digest.themes_are_new else "Main themes"
            lines.append(f"{label}: " + ", ".join(_slack(t.label) for t in digest.themes[:3]))
        if digest.to_look_at:
            lines.append(f"{len(digest.to_look_at)} post(s) to look at.")
    if digest.alerts:
        n = len(digest.alerts)
        titles = "; ".join(_slack(a.title) for a in digest.alerts[:3])
        more = f" and {n - 3} more" if n > 3 else ""
        lines.append(f"{n} alert{'s' if n != 1 else ''}: {titles}{more}.")
    for h in digest.health_problems:
        lines.append(f":warning: {_slack(h.collector)}: {_slack(h.statement())}")
    url = safe_url(link)
    if url:
        lines.append(f"<{url}|Read the digest>")
    return "\n".join(lines)
