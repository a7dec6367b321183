"""Commands that write or serve what the team reads: digest, report, wall, alerts."""

from __future__ import annotations

from pathlib import Path

import click

from tagwatch.errors import UsageError
from tagwatch.monitor.cli.group import cli, get_config, parse_day


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
    from tagwatch.reports.impact import make_report

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
    from tagwatch.reports.wall.app import bind_address
    from tagwatch.reports.wall.server import WallServer

    config = get_config(ctx)
    check_wall(config, host, port)
    host, port = bind_address(config, host, port)
    server = WallServer.for_config(config, host, port)
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
