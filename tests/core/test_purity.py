"""relay/core is pure: no I/O, clocks, randomness, logging or network in any of its modules.

The checker reads the source with ``ast`` (nothing is imported), so a forbidden import hidden
behind ``if TYPE_CHECKING`` or inside a function is caught as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "relay" / "core"
FORBIDDEN = (
    "asyncio",
    "aiohttp",
    "slack_sdk",
    "sqlite3",
    "logging",
    "time",
    "os",
    "socket",
    "subprocess",
    "random",
    "urllib.request",
    "http",
)
CORE_MODULES = sorted(CORE.rglob("*.py"))


def _forbidden(name: str) -> str | None:
    for banned in FORBIDDEN:
        if name == banned or name.startswith(banned + "."):
            return banned
    return None


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every forbidden import in ``source`` as ``line: module`` (empty when pure)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if not isinstance(node, ast.Import | ast.ImportFrom | ast.Call):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from urllib import request` imports urllib.request just as surely.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            banned = _forbidden(name)
            if banned is not None:
                found.append(f"{node.lineno}: {banned}")
                break
    return found


def test_core_has_modules_to_check():
    assert len(CORE_MODULES) >= 10
    assert CORE / "policy" / "engine.py" in CORE_MODULES


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_impure(path):
    source = path.read_text(encoding="utf-8")
    assert forbidden_imports(source, str(path)) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\n", ["1: os"]),
        ("import os.path as p\n", ["1: os"]),
        ("x = 1\nfrom os import environ\n", ["2: os"]),
        ("from urllib import request\n", ["1: urllib.request"]),
        ("import urllib.request\n", ["1: urllib.request"]),
        ("from http.client import HTTPConnection\n", ["1: http"]),
        ("def f():\n    import logging\n", ["2: logging"]),
        ("if TYPE_CHECKING:\n    import asyncio\n", ["2: asyncio"]),
        ("m = __import__('socket')\n", ["1: socket"]),
        ("import importlib\nm = importlib.import_module('random')\n", ["2: random"]),
        ("import time, re\n", ["1: time"]),
    ],
)
def test_checker_flags_forbidden_imports(source, expected):
    """The checker must be able to fail: a synthetic module importing ``os`` is flagged."""
    assert forbidden_imports(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "import re\nimport datetime as dt\n",
        "from urllib.parse import urlsplit\n",
        "from relay.core.model import Line\n",
        "from . import os\n",  # a sibling module that happens to be called os
        "import timeit_like_name\nimport osgeo_like\n",
        "from typing import Final\nimport hashlib\n",
    ],
)
def test_checker_allows_pure_imports(source):
    assert forbidden_imports(source) == []
