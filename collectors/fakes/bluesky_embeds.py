"""The embeds of the fake Bluesky's post records (lexicons app/bsky/embed/*.json).

Split from `bluesky_data`; the views of these embeds are built by
`tagwatch.collectors.bluesky.parse.embed_view`, as the AppView builds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimMedia

__all__ = ["record_embed"]


def _blob(cid_for: Callable[[Any], str], name: str, mime: str, size: int) -> dict[str, Any]:
    """A blob ref as a record holds it (`$type: blob`, `ref.$link` a raw CID)."""
    return {
        "$type": "blob",
        "ref": {"$link": "bafkrei" + cid_for(name)[7:]},
        "mimeType": mime,
        "size": size,
    }


def record_embed(
    images: int | Sequence[SimMedia],
    quote: dict[str, str] | None,
    cid_for: Callable[[Any], str],
) -> dict[str, Any] | None:
    """A post record's `embed`: photos or a video, a quote (strong ref), or both."""
    items = (
        [("image", f"img{i}", "") for i in range(images)]
        if isinstance(images, int)
        else [(m.kind, m.name, m.alt) for m in images]
    )
    media: dict[str, Any] | None = None
    if items and items[0][0] in ("video", "gif"):
        # app.bsky.embed.video: one video blob, alt and aspectRatio (lexicon
        # app/bsky/embed/video.json); a GIF is posted as a video too.
        _, name, alt = items[0]
        media = {
            "$type": "app.bsky.embed.video",
            "video": _blob(cid_for, name, "video/mp4", 2_345_678),
            "alt": alt,
            "aspectRatio": {"width": 1280, "height": 720},
        }
    elif items:
        # app.bsky.embed.images: up to 4 images, each blob + required alt + aspectRatio.
        media = {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": alt,
                    "aspectRatio": {"width": 4000, "height": 3011},
                    "image": _blob(cid_for, name, "image/jpeg", 474482),
                }
                for _, name, alt in items[:4]
            ],
        }
    if quote is None:
        return media
    embed: dict[str, Any] = {"$type": "app.bsky.embed.record", "record": quote}
    if media is None:
        return embed
    return {"$type": "app.bsky.embed.recordWithMedia", "media": media, "record": embed}
