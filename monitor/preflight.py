"""What `tagwatch run`, `collect` and `wall` check when they start: every section they will use.

Why: a wrong [smtp] port, an impossible `digest.top_n` or a digest folder that
cannot be written used to surface at 07:30 the next morning, when the digest
job failed three times, although `tagwatch digest --send` would have said so at
once. Each check here is the one the job itself runs later, called now, so a
command refuses at start (exit 2, the key named) whatever it could already know
would fail; what only the network can tell (a refused password, a server that
is down) is still found when the job runs.
"""

from __future__ import annotations

from pathlib import Path

from tagwatch.errors import ConfigError
from tagwatch.settings import Config

__all__ = ["check_run", "check_wall", "check_digest"]


def check_digest(config: Config, *, send: bool) -> None:
    """[digest] (and [smtp] when the digest is mailed) as the daily job will use them."""
    from tagwatch.reports.digest import out_dir
    from tagwatch.reports.mailer import smtp_settings

    if send and config.digest.recipients:
        smtp_settings(config)
    _writable_dir(out_dir(config), "digest.out_dir", config)


def check_wall(config: Config, host: str | None = None, port: int | None = None) -> None:
    """[wall] as the server will use it: the address, with --host and --port applied.

    The moderation mode and sizes are refused by the loader, for every command.
    """
    from tagwatch.reports.wall.app import bind_address

    bind_address(config, host, port)


def check_run(config: Config) -> None:
    """Everything `tagwatch run` schedules: streams, backups, digest, wall.

    The collectors' own sections are checked by the runner, which builds every
    collector when it opens (`tagwatch collect` too), before the first pass.
    """
    from tagwatch.monitor.alerts import check_alerts
    from tagwatch.monitor.triggers import digest_time
    from tagwatch.storage.db import require_database_folder

    # First: the folders created below (backups beside the database) must not
    # create the database's own missing folder as a side effect.
    require_database_folder(config.db_path)
    check_alerts(config)
    if config.schedule.serve_wall:
        check_wall(config)
    # Last: it creates the folders, which a run refused for another setting should not leave.
    if digest_time(config) is not None:
        check_digest(config, send=True)
    if config.storage.backup_every_hours > 0:
        _writable_dir(config.backup_dir, "storage.backup_dir", config)


def _writable_dir(path: Path, key: str, config: Config) -> None:
    """Create the folder now (as the job would), so an impossible path is refused at start."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{config.path}: {key} {str(path)!r} cannot be used as a folder "
            f"({exc.strerror or exc}); set {key} to a writable folder."
        ) from exc
