"""`tagwatch service --systemd`: a unit file that keeps `tagwatch run` going for the event.

Each line of the unit follows from how `tagwatch run` behaves: it stops cleanly
on SIGTERM (the pass in flight ends before its next request, so the stop takes
at most one request's timeout), exits 0 then, 1 on a crash worth restarting,
and 2 on a bad config or a second runner, which no restart will fix. Secrets
come from an EnvironmentFile, never from the unit, which anyone may read.
"""

from __future__ import annotations

import getpass
import shutil
import sys
from pathlib import Path

from tagwatch.settings import Config

__all__ = ["ENV_FILE_NAME", "RESTART_SEC", "find_executable", "systemd_unit"]

ENV_FILE_NAME = "tagwatch.env"
RESTART_SEC = 10
# Beyond one request's timeout, time to commit the last page and close the database.
STOP_MARGIN_SECONDS = 30


def _escape(value: str) -> str:
    """One ExecStart argument: systemd expands % and $, and splits words on spaces."""
    value = value.replace("%", "%%").replace("$", "$$")
    if any(c.isspace() or c in "\"'\\;" for c in value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _path_setting(path: Path) -> str:
    """A path for WorkingDirectory=/EnvironmentFile=: specifiers escaped, spaces allowed."""
    return str(path).replace("%", "%%")


def find_executable() -> list[str]:
    """The command that runs this tagwatch: the `tagwatch` script beside this Python, or on
    PATH; else this Python with `-m tagwatch.monitor.cli` (systemd needs an absolute path)."""
    beside = Path(sys.executable).parent / "tagwatch"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("tagwatch")
    if found:
        return [str(Path(found).resolve())]
    return [str(Path(sys.executable).absolute()), "-m", "tagwatch.monitor.cli"]


def systemd_unit(
    config: Config,
    *,
    user: str | None = None,
    env_file: Path | None = None,
    command: list[str] | None = None,
) -> str:
    config_path = config.path.resolve()
    folder = config_path.parent
    env_path = (env_file or folder / ENV_FILE_NAME).resolve()
    argv = [*(command or find_executable()), "--config", str(config_path), "run"]
    stop_after = int(config.collect.timeout_seconds) + STOP_MARGIN_SECONDS
    tags = " ".join(f"#{t}" for t in config.event.hashtags)
    # Specifiers (%) in a description are expanded too.
    description = f"tagwatch: {config.event.name} ({tags})".replace("%", "%%")
    lines = [
        f"# Written by `tagwatch service --systemd` for {config_path}.",
        '# Install: see docs/setup.md, "Running as a service".',
        "[Unit]",
        f"Description={description}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user or getpass.getuser()}",
        f"WorkingDirectory={_path_setting(folder)}",
        "# The secrets the config names (chmod 600; see .env.example).",
        f"EnvironmentFile={_path_setting(env_path)}",
        f"ExecStart={' '.join(_escape(a) for a in argv)}",
        "# SIGTERM: the pass in flight ends before its next request; stored pages are kept.",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={stop_after}",
        "Restart=on-failure",
        f"RestartSec={RESTART_SEC}",
        "# Exit 2 is a bad config or another runner on the database: restarting cannot help.",
        "RestartPreventExitStatus=2",
        "StandardOutput=journal",
        "StandardError=journal",
        "SyslogIdentifier=tagwatch",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
