"""Threads: public posts by topic tag through Meta's keyword search (issue #20)."""

from __future__ import annotations

from tagwatch.collectors.threads.collector import ThreadsCollector
from tagwatch.collectors.threads.parse import parse_media

__all__ = ["ThreadsCollector", "parse_media"]
