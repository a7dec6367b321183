"""What Meta's Graph APIs (Threads, Instagram) share: errors, usage headers, a small client.

Both APIs answer errors the same way (Graph API "Handling Errors" guide):
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``, and
report how close an app is to being throttled in ``X-App-Usage`` (platform
limits: ``{"call_count", "total_cputime", "total_time"}`` in percent) and
``X-Business-Use-Case-Usage`` (Instagram's business use case limits:
``{"<business id>": [{"type", "call_count", "total_cputime", "total_time",
"estimated_time_to_regain_access"}]}``, the last in minutes). This module turns
those into `GraphAPIError` / `Usage`, and `translate` turns a `GraphAPIError`
into tagwatch's errors (`tagwatch.errors`), naming the token's variable.

Codes (same guide): 190 token expired or revoked; 4, 17, 32, 613 and the
80001-80009 business use case codes are throttling; 10 and 200-299 a missing
permission; 1 and 2 temporary; 100 a bad parameter, which on a read of one
object means the object is gone or out of reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tagwatch.errors import AuthError, MalformedResponse, PlatformError, RateLimited

__all__ = [
    "GraphAPIError",
    "GraphGarbage",
    "GraphClient",
    "Usage",
    "parse_usage",
    "translate",
    "THROTTLE_CODES",
    "SLOW_DOWN_AT",
    "TOKEN_WARN_DAYS",
]

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80010)})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
SLOW_DOWN_AT = 80  # percent of a usage header from which a pass slows down
TOKEN_WARN_DAYS = 7  # warn this long before a token's expires_at
USER_AGENT = "tagwatch/0.1 (hashtag monitor; +https://github.com/tagwatch/tagwatch)"


class GraphAPIError(Exception):
    """An error body from a Graph API (any HTTP status)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        kind: str = "",
        fbtrace_id: str = "",
        usage: Usage | None = None,
    ):
        detail = f"code {code}" + (f"/{subcode}" if subcode else "")
        super().__init__(f"HTTP {status}, {detail}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.subcode = subcode
        self.kind = kind
        self.fbtrace_id = fbtrace_id
        self.usage = usage


class GraphGarbage(Exception):
    """A 2xx answer whose body is not the JSON the endpoint returns."""


@dataclass(frozen=True)
class Usage:
    """The highest share of any limit the usage headers report, and when access returns."""

    percent: int
    regain_minutes: int | None = None

    def regain_at(self, now: datetime) -> datetime | None:
        if self.regain_minutes is None or self.regain_minutes <= 0:
            return None
        return now + timedelta(minutes=self.regain_minutes)


def _ints(values: dict[str, Any], keys: tuple[str, ...]) -> list[int]:
    return [int(v) for k in keys if isinstance(v := values.get(k), int | float)]


def parse_usage(headers: httpx.Headers) -> Usage | None:
    """`Usage` from X-App-Usage and X-Business-Use-Case-Usage; None when neither is sent.

    Absence is not zero use: Meta sends them only once an app makes enough calls.
    """
    shares: list[int] = []
    regain: list[int] = []
    keys = ("call_count", "total_cputime", "total_time")
    app = headers.get("x-app-usage")
    if app:
        try:
            data = json.loads(app)
        except ValueError:
            data = None
        if isinstance(data, dict):
            shares += _ints(data, keys)
    buc = headers.get("x-business-use-case-usage")
    if buc:
        try:
            data = json.loads(buc)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for entries in data.values():
                for entry in entries if isinstance(entries, list) else ():
                    if isinstance(entry, dict):
                        shares += _ints(entry, keys)
                        regain += _ints(entry, ("estimated_time_to_regain_access",))
    if not shares and not regain:
        return None
    return Usage(max(shares, default=0), max(regain) if regain else None)


def _error_of(response: httpx.Response, usage: Usage | None) -> GraphAPIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphAPIError(response.status_code, response.reason_phrase or "error", usage=usage)
    code, subcode = error.get("code"), error.get("error_subcode")
    return GraphAPIError(
        response.status_code,
        str(error.get("message") or response.reason_phrase or "error"),
        code=code if isinstance(code, int) else None,
        subcode=subcode if isinstance(subcode, int) else None,
        kind=str(error.get("type") or ""),
        fbtrace_id=str(error.get("fbtrace_id") or ""),
        usage=usage,
    )


class GraphClient:
    """GET requests to one Graph API host, the token in the Authorization header.

    The header rather than ``access_token=`` in the query keeps the token out of
    URLs, which httpx puts in its exception messages.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.last_usage: Usage | None = None
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        response = self.http.get(path, params=clean)
        usage = parse_usage(response.headers)
        self.last_usage = usage
        if response.status_code >= 400:
            raise _error_of(response, usage)
        try:
            data = response.json()
        except ValueError:
            raise GraphGarbage(f"{self.base_url} answered with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise GraphGarbage(f"{self.base_url} answered with JSON that is not an object")
        if isinstance(data.get("error"), dict):  # an error body with a 200
            raise _error_of(response, usage)
        return data

    def page(self, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """One page of an edge: its ``data`` and the ``after`` cursor of the next (None: last).

        Graph paging: ``paging.cursors.after`` with ``paging.next`` present
        while more follow (Instagram's hashtag edges repeat the same ``after``
        on every page, so only ``next`` says whether one follows).
        """
        data = self.get(path, params)
        items = data.get("data")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise GraphGarbage(f"{self.base_url}{path} answered without a data list")
        paging = data.get("paging")
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors")
        cursors = cursors if isinstance(cursors, dict) else {}
        after = cursors.get("after") if paging.get("next") else None
        return items, (str(after) if after else None)

    def debug_token(self, path: str = "/debug_token") -> dict[str, Any]:
        """The token's own metadata (expires_at, scopes, is_valid): the `data` object."""
        data = self.get(path, {"input_token": self.token})
        inner = data.get("data")
        if isinstance(inner, list):  # some SDKs document a list
            inner = inner[0] if inner else {}
        return inner if isinstance(inner, dict) else {}


def translate(
    exc: Exception, *, label: str, token_env: str, renew: str, now: datetime
) -> PlatformError | None:
    """tagwatch's error for a Graph client's exception (None: not a platform fault)."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, GraphAPIError):
        trace = f" (fbtrace_id {exc.fbtrace_id})" if exc.fbtrace_id else ""
        if exc.code == 190 or exc.status == 401:
            return AuthError(
                f"{label} refused the access token ({exc}): it has expired or was revoked. "
                f"{renew} Put the new token in the environment variable {token_env}.",
                status=exc.status,
            )
        if exc.code in PERMISSION_CODES:
            return AuthError(
                f"{label} refused a permission ({exc}){trace}. Check the token in "
                f"{token_env} has the permissions docs/config.md lists for "
                f"[{label.lower()}] access_token_env.",
                status=exc.status,
            )
        if exc.code in THROTTLE_CODES or exc.status == 429:
            reset = exc.usage.regain_at(now) if exc.usage else None
            when = reset.astimezone(UTC).isoformat() if reset else "an unknown time"
            return RateLimited(
                f"{label} is throttling this app ({exc}); access returns at {when}",
                reset_at=reset,
            )
        retryable = exc.status >= 500 or exc.code in (1, 2)
        return PlatformError(f"{label}: {exc}{trace}", status=exc.status, retryable=retryable)
    if isinstance(exc, GraphGarbage):
        return MalformedResponse(f"{label}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return PlatformError(f"{label} did not answer in time", retryable=True)
    if isinstance(exc, httpx.TransportError):
        return PlatformError(f"cannot reach {label}: {exc}", retryable=True)
    return None


def object_gone(exc: BaseException) -> bool:
    """Whether a failed read of one object says it no longer exists (code 100, or 404)."""
    cause = exc.__cause__ if not isinstance(exc, GraphAPIError) else exc
    return isinstance(cause, GraphAPIError) and (cause.code == 100 or cause.status == 404)


def token_expiry(info: dict[str, Any]) -> datetime | None:
    """expires_at of a debug_token answer (0 means "never" for long-lived page tokens)."""
    value = info.get("expires_at")
    if not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)
