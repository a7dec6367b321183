"""The URL guard, where the reports have always imported it from.

It lives in the foundation (`tagwatch/urls.py`) so that the settings loader
refuses an unsafe `digest.public_url` with the same guard the outputs apply.
"""

from __future__ import annotations

from tagwatch.urls import safe_url

__all__ = ["safe_url"]
