"""Live streams beside the scheduled passes: posts within seconds, gaps filled.

`STREAMS` maps a stream kind to its `Stream` class and the `[streams]` switch
that enables it; `stream_specs(config)` lists every stream to run as
(class, keyword arguments): one Jetstream, one Mastodon stream per instance
and hashtag. The runner (`tagwatch.monitor.scheduler.Runner`) runs each in its own
thread with its own store (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagwatch.collectors.streams.base import Stream
    from tagwatch.settings import Config

__all__ = ["STREAMS", "stream_class", "stream_specs"]

# kind -> ("module:Class", the [streams] switch that enables it); imported lazily
# so one stream's missing dependency never stops the others.
STREAMS: dict[str, tuple[str, str]] = {
    "jetstream": ("tagwatch.collectors.streams.jetstream:JetstreamStream", "jetstream_enabled"),
    "mastodon": (
        "tagwatch.collectors.streams.mastodon_stream:MastodonStream",
        "mastodon_streaming",
    ),
    "x": ("tagwatch.collectors.streams.x_stream:XStream", "x_stream"),
}


def stream_class(kind: str) -> type[Stream]:
    module_name, _, attr = STREAMS[kind][0].partition(":")
    cls: type[Stream] = getattr(importlib.import_module(module_name), attr)
    return cls


def stream_specs(config: Config) -> list[tuple[type[Stream], dict[str, Any]]]:
    """Every stream to run: (class, keyword arguments for it beside config/store).

    [streams] values that would spin or never reconnect are refused by the loader.
    """
    cfg = config.streams
    specs: list[tuple[type[Stream], dict[str, Any]]] = []
    for kind, (_, switch) in STREAMS.items():
        if getattr(cfg, switch):
            cls = stream_class(kind)
            specs.extend((cls, kw) for kw in cls.instances(config))
    return specs
