"""A relay's store and queue tuning from ``relay.yaml`` (for :func:`relay.assemble.assemble`)."""

from __future__ import annotations

from pathlib import Path

from relay.config import ConfigLoadError, RelayConfig
from relay.core.backoff import Backoff
from relay.flow.queues import QueueTuning
from relay.store.contract import Store
from relay.store.open import open_store

__all__ = ["open_store_from_config", "tuning_from_config"]


def tuning_from_config(config: RelayConfig) -> QueueTuning:
    d = config.delivery
    return QueueTuning(
        lease=d.lease,
        batch=d.batch,
        poll=d.poll,
        backoff=Backoff(base=d.retry_base, cap=d.retry_cap, max_age=d.max_age.total_seconds()),
    )


def open_store_from_config(config: RelayConfig) -> Store:
    try:
        return open_store(config.store, base_dir=Path(config.source).parent)
    except ValueError as exc:
        raise ConfigLoadError(config.source, [(1, f"store: {exc}")]) from None
    except Exception as exc:  # noqa: BLE001 - driver text may echo the URL and its password
        raise ConfigLoadError(
            config.source, [(1, f"store: cannot open ({type(exc).__name__})")]
        ) from None
