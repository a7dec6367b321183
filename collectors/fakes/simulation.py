"""A simulated event: the posts a three-day human-rights assembly would draw.

Platform-neutral and seeded: the same seed gives the same event. The demo
feeds these posts to the loopback fake platforms (each fake turns a
`SimPost` into its own API shape), and tests use it as realistic data.

What makes it realistic enough to exercise tagwatch:
- rhythm: quiet nights, a morning rise, peaks during the agenda's sessions;
- several languages (English, Serbian in Latin and Cyrillic, Polish,
  Hungarian, Croatian, Azerbaijani, Norwegian);
- themes that rise and fade over the days;
- replies, quotes and reposts; engagement that grows after posting;
- some posts deleted by their authors, a few trolls, slurs and spam.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tagwatch.collectors.fakes.sim_media import ALT_TEXTS, SimMedia, add_pictures

__all__ = [
    "SimAuthor",
    "SimMedia",
    "SimPost",
    "SimulatedEvent",
    "simulate_event",
    "THEMES",
    "TROLL_WORDS",
    "ALT_TEXTS",
]

PLATFORMS = ("bluesky", "mastodon", "x", "threads", "instagram")
# Share of the assembly's voices on each platform: Threads and Instagram are small
# beside the others among human-rights networks (and Instagram posts are photos).
PLATFORM_WEIGHTS = (40, 31, 17, 7, 5)
MASTODON_INSTANCES = ("mastodon.example", "social.example")

# Words the demo's config blocks on the wall; the trolls use them.
TROLL_WORDS = ("foreign agents", "traitors", "izdajnici", "grantožderi")

# The raid (`simulate_event(raid=True)`): freshly made accounts pile onto a speaker of
# the evening panel of the second day, what tagwatch's pile-on alert is for (#22).
RAID_TARGET = "marija-panelist.bsky.social"
RAID_START = (1, 18.5)  # (day index, local hour)
RAID_TEXTS = [
    "@{t} Traitors paid by foreign money, shame on you",
    "@{t} foreign agents like you should leave, disgusting lies",
    "@{t} liar. Traitors, all of you, a shameful panel",
    "@{t} nobody believes your foreign agents propaganda, pathetic",
]


@dataclass(frozen=True)
class SimAuthor:
    key: str
    platform: str
    handle: str  # bluesky: name.bsky.social; mastodon: user@instance; others: username
    display_name: str
    followers: int
    lang: str
    troll: bool = False
    instance: str = ""  # mastodon home instance
    # Days from the account's creation to the event (raiders: days; None: not said).
    account_age_days: int | None = 2000
    has_avatar: bool = True

    def account_created(self, event_start: date) -> datetime | None:
        if self.account_age_days is None:
            return None
        day = event_start - timedelta(days=self.account_age_days)
        return datetime.combine(day, time(9, 30), tzinfo=UTC)


@dataclass
class SimPost:
    key: str  # stable id within the simulation, e.g. "p00042"
    platform: str
    author: SimAuthor
    text: str
    lang: str
    created_at: datetime  # UTC
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...] = ()  # handles of SimAuthors mentioned
    links: tuple[str, ...] = ()
    theme: str | None = None
    reply_to: str | None = None  # SimPost key
    quote_of: str | None = None
    repost_of: str | None = None
    final_likes: int = 0
    final_reposts: int = 0
    final_replies: int = 0
    final_quotes: int = 0
    final_views: int = 0
    media_count: int = 0
    media: tuple[SimMedia, ...] = ()
    sensitive: bool = False
    troll: bool = False
    deleted_at: datetime | None = None

    def engagement_at(self, now: datetime) -> dict[str, int]:
        """Counts as seen at `now`: most engagement arrives in the first hours."""
        if now <= self.created_at:
            share = 0.0
        else:
            hours = (now - self.created_at).total_seconds() / 3600
            share = 1 - math.exp(-hours / 3.0)
        return {
            "likes": int(self.final_likes * share),
            "reposts": int(self.final_reposts * share),
            "replies": int(self.final_replies * share),
            "quotes": int(self.final_quotes * share),
            "views": int(self.final_views * share),
        }

    def visible_at(self, now: datetime) -> bool:
        return self.created_at <= now and (self.deleted_at is None or now < self.deleted_at)


@dataclass
class SimulatedEvent:
    start: date
    days: int
    tz: ZoneInfo
    hashtag: str
    authors: list[SimAuthor] = field(default_factory=list)
    posts: list[SimPost] = field(default_factory=list)

    @property
    def begins(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=self.tz).astimezone(UTC)

    @property
    def ends(self) -> datetime:
        end = datetime.combine(self.start + timedelta(days=self.days), time(0), tzinfo=self.tz)
        return end.astimezone(UTC)

    def by_platform(self, platform: str) -> list[SimPost]:
        return [p for p in self.posts if p.platform == platform]

    def visible(self, now: datetime, platform: str | None = None) -> list[SimPost]:
        return [
            p
            for p in self.posts
            if p.visible_at(now) and (platform is None or p.platform == platform)
        ]


# Theme -> (peak day index, width in days, phrases by language). The phrases are
# what people would write; noun phrases in them are what the analysis should find.
THEMES: dict[str, tuple[float, float, dict[str, list[str]]]] = {
    "release of imprisoned colleagues": (
        0.4,
        0.7,
        {
            "en": [
                "Our colleagues from Azerbaijan are out of prison, but they are still not free.",
                "The release of imprisoned colleagues is a victory of solidarity.",
                "Former political prisoners addressed the Assembly by video today.",
            ],
            "az": [
                "Azərbaycanlı həmkarlarımız azad edildi, amma hələ də azad deyillər.",
                "Siyasi məhbuslar azad edilməlidir!",
            ],
            "no": ["Våre kolleger i Aserbajdsjan er løslatt, men de er fortsatt ikke frie."],
            "sr": ["Kolege iz Azerbejdžana su izašle iz zatvora, ali još nisu slobodne."],
        },
    ),
    "illiberal democracies": (
        1.75,
        0.5,
        {
            "en": [
                "How do we resist illiberal democracies, autocracies and populism?",
                "Panel on illiberal democracy: civil society must cooperate across borders.",
                "Speakers from Poland, Hungary, Croatia and Serbia on illiberal trends.",
            ],
            "pl": ["Demokracja nieliberalna to zagrożenie dla praw człowieka w Polsce."],
            "hu": ["Az illiberális demokrácia ellen csak összefogással lehet küzdeni."],
            "hr": ["Neliberalna demokracija ugrožava slobodu medija u Hrvatskoj."],
            "sr": ["Нелиберална демократија гуши слободу изражавања у Србији."],
        },
    ),
    "freedom of assembly": (
        1.0,
        0.9,
        {
            "en": [
                "Freedom of assembly is under pressure across the region.",
                "Peaceful protest is a right, not a privilege. Freedom of assembly matters.",
            ],
            "sr": [
                "Sloboda okupljanja je ugrožena, a institucije ćute.",
                "Слобода окупљања и слобода удруживања су темељ демократије.",
            ],
            "pl": ["Wolność zgromadzeń jest fundamentem demokracji."],
        },
    ),
    "civil society space": (
        2.4,
        0.6,
        {
            "en": [
                "Civil society space is shrinking each day; we need strategies to push back.",
                "Strong networks of human rights houses protect civil society space.",
            ],
            "sr": ["Prostor za civilno društvo se svakodnevno sužava."],
            "hu": ["A civil társadalom mozgástere egyre szűkül."],
            "no": ["Rommet for sivilsamfunnet krymper, og vi må stå sammen."],
        },
    ),
}

GENERAL = {
    "en": [
        "Great to reconnect with human rights defenders in Belgrade.",
        "Inspiring workshop on protecting human rights defenders.",
        "Solidarity is essential in protecting human rights defenders.",
        "Twenty years of the Human Rights House Network!",
    ],
    "sr": ["Drago mi je što je Beograd domaćin Skupštine.", "Београд је центар људских права."],
    "pl": ["Inspirujące spotkanie obrońców praw człowieka."],
    "hu": ["Nagyszerű találkozó az emberi jogi jogvédőkkel."],
    "hr": ["Odlična radionica o zaštiti branitelja ljudskih prava."],
    "az": ["İnsan haqları müdafiəçiləri ilə görüş çox faydalı oldu."],
    "no": ["Flott å møte menneskerettighetsforkjempere i Beograd."],
}

TROLL_TEXTS = [
    "These foreign agents should go home. Traitors, all of them!",
    "Izdajnici i grantožderi, sramota!",
    "Buy followers cheap!!! http://spam.example/deal",
    "Traitors paid by foreign money. Nobody cares about your assembly.",
]

FIRST = {
    "en": ["Anna", "James", "Olivia", "Tom", "Sarah", "David", "Emma", "Mark"],
    "sr": ["Maja", "Nikola", "Jelena", "Miloš", "Ivana", "Marko", "Ана", "Душан"],
    "pl": ["Agnieszka", "Piotr", "Katarzyna", "Tomasz"],
    "hu": ["Zsófia", "Gábor", "Eszter", "László"],
    "hr": ["Ivana", "Luka", "Petra", "Tomislav"],
    "az": ["Leyla", "Rasul", "Günay", "Intigam", "Arif"],
    "no": ["Ingrid", "Ola", "Kari", "Sindre"],
}
LAST = {
    "en": ["Smith", "Jones", "Taylor", "Brown", "Wilson"],
    "sr": ["Jovanović", "Petrović", "Nikolić", "Стојановић", "Ђорђевић"],
    "pl": ["Kowalska", "Nowak", "Wiśniewski"],
    "hu": ["Kovács", "Szabó", "Tóth"],
    "hr": ["Horvat", "Babić", "Marić"],
    "az": ["Aliyev", "Mammadova", "Hasanov", "Yunus"],
    "no": ["Hansen", "Johansen", "Dahle"],
}
LANG_WEIGHTS = {"en": 45, "sr": 20, "pl": 7, "hu": 7, "hr": 6, "az": 8, "no": 7}

# (day index, start hour, end hour, intensity): the assembly's sessions.
DEFAULT_SESSIONS = [
    (0, 10.0, 11.5, 5.0),
    (0, 14.0, 15.5, 6.0),
    (1, 10.0, 12.0, 3.0),
    (1, 18.0, 20.0, 8.0),
    (2, 11.0, 12.5, 4.0),
]


def _ascii_handle(name: str, n: int) -> str:
    table = str.maketrans(
        "ćčđšžěőűáéíóöúüçəğışąęłńśźżåæøÆØÅ",
        "ccdszeouaeioouucegisaelnszzaaoAOA",
    )
    base = "".join(c for c in name.lower().translate(table) if c.isascii() and c.isalnum())
    return f"{base or 'user'}{n}"


def _hour_rate(hour: float) -> float:
    """Baseline posts per hour shape over a local day: quiet night, busy day."""
    if hour < 6:
        return 0.05
    if hour < 8:
        return 0.3
    if hour < 22:
        return 1.0
    return 0.4


def simulate_event(
    *,
    seed: int = 2016,
    start: date = date(2016, 11, 24),
    days: int = 3,
    timezone: str = "Europe/Belgrade",
    hashtag: str = "HRHN2016",
    n_posts: int = 3000,
    n_authors: int = 400,
    sessions: list[tuple[int, float, float, float]] | None = None,
    raid: bool = False,
) -> SimulatedEvent:
    """Build the simulated event (deterministic for a given seed and arguments).

    `raid` adds eight posts from eight new accounts aimed at `RAID_TARGET` within
    twenty minutes, after the other posts are drawn (they stay as they were).
    """
    rng = random.Random(seed)
    tz = ZoneInfo(timezone)
    sessions = DEFAULT_SESSIONS if sessions is None else sessions
    event = SimulatedEvent(start=start, days=days, tz=tz, hashtag=hashtag)

    langs = list(LANG_WEIGHTS)
    weights = list(LANG_WEIGHTS.values())
    # Pictures, avatars, account ages: a generator of their own (other draws unchanged).
    looks = random.Random(seed + 2)
    for i in range(n_authors):
        lang = rng.choices(langs, weights)[0]
        platform = rng.choices(PLATFORMS, PLATFORM_WEIGHTS)[0]
        name = f"{rng.choice(FIRST[lang])} {rng.choice(LAST[lang])}"
        troll = i % 97 == 13  # a handful of trolls
        handle_base = _ascii_handle(name, i)
        instance = ""
        if platform == "bluesky":
            handle = f"{handle_base}.bsky.social"
        elif platform == "mastodon":
            instance = MASTODON_INSTANCES[i % 2]
            handle = f"{handle_base}@{instance}"
        else:
            handle = handle_base
        followers = int(rng.lognormvariate(5.5, 1.4))
        event.authors.append(
            SimAuthor(
                key=f"a{i:04d}",
                platform=platform,
                handle=handle,
                display_name=name if not troll else f"Patriot {i}",
                followers=followers,
                lang=lang if not troll else "en",
                troll=troll,
                instance=instance,
                # Trolls open accounts for the occasion: days before the event.
                account_age_days=looks.randrange(2, 9) if troll else looks.randrange(60, 4000),
                has_avatar=looks.random() < 0.85,
            )
        )
    trolls = [a for a in event.authors if a.troll]
    regular = [a for a in event.authors if not a.troll]
    # A few prominent voices post much more than others.
    activity = [rng.paretovariate(1.3) for _ in regular]

    # Draw posting times from the day rhythm plus session peaks.
    total_hours = days * 24
    hour_weights = []
    for h in range(total_hours):
        day, hour = divmod(h, 24)
        w = _hour_rate(hour + 0.5)
        for s_day, s_start, s_end, intensity in sessions:
            if s_day == day and s_start - 0.5 <= hour + 0.5 <= s_end + 0.5:
                w += intensity
        hour_weights.append(w)

    begins = event.begins
    keys_by_platform: dict[str, list[SimPost]] = {p: [] for p in PLATFORMS}
    for n in range(n_posts):
        h = rng.choices(range(total_hours), hour_weights)[0]
        local = datetime.combine(start, time(0), tzinfo=tz) + timedelta(
            hours=h, seconds=rng.randrange(3600)
        )
        created = local.astimezone(UTC)
        day_pos = h / 24
        is_troll = bool(trolls) and rng.random() < 0.015
        author = rng.choice(trolls) if is_troll else rng.choices(regular, activity)[0]
        lang = author.lang
        theme = None
        if is_troll:
            text = rng.choice(TROLL_TEXTS)
        else:
            theme_weights = {
                name: math.exp(-(((day_pos - peak) / width) ** 2))
                for name, (peak, width, _) in THEMES.items()
            }
            if rng.random() < 0.7:
                theme = rng.choices(list(theme_weights), list(theme_weights.values()))[0]
                by_lang = THEMES[theme][2]
                options = by_lang.get(lang) or by_lang["en"]
                if lang not in by_lang:
                    lang = "en"
            else:
                options = GENERAL[lang]
            text = rng.choice(options)
        tags = [hashtag]
        if theme == "release of imprisoned colleagues" and rng.random() < 0.5:
            tags.append("FreeAzerbaijan")
        if theme == "illiberal democracies" and rng.random() < 0.4:
            tags.append("illiberal")
        if rng.random() < 0.1:
            tags.append("HumanRights")
        # Hashtags in the text, in the case people type them.
        tag_text = " ".join(f"#{t if rng.random() < 0.8 else t.lower()}" for t in tags)
        mentions: tuple[str, ...] = ()
        same_platform = [a for a in regular if a.platform == author.platform]
        if rng.random() < 0.15 and same_platform:
            other = rng.choice(same_platform)
            mentions = (other.handle,)
            text = f"@{other.handle.split('@')[0]} {text}"
        links: tuple[str, ...] = ()
        if rng.random() < 0.1:
            links = ("https://humanrightshouse.org/assembly-2016",)
            text = f"{text} https://humanrightshouse.org/assembly-2016"
        if rng.random() < 0.05:
            text = f"{text} ✊🏽🕊️"
        text = f"{text} {tag_text}"
        base = max(1.0, author.followers**0.5) * (0.3 if is_troll else 1.0)
        post = SimPost(
            key=f"p{n:05d}",
            platform=author.platform,
            author=author,
            text=text,
            lang=lang,
            created_at=created,
            hashtags=tuple(tags),
            mentions=mentions,
            links=links,
            theme=theme,
            final_likes=int(base * rng.uniform(0.2, 3.0)),
            final_reposts=int(base * rng.uniform(0.0, 0.8)),
            final_replies=int(base * rng.uniform(0.0, 0.3)),
            final_quotes=int(base * rng.uniform(0.0, 0.1)),
            final_views=int(base * rng.uniform(20, 80)) if author.platform == "x" else 0,
            # Every Instagram post is a photo (or a video, or an album).
            media_count=1 if rng.random() < 0.12 or author.platform == "instagram" else 0,
            sensitive=is_troll and rng.random() < 0.3,
            troll=bool(is_troll),
        )
        earlier = keys_by_platform[author.platform]
        # Hashtag media on Instagram are top-level posts only: no replies, quotes or reposts.
        if earlier and not is_troll and author.platform != "instagram":
            roll = rng.random()
            target = rng.choice(earlier[-50:])
            if roll < 0.12:
                post.reply_to = target.key
            elif roll < 0.16:
                post.quote_of = target.key
            # A Threads repost carries no text or topic tag of its own: search never finds it.
            elif roll < 0.22 and target.author is not author and author.platform != "threads":
                post.repost_of = target.key
                post.text = target.text
                post.lang = target.lang
                post.hashtags = target.hashtags
        if rng.random() < 0.02 or (is_troll and rng.random() < 0.3):
            post.deleted_at = created + timedelta(minutes=rng.randrange(5, 600))
        keys_by_platform[author.platform].append(post)
        event.posts.append(post)
    add_pictures(event, looks)
    if raid:
        _add_raid(event, random.Random(seed + 1), hashtag, tz)
    event.posts.sort(key=lambda p: (p.created_at, p.key))
    # Keep relations pointing backwards in time after sorting.
    order = {p.key: i for i, p in enumerate(event.posts)}
    for p in event.posts:
        for rel in ("reply_to", "quote_of", "repost_of"):
            target = getattr(p, rel)
            if target is not None and order[target] >= order[p.key]:
                setattr(p, rel, None)
    assert all(begins <= p.created_at < event.ends for p in event.posts)
    return event


def _add_raid(event: SimulatedEvent, rng: random.Random, hashtag: str, tz: ZoneInfo) -> None:
    day, hour = RAID_START
    begin = datetime.combine(event.start + timedelta(days=day), time(0), tzinfo=tz) + timedelta(
        hours=hour
    )
    for i in range(8):
        author = SimAuthor(
            key=f"r{i:03d}",
            platform="bluesky",
            handle=f"patriot{rng.randrange(1000, 9999)}{i}.bsky.social",
            display_name=f"Patriot {i}",
            followers=rng.randrange(0, 5),
            lang="en",
            troll=True,
            account_age_days=1 + i % 3,  # made for the raid, no picture yet
            has_avatar=False,
        )
        event.authors.append(author)
        text = rng.choice(RAID_TEXTS).format(t=RAID_TARGET)
        event.posts.append(
            SimPost(
                key=f"r{i:05d}",
                platform="bluesky",
                author=author,
                text=f"{text} #{hashtag}",
                lang="en",
                created_at=(begin + timedelta(minutes=2.5 * i)).astimezone(UTC),
                hashtags=(hashtag,),
                mentions=(RAID_TARGET,),
                troll=True,
            )
        )
