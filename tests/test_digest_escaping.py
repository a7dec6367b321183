"""Whatever a post or a name contains, it cannot change the digest's markup (property tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from tagwatch.reports.digest import (
    Digest,
    Figure,
    PostView,
    plain,
    render_html,
    render_markdown,
    render_text,
)

TEXT_MARK, NAME_MARK = "TEXTMARK", "NAMEMARK"


def one_post_digest(text: str, name: str) -> Digest:
    post = PostView(
        platform="bluesky",
        url="https://bsky.app/profile/a/post/1",
        author_handle="a.bsky.social",
        author_name=name,
        text=text,
        time="10:15",
        likes=1,
        reposts=0,
        replies=0,
        quotes=0,
    )
    return Digest(
        event_name="Event",
        hashtags=("HRHN2016",),
        day=date(2016, 11, 25),
        timezone="Europe/Belgrade",
        generated_at=datetime(2016, 11, 26, 6, tzinfo=UTC),
        posts=1,
        headline=[Figure("Posts", 1, 0)],
        top_posts=[post],
        charts={"volume": b"\x89PNG"},
    )


hostile = st.text(
    alphabet=st.sampled_from(list("<>&\"'`*_[]()#!|~-+.=\\/ \n\tab1") + ["\u202e", "\x00"]),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(text=hostile, name=hostile)
def test_post_text_and_names_never_become_markup(text: str, name: str) -> None:
    assume(plain(name) and TEXT_MARK not in text + name and NAME_MARK not in text + name)
    html = render_html(one_post_digest(text, name), inline="cid")
    template = render_html(one_post_digest(TEXT_MARK, NAME_MARK), inline="cid")
    expected = template.replace(TEXT_MARK, str(escape(plain(text)))).replace(
        NAME_MARK, str(escape(plain(name)))
    )
    assert html == expected


@settings(max_examples=150, deadline=None)
@given(text=hostile, name=hostile)
def test_markdown_and_text_keep_their_shape(text: str, name: str) -> None:
    assume(plain(name))
    md = render_markdown(one_post_digest(text, name))
    md_template = render_markdown(one_post_digest(TEXT_MARK, NAME_MARK))
    assert md.count("\n") == md_template.count("\n")
    assert "<" not in md.replace("(<https://bsky.app/profile/a/post/1>)", "")
    txt = render_text(one_post_digest(text, name))
    assert txt.count("\n") == render_text(one_post_digest(TEXT_MARK, NAME_MARK)).count("\n")
    assert "\u202e" not in md + txt and "\x00" not in md + txt
