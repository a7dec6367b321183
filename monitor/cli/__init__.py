"""The `tagwatch` command: a thin layer over the library.

Library code raises `TagwatchError`s; only the CLI turns them into one clear message on
stderr and an exit code (0 ok, 1 a pass failed, 2 bad usage or config): see `group.py`.
The commands are grouped by what they are for, each module adding its commands to the one
`cli` group: `data.py` (collection and the database), `outputs.py` (digest, report, wall,
alerts) and `tools.py` (init, demo, browse, service). `main` is the console script.
"""

from __future__ import annotations

from tagwatch.monitor.cli import data, outputs, tools  # noqa: F401 - each adds its commands
from tagwatch.monitor.cli.group import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="tagwatch")
