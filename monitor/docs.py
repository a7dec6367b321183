"""The README's config reference, generated from `SETTINGS` so the two never drift.

`python -m tagwatch.monitor.docs` rewrites the section of README.md between the
config-reference markers; tests fail when README.md is out of date.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from tagwatch.settings import REQUIRED, SESSION_SETTINGS, SETTINGS, Setting, _type_name

__all__ = ["config_reference", "update_readme"]

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


def update_readme(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{config_reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    print("updated" if update_readme(target) else "up to date")
