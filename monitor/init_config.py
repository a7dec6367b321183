"""`tagwatch init`: a first config.toml and .env.example from a few answers.

The person setting tagwatch up is often not a developer, so every answer is
checked here, when it can still be asked again, rather than by `load_config`
later with a message about a file they did not write. The comments in the
written file are the descriptions in `tagwatch.settings.SETTINGS`, so the file
and the config reference (docs/config.md) say the same thing.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from tagwatch.errors import UsageError
from tagwatch.settings import SETTINGS, Setting, parse_config

__all__ = [
    "PLATFORM_CHOICES",
    "InitAnswers",
    "check_name",
    "check_hashtags",
    "check_day",
    "check_end",
    "check_timezone",
    "check_languages",
    "check_platforms",
    "check_instances",
    "split_answer",
    "Ask",
    "gather_answers",
    "check_can_write",
    "render_config",
    "render_env_example",
    "env_example_path",
    "write_init_files",
]

# The platforms `init` can set up; threads/instagram join once their collectors exist.
PLATFORM_CHOICES = ("bluesky", "x", "mastodon", "threads", "instagram")

# ISO 639-1 (the two-letter codes still assigned). The event's languages steer language
# detection, so a typo ("eng", "sb") would silently detect nothing in that language.
_ISO_639_1 = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy
    da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht
    hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky
    la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny
    oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
    st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu
    """.split()
)

# A hashtag is one word of letters, digits and underscores, as every platform parses it.
_HASHTAG = re.compile(r"^\w+$")


@dataclass(frozen=True)
class InitAnswers:
    name: str
    hashtags: tuple[str, ...]
    start: date
    end: date
    timezone: str
    languages: tuple[str, ...]
    platforms: tuple[str, ...]
    mastodon_instances: tuple[str, ...] = ()
    instagram_user_id: str = ""


def split_answer(text: str) -> list[str]:
    """One typed answer holding several values, separated by commas and/or spaces."""
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def check_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise UsageError("The event's name is empty; give the name shown on the wall and reports.")
    return name


def check_hashtags(values: Iterable[str]) -> tuple[str, ...]:
    tags: dict[str, str] = {}
    for raw in values:
        tag = raw.strip().removeprefix("#")
        if not tag:
            continue
        if not _HASHTAG.match(tag):
            raise UsageError(
                f"Hashtag {raw!r} is not one word: use letters, digits and '_' only, "
                "without '#' (e.g. HRHN2016)."
            )
        tags.setdefault(tag.casefold(), tag)
    if not tags:
        raise UsageError("No hashtag given; name at least one, without '#' (e.g. HRHN2016).")
    return tuple(tags.values())


def check_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{what} {value!r} is not a date; use YYYY-MM-DD.") from None


def check_end(value: str, start: date) -> date:
    end = check_day(value, "Last day")
    if end < start:
        raise UsageError(f"Last day {end} is before the first day {start}.")
    return end


def check_timezone(value: str) -> str:
    name = value.strip()
    if name not in available_timezones():
        raise UsageError(
            f"Timezone {value!r} is not a known IANA timezone; use a name like "
            "'Europe/Belgrade', 'America/New_York' or 'UTC'."
        )
    return name


def check_languages(values: Iterable[str]) -> tuple[str, ...]:
    codes = [v.strip().lower() for v in values if v.strip()]
    unknown = [c for c in codes if c not in _ISO_639_1]
    if unknown:
        raise UsageError(
            f"Unknown language code(s): {', '.join(unknown)}. Use two-letter ISO 639-1 "
            "codes, e.g. en, sr, fr."
        )
    if not codes:
        raise UsageError("No language given; name at least one ISO 639-1 code, e.g. en.")
    return tuple(dict.fromkeys(codes))


def check_platforms(values: Iterable[str]) -> tuple[str, ...]:
    names = [v.strip().lower() for v in values if v.strip()]
    unknown = [n for n in names if n not in PLATFORM_CHOICES]
    if unknown:
        raise UsageError(
            f"Unknown platform(s): {', '.join(unknown)}. Choose from {', '.join(PLATFORM_CHOICES)}."
        )
    if not names:
        raise UsageError(f"No platform chosen; choose from {', '.join(PLATFORM_CHOICES)}.")
    return tuple(dict.fromkeys(names))


def check_instagram_user_id(text: str) -> str:
    """Instagram's hashtag search is made for one Business or Creator account: its numeric id."""
    value = text.strip()
    if not value.isdigit():
        raise UsageError(
            "The Instagram user id is the number of your Business or Creator account (from the "
            "Graph API: GET /me/accounts, then instagram_business_account), e.g. 17841400000000000."
        )
    return value


def check_instances(values: Iterable[str]) -> tuple[str, ...]:
    """Instance URLs; a bare host name (mastodon.social) means its https:// address."""
    urls: list[str] = []
    for raw in values:
        value = raw.strip().rstrip("/")
        if not value:
            continue
        url = value if "://" in value else f"https://{value}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"Mastodon instance {raw!r} is not a web address; give one like "
                "https://mastodon.social."
            )
        urls.append(url)
    if not urls:
        raise UsageError("No Mastodon instance given; name one, e.g. https://mastodon.social.")
    return tuple(dict.fromkeys(urls))


# -- asking ------------------------------------------------------------------------------

T = TypeVar("T")

# ask(question, default, check): prompts until `check` accepts the typed text and returns
# what it returned. None means no one can be asked (no terminal, or --no-input).
Ask = Callable[[str, str | None, Callable[[str], object]], object]


def gather_answers(
    *,
    name: str | None,
    hashtags: Sequence[str],
    start: str | None,
    end: str | None,
    timezone: str | None,
    languages: Sequence[str],
    platforms: Sequence[str],
    instances: Sequence[str],
    ask: Ask | None,
    instagram_user_id: str | None = None,
) -> InitAnswers:
    """Check what the flags gave; ask for the rest, or name the missing flags if no one can."""
    if ask is None:
        missing = [
            flag
            for flag, value in (
                ("--name", name),
                ("--hashtag", hashtags),
                ("--start", start),
                ("--end", end),
            )
            if not value
        ]
        if missing:
            raise UsageError(
                f"Missing {', '.join(missing)}: tagwatch init can only ask for them in a "
                "terminal. Give them as flags, e.g. tagwatch init --name 'My event' "
                "--hashtag MyTag --start 2016-11-24 --end 2016-11-26."
            )

    def get(given: str | None, question: str, default: str | None, check: Callable[[str], T]) -> T:
        if given is not None:
            return check(given)
        if ask is None:
            return check(default or "")
        return cast(T, ask(question, default, check))

    def get_many(
        given: Sequence[str],
        question: str,
        default: str | None,
        check: Callable[[Sequence[str]], T],
    ) -> T:
        # Each repeated flag is one value as given; a typed answer is split on spaces/commas.
        if given:
            return check(given)
        return get(None, question, default, lambda text: check(split_answer(text)))

    name_ = get(name, "Event name", None, check_name)
    tags = get_many(
        hashtags,
        "Hashtags to follow, without '#' (several: separate with spaces)",
        None,
        check_hashtags,
    )
    first = get(
        start, "First day of the event (YYYY-MM-DD)", None, lambda t: check_day(t, "First day")
    )
    last = get(end, "Last day of the event (YYYY-MM-DD)", None, lambda t: check_end(t, first))
    tz = get(
        timezone, "Timezone of the event (IANA name, e.g. Europe/Belgrade)", "UTC", check_timezone
    )
    langs = get_many(
        languages, "Languages expected (ISO 639-1 codes, e.g. en sr)", "en", check_languages
    )
    chosen = get_many(
        platforms,
        f"Platforms to follow ({', '.join(PLATFORM_CHOICES)}; several: separate with spaces)",
        "bluesky mastodon",
        check_platforms,
    )
    urls: tuple[str, ...] = ()
    if "mastodon" in chosen:
        default_instances = " ".join(_setting("mastodon", "instances").default)
        urls = get_many(
            instances,
            "Mastodon instances to read (several: separate with spaces)",
            default_instances,
            check_instances,
        )
    elif instances:
        raise UsageError(
            "--mastodon-instance is for Mastodon, which is not among the platforms: "
            "add --platform mastodon."
        )
    ig_user = ""
    if "instagram" in chosen:
        ig_user = get(
            instagram_user_id,
            "Instagram user id of your Business or Creator account (digits; see docs/platforms.md)",
            None,
            check_instagram_user_id,
        )
    elif instagram_user_id:
        raise UsageError(
            "--instagram-user-id is for Instagram, which is not among the platforms: "
            "add --platform instagram."
        )
    return InitAnswers(
        instagram_user_id=ig_user,
        name=name_,
        hashtags=tags,
        start=first,
        end=last,
        timezone=tz,
        languages=langs,
        platforms=chosen,
        mastodon_instances=urls,
    )


# -- writing -------------------------------------------------------------------------------


def _setting(section: str, key: str) -> Setting:
    for s in SETTINGS:
        if s.section == section and s.key == key:
            return s
    raise KeyError(f"{section}.{key}")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | date):
        return value.isoformat() if isinstance(value, date) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _entry(section: str, key: str, value: object = None) -> list[str]:
    """One key with its meaning from SETTINGS as the comment above it."""
    spec = _setting(section, key)
    shown = spec.default if value is None else value
    return [f"# {spec.description}", f"{key} = {_toml(shown)}"]


def _section(name: str, entries: Sequence[list[str]]) -> list[str]:
    lines = [f"[{name}]"]
    for entry in entries:
        lines += entry
    return [*lines, ""]


def _env_settings(platforms: Sequence[str]) -> list[Setting]:
    """Every environment variable the chosen platforms name, and the wall's token."""
    wanted = [s for s in SETTINGS if s.section in platforms and s.key.endswith("_env")]
    return [*wanted, _setting("wall", "token_env")]


def render_config(answers: InitAnswers) -> str:
    """The config text; parsed back with `parse_config` before anything is written."""
    a = answers
    lines = [
        f"# tagwatch config for {a.name}, written by `tagwatch init`.",
        "# Every key is described in docs/config.md (the config reference); keys left out keep",
        "# their defaults. Secrets are never written here: the *_env keys name environment",
        "# variables, listed in .env.example beside this file.",
        "",
    ]
    lines += _section(
        "event",
        [
            _entry("event", "name", a.name),
            _entry("event", "hashtags", list(a.hashtags)),
            _entry("event", "timezone", a.timezone),
            _entry("event", "start", a.start),
            _entry("event", "end", a.end),
            _entry("event", "languages", list(a.languages)),
        ],
    )
    lines += _section("storage", [_entry("storage", "path")])
    if "bluesky" in a.platforms:
        lines += _section(
            "bluesky",
            [
                _entry("bluesky", "enabled", True),
                _entry("bluesky", "handle_env"),
                _entry("bluesky", "password_env"),
            ],
        )
    if "x" in a.platforms:
        lines += _section(
            "x",
            [
                _entry("x", "enabled", True),
                _entry("x", "bearer_token_env"),
                _entry("x", "monthly_post_budget"),
                _entry("x", "budget_usd"),
            ],
        )
    if "mastodon" in a.platforms:
        instances = list(a.mastodon_instances) or _setting("mastodon", "instances").default
        lines += _section(
            "mastodon",
            [_entry("mastodon", "enabled", True), _entry("mastodon", "instances", instances)],
        )
    if "threads" in a.platforms:
        lines += _section(
            "threads",
            [_entry("threads", "enabled", True), _entry("threads", "access_token_env")],
        )
    if "instagram" in a.platforms:
        lines += _section(
            "instagram",
            [
                _entry("instagram", "enabled", True),
                _entry("instagram", "user_id", a.instagram_user_id),
                _entry("instagram", "access_token_env"),
            ],
        )
    return "\n".join(lines)


def render_env_example(answers: InitAnswers, config_name: str = "config.toml") -> str:
    lines = [
        f"# Environment variables {config_name} names: the secrets tagwatch needs.",
        "# Copy this file to tagwatch.env, fill in the values after '=', and keep it private",
        "# (chmod 600; never commit it). In a shell: set -a; . ./tagwatch.env; set +a",
        "# As a service: `tagwatch service --systemd` reads it with EnvironmentFile=.",
    ]
    if "mastodon" in answers.platforms:
        lines.append("# Mastodon needs none: public hashtag timelines are read without login.")
    for spec in _env_settings(answers.platforms):
        lines += ["", f"# [{spec.section}] {spec.key}: {spec.description}", f"{spec.default}="]
    return "\n".join(lines) + "\n"


def env_example_path(config_path: Path) -> Path:
    return config_path.parent / ".env.example"


def check_can_write(out: Path, *, force: bool = False) -> None:
    """Refuse to replace the config or .env.example without `force` (asked before questions)."""
    if force:
        return
    for path in (out, env_example_path(out)):
        if path.exists():
            raise UsageError(
                f"{path} already exists; tagwatch init will not overwrite it. "
                "Run it again with --force to replace it, or choose another --out."
            )


def write_init_files(answers: InitAnswers, out: Path, *, force: bool = False) -> list[Path]:
    """Write the config and .env.example; refuse to replace either without `force`."""
    check_can_write(out, force=force)
    env_path = env_example_path(out)
    text = render_config(answers)
    # What init writes must be a config tagwatch accepts: check it before writing.
    parse_config(tomllib.loads(text), path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    env_path.write_text(render_env_example(answers, out.name), encoding="utf-8")
    return [out, env_path]
