"""The store contract implemented once over SQL; a backend supplies the connection.

:class:`SqlStore` is every role (one ``sql_<role>`` module each) over one
:class:`~relay.store.engine.SqlEngine`: a backend (:mod:`relay.store.sqlite`,
:mod:`relay.store.postgres`) opens the connection and implements ``_execute`` and the
transaction edges. Each contract method is one transaction, under a lock, so one store can be
shared by threads. The schema version lives in a ``schema_version`` table.
"""

from __future__ import annotations

from relay.store.engine import Result, SqlEngine
from relay.store.sql_admin import SqlAdmin
from relay.store.sql_audit import SqlAuditLog
from relay.store.sql_blobs import SqlBlobHoldings
from relay.store.sql_inbound import SqlInboundQueue
from relay.store.sql_inbox import SqlInbox, ts_order
from relay.store.sql_leases import SqlLeases
from relay.store.sql_outbox import SqlOutbox
from relay.store.sql_posts import SqlBlobs, SqlPostMap
from relay.store.sql_receipts import SqlReceipts
from relay.store.sql_refusals import SqlRefusals
from relay.store.sql_reviews import SqlReviews

__all__ = ["Result", "SqlStore", "ts_order"]


class SqlStore(
    SqlInbox,
    SqlOutbox,
    SqlInboundQueue,
    SqlLeases,
    SqlPostMap,
    SqlBlobs,
    SqlBlobHoldings,
    SqlAuditLog,
    SqlRefusals,
    SqlReceipts,
    SqlReviews,
    SqlAdmin,
    SqlEngine,
):
    """Implements :class:`relay.store.contract.Store`; subclasses connect and call
    :meth:`_migrate` at the end of ``__init__``."""
