"""Storage is the only code that writes SQL: a test reads every statement outside it.

Writes spread over collectors, the runner and the wall made the README's "one
writer" untrue (the budget ledger, stream state and stale runs were written
elsewhere); this keeps every INSERT, UPDATE, DELETE and schema change in
`storage/`, where transactions, migrations and the wall's triggers are known.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("collectors", "monitor", "reports")
WRITE = re.compile(
    r"^\s*(insert|update|delete|replace|create|drop|alter|vacuum|pragma\s+\w+\s*=)\b",
    re.IGNORECASE,
)
CALLS = {"execute", "executemany", "executescript"}


def _text(node: ast.expr) -> str:
    """The literal text of a statement argument: constants, f-strings and + joins."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _text(v) if not isinstance(v, ast.FormattedValue) else "?" for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return ""


def sql_writes(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CALLS
            and node.args
        ):
            text = _text(node.args[0])
            if WRITE.match(text):
                found.append((node.lineno, " ".join(text.split())[:60]))
    return found


def test_only_storage_writes_sql():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {sql}"
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
        if "fakes" not in path.parts  # the loopback fakes keep their own databases
        for line, sql in sql_writes(path)
    ]
    assert not offenders, "SQL written outside storage/:\n" + "\n".join(offenders)


def test_the_reader_finds_a_write(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text(
        'def f(conn, t):\n    conn.execute(f"update {t} set x = 1")\n'
        '    conn.execute("select 1")\n    conn.executemany("insert into a " + "values (?)", [])\n',
        encoding="utf-8",
    )
    assert [line for line, _ in sql_writes(module)] == [2, 4]
