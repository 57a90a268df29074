"""``open_store``: the store URL picks the backend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import pytest

from relay.store import open_store
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SqliteStore
from tests.store.conftest import PG_DSN


def test_relative_sqlite_path_is_under_base_dir(tmp_path: Path) -> None:
    (tmp_path / "conf" / "data").mkdir(parents=True)
    store = open_store("sqlite:///data/relay.db", base_dir=tmp_path / "conf")
    try:
        assert isinstance(store, SqliteStore)
        store.ping()
    finally:
        store.close()
    assert (tmp_path / "conf" / "data" / "relay.db").is_file()


def test_absolute_sqlite_path_is_kept(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'abs.db'}", base_dir=tmp_path / "elsewhere")
    store.close()
    assert (tmp_path / "abs.db").is_file()


def test_postgresql_url_opens_postgres(pg_schema: str) -> None:
    """libpq URI options reach the server: here the fresh schema as search_path."""
    options = quote(f"-c search_path={pg_schema}")
    sep = "&" if "?" in PG_DSN else "?"
    store = open_store(f"{PG_DSN}{sep}options={options}", base_dir=Path("/nonexistent"))
    try:
        assert isinstance(store, PostgresStore)
        assert store.take_event(event_id="Ev1", team="T1", body=b"x", at=dt.datetime.now(dt.UTC))
        assert store.schema_version() > 0
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://root:hunter2@db/relay", "'mysql'"),
        ("sqlite://relay.db", "'sqlite'"),
        ("relay.db", "'(none)'"),
        ("", "'(none)'"),
    ],
)
def test_other_urls_are_refused_without_echoing_them(url: str, scheme: str) -> None:
    with pytest.raises(ValueError, match="not supported") as info:
        open_store(url, base_dir=Path())
    assert scheme in str(info.value)
    assert "hunter2" not in str(info.value)


def test_sqlite_url_without_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a path"):
        open_store("sqlite:///", base_dir=Path())
