"""Storage adapters behind the store contract in :mod:`relay.store.contract`.

``open_store(url, base_dir=...)`` picks the backend: SQLite (:mod:`relay.store.sqlite`) or
PostgreSQL (:mod:`relay.store.postgres`), both :class:`~relay.store.base.SqlStore`: the
roles of the contract (``Inbox``, ``Outbox``, ``InboundQueue``, ``Leases``, ``PostMap``,
``Blobs``, ``AuditLog``, ``Refusals``, ``Admin``, ``Lifecycle``) each in a ``sql_<role>``
module over :mod:`relay.store.engine`, the schema in :mod:`relay.store.sql`. From the event
loop, use :class:`relay.store.aio.AsyncStore`: the same roles, awaitable, run off the loop.
"""

from relay.store.open import open_store

__all__ = ["open_store"]
