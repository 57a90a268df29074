"""The audit trail as ``relay audit`` reads it: records page by page, and the ``audit_read``
record that makes every read of the trail itself audited."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Protocol, TypeVar

from relay.commands.common import CommandError
from relay.config import RelayConfig
from relay.core.audit import AuditEvent, AuditRecord, ChainedRecord, RawRow, rfc3339
from relay.store.contract import Store

__all__ = ["raw_rows", "read_audited", "records"]

PAGE: Final = 10_000


class _Row(Protocol):
    @property
    def seq(self) -> int: ...


_R = TypeVar("_R", bound=_Row)


def _paged(read: Callable[[int], Sequence[_R]]) -> Iterator[_R]:
    """Every row ``read(after_seq)`` returns, a page of ``PAGE`` at a time, by seq."""
    after = 0
    while True:
        page = read(after)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].seq


def records(
    store: Store, *, since: float | None, until: float | None, upto: int | None = None
) -> Iterator[ChainedRecord]:
    """Records in the window, by seq; with ``upto``, none after that seq."""
    found = _paged(
        lambda after: store.audit_rows(after_seq=after, since=since, until=until, limit=PAGE)
    )
    return found if upto is None else itertools.takewhile(lambda item: item.seq <= upto, found)


def raw_rows(store: Store) -> Iterator[RawRow]:
    """Rows as stored, record JSON unparsed (for verification), by seq."""
    return _paged(lambda after: store.audit_raw_rows(after_seq=after, limit=PAGE))


def read_audited(store: Store, config: RelayConfig, command: str, count: int) -> None:
    """Reading the trail is an audited event. ``export``, ``disseminations`` and
    ``checkpoints`` call this *before* they write anything: if the record cannot be written,
    nothing is output (exit 1), so no data leaves unrecorded."""
    record = AuditRecord(
        event=AuditEvent.AUDIT_READ,
        at=rfc3339(dt.datetime.now(dt.UTC)),
        relay=config.agency,
        outcome=command,
        count=count,
    )
    try:
        store.audit_append([record])
    except Exception as exc:  # noqa: BLE001 - the driver's text may echo the URL or data
        raise CommandError(
            f"relay audit: {command}: cannot record the read ({type(exc).__name__})", 1
        ) from None
