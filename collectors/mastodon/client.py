"""A small Mastodon REST client on httpx: the few calls tagwatch makes, nothing more.

It reads what Mastodon puts in headers (the `Link` header's ``max_id`` /
``min_id`` for paging, ``X-RateLimit-Reset`` as an ISO timestamp) and raises
its own exceptions (`MastodonAPIError`, `MastodonGarbage`; httpx's own for
the network); `tagwatch.collectors.mastodon.collector` turns them into tagwatch's errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tagwatch.records import parse_iso

__all__ = [
    "MastodonClient",
    "MastodonAPIError",
    "MastodonGarbage",
    "Page",
    "TIMELINE_LIMIT",
    "STATUSES_BATCH",
    "BATCH_SINCE",
    "server_version",
]

TIMELINE_LIMIT = 40  # the most Mastodon returns per page
# GET /api/v1/statuses?id[]=… (Mastodon 4.3.0+): at most 20 ids a request.
STATUSES_BATCH = 20
BATCH_SINCE = (4, 3, 0)
USER_AGENT = "tagwatch/0.1 (hashtag monitor; +https://github.com/tagwatch/tagwatch)"


class MastodonAPIError(Exception):
    """An HTTP error answer; `reset_at` is the X-RateLimit-Reset of a 429."""

    def __init__(self, base_url: str, status: int, message: str, reset_at: datetime | None = None):
        super().__init__(f"{base_url} answered {status}: {message}")
        self.base_url = base_url
        self.status = status
        self.message = message
        self.reset_at = reset_at


class MastodonGarbage(Exception):
    """A 2xx answer whose body is not the JSON the endpoint returns."""

    def __init__(self, base_url: str, what: str):
        super().__init__(f"{base_url} returned something that is not Mastodon JSON ({what})")
        self.base_url = base_url


@dataclass
class Page:
    statuses: list[dict[str, Any]]
    next_max_id: str | None  # from Link rel="next": older statuses
    prev_min_id: str | None  # from Link rel="prev": newer statuses
    rate_remaining: int | None = None


def _reset_at(response: httpx.Response) -> datetime | None:
    value = response.headers.get("x-ratelimit-reset")
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def server_version(text: str) -> tuple[int, int, int] | None:
    """The Mastodon version an instance reports ("4.5.0", "4.3.0-beta.1+glitch"), else None.

    Servers that only speak Mastodon's API say so ("2.7.2 (compatible; Pleroma
    2.5.0)"); their number is not a Mastodon release, so they count as unknown
    and get the calls every version has.
    """
    if not isinstance(text, str) or "compatible" in text:
        return None
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def _link_param(response: httpx.Response, rel: str, param: str) -> str | None:
    link = response.links.get(rel)
    if not link or not link.get("url"):
        return None
    values = parse_qs(urlsplit(link["url"]).query).get(param)
    return values[-1] if values else None


class MastodonClient:
    """The few Mastodon REST calls tagwatch needs, on one instance."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        response = self.http.get(path, params={k: v for k, v in (params or {}).items() if v})
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error") or response.reason_phrase)
            except (ValueError, AttributeError):
                message = response.reason_phrase or "error"
            raise MastodonAPIError(
                self.base_url, response.status_code, message, _reset_at(response)
            )
        return response

    def _json(self, response: httpx.Response, kind: type) -> Any:
        try:
            data = response.json()
        except ValueError:
            raise MastodonGarbage(self.base_url, "body is not JSON") from None
        if not isinstance(data, kind):
            raise MastodonGarbage(self.base_url, f"expected a JSON {kind.__name__}")
        return data

    def instance(self) -> dict[str, Any]:
        return self._json(self._get("/api/v2/instance"), dict)

    def status(self, status_id: str) -> dict[str, Any]:
        data = self._json(self._get(f"/api/v1/statuses/{status_id}"), dict)
        if "uri" not in data:
            raise MastodonGarbage(self.base_url, "status without uri")
        return data

    def statuses(self, status_ids: list[str]) -> list[dict[str, Any]]:
        """Several statuses in one request (Mastodon 4.3+); missing ones are left out.

        Unknown, deleted and hidden statuses are simply absent from the answer,
        so absence alone never proves a deletion.
        """
        data = self._json(self._get("/api/v1/statuses", {"id[]": list(status_ids)}), list)
        if not all(isinstance(s, dict) and "id" in s and "uri" in s for s in data):
            raise MastodonGarbage(self.base_url, "statuses without id or uri")
        return data

    def tag_timeline(
        self,
        tag: str,
        *,
        limit: int = TIMELINE_LIMIT,
        max_id: str | None = None,
        min_id: str | None = None,
        since_id: str | None = None,
    ) -> Page:
        params = {"limit": limit, "max_id": max_id, "min_id": min_id, "since_id": since_id}
        response = self._get(f"/api/v1/timelines/tag/{tag}", params)
        statuses = self._json(response, list)
        if not all(isinstance(s, dict) and "id" in s for s in statuses):
            raise MastodonGarbage(self.base_url, "timeline entries are not statuses")
        remaining = response.headers.get("x-ratelimit-remaining", "")
        # The Link header is the contract; a server that speaks the API without it
        # still pages by the first and last ids, as Mastodon's own links do.
        return Page(
            statuses=statuses,
            next_max_id=_link_param(response, "next", "max_id")
            or (str(statuses[-1]["id"]) if statuses else None),
            prev_min_id=_link_param(response, "prev", "min_id")
            or (str(statuses[0]["id"]) if statuses else None),
            rate_remaining=int(remaining) if remaining.isdigit() else None,
        )
