"""The layers run one way: a test reads every module's imports and fails on an upward one.

    app (tagwatch.monitor)                         -> anything below
    tagwatch.collectors    tagwatch.reports        -> storage, foundation (never each other)
    tagwatch.storage                               -> foundation
    foundation (tagwatch.settings, .errors, .records) -> nothing of tagwatch

Imports inside functions and under `if TYPE_CHECKING:` count too: they are
still a dependency. No code may import a layer by its bare folder name
(`storage.db`): from the repository root that would load a second copy of the
module beside `tagwatch.storage.db`, with its own globals.

This file spells old and wrong imports on purpose, in its synthetic examples:
restructure.py: leave this file alone.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("monitor", "collectors", "storage", "reports")
LAYER_OF_FOLDER = {
    "monitor": "app",
    "collectors": "collectors",
    "storage": "storage",
    "reports": "reports",
}
ALLOWED = {
    "foundation": set(),
    "storage": {"foundation"},
    "collectors": {"storage", "foundation"},
    "reports": {"storage", "foundation"},
    "app": {"foundation", "storage", "collectors", "reports", "app"},
}
# Known violations that could not be removed yet: (file, imported module) -> why.
# Empty: every module keeps to its layer. A new violation fails the test.
ALLOW_LIST: dict[tuple[str, str], str] = {}


def modules(root: Path) -> list[tuple[str, str, Path]]:
    """(layer, dotted name, path) of every module: the foundation and the four folders."""
    found = []
    tagwatch = root / "tagwatch"
    for dirpath, dirnames, filenames in os.walk(tagwatch):  # does not follow the layer links
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py"):
                path = Path(dirpath) / name
                found.append(("foundation", dotted(path.relative_to(root)), path))
    for folder, layer in LAYER_OF_FOLDER.items():
        for path in sorted((root / folder).rglob("*.py")):
            found.append((layer, "tagwatch." + dotted(path.relative_to(root)), path))
    return found


def dotted(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from tagwatch import storage` imports the module tagwatch.storage.
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _loader(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                out.append((node.lineno, first.value))
    return out


# Calls that import a package named by a string: `PackageLoader("reports", ...)` loads
# a top-level `reports`, which an installed tagwatch does not have.
LOADERS = {"import_module", "__import__", "PackageLoader", "files", "find_spec"}


def _loader(func: ast.expr) -> bool:
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in LOADERS


def layer_of(module: str) -> str | None:
    """The layer an imported module belongs to; None when it is not tagwatch's."""
    parts = module.split(".")
    if parts[0] in LAYERS:
        return "bare"
    if parts[0] != "tagwatch":
        return None
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYER_OF_FOLDER[parts[1]]
    return "foundation"


def violations(root: Path) -> list[str]:
    found = []
    for layer, name, path in modules(root):
        where = path.relative_to(root).as_posix()
        for line, module in imported(name, path):
            target = layer_of(module)
            if target is None or (where, module) in ALLOW_LIST:
                continue
            if target == "bare":
                found.append(f"{where}:{line}: imports {module} by its bare folder name")
            elif target not in ALLOWED[layer] and target != layer:
                found.append(f"{where}:{line}: {layer} imports {module} ({target})")
    return found


def test_every_import_keeps_to_its_layer():
    assert violations(ROOT) == []


def test_tests_and_benches_never_import_a_layer_by_its_bare_name():
    bare = []
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for line, module in imported(path.stem, path):
                if module.split(".")[0] in LAYERS:
                    bare.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert bare == []


def test_the_layer_folders_are_linked_into_the_package():
    for layer in LAYERS:
        link = ROOT / "tagwatch" / layer
        assert link.is_symlink() and os.readlink(link) == f"../{layer}", (
            f"tagwatch/{layer} must be a symbolic link to ../{layer}"
            " (on Windows: git clone -c core.symlinks=true)"
        )


def test_no_module_is_loaded_under_two_names():
    import tagwatch.monitor.cli  # noqa: F401  (the app imports every layer)
    import tagwatch.monitor.demo  # noqa: F401

    assert [m for m in sys.modules if m.split(".")[0] in LAYERS] == []


def synthetic_tree(root: Path, extra: dict[str, str]) -> Path:
    """A small tree laid out like the repository, every import in it allowed."""
    files = {
        "tagwatch/__init__.py": "",
        "tagwatch/errors.py": "import json\n",
        "tagwatch/settings.py": "from tagwatch.errors import ConfigError\n",
        "storage/__init__.py": "",
        "storage/db.py": "from tagwatch.settings import Config\nfrom . import moderation\n",
        "storage/moderation.py": "",
        "collectors/__init__.py": "",
        "collectors/x.py": "from tagwatch.storage.db import Store\nfrom tagwatch import errors\n",
        "reports/__init__.py": "",
        "reports/wall.py": "from tagwatch.storage import db\n",
        "monitor/__init__.py": "",
        "monitor/cli.py": "from tagwatch.reports import wall\nfrom tagwatch.collectors import x\n",
    }
    files.update(extra)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def test_the_checker_passes_a_tree_that_keeps_to_its_layers(tmp_path: Path):
    assert violations(synthetic_tree(tmp_path, {})) == []


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        ("tagwatch/records.py", "from tagwatch.storage.db import Store\n", "foundation imports"),
        ("storage/db.py", "def f():\n    from tagwatch.reports import wall\n", "storage imports"),
        ("storage/db.py", "from ..reports import wall\n", "storage imports tagwatch.reports"),
        ("collectors/x.py", "import tagwatch.reports.wall\n", "collectors imports"),
        ("reports/wall.py", "from tagwatch.collectors.x import X\n", "reports imports"),
        ("reports/wall.py", "from tagwatch.monitor import cli\n", "(app)"),
        ("storage/db.py", "from tagwatch import monitor\n", "storage imports tagwatch.monitor"),
        ("monitor/cli.py", "import storage.db\n", "by its bare folder name"),
        ("reports/wall.py", "from storage.db import Store\n", "by its bare folder name"),
        ("reports/wall.py", 'PackageLoader("reports", "t")\n', "by its bare folder name"),
        ("monitor/cli.py", 'importlib.import_module("collectors.x")\n', "bare folder name"),
    ],
)
def test_the_checker_fails_on_an_upward_import(
    tmp_path: Path, relative: str, text: str, expected: str
):
    found = violations(synthetic_tree(tmp_path, {relative: text}))
    assert len(found) == 1 and found[0].startswith(relative) and expected in found[0], found
