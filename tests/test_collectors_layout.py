"""Collectors show their shape: a package per platform, the same step names, small modules (#19)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tagwatch.collectors import PLATFORMS, collector_class
from tagwatch.collectors.base import Collector

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def test_no_collectors_module_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "collectors").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (the limit is {MAX_LINES} lines): {long}"


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_platform_is_a_package_of_parse_and_collector(platform: str):
    folder = ROOT / "collectors" / platform
    assert {"__init__.py", "parse.py", "collector.py"} <= {p.name for p in folder.glob("*.py")}
    package = importlib.import_module(f"tagwatch.collectors.{platform}")
    assert collector_class(platform).__name__ in package.__all__
    parse = importlib.import_module(f"tagwatch.collectors.{platform}.parse")
    assert [n for n in vars(parse) if n.startswith("parse_")], "parse.py names its parse_*"


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_platform_refreshes_under_the_same_name(platform: str):
    cls = collector_class(platform)
    assert cls.refresh is not Collector.refresh, f"{cls.__name__} has no refresh step"
    stray = [n for n in dir(cls) if "refresh" in n and n.startswith("_")]
    assert stray == [], f"{cls.__name__}: the step is `refresh`, not {stray}"
