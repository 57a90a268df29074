"""Storage adapters behind the store contract in :mod:`relay.store.contract`.

``open_store(url, base_dir=...)`` picks the backend: SQLite (:mod:`relay.store.sqlite`) or
PostgreSQL (:mod:`relay.store.postgres`), both running the SQL in :mod:`relay.store.sql`.
"""

from relay.store.open import open_store

__all__ = ["open_store"]
