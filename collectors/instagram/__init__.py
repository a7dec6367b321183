"""Instagram: public media by hashtag through the Instagram API with Facebook Login (#20)."""

from __future__ import annotations

from tagwatch.collectors.instagram.collector import InstagramCollector
from tagwatch.collectors.instagram.parse import parse_media

__all__ = ["InstagramCollector", "parse_media"]
