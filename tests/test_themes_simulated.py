"""Themes of the simulated event (the demo's data): what a user of the digest and report sees.

The simulation repeats whole sentences, so a phrase nested in a longer one
("rights defenders" in "human rights defenders") occurs in nearly the same
posts: listed on its own it is the same theme twice, with equal counts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tagwatch.collectors.fakes.simulation import SimulatedEvent, simulate_event
from tagwatch.monitor.demo import demo_config_text
from tagwatch.monitor.enrichment import enrich_pending
from tagwatch.records import Author, Post
from tagwatch.reports import analysis
from tagwatch.reports.figures import Theme
from tagwatch.reports.text import singularize
from tagwatch.settings import Config, load_config
from tagwatch.storage.db import Store

UNUSED = "http://127.0.0.1:9"  # the config needs platform URLs; nothing is collected here


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, SimulatedEvent]:
    folder: Path = tmp_path_factory.mktemp("simulated")
    text = demo_config_text(
        bluesky_url=UNUSED,
        x_url=UNUSED,
        mastodon_urls=[UNUSED],
        wall_port=9,
        interval_minutes=5,
    )
    (folder / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(folder / "config.toml")
    event = simulate_event()
    posts = [
        Post(
            platform=p.platform,
            platform_id=p.key,
            url=f"https://example.org/{p.key}",
            author=Author(p.author.key, p.author.handle, p.author.display_name, p.author.followers),
            text=p.text,
            created_at=p.created_at,
            lang=p.lang,
            hashtags=p.hashtags,
            likes=p.final_likes,
        )
        for p in event.posts
        if p.repost_of is None
    ]
    with Store.open(config.db_path) as store:
        store.write_posts(posts)
        enrich_pending(store, config)
    return config, event


def _words(theme: Theme) -> tuple[str, ...]:
    return tuple(singularize(w) for w in theme.key.split())


def _nested_twice(phrases: list[Theme]) -> list[tuple[str, str, int, int]]:
    """Listed phrases inside a longer listed one that holds (nearly) all their posts."""
    found = []
    for short in phrases:
        words = _words(short)
        for long in phrases:
            longer = _words(long)
            inside = any(
                longer[i : i + len(words)] == words for i in range(len(longer) - len(words) + 1)
            )
            if len(longer) > len(words) and inside and long.posts >= 0.9 * short.posts:
                found.append((short.label, long.label, short.posts, long.posts))
    return found


def test_nested_phrases_are_not_listed_twice(simulated: tuple[Config, SimulatedEvent]) -> None:
    config, sim = simulated
    event = config.event
    periods = [event.day_bounds(sim.start + timedelta(days=d)) for d in range(sim.days)]
    periods.append((periods[0][0], periods[-1][1]))  # the whole event, as the impact report
    seen: set[str] = set()
    with Store.open(config.db_path) as store:
        for start, end in periods:
            a = analysis.analyze(store.conn, event, start, end, n_themes=15, with_growth=False)
            lists = [a.themes.phrases] + [s.themes.phrases for s in a.sessions]
            for phrases in lists:
                assert _nested_twice(phrases) == []
                seen |= {t.label.casefold() for t in phrases}
    # The pairs the first look at the simulated event found, by name.
    assert {"human rights defenders", "civil society space"} <= seen
    assert not {"rights defenders", "rights defender", "society space"} & seen
