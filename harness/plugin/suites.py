"""Which check ids the shipped suites implement, read from their source without importing it.

Importing the test modules outside pytest's collection would bypass its assertion
rewriting; their `@pytest.mark.check("ID")` decorators are plain literals, so the syntax
tree says everything.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import testsuites


def testsuites_dir() -> Path:
    """The folder of the product's check suites."""
    return Path(testsuites.__file__).resolve().parent


@cache
def implemented_checks() -> frozenset[str]:
    """Every check id a test function in `testsuites` declares."""
    found: set[str] = set()
    for path in sorted(testsuites_dir().glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef):
                found.update(_check_ids(node.decorator_list))
    return frozenset(found)


def _check_ids(decorators: list[ast.expr]) -> list[str]:
    ids = []
    for decorator in decorators:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "check"
            and decorator.args
            and isinstance(decorator.args[0], ast.Constant)
        ):
            ids.append(str(decorator.args[0].value))
    return ids
