"""`pip install .` claims one top-level name, `tagwatch`, and lives beside a package named storage.

PyPI has distributions called `storage`, `reports` and `collectors`; pip lets one
overwrite another's files silently. This builds tagwatch's wheel from a copy of
the checkout, installs it into a fresh virtual environment next to a tiny
unrelated `storage` package, and checks both still work. No network: the build
uses this environment's setuptools (`--no-build-isolation`) and the new
environment sees this one's dependencies through a path file.

Its `storage` is the unrelated package on purpose: restructure.py: leave this file alone.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("monitor", "collectors", "storage", "reports")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None
    or (
        importlib.util.find_spec("setuptools.command.bdist_wheel") is None
        and importlib.util.find_spec("wheel") is None
    ),
    reason="building a wheel offline needs setuptools>=70.1 (or wheel) in this environment",
)


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def unrelated_storage(where: Path) -> Path:
    (where / "storage").mkdir(parents=True)
    (where / "storage" / "__init__.py").write_text('MARKER = "the other storage"\n')
    (where / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "storage"\nversion = "9.9"\n'
        '[tool.setuptools]\npackages = ["storage"]\n'
    )
    return where


def checkout_copy(where: Path) -> Path:
    """The checkout without its environments and caches; symlinks stay symlinks."""
    skip = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "tests", ".*_cache"
    )
    shutil.copytree(ROOT, where, symlinks=True, ignore=skip)
    return where


def test_installed_next_to_a_package_named_storage_both_work(tmp_path: Path):
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    # This environment's dependencies (click, jinja2...), after the new one's own packages.
    (purelib / "zz_outer.pth").write_text(sysconfig.get_path("purelib") + "\n")

    other = unrelated_storage(tmp_path / "other")
    source = checkout_copy(tmp_path / "src")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    run(*pip, "--no-build-isolation", "--no-deps", "--no-index", other, cwd=tmp_path)
    run(*pip, "--no-build-isolation", "--no-deps", "--no-index", source, cwd=tmp_path)

    # Run from an empty folder, so nothing is imported from a checkout.
    away = tmp_path / "away"
    away.mkdir()
    probe = (
        "import storage, tagwatch, tagwatch.storage.db, tagwatch.monitor.cli\n"
        "from tagwatch.reports.wall import app\n"
        "from tagwatch.reports.digest.render import env\n"
        "from tagwatch.reports.impact.output import _env\n"
        "env().get_template('digest.html.j2'), _env().get_template('impact.html.j2')\n"
        "print(storage.MARKER)\n"
        "print(tagwatch.__file__)\n"
        "print(storage.__file__)\n"
    )
    marker, tagwatch_file, storage_file = run(python, "-c", probe, cwd=away).stdout.split("\n")[:3]
    assert marker == "the other storage"
    assert Path(tagwatch_file).parent == purelib / "tagwatch"
    assert Path(storage_file).parent == purelib / "storage"

    shown = run(env / "bin" / "tagwatch", "--help", cwd=away).stdout
    assert "Usage: tagwatch" in shown and "demo" in shown

    # The installed files: everything under tagwatch/, templates and static files included.
    record = next(purelib.glob("tagwatch-*.dist-info")) / "RECORD"
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    assert tops & set(LAYERS) == set()
    assert {"tagwatch", record.parent.name} <= tops
    assert (purelib / "tagwatch/reports/wall/static/wall.css").is_file()
    assert (purelib / "tagwatch/reports/digest/templates/digest.html.j2").is_file()
    assert (purelib / "tagwatch/reports/impact/templates/impact.html.j2").is_file()
    assert not (purelib / "tagwatch/monitor").is_symlink()
    assert (purelib / "storage/__init__.py").read_text() == 'MARKER = "the other storage"\n'
