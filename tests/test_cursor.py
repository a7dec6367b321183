"""One cursor format for every platform, and each platform's format from before it (#19).

Event databases written before the one format keep their cursors; a pass must
resume from them, not start over (and re-read, or for X re-buy, what it has).
"""

from __future__ import annotations

import json

import pytest

from tagwatch.collectors.bluesky.collector import legacy_cursor as bluesky_legacy
from tagwatch.collectors.cursor import Cursor
from tagwatch.collectors.instagram.collector import legacy_cursor as instagram_legacy
from tagwatch.collectors.mastodon.collector import legacy_cursor as mastodon_legacy
from tagwatch.collectors.threads.collector import legacy_cursor as threads_legacy
from tagwatch.collectors.x.collector import legacy_cursor as x_legacy


def test_a_cursor_reads_back_what_it_wrote():
    cursor = Cursor(
        newest="2016-11-25T10:00:00.000Z",
        pending=[{"top": "2016-11-25T10:00:00.000Z", "until": None}],
        last_pass="2016-11-25T11:00:00.000Z",
    )
    value = cursor.dump()
    assert json.loads(value)["v"] == 1
    assert Cursor.read(value) == cursor
    assert Cursor.read(value, legacy=lambda v: pytest.fail("the one format is not legacy"))


@pytest.mark.parametrize("value", [None, "", "not json", "[1, 2]", '{"hwm": 3}', "null"])
def test_what_no_reader_understands_is_an_empty_cursor(value):
    """Start from the backfill start again: requests are spent, nothing stored is lost."""
    assert Cursor.read(value) == Cursor()


def test_bluesky_sweep_and_high_water_mark():
    old = '{"hwm": "2016-11-25T10:00:00.000Z", "sweep": {"top": "2016-11-25T12:00:00.000Z", '
    old += '"until": "2016-11-25T11:00:00.000Z"}}'
    assert Cursor.read(old, bluesky_legacy) == Cursor(
        newest="2016-11-25T10:00:00.000Z",
        pending=[{"top": "2016-11-25T12:00:00.000Z", "until": "2016-11-25T11:00:00.000Z"}],
    )
    assert Cursor.read("{}", bluesky_legacy) == Cursor()


def test_x_newest_id_gaps_and_a_bare_id():
    old = json.dumps({"newest_id": "900", "gaps": [["100", "200"], [None, "50"]]})
    assert Cursor.read(old, x_legacy) == Cursor(
        newest="900",
        pending=[{"since_id": "100", "until_id": "200"}, {"since_id": None, "until_id": "50"}],
    )
    assert Cursor.read("801797467362549760", x_legacy) == Cursor(newest="801797467362549760")
    assert Cursor.read("garbage", x_legacy) == Cursor()


def test_mastodon_newest_backfill_and_a_bare_id():
    old = json.dumps({"newest": "110", "backfill": "42"})
    assert Cursor.read(old, mastodon_legacy) == Cursor(newest="110", pending=[{"max_id": "42"}])
    done = json.dumps({"newest": "110", "backfill": None})
    assert Cursor.read(done, mastodon_legacy) == Cursor(newest="110")
    assert Cursor.read("109876", mastodon_legacy) == Cursor(newest="109876")
    assert Cursor.read("abc", mastodon_legacy) == Cursor(newest="abc")


def test_threads_newest_and_an_unfinished_window():
    window = {"since": "2016-11-24T00:00:00Z", "until": "2016-11-25T00:00:00Z", "after": "QVFI"}
    old = json.dumps({"newest": "2016-11-24T18:00:00Z", "window": {**window, "stop_at": None}})
    assert Cursor.read(old, threads_legacy) == Cursor(
        newest="2016-11-24T18:00:00Z", pending=[{**window, "stop_at": None}]
    )
    assert Cursor.read('{"newest": null, "window": null}', threads_legacy) == Cursor()


def test_instagram_newest_and_last_pass():
    old = json.dumps({"newest": "2016-11-24T18:00:00Z", "last_pass": "2016-11-24T19:00:00Z"})
    assert Cursor.read(old, instagram_legacy) == Cursor(
        newest="2016-11-24T18:00:00Z", last_pass="2016-11-24T19:00:00Z"
    )
