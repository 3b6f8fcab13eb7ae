"""Every error the project raises for a user to read is in `monitor.errors`, under
`MonitorError`, so a command can catch the project's errors in one place and a reader
finds them in one file. Private control-flow exceptions (``_Name``) are exempt."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from monitor import errors

PACKAGE = Path(errors.__file__).parent


def test_errors_are_defined_in_the_errors_module_only() -> None:
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            public = isinstance(node, ast.ClassDef) and not node.name.startswith("_")
            if public and node.name.endswith("Error"):
                elsewhere.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert not elsewhere, elsewhere


def test_every_error_derives_from_the_base() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)]
    defined = [c for c in classes if c.__module__ == errors.__name__]
    exceptions = [c for c in defined if issubclass(c, BaseException)]
    assert len(exceptions) >= 20
    assert all(issubclass(c, errors.MonitorError) for c in exceptions), [
        c.__name__ for c in exceptions if not issubclass(c, errors.MonitorError)
    ]
