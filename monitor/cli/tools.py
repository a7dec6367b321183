"""Commands to get going and to look around: init, check, demo, browse, service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tagwatch.errors import UsageError
from tagwatch.monitor.cli.group import cli, get_config


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
    type=click.Choice(["bluesky", "x", "mastodon", "threads", "instagram"]),
    help="Platform to follow (repeatable; default: bluesky and mastodon).",
)
@click.option(
    "--mastodon-instance", "instances", multiple=True, help="Mastodon instance URL (repeatable)."
)
@click.option(
    "--instagram-user-id",
    help="Instagram: the id of your Business or Creator account the hashtag searches are for.",
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
    instagram_user_id: str | None,
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
        instagram_user_id=instagram_user_id,
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
    """Print a service definition that keeps `tagwatch run` going (install steps: docs/setup.md)."""
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


@cli.command()
@click.option(
    "--send-test",
    is_flag=True,
    help="Also mail a test message to the digest and alert recipients.",
)
@click.pass_context
def check(ctx: click.Context, send_test: bool) -> None:
    """Prove the credentials, access levels, database and disk, one line each; reads no posts.

    One cheap request per enabled platform (X bills its counts request), the SMTP
    login, the wall token, the database and the disk space for the event. Exit 0
    when every line is a ✓, 1 when one is a ✗.
    """
    from tagwatch.monitor.check import run_checks
    from tagwatch.records import utcnow

    config = get_config(ctx)
    results = run_checks(config, now=utcnow(), send_test=send_test)
    for result in results:
        click.echo(result.line())
    failed = sum(1 for r in results if not r.ok)
    if failed:
        click.echo(f"{failed} of {len(results)} checks failed.", err=True)
        ctx.exit(1)
