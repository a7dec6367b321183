"""How tests and bench scripts start Debian's Chromium for Playwright (never a downloaded one).

The flags keep a headless Chromium from reaching for Google's services, which this
machine's closed network would refuse many times a second.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
