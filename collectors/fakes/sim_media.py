"""The simulated event's pictures: which posts carry them, of what kind, with what alt text.

Split from `simulation` (which calls `add_pictures` after drawing the posts, with a
generator of its own so the other draws of a seed stay as they were).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimulatedEvent

__all__ = ["SimMedia", "ALT_TEXTS", "add_pictures"]


@dataclass(frozen=True)
class SimMedia:
    """One attachment: each fake serves its picture at ``<fake>/media/<name>.jpg``."""

    kind: str  # image | video | gif
    name: str  # unique within the event
    alt: str = ""


# What people write under the photos they post from an event, in English and Serbian.
ALT_TEXTS = {
    "en": [
        "Panel of four speakers on stage in front of a blue banner reading Human Rights House",
        "Audience in a conference hall raising their hands during a vote",
        "A woman speaking at a lectern, the Belgrade assembly logo behind her",
        "Group photo of defenders from the region on the steps of the venue",
        "Slide showing a chart of attacks on journalists from 2012 to 2016",
    ],
    "sr": [
        "Panelisti na bini ispred plavog transparenta Kuće ljudskih prava",
        "Publika u sali tokom diskusije o slobodi medija",
        "Govornica za pultom, iza nje logo skupa u Beogradu",
        "Заједничка фотографија бранитеља људских права испред зграде",
    ],
}


def add_pictures(event: SimulatedEvent, rng: random.Random) -> None:
    """About a fifth of the posts carry pictures, as at a real event.

    Most are one photo with alt text (English or Serbian), some none; a few are
    albums (Bluesky, Mastodon, X, Instagram), one a video with its poster frame, one
    an animated GIF, and one photo is flagged sensitive by its author.
    """
    serial = 0
    video_done = gif_done = sensitive_done = False
    for post in event.posts:
        if post.repost_of is not None:
            continue
        wanted = post.media_count > 0 or post.platform == "instagram" or rng.random() < 0.09
        if not wanted:
            continue
        count = 1
        if post.platform != "threads" and rng.random() < 0.15:
            count = rng.randrange(2, 5)
        items: list[SimMedia] = []
        for _ in range(count):
            serial += 1
            kind = "image"
            if not video_done and post.platform in ("mastodon", "bluesky", "x") and serial > 5:
                kind, video_done = "video", True
            elif not gif_done and post.platform in ("mastodon", "x") and serial > 12:
                kind, gif_done = "gif", True
            lang = "sr" if post.lang in ("sr", "sr-Cyrl", "hr") else "en"
            alt = rng.choice(ALT_TEXTS[lang]) if rng.random() < 0.7 else ""
            items.append(SimMedia(kind=kind, name=f"hrhn-{post.key}-{len(items)}", alt=alt))
        post.media = tuple(items)
        post.media_count = len(items)
        if not sensitive_done and items[0].kind == "image" and serial > 20:
            post.sensitive, sensitive_done = True, True
