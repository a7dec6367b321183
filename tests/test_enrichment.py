"""Enrichment: stored once, English-only sentiment, phrases without URLs, mentions, tracked tags."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import make_post

from tagwatch.monitor.enrichment import enrich_pending
from tagwatch.reports.languages import LanguageGuesser
from tagwatch.reports.text import (
    analyze_text,
    clean_text,
    noun_phrases,
    phrase_key,
    tag,
)
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.enrichment import pending_count


def test_clean_text_strips_urls_mentions_and_tracked_tags_only():
    text = (
        "Talk on #Refugees rights by @ana.bsky.social and @bob@mastodon.social "
        "https://example.org/x?y=1 #HRHN2016 #media"
    )
    assert clean_text(text, ["hrhn2016"]) == "Talk on Refugees rights by and"
    assert clean_text("#hrhn2016 opens today", ["HRHN2016"]) == "opens today"


def test_noun_phrases_trim_stopwords_and_keep_sub_phrases():
    phrases = noun_phrases(tag("The great panel discussed human rights defenders today."))
    assert "panel" in phrases  # "The great" trimmed
    assert "human rights defenders" in phrases
    assert "human rights" in phrases
    assert "today" not in phrases


def test_phrase_key_merges_case_and_plural():
    assert phrase_key("Human Rights") == phrase_key("human right") == "human right"


def test_english_posts_get_sentiment_others_do_not():
    guesser = LanguageGuesser(["en", "sr"])
    en = analyze_text("A wonderful and inspiring day", guesser=guesser, platform_tag="sr")
    assert en.lang == "en" and en.polarity is not None and en.polarity > 0
    sr_latin = analyze_text(
        "Sjajna diskusija o pravima izbeglica", guesser=guesser, platform_tag="en"
    )
    assert sr_latin.lang == "sr" and sr_latin.polarity is None and sr_latin.phrases == ()
    sr_cyr = analyze_text("Сјајна дискусија о правима избеглица", guesser=guesser)
    assert sr_cyr.lang == "sr" and sr_cyr.subjectivity is None


def test_platform_tag_is_only_a_hint():
    guesser = LanguageGuesser(["en", "sr"])
    # A language outside the event's list becomes a candidate through the tag…
    assert guesser.guess("Ein großartiger Vortrag über Menschenrechte heute", "de") == ("de", True)
    # …but a wrong tag does not override the text.
    assert guesser.guess("A great talk about human rights today", "de")[0] == "en"
    # Too little text to judge: the tag is all there is.
    assert guesser.guess("!!", "fr") == ("fr", False)


def _posts(n: int) -> list:
    return [
        make_post(
            i,
            text=f"Human rights panel number {i} #HRHN2016",
            created_at=datetime(2016, 11, 24, 10, i % 60, tzinfo=UTC),
        )
        for i in range(1, n + 1)
    ]


def test_enrich_pending_runs_in_batches_and_only_once(fresh_store: Store, config: Config):
    fresh_store.write_posts(_posts(7))
    assert pending_count(fresh_store) == 7
    assert enrich_pending(fresh_store, config, limit=3, batch_size=2) == 3
    assert pending_count(fresh_store) == 4
    assert enrich_pending(fresh_store, config, batch_size=2) == 4
    assert enrich_pending(fresh_store, config) == 0
    row = fresh_store.conn.execute("select * from posts where id = 1").fetchone()
    assert row["lang_detected"] == "en"
    assert row["enriched_at"] is not None
    assert "human rights panel" in row["noun_phrases"]
    # New engagement does not make a post pending again: enrichment is stored once.
    fresh_store.update_engagement(
        "bluesky",
        "at://did:plc:author1/app.bsky.feed.post/1",
        likes=9,
        reposts=0,
        replies=0,
        quotes=0,
    )
    assert pending_count(fresh_store) == 0


def test_deleted_posts_are_stamped_without_analysis(fresh_store: Store, config: Config):
    posts = _posts(2)
    fresh_store.write_posts(posts)
    fresh_store.mark_deleted(posts[0].platform, posts[0].platform_id)
    assert enrich_pending(fresh_store, config) == 2
    row = fresh_store.conn.execute("select * from posts where id = 1").fetchone()
    assert row["noun_phrases"] is None and row["enriched_at"] is not None


def test_phrases_joined_by_of_and_judging_adjectives_dropped():
    phrases = noun_phrases(tag("We demand the release of imprisoned colleagues."))
    assert "release of imprisoned colleagues" in phrases
    phrases = noun_phrases(tag("Freedom of assembly matters. Terrible decision by the court."))
    assert "freedom of assembly" in phrases  # also without the trailing "matters"
    assert "decision" in phrases and "terrible decision" not in phrases
    assert "free press" in noun_phrases(tag("A free press needs legal aid."))  # mild: kept


def test_norwegian_platform_tag_is_understood():
    guesser = LanguageGuesser(["en", "sr"])
    text = "Rommet for sivilsamfunnet krymper, og vi må stå sammen."
    assert guesser.guess(text, "no") == ("no", True)


def test_label_lists_entities_and_cut_words_are_not_text():
    text = "@bob #FuckBrexit #BrexitSucks I wonder & ask why #Refugees matter so…"
    assert clean_text(text) == "I wonder & ask why Refugees matter"
    # Text is stored as its author wrote it: an entity the author typed stays as typed.
    assert clean_text("How to write &amp; in HTML") == "How to write &amp; in HTML"
    assert clean_text("#Refugees welcome here #HRHN2016", ["hrhn2016"]) == "Refugees welcome here"


def test_possessives_and_tokenizer_leftovers():
    assert "women's rights" in noun_phrases(tag("Women's rights are human rights."))
    assert "court's decision" in noun_phrases(tag("The court’s decision was wrong."))
    assert all("!" not in p for p in noun_phrases(tag("No more hunger!… Never")))


def test_full_text_index_follows_text_changes_not_enrichment(fresh_store: Store, config: Config):
    posts = _posts(2)
    fresh_store.write_posts(posts)

    def search(word: str) -> list[int]:
        sql = "select rowid from posts_fts where posts_fts match ? order by rowid"
        return [r[0] for r in fresh_store.conn.execute(sql, (word,))]

    enrich_pending(fresh_store, config)
    assert search("panel") == [1, 2]
    edited = make_post(
        1, text="An edited text about asylum #HRHN2016", created_at=posts[0].created_at
    )
    fresh_store.write_posts([edited])
    assert search("asylum") == [1] and search("panel") == [2]
    fresh_store.mark_deleted(posts[1].platform, posts[1].platform_id)
    assert search("panel") == []  # purged text leaves the index too
    trigger = fresh_store.conn.execute(
        "select sql from sqlite_master where name = 'posts_au'"
    ).fetchone()[0]
    assert "update of" in trigger.lower()  # enrichment and engagement updates skip the index


def test_ties_in_the_family_follow_the_authors_other_posts(fresh_store: Store, tmp_path):
    """A Croatian author's short post, which Serbian shares word for word, is stored as
    Croatian because her earlier post (already stored) and a longer one in the same
    batch were Croatian by their text; an author with nothing else goes to `sr`, listed
    first for Belgrade."""
    from conftest import base_config_dict

    from tagwatch.records import Author
    from tagwatch.settings import parse_config

    data = base_config_dict(tmp_path)
    data["event"]["languages"] = ["en", "sr", "hr"]
    config = parse_config(data, path=tmp_path / "config.toml")
    ana = Author("did:plc:ana", "ana.bsky.social", "Ana", 10)
    marko = Author("did:plc:marko", "marko.bsky.social", "Marko", 10)
    neutral = "Mediji su pod ogromnim pritiskom #HRHN2016"
    fresh_store.write_posts(
        [make_post(1, author=ana, text="Deset tisuća ljudi potpisalo je peticiju #HRHN2016")]
    )
    assert enrich_pending(fresh_store, config) == 1
    fresh_store.write_posts(
        [
            make_post(2, author=ana, text=neutral, lang=None),
            make_post(3, author=marko, text=neutral, lang=None),
            make_post(4, author=marko, text="Tko zna gdje je sljedeća sesija?", lang=None),
            make_post(5, text=neutral, lang=None),
        ]
    )
    assert enrich_pending(fresh_store, config) == 4
    rows = fresh_store.conn.execute("select id, lang_detected from posts order by id")
    assert {row["id"]: row["lang_detected"] for row in rows} == {
        1: "hr",
        2: "hr",  # from Ana's stored post
        3: "hr",  # from Marko's post in the same batch
        4: "hr",
        5: "sr",  # nobody else to go by
    }
