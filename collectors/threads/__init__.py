"""Threads: public posts by topic tag through Meta's keyword search (issue #20)."""

from __future__ import annotations

from collectors.threads.collector import ThreadsCollector
from collectors.threads.parse import parse_media

__all__ = ["ThreadsCollector", "parse_media"]
