"""The `tagwatch` group: where a `TagwatchError` becomes one message and an exit code.

Library code raises `TagwatchError`s; only the CLI turns them into one clear message on
stderr and an exit code (0 ok, 1 a pass failed, 2 bad usage or config): every command is
invoked through `TagwatchGroup`, so none of them has to.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from tagwatch.errors import TagwatchError, UsageError
from tagwatch.settings import Config, load_config

__all__ = ["cli", "get_config", "parse_day"]


class TagwatchGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TagwatchError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=TagwatchGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: ./config.toml, or $TAGWATCH_CONFIG).",
)
@click.version_option(package_name="tagwatch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """tagwatch: follow an event's hashtags on X, Bluesky, Mastodon, Threads and Instagram."""
    ctx.obj = {"config_path": config_path}


def get_config(ctx: click.Context) -> Config:
    obj = ctx.find_root().obj
    if "config" not in obj:
        obj["config"] = load_config(obj["config_path"])
    return obj["config"]


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date; use YYYY-MM-DD.") from None
