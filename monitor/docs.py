"""The config reference (docs/config.md) and the typed sections, generated from `SETTINGS`.

`python -m tagwatch.monitor.docs` rewrites the section of docs/config.md between the
config-reference markers and `tagwatch/settings_types.py`; tests fail when
either is out of date, so neither drifts from the one table.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

from tagwatch.settings import REQUIRED, SESSION_SETTINGS, SETTINGS, Setting, _type_name

__all__ = [
    "config_reference",
    "update_reference",
    "REFERENCE_PATH",
    "settings_types_source",
    "update_settings_types",
]

SOURCE = "tagwatch/settings.py"
START = f"<!-- config-reference: generated from {SOURCE} SETTINGS; a test keeps it in step -->"
END = "<!-- /config-reference -->"


def _default(s: Setting) -> str:
    if s.default is REQUIRED:
        return "**required**"
    if isinstance(s.default, bool):
        return f"`{str(s.default).lower()}`"
    if isinstance(s.default, str | date):
        return f'`"{s.default}"`' if isinstance(s.default, str) else f"`{s.default}`"
    if isinstance(s.default, list):
        return "`[" + ", ".join(f'"{v}"' for v in s.default) + "]`"
    return f"`{s.default}`"


def config_reference() -> str:
    lines = []
    section = None
    for s in [*SETTINGS, *SESSION_SETTINGS]:
        if s.section != section:
            section = s.section
            title = "[[event.sessions]]" if section == "event.sessions" else f"[{section}]"
            lines += [
                "",
                f"### `{title}`",
                "",
                "| key | type | default | meaning |",
                "| --- | --- | --- | --- |",
            ]
        lines.append(f"| `{s.key}` | {_type_name(s.type)} | {_default(s)} | {s.description} |")
    return "\n".join(lines).strip()


REFERENCE_PATH = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def update_reference(path: Path = REFERENCE_PATH) -> bool:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{config_reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


TYPES_PATH = Path(__file__).resolve().parent.parent / "tagwatch" / "settings_types.py"
# Keys every platform section has, declared once on PlatformSection so that code
# choosing a platform by name (`config.platform("x")`) reads them typed.
PLATFORM_KEYS = {"enabled": "bool", "interval_minutes": "float"}
_ANNOTATION = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    date: "date",
    datetime: "datetime",
    dict: "Mapping[str, str]",
}

_TYPES_HEAD = '''"""config.toml's sections as typed, frozen dataclasses (generated: do not edit).

Generated from SETTINGS in tagwatch/settings.py by `python -m tagwatch.monitor.docs`;
tests/test_settings_types.py fails when this file is out of date. Why generated: mypy
sees every setting's type (`config.x.budget_usd` is a float), while SETTINGS stays
the one table where a setting is declared, defaulted, checked and documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
{datetime_import}from typing import TypeVar

__all__ = [
{names}
]


@dataclass(frozen=True)
class SectionBase:
    """One validated section, every default filled in; attribute names are the config keys."""

    def get(self, key: str) -> object:
        """A setting by its key, for code that walks SETTINGS (secret redaction)."""
        if key not in self.keys():
            raise KeyError(f"no setting {{key!r}} in this section")
        value: object = getattr(self, key)
        return value

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, object]:
        return {{key: self.get(key) for key in self.keys()}}


@dataclass(frozen=True)
class PlatformSection(SectionBase):
    """What every platform's section has, for code that picks a platform by name."""

{platform_fields}
'''

_TYPES_TAIL = '''

SECTION_TYPES: dict[str, type[SectionBase]] = {{
{table}
}}
PLATFORM_SECTIONS = ({platforms})

_S = TypeVar("_S", bound=SectionBase)


def _section(sections: Mapping[str, SectionBase], name: str, kind: type[_S]) -> _S:
    section = sections[name]
    if not isinstance(section, kind):
        raise TypeError(f"[{{name}}] holds a {{type(section).__name__}}, not a {{kind.__name__}}")
    return section


class TypedSections:
    """`config.<section>`: each section as its dataclass (Config inherits this)."""

    sections: dict[str, SectionBase]

    def platform(self, name: str) -> PlatformSection:
        """A platform's section by its name (`bluesky`, `x`, ...): enabled, interval_minutes."""
        return _section(self.sections, name, PlatformSection)
{properties}'''


def _class_name(section: str) -> str:
    return section.title().replace("_", "") + "Section"


def _annotation(t: object) -> str:
    if isinstance(t, tuple):
        return f"tuple[{_ANNOTATION[t[0]]}, ...]"
    return _ANNOTATION[t]  # type: ignore[index]


def _datetime_import() -> str:
    used = sorted({t.__name__ for s in SETTINGS for t in [s.type] if t in (date, datetime)})
    return f"from datetime import {', '.join(used)}\n" if used else ""


def settings_types_source() -> str:
    """tagwatch/settings_types.py as SETTINGS makes it."""
    by_section: dict[str, list[Setting]] = {}
    for s in SETTINGS:
        by_section.setdefault(s.section, []).append(s)
    platforms = [
        name for name, specs in by_section.items() if PLATFORM_KEYS.keys() <= {s.key for s in specs}
    ]
    classes = []
    for name, specs in by_section.items():
        platform = name in platforms
        base = "PlatformSection" if platform else "SectionBase"
        lines = ["@dataclass(frozen=True)", f"class {_class_name(name)}({base}):"]
        lines.append(f'    """[{name}]"""')
        lines.append("")
        for s in specs:
            if platform and s.key in PLATFORM_KEYS:
                continue
            lines.append(f"    {s.key}: {_annotation(s.type)}")
        classes.append("\n".join(lines))
    names = ["SectionBase", "PlatformSection", *map(_class_name, by_section), "SECTION_TYPES"]
    names += ["PLATFORM_SECTIONS", "TypedSections"]
    properties = "".join(
        f"\n    @property\n    def {name}(self) -> {_class_name(name)}:\n"
        f'        return _section(self.sections, "{name}", {_class_name(name)})\n'
        for name in by_section
        if name != "event"  # config.event is the parsed EventConfig (timezone resolved)
    )
    head = _TYPES_HEAD.format(
        names="\n".join(f"    {n!r},".replace("'", '"') for n in names),
        datetime_import=_datetime_import(),
        platform_fields="\n".join(f"    {k}: {t}" for k, t in PLATFORM_KEYS.items()),
    )
    tail = _TYPES_TAIL.format(
        table="\n".join(f"    {n!r}: {_class_name(n)},".replace("'", '"') for n in by_section),
        platforms=", ".join(f'"{n}"' for n in platforms) + ("," if len(platforms) == 1 else ""),
        properties=properties,
    )
    return head + "\n\n" + "\n\n\n".join(classes) + "\n" + tail


def update_settings_types(path: Path = TYPES_PATH) -> bool:
    new = settings_types_source()
    if path.exists() and path.read_text(encoding="utf-8") == new:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE_PATH
    print(target, "updated" if update_reference(target) else "up to date")
    print("tagwatch/settings_types.py", "updated" if update_settings_types() else "up to date")
