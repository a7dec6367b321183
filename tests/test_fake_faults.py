"""The one fault-injection helper every loopback fake uses (#19)."""

from __future__ import annotations

from tagwatch.collectors.fakes.faults import Fault, Faults, encoded


def test_a_fault_is_due_to_matching_paths_after_and_times_over():
    faults = Faults()
    faults.add(Fault("error", "/api/v1/statuses", 503, after=1, times=2))
    assert faults.take("/api/v1/timelines/tag/x") is None  # another path
    assert faults.take("/api/v1/statuses/1") is None  # `after` lets one through
    assert faults.take("/api/v1/statuses/2").status == 503
    assert faults.take("/api/v1/statuses/3").status == 503
    assert faults.take("/api/v1/statuses/4") is None and len(faults) == 0


def test_a_path_of_its_own_comes_before_any_path_and_none_times_lasts_until_cleared():
    faults = Faults()
    faults.add(Fault("slow", delay=5.0, times=None))  # "*": every request
    faults.add(Fault("error", "app.bsky.feed.getPosts", 502))
    assert faults.take("app.bsky.feed.getPosts").kind == "error"
    assert faults.take("app.bsky.feed.getPosts").kind == "slow"
    assert faults.take("com.atproto.server.createSession").kind == "slow"
    faults.clear()
    assert faults.take("app.bsky.feed.getPosts") is None


def test_a_body_is_sent_as_given_or_the_fakes_own():
    assert encoded(None, {"error": "x"}) == b'{"error": "x"}'
    assert encoded("<html>", {}) == b"<html>" and encoded(b"\xff", {}) == b"\xff"
    assert encoded([1], {}) == b"[1]"
