"""`tagwatch estimate x`: what a backfill would cost, asked before anything is read.

X's counts endpoints say how many posts match a query per day without
returning (and billing) the posts themselves: `/2/tweets/counts/recent` for the
last 7 days, `/2/tweets/counts/all` further back (an access level with
full-archive search). X also bills the users and media a search page carries
(see `tagwatch.collectors.x.budget`): counts say nothing about those, so the forecast
gives their most, from the expansions tagwatch asks for (one author per post;
fewer when authors post more than once a UTC day, since X bills a user once a
day), and sets the whole against what is left of this month's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import tweepy

from tagwatch.collectors.x.budget import BudgetState, Prices, Reads, budget_state, worst_case
from tagwatch.collectors.x.client import (
    EXPANSIONS,
    fields_params,
    make_client,
    translate_tweepy_error,
)
from tagwatch.collectors.x.collector import RECENT_WINDOW
from tagwatch.errors import MalformedResponse, PlatformError, UsageError
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["Estimate", "estimate_backfill", "format_estimate"]


@dataclass
class Estimate:
    start: datetime
    end: datetime
    endpoint: str  # "recent" or "all"
    per_query: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)  # UTC day -> posts, all queries
    requests: int = 0
    prices: Prices = field(default_factory=Prices)
    expansions: tuple[str, ...] = tuple(EXPANSIONS)
    budget: BudgetState | None = None

    @property
    def price(self) -> float:
        return self.prices.post

    @property
    def total(self) -> int:
        return sum(self.per_query.values())

    @property
    def cost_usd(self) -> float:
        """The posts' part of the cost (known from the counts)."""
        return self.total * self.price

    @property
    def most(self) -> Reads:
        """The most a backfill of these posts can bill, includes at their worst."""
        return worst_case(self.total, self.expansions)

    @property
    def most_usd(self) -> float:
        return self.most.cost(self.prices)


def period(
    config: Config, first: date | None, last: date | None, now: datetime
) -> tuple[datetime, datetime]:
    """The period to forecast: event start (minus backfill_days) to event end, up to now."""
    ev = config.event
    first = first or ev.start - timedelta(days=config.collect.backfill_days)
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
    section = config.x
    start, end = period(config, first, last, now)
    recent = start >= now - RECENT_WINDOW
    client = client or make_client(config)
    count = client.get_recent_tweets_count if recent else client.get_all_tweets_count
    est = Estimate(
        start,
        end,
        "recent" if recent else "all",
        prices=Prices.of(section),
        expansions=tuple(fields_params(section.media)["expansions"]),
    )
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
    most, p = est.most, est.prices
    lines.append(
        f"  {'users':<{width}}  {'<= ' + format(most.users, ','):>9} users  ~ "
        f"${most.users * p.user:,.2f} at most, at ${p.user:g} per user read (the authors:"
        " one per post at most, each billed once per UTC day)"
    )
    media = (
        f"{most.media:,} media items ~ ${most.media * p.media:,.2f} at most"
        if most.media
        else "none (tagwatch does not ask X for media objects)"
    )
    lines.append(f"  {'media':<{width}}  {media}")
    lines.append(
        f"  {'cost':<{width}}  ~ ${est.cost_usd:,.2f} for posts + up to"
        f" ${est.most_usd - est.cost_usd:,.2f} for users and media = up to ${est.most_usd:,.2f}"
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
                    " x.monthly_post_budget, or shorten the period with --from/--to."
                )
            else:
                lines.append(f"A backfill would leave {room - est.total:,} posts of the budget.")
        left = budget.money_left()
        if left is not None:
            if est.most_usd > left:
                lines.append(
                    f"Warning: a backfill could cost up to ${est.most_usd:,.2f}, more than the"
                    f" ${left:,.2f} left of x.budget_usd this month; collection would stop part"
                    " way. Raise x.budget_usd, or shorten the period with --from/--to."
                )
            else:
                lines.append(
                    f"A backfill would leave at least ${left - est.most_usd:,.2f} of x.budget_usd."
                )
    if est.endpoint == "all":
        lines.append(
            "Posts older than 7 days can only be read with x.full_archive = true"
            " (an access level with full-archive search)."
        )
    return lines
