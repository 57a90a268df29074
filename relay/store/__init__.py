"""Storage adapters behind the store contract in :mod:`relay.store.contract`."""
