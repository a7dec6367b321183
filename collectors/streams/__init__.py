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

__all__ = ["STREAMS", "stream_class", "stream_specs", "check_streams"]

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


def check_streams(config: Config) -> None:
    """Refuse [streams] values that would spin, never reconnect, or have nowhere to go."""
    from tagwatch.errors import ConfigError

    cfg = config.sections["streams"]
    if cfg.silence_seconds <= 0:
        raise ConfigError(
            f"{config.path}: streams.silence_seconds must be more than 0 (seconds without an"
            " event before a stream is reconnected)."
        )
    if cfg.reconnect_max_seconds <= 0:
        raise ConfigError(f"{config.path}: streams.reconnect_max_seconds must be more than 0.")
    if cfg.replay_window_minutes < 0:
        raise ConfigError(f"{config.path}: streams.replay_window_minutes must be 0 or more.")
    if cfg.jetstream_enabled and not cfg.jetstream_endpoints:
        raise ConfigError(
            f"{config.path}: streams.jetstream_endpoints is empty: list at least one Jetstream"
            " host (wss://…/subscribe) or set streams.jetstream_enabled = false."
        )


def stream_specs(config: Config) -> list[tuple[type[Stream], dict[str, Any]]]:
    """Every stream to run: (class, keyword arguments for it beside config/store)."""
    check_streams(config)
    cfg = config.sections["streams"]
    specs: list[tuple[type[Stream], dict[str, Any]]] = []
    for kind, (_, switch) in STREAMS.items():
        if getattr(cfg, switch):
            cls = stream_class(kind)
            specs.extend((cls, kw) for kw in cls.instances(config))
    return specs
