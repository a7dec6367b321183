"""A clone with nothing beside it passes the tests: no file names a path outside the repository.

The recorded platform answers the tests need live in tests/fixtures/recorded/ with
their provenance; a test, fake, script or docstring that pointed at the shared folder
beside one developer's checkout (or at a path of one machine) would fail, or mislead,
everywhere else.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "recorded"

# The shared folder beside a checkout, and absolute paths of one machine. Spelled in parts
# so that this file does not itself name the folder it forbids.
_SHARED = "shar" + "ed"
OUTSIDE = re.compile(rf"\.\./{_SHARED}|{_SHARED}/fixtures|/ \"{_SHARED}\"|/work/|/home/\w+|/root/")


def _tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not out:  # not a git checkout (an sdist): every text file of ours instead
        out = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
    return [ROOT / f for f in out if not f.startswith((".venv", ".git/", "tests/fixtures/"))]


def test_no_file_names_a_path_outside_the_repository():
    offenders = []
    for path in _tracked_files():
        if path.suffix not in {".py", ".md", ".toml", ".cfg", ".txt", ""} or not path.is_file():
            continue
        if path.name == "test_self_contained.py":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_every_recorded_fixture_has_its_provenance():
    readme = (RECORDED / "README.md").read_text(encoding="utf-8")
    files = [p for p in RECORDED.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(files) >= 15
    for path in files:
        assert f"`{path.name}`" in readme, f"{path.name} is not described in {RECORDED}/README.md"
