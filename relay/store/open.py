"""Open the store named by a ``store:`` URL from ``relay.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from relay.store.contract import Store

__all__ = ["open_store"]

_SQLITE: Final = "sqlite:///"
_POSTGRES: Final = ("postgresql://", "postgres://")


def open_store(url: str, *, base_dir: Path) -> Store:
    """``sqlite:///PATH`` (a relative PATH is under ``base_dir``; ``sqlite:////abs`` is
    absolute) or ``postgresql://user@host:port/db?options=...`` (any libpq URI).

    Raises ``ValueError`` for any other URL; the message names the scheme, never the URL (it
    may hold a password)."""
    if url.startswith(_SQLITE):
        from relay.store.sqlite import SqliteStore

        raw = url.removeprefix(_SQLITE)
        if not raw:
            raise ValueError("store URL sqlite:/// needs a path, as in sqlite:///relay.db")
        path = Path(raw)
        return SqliteStore(path if path.is_absolute() else base_dir / path)
    if url.startswith(_POSTGRES):
        from relay.store.postgres import PostgresStore

        return PostgresStore(url)
    scheme = url.partition("://")[0] if "://" in url else "(none)"
    raise ValueError(
        f"store URL scheme {scheme!r} is not supported; use sqlite:///PATH or postgresql://..."
    )
