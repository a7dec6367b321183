"""The `tagwatch` command: a thin layer over the library.

Library code raises `TagwatchError`s; only this module turns them into one
clear message on stderr and an exit code (0 ok, 1 a pass failed, 2 bad usage
or config).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from tagwatch.collectors import PLATFORMS
from tagwatch.errors import TagwatchError, UsageError
from tagwatch.settings import Config, load_config

__all__ = ["cli", "main"]


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


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


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
    click.echo(f"Backup: {b.path} ({_human_size(b.size)}, {result.posts} posts, checked ok)")
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
    from tagwatch.monitor.scheduler import run_until_stopped

    config = get_config(ctx)
    check_run(config)  # a bad [digest] or [smtp] refuses now, not at 07:30 tomorrow
    ctx.exit(run_until_stopped(config))


@cli.command()
@click.option(
    "--date",
    "day",
    help="Local day to digest (YYYY-MM-DD; default: yesterday in the event's timezone).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the files (default: [digest] out_dir).",
)
@click.option(
    "--send",
    is_flag=True,
    help="Also e-mail it to [digest] recipients, and post the chat webhook if one is set.",
)
@click.pass_context
def digest(ctx: click.Context, day: str | None, out: Path | None, send: bool) -> None:
    """Write (and send) the daily digest."""
    from tagwatch.errors import ConfigError
    from tagwatch.reports.digest import send_daily_digest
    from tagwatch.reports.mailer import smtp_settings, webhook_url

    config = get_config(ctx)
    chosen = parse_day(day, "--date")
    if send:
        # Check the mail settings before the work, not after it.
        if config.digest.recipients:
            smtp_settings(config)
        elif not webhook_url(config):
            raise ConfigError(
                f"{config.path}: --send has nowhere to send the digest: list the addresses in "
                'digest.recipients (e.g. recipients = ["comms@example.org"]) with an [smtp] '
                "section, or put a chat webhook URL in the environment variable named by "
                f"digest.webhook_url_env ({config.digest.webhook_url_env})."
            )
    result = send_daily_digest(config, chosen, send=send, out=out)
    d = result.digest
    click.echo(f"Digest for {d.day_label}: {d.posts:,} posts.")
    for problem in d.health_problems:
        click.echo(f"  collection: {problem.label}: {problem.statement()}")
    for kind in ("html", "md", "txt"):
        click.echo(f"Wrote {result.paths[kind]}")
    if result.emailed_to:
        click.echo(f"Mailed to {', '.join(result.emailed_to)}")
    if result.webhook_posted:
        click.echo("Posted the summary to the chat webhook.")


@cli.command()
@click.option("--from", "from_day", help="First local day (YYYY-MM-DD); default: event start.")
@click.option("--to", "to_day", help="Last local day, inclusive; default: event end.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("impact-report"),
    show_default=True,
    help="Folder to write the report, charts/ and data/ into.",
)
@click.option("--compare-from", help="First day of an earlier period to compare with.")
@click.option("--compare-to", help="Last day of that earlier period, inclusive.")
@click.option(
    "--compare-db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An earlier event's tagwatch database to compare with (all of it, or the"
    " --compare-from/--compare-to days).",
)
@click.pass_context
def report(
    ctx: click.Context,
    from_day: str | None,
    to_day: str | None,
    out: Path,
    compare_from: str | None,
    compare_to: str | None,
    compare_db: Path | None,
) -> None:
    """Write the post-event impact report: HTML, PDF, chart PNGs and CSVs."""
    from tagwatch.reports.impact_output import make_report

    config = get_config(ctx)
    lo = parse_day(from_day, "--from") or config.event.start
    hi = parse_day(to_day, "--to") or config.event.end
    if hi < lo:
        raise UsageError(f"--to {hi} is before --from {lo}.")
    c_lo, c_hi = parse_day(compare_from, "--compare-from"), parse_day(compare_to, "--compare-to")
    if (c_lo is None) != (c_hi is None):
        raise UsageError("--compare-from and --compare-to go together: give both days.")
    if c_lo and c_hi and c_hi < c_lo:
        raise UsageError(f"--compare-to {c_hi} is before --compare-from {c_lo}.")
    if compare_db is not None and not compare_db.is_file():
        raise UsageError(f"--compare-db {compare_db}: no such file.")
    compare = (c_lo, c_hi) if (c_lo or compare_db) else None
    paths = make_report(config, lo, hi, out, compare=compare, compare_db=compare_db)
    click.echo(f"Wrote {paths['html']}")
    click.echo(f"Wrote {paths['pdf']}")
    click.echo(f"Wrote {len(paths['charts'])} charts to {out / 'charts'}")
    click.echo(f"Wrote {len(paths['csv'])} CSV files to {out / 'data'}")


@cli.command()
@click.option(
    "--host", default=None, help="Address to listen on (default: [wall] host, 127.0.0.1)."
)
@click.option(
    "--port", type=int, default=None, help="Port to listen on (default: [wall] port, 8080)."
)
@click.pass_context
def wall(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the moderated live wall (full screen) and its moderation page."""
    from tagwatch.monitor.preflight import check_wall
    from tagwatch.reports.wall.app import bind_address, make_server

    config = get_config(ctx)
    check_wall(config, host, port)
    host, port = bind_address(config, host, port)
    server = make_server(config, host, port)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"Wall: {url}/   moderation: {url}/moderate   (Ctrl+C to stop)", err=True)
    if not config.secret(config.wall.token_env):
        click.echo(
            f"Moderation is off: set {config.wall.token_env} to a long random token. "
            "Until then the wall shows no posts.",
            err=True,
        )
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled: a normal stop
        pass
    click.echo("Wall stopped.", err=True)


@cli.group()
def alerts() -> None:
    """Alerts while it happens: surges, pile-ons, collection stopping ([alerts])."""


@alerts.command("test")
@click.pass_context
def alerts_test(ctx: click.Context) -> None:
    """Send one test message to every configured alert channel; say which worked."""
    from tagwatch.monitor.alerts import AlertEngine
    from tagwatch.monitor.alerts.channels import channels_from_config
    from tagwatch.records import utcnow
    from tagwatch.storage.db import Store

    config = get_config(ctx)
    channels = channels_from_config(config)
    if not channels:
        raise UsageError(
            "No alert channel is set up: export the webhook URL in "
            f"{config.alerts.webhook_url_env} (alerts.webhook_url_env), or set "
            "alerts.matrix_homeserver and matrix_room, or alerts.email_recipients."
        )
    engine = AlertEngine(config, channels)
    with Store.open(config.db_path) as store:
        results = engine.test_channels(store, utcnow())
    for r in results:
        click.echo(f"{r.channel}: sent" if r.ok else f"{r.channel}: FAILED ({r.reason})")
    if not all(r.ok for r in results):
        ctx.exit(1)


@cli.command()
@click.option(
    "--minutes",
    type=float,
    default=1.0,
    show_default=True,
    help="Real minutes the simulated event runs for.",
)
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Simulated seconds per real second (default: the whole event in --minutes).",
)
@click.option("--port", type=int, default=8080, show_default=True, help="Port of the live wall.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tagwatch-demo"),
    show_default=True,
    help="Folder for the demo's config, database, digests and report.",
)
@click.option(
    "--posts",
    "n_posts",
    type=int,
    default=3000,
    show_default=True,
    help="Posts in the simulated event.",
)
@click.option(
    "--seed",
    type=int,
    default=2016,
    show_default=True,
    help="Seed of the simulated event (same seed, same event).",
)
def demo(
    minutes: float, speed: float | None, port: int, out_dir: Path, n_posts: int, seed: int
) -> None:
    """Run the whole monitor offline on a simulated event.

    Starts loopback fakes of Bluesky, X, two Mastodon instances, Threads and
    Instagram, points the real collectors at them, runs the real scheduler with a
    fast simulated clock, serves the moderated wall, then writes each day's digest
    and the impact report.
    """
    from tagwatch.monitor.demo import describe, run_demo

    result = run_demo(
        out_dir,
        minutes=minutes,
        speed=speed,
        port=port,
        seed=seed,
        n_posts=n_posts,
        echo=click.echo,
    )
    for line in describe(result):
        click.echo(line)


@cli.command()
@click.option("--name", help="The event's name.")
@click.option("--hashtag", "hashtags", multiple=True, help="A hashtag, without '#' (repeatable).")
@click.option("--start", help="First day of the event (YYYY-MM-DD).")
@click.option("--end", help="Last day of the event (YYYY-MM-DD).")
@click.option("--timezone", help="IANA timezone of the event (default: UTC).")
@click.option("--language", "languages", multiple=True, help="ISO 639-1 code (repeatable).")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(["bluesky", "x", "mastodon"]),
    help="Platform to follow (repeatable; default: bluesky and mastodon).",
)
@click.option(
    "--mastodon-instance", "instances", multiple=True, help="Mastodon instance URL (repeatable)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("config.toml"),
    show_default=True,
    help="Config file to write; .env.example is written beside it.",
)
@click.option("--force", is_flag=True, help="Replace an existing config and .env.example.")
@click.option(
    "--yes", "--no-input", "no_input", is_flag=True, help="Never ask: flags and defaults only."
)
def init(
    name: str | None,
    hashtags: tuple[str, ...],
    start: str | None,
    end: str | None,
    timezone: str | None,
    languages: tuple[str, ...],
    platforms: tuple[str, ...],
    instances: tuple[str, ...],
    out: Path,
    force: bool,
    no_input: bool,
) -> None:
    """Write a commented config.toml and .env.example, asking what the flags do not say."""
    from tagwatch.monitor.init_config import (
        check_can_write,
        env_example_path,
        gather_answers,
        write_init_files,
    )

    check_can_write(out, force=force)  # before any question: no answers given in vain

    def ask(question: str, default: str | None, check: Any) -> Any:
        def proc(text: str) -> Any:
            try:
                return check(text)
            except UsageError as exc:  # click.prompt prints it and asks again
                raise click.BadParameter(str(exc)) from None

        return click.prompt(question, default=default, value_proc=proc)

    interactive = not no_input and sys.stdin.isatty()
    answers = gather_answers(
        name=name,
        hashtags=hashtags,
        start=start,
        end=end,
        timezone=timezone,
        languages=languages,
        platforms=platforms,
        instances=instances,
        ask=ask if interactive else None,
    )
    write_init_files(answers, out, force=force)
    env_path = env_example_path(out)
    click.echo(f"Wrote {out} and {env_path}.")
    click.echo(
        f"Next: copy {env_path.name} to tagwatch.env beside it, fill in the values, then "
        f"load it (set -a; . ./tagwatch.env; set +a) and run `tagwatch --config {out} collect`."
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8001, show_default=True, help="Port to listen on.")
@click.option("--open/--no-open", "open_browser", default=False, help="Open it in a web browser.")
@click.option(
    "--print-metadata", is_flag=True, help="Print the Datasette metadata (JSON) and exit."
)
@click.pass_context
def browse(
    ctx: click.Context, host: str, port: int, open_browser: bool, print_metadata: bool
) -> None:
    """Explore the database in Datasette, read-only (needs: pip install 'tagwatch[browse]')."""
    import json

    from tagwatch.monitor.browse import browse_metadata, database_name, make_datasette, serve

    config = get_config(ctx)
    if print_metadata:
        click.echo(json.dumps(browse_metadata(config), indent=2, ensure_ascii=False))
        return
    ds = make_datasette(config)
    host_part = f"[{host}]" if ":" in host else host
    url = f"http://{host_part}:{port}/{database_name(config.db_path)}"
    click.echo(f"Datasette: {url}   read-only (Ctrl+C to stop)", err=True)
    try:
        serve(ds, host, port, open_url=url if open_browser else None)
    except KeyboardInterrupt:
        pass


@cli.command()
@click.option("--systemd", is_flag=True, help="Print a systemd unit file for `tagwatch run`.")
@click.option("--user", help="User the service runs as (default: you).")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File of the secrets' environment variables (default: tagwatch.env beside the config).",
)
@click.pass_context
def service(ctx: click.Context, systemd: bool, user: str | None, env_file: Path | None) -> None:
    """Print a service definition that keeps `tagwatch run` going (install steps: README)."""
    from tagwatch.monitor.service import ENV_FILE_NAME, systemd_unit

    if not systemd:
        raise UsageError("Say which service manager: tagwatch service --systemd.")
    config = get_config(ctx)
    click.echo(systemd_unit(config, user=user, env_file=env_file), nl=False)
    env_path = (env_file or config.path.parent / ENV_FILE_NAME).resolve()
    if not env_path.is_file():
        click.echo(
            f"Note: {env_path} does not exist yet; systemd will not start the service without "
            "it. Copy .env.example there (tagwatch init writes one), fill it in, chmod 600.",
            err=True,
        )


def main() -> None:
    cli(prog_name="tagwatch")


if __name__ == "__main__":
    main()
