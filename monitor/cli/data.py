"""Commands about collection and the database: status, collect, run, export, estimate,
backup and restore."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tagwatch.collectors import PLATFORMS
from tagwatch.errors import UsageError
from tagwatch.monitor.cli.group import cli, get_config, parse_day


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object with the same facts, for monitoring tools and scripts.",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Posts per platform, authors, each collector's health, database size."""
    import json

    from tagwatch.monitor.status_report import gather, text_lines
    from tagwatch.records import utcnow

    config = get_config(ctx)
    data = gather(config, utcnow())
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for line in text_lines(data, config):
        click.echo(line)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "xlsx"]),
    default="jsonl",
    show_default=True,
    help="xlsx: a spreadsheet (needs --out), every text cell stored as text.",
)
@click.option("--since", help="First local day to export (YYYY-MM-DD).")
@click.option("--until", help="Last local day to export, inclusive (YYYY-MM-DD).")
@click.option("--platform", type=click.Choice(list(PLATFORMS)))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option(
    "--include-deleted",
    is_flag=True,
    help="Also list posts deleted upstream (as empty tombstones).",
)
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    since: str | None,
    until: str | None,
    platform: str | None,
    out: Path | None,
    include_deleted: bool,
) -> None:
    """Posts as JSONL, CSV or XLSX, one record per post."""
    from tagwatch.reports.export import export_rows, period_bounds, write_csv, write_jsonl
    from tagwatch.storage.db import Store

    if fmt == "xlsx" and out is None:
        raise UsageError(
            "--format xlsx writes a binary file: name it with --out, e.g. --out posts.xlsx."
        )
    config = get_config(ctx)
    lo_day, hi_day = parse_day(since, "--since"), parse_day(until, "--until")
    if lo_day and hi_day and hi_day < lo_day:
        raise UsageError(f"--until {hi_day} is before --since {lo_day}.")
    start, end = period_bounds(config.event, lo_day, hi_day)
    writer = write_jsonl if fmt == "jsonl" else write_csv
    with Store.open(config.db_path) as store:
        rows = export_rows(
            store.conn,
            start=start,
            end=end,
            platform=platform,
            include_deleted=include_deleted,
        )
        if fmt == "xlsx":
            from tagwatch.reports.export_xlsx import write_xlsx

            assert out is not None
            try:
                n = write_xlsx(rows, out)
            except OSError as exc:
                raise UsageError(f"Cannot write {out}: {exc.strerror or exc}.") from exc
            click.echo(f"Exported {n} posts to {out}", err=True)
        elif out is None:
            n = writer(rows, sys.stdout)
        else:
            with open(out, "w", encoding="utf-8", newline="") as fh:
                n = writer(rows, fh)
            click.echo(f"Exported {n} posts to {out}", err=True)


@cli.command()
@click.argument("platform", type=click.Choice(["x"]))
@click.option("--from", "first", help="First local day of the backfill (default: event start).")
@click.option("--to", "last", help="Last local day, inclusive (default: event end).")
@click.pass_context
def estimate(ctx: click.Context, platform: str, first: str | None, last: str | None) -> None:
    """Forecast the posts and money a backfill would cost, before reading anything."""
    from tagwatch.collectors.x.estimate import estimate_backfill, format_estimate
    from tagwatch.records import utcnow
    from tagwatch.storage.db import Store

    config = get_config(ctx)
    with Store.open(config.db_path) as store:
        est = estimate_backfill(
            config,
            store,
            now=utcnow(),
            first=parse_day(first, "--from"),
            last=parse_day(last, "--to"),
        )
    for line in format_estimate(est):
        click.echo(line)


@cli.command()
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(list(PLATFORMS)),
    help="Only this platform (repeatable; default: every enabled one).",
)
@click.pass_context
def collect(ctx: click.Context, platforms: tuple[str, ...]) -> None:
    """Run one collection pass of every enabled collector (for cron)."""
    from tagwatch.collectors import enabled_platforms, sections_hint
    from tagwatch.monitor.progress import ProgressLine
    from tagwatch.monitor.scheduler import collect_now

    config = get_config(ctx)
    enabled = enabled_platforms(config)
    for name in platforms:
        if name not in enabled:
            raise UsageError(
                f"{name} is not enabled in {config.path}: set enabled = true under [{name}]."
            )
    if not enabled:
        raise UsageError(
            f"No collector is enabled in {config.path}: set enabled = true under {sections_hint()}."
        )
    progress = ProgressLine(sys.stderr)
    records = collect_now(config, list(platforms) or None, progress=progress)
    progress.clear()
    for record in records:
        click.echo(record.summary())
    if any(r.status not in ("ok", "partial") for r in records):
        ctx.exit(1)


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the backup (default: [storage] backup_dir).",
)
@click.pass_context
def backup(ctx: click.Context, out_dir: Path | None) -> None:
    """Copy the database now, verified (safe while `tagwatch run` collects)."""
    from tagwatch.monitor import jobs

    config = get_config(ctx)
    result = jobs.backup(config, directory=out_dir)
    b = result.backup
    from tagwatch.monitor.status_report import human_size

    click.echo(f"Backup: {b.path} ({human_size(b.size)}, {result.posts} posts, checked ok)")
    if result.purged_in_older:
        click.echo(
            f"Purged {result.purged_in_older} post(s) deleted upstream from earlier backups."
        )
    for path in result.removed:
        click.echo(f"Removed old backup {path} (backup_keep = {config.storage.backup_keep})")


@cli.command()
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The backup to restore (default: the newest in [storage] backup_dir).",
)
@click.pass_context
def restore(ctx: click.Context, source: Path | None) -> None:
    """Put a backup in the database's place; the replaced file is kept aside."""
    from tagwatch.monitor.lock import RunnerLock
    from tagwatch.storage.backup import list_backups, restore_backup

    config = get_config(ctx)
    if source is None:
        found = list_backups(config.db_path, config.backup_dir)
        if not found:
            raise UsageError(
                f"No backup of {config.db_path} in {config.backup_dir}; name one with --from."
            )
        source = found[-1].path
    # No runner or collect may write while the file is swapped (this refuses if one runs).
    with RunnerLock(config.db_path, command="restore"):
        aside = restore_backup(config.db_path, source)
    click.echo(f"Restored {source} to {config.db_path}.")
    if aside is not None:
        click.echo(f"The database it replaced is kept as {aside} (with its -wal/-shm, if any).")
    click.echo(
        "Start `tagwatch run` again: collection resumes from the backup's cursors. "
        "Restart a separate `tagwatch wall` too."
    )


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Collect on schedule, send the daily digest, serve the wall; stop with Ctrl-C."""
    from tagwatch.monitor.preflight import check_run

    # The config first: a wrong setting is refused (exit 2) before the runner's heavy
    # imports (charts, language models), so the answer comes within a second.
    config = get_config(ctx)
    check_run(config)  # a bad [digest] or [smtp] refuses now, not at 07:30 tomorrow
    from tagwatch.monitor.scheduler import run_until_stopped

    ctx.exit(run_until_stopped(config))
