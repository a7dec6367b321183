"""`tagwatch estimate x`: what a backfill would cost, asked before anything is read.

X's counts endpoints say how many posts match a query per day without
returning (and billing) the posts themselves: `/2/tweets/counts/recent` for the
last 7 days, `/2/tweets/counts/all` further back (an access level with
full-archive search). The forecast multiplies the total by the configured
price and sets it against what is left of this month's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import tweepy

from collectors.x import RECENT_WINDOW, make_client, translate_tweepy_error
from collectors.x_budget import BudgetState, budget_state
from monitor.config import Config
from monitor.errors import MalformedResponse, PlatformError, UsageError
from storage.db import Store

__all__ = ["Estimate", "estimate_backfill", "format_estimate"]


@dataclass
class Estimate:
    start: datetime
    end: datetime
    endpoint: str  # "recent" or "all"
    per_query: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # UTC day -> posts, all queries
    requests: int = 0
    price: float = 0.005
    budget: BudgetState | None = None

    @property
    def total(self) -> int:
        return sum(self.per_query.values())

    @property
    def cost_usd(self) -> float:
        return self.total * self.price


def period(
    config: Config, first: date | None, last: date | None, now: datetime
) -> tuple[datetime, datetime]:
    """The period to forecast: event start (minus backfill_days) to event end, up to now."""
    ev = config.event
    first = first or ev.start - timedelta(days=config.sections["collect"].backfill_days)
    last = last or ev.end
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}.")
    start, _ = ev.day_bounds(first)
    _, end = ev.day_bounds(last)
    end = min(end, now - timedelta(seconds=30))
    if end <= start:
        raise UsageError(
            f"The period from {first} starts in the future: there is nothing to backfill yet."
        )
    return start, end


def estimate_backfill(
    config: Config,
    store: Store,
    *,
    now: datetime,
    first: date | None = None,
    last: date | None = None,
    client: tweepy.Client | None = None,
) -> Estimate:
    """Ask the counts endpoint how many posts each hashtag query has over the period."""
    section = config.sections["x"]
    start, end = period(config, first, last, now)
    recent = start >= now - RECENT_WINDOW
    client = client or make_client(config)
    count = client.get_recent_tweets_count if recent else client.get_all_tweets_count
    est = Estimate(start, end, "recent" if recent else "all", price=section.price_per_post_usd)
    for tag in config.event.hashtags:
        query = section.query.replace("{tag}", tag)
        params = {"start_time": start, "end_time": end, "granularity": "day"}
        total = 0
        while True:
            est.requests += 1
            try:
                page = count(query, **params)
            except Exception as exc:
                err = translate_tweepy_error(exc, section.bearer_token_env)
                if err is None:
                    raise
                if err.status == 403 and not recent:
                    raise PlatformError(
                        "X refused /2/tweets/counts/all (403 Forbidden): this app's access level "
                        "does not include the full archive, so posts older than 7 days can be "
                        "neither counted nor read. Estimate a period within the last 7 days "
                        "(--from), or upgrade the X API access level.",
                        status=403,
                    ) from exc
                raise err from exc
            if not isinstance(page, dict) or "meta" not in page:
                raise MalformedResponse("X answered a counts request without its `meta`.")
            for bucket in page.get("data") or []:
                n = int(bucket.get("tweet_count") or 0)
                day = str(bucket.get("start", ""))[:10]
                est.per_day[day] = est.per_day.get(day, 0) + n
                total += n
            token = page["meta"].get("next_token")
            if not token:
                break
            params["next_token"] = token
        est.per_query[query] = total
    est.budget = budget_state(store.conn, config, now)
    return est


def format_estimate(est: Estimate) -> list[str]:
    """The forecast as lines for the terminal."""
    width = max([len(q) for q in est.per_query] + [5])
    start, end = est.start.astimezone(UTC), est.end.astimezone(UTC)
    lines = [
        f"X backfill forecast, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        f" (from /2/tweets/counts/{est.endpoint}; no posts were read):"
    ]
    for query, n in est.per_query.items():
        lines.append(f"  {query:<{width}}  {n:>9,} posts")
    lines.append(
        f"  {'total':<{width}}  {est.total:>9,} posts  ~ ${est.cost_usd:,.2f}"
        f" at ${est.price:g} per post read"
    )
    lines.append(f"({est.requests} count request(s) made; X bills those per request.)")
    budget = est.budget
    if budget is not None:
        lines.append(budget.summary() + ".")
        room = budget.room()
        if room is not None:
            if est.total > room:
                lines.append(
                    f"Warning: a backfill would exceed what is left of the budget ({room:,} posts)"
                    f" by {est.total - room:,} posts; collection would stop part way. Raise"
                    " x.monthly_post_budget / x.budget_usd, or shorten the period with --from/--to."
                )
            else:
                lines.append(f"A backfill would leave {room - est.total:,} posts of the budget.")
    if est.endpoint == "all":
        lines.append(
            "Posts older than 7 days can only be read with x.full_archive = true"
            " (an access level with full-archive search)."
        )
    return lines
