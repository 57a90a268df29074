"""Translate the store's SQL (:mod:`relay.store.sql`) for each driver.

The texts are PostgreSQL with ``$n`` placeholders (mautrix ``util/async_db`` style). SQLite
reads ``?n`` (numbered, so a parameter may repeat) and a few type names; psycopg reads ``%s``
in order, so its parameters are rearranged to match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

__all__ = ["postgres_params", "to_postgres", "to_sqlite"]

_PLACEHOLDER: Final = re.compile(r"\$(\d+)")
_SQLITE_REWRITES: Final = (
    (re.compile(r"\bBIGSERIAL PRIMARY KEY\b"), "INTEGER PRIMARY KEY AUTOINCREMENT"),
    (re.compile(r"\bBYTEA\b"), "BLOB"),
    # BEGIN IMMEDIATE already holds the database's write lock for the whole transaction.
    # (a queue claim's ``FOR UPDATE SKIP LOCKED`` too: only one writer runs at a time)
    (re.compile(r"\s+FOR UPDATE(?:\s+SKIP LOCKED)?\b"), ""),
)


@lru_cache(maxsize=4096)
def to_sqlite(query: str) -> str:
    """``$n`` -> ``?n`` and the few type and locking differences."""
    for pattern, replacement in _SQLITE_REWRITES:
        query = pattern.sub(replacement, query)
    return _PLACEHOLDER.sub(r"?\1", query)


@lru_cache(maxsize=4096)
def to_postgres(query: str) -> tuple[str, tuple[int, ...]]:
    """``$n`` -> ``%s``; also the 0-based parameter index behind each ``%s``, in order."""
    order = tuple(int(n) - 1 for n in _PLACEHOLDER.findall(query))
    return _PLACEHOLDER.sub("%s", query.replace("%", "%%")), order


def postgres_params(order: tuple[int, ...], params: Sequence[object]) -> tuple[object, ...]:
    """The parameters in the order of the ``%s`` that :func:`to_postgres` wrote."""
    return tuple(params[i] for i in order)
