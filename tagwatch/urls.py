"""The one URL guard every output's links pass: http and https only.

Why an allow-list and not a block-list of `javascript:`: a browser forgives a
great deal before it decides a URL's scheme (leading spaces and control
characters, tabs and newlines inside `java\\tscript:`, any letter case, HTML
entities in an attribute), and new dangerous schemes (`data:`, `vbscript:`)
keep turning up. A link is kept only when it is plainly `http://` or
`https://` followed by a host, with nothing in it that could close an HTML
attribute (`"`, `'`, `<`, `>`) or that a browser would silently drop
(whitespace, control and bidi characters); anything else becomes "" and the
output shows no link. Post URLs come from whatever a platform or a Mastodon
instance sends, so this is applied where a link is written, not where it is
stored: exports carry the data as stored.
"""

from __future__ import annotations

import re

__all__ = ["safe_url"]

# Scheme, "//", then a host character: "http:///x" and "http://" are no links.
_SAFE = re.compile(r"https?://[^\s\"'<>\\/?#@][^\s\"'<>\\]*", re.IGNORECASE)
# Characters a browser strips or reorders silently; a URL holding one is refused, not cleaned.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def safe_url(value: object) -> str:
    """`value` when it is a plain http(s) URL, else "" (no link is written)."""
    if not isinstance(value, str):
        return ""
    url = value.strip(" ")
    if _INVISIBLE.search(url) or not _SAFE.fullmatch(url):
        return ""
    return url
