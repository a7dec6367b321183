"""X's network side: tweepy pointed at `x.api_base_url`, and its errors in tagwatch's terms.

tweepy builds every URL from a hard-coded https://api.twitter.com; a transport
adapter mounted on the client's requests session redirects them, so the real
library talks to the configured server (the loopback fake in tests) unforked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from tagwatch.errors import AuthError, MalformedResponse, PlatformError, RateLimited
from tagwatch.settings import Config

__all__ = [
    "make_client",
    "translate_tweepy_error",
    "BaseURLAdapter",
    "TWITTER_HOST",
    "EXPANSIONS",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "MEDIA_EXPANSION",
    "MEDIA_FIELDS",
    "fields_params",
]

TWITTER_HOST = "https://api.twitter.com"
# Only what tagwatch uses, because X bills every object a page returns (see
# tagwatch.collectors.x.budget). The authors (`author_id`: a user each) name the posts and
# carry their followers. Referenced posts are not expanded: the `referenced_tweets`
# field already gives what a post replies to, quotes or reposts, and a tagged
# original inside the period is found by the search itself; expanding them would
# bill up to two more posts per post. Media are not expanded either: the
# `attachments` field carries their keys, which is all `media_count` needs.
EXPANSIONS = ["author_id"]
TWEET_FIELDS = [
    "created_at",
    "lang",
    "public_metrics",
    "entities",
    "referenced_tweets",
    "attachments",
    "possibly_sensitive",
    "author_id",
    "note_tweet",  # the whole text of posts longer than 280 characters
]
# profile_image_url and created_at: the avatar and the account's age, free on the
# users already billed (docs.x.com, x-api/fundamentals/data-dictionary#user).
USER_FIELDS = ["username", "name", "public_metrics", "profile_image_url", "created_at"]
# With `[x] media` on: the media objects (billed each, up to 4 a post) and the fields
# a screen needs (data-dictionary#media: `url` for photos only, `preview_image_url`
# the still of a video or GIF; `alt_text`, `width`, `height`).
MEDIA_EXPANSION = "attachments.media_keys"
MEDIA_FIELDS = ["type", "url", "preview_image_url", "alt_text", "width", "height"]


def fields_params(media: bool) -> dict[str, list[str]]:
    """The expansions and fields a search or lookup asks: media ones only when `media`."""
    params = {
        "expansions": EXPANSIONS + ([MEDIA_EXPANSION] if media else []),
        "tweet_fields": TWEET_FIELDS,
        "user_fields": USER_FIELDS,
    }
    if media:
        params["media_fields"] = MEDIA_FIELDS
    return params


class BaseURLAdapter(HTTPAdapter):
    """Sends tweepy's requests for https://api.twitter.com to `base_url`, with a timeout.

    tweepy builds every URL from a hard-coded host; mounting this adapter on the
    client's session for that prefix redirects them without forking tweepy.
    """

    def __init__(self, base_url: str, timeout: float, trust_env: bool = True):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.trust_env = trust_env

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if self.base_url != TWITTER_HOST and url.startswith(TWITTER_HOST):
            request.url = self.base_url + url[len(TWITTER_HOST) :]
            # Proxies were chosen for api.twitter.com; choose again for the real target.
            kwargs["proxies"] = (
                requests.utils.get_environ_proxies(request.url) if self.trust_env else {}
            )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def make_client(config: Config) -> tweepy.Client:
    """A tweepy client on the configured base URL; raises AuthError if the token is missing."""
    section = config.x
    token = config.secret(section.bearer_token_env)
    if not token:
        raise AuthError(
            f"No X bearer token: set the environment variable {section.bearer_token_env} "
            "(or name another one in x.bearer_token_env)."
        )
    # return_type=dict: the parser works on the raw v2 JSON, exactly as recorded.
    client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
    adapter = BaseURLAdapter(
        section.api_base_url, config.collect.timeout_seconds, client.session.trust_env
    )
    client.session.mount(TWITTER_HOST, adapter)
    return client


def translate_tweepy_error(exc: Exception, token_env: str) -> PlatformError | None:
    """tweepy's and requests' exceptions → tagwatch's, with messages that say what to do."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, tweepy.TooManyRequests):
        reset = datetime.fromtimestamp(exc.reset_time, UTC) if exc.reset_time is not None else None
        when = f" until {reset:%H:%M:%S} UTC" if reset else ""
        return RateLimited(f"X rate limit reached{when} (429 Too Many Requests).", reset_at=reset)
    if isinstance(exc, tweepy.Unauthorized):
        return AuthError(
            f"X refused the bearer token in {token_env} (401 Unauthorized): it is wrong, revoked "
            "or expired. Generate a new one in the X developer console and export it again."
        )
    if isinstance(exc, tweepy.Forbidden):
        path = urlsplit(getattr(exc.response, "url", "") or "").path
        try:
            body = exc.response.json()
        except ValueError:
            body = {}
        said = body.get("detail") or "; ".join(exc.api_messages) or "Forbidden"
        tier = body.get("reason") == "client-not-enrolled" or 453 in exc.api_codes
        if not tier:
            return PlatformError(
                f"X refused {path} (403 Forbidden): {said}. Check the app's permissions "
                "in the X developer console.",
                status=403,
            )
        if path.endswith("/all"):
            what = "full-archive search"
            fix = "Set x.full_archive = false, or upgrade the X API access level."
        else:
            what = "search" if "/search/" in path or "/counts/" in path else path
            fix = (
                "Upgrade the X API access level of the app's project (the Free tier cannot search)."
            )
        return PlatformError(
            f"X refused {path} (403 Forbidden): this app's access level does not include "
            f"{what}. {fix} X said: {said}",
            status=403,
        )
    if isinstance(exc, tweepy.TwitterServerError):
        return PlatformError(
            f"X server error: {exc}", status=exc.response.status_code, retryable=True
        )
    if isinstance(exc, tweepy.BadRequest):
        return PlatformError(f"X rejected the request (400): {'; '.join(exc.api_messages) or exc}")
    if isinstance(exc, tweepy.HTTPException):
        return PlatformError(f"X answered {exc}", status=exc.response.status_code)
    if isinstance(exc, requests.JSONDecodeError):
        return MalformedResponse(f"X answered with something that is not JSON: {exc}")
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return PlatformError(f"Cannot reach X: {exc}", retryable=True)
    return None
