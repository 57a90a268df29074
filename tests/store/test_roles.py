"""The role protocols: ``Store`` is exactly their union, and the backends fill every role."""

from __future__ import annotations

from relay.store import contract
from relay.store.base import SqlStore
from relay.store.contract import ROLES, Store, role_methods


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_each_store_method_belongs_to_exactly_one_role() -> None:
    declared = [name for role in ROLES for name in role_methods(role)]
    assert len(declared) == len(set(declared)), "a method is in two roles"
    assert set(declared) == _public(Store)


def test_every_role_is_a_base_of_store_and_exported() -> None:
    for role in ROLES:
        assert role in Store.__mro__
        assert role.__name__ in contract.__all__


def test_sql_store_implements_every_role_method() -> None:
    for role in ROLES:
        for name in role_methods(role):
            assert callable(getattr(SqlStore, name, None)), name


def test_backends_satisfy_each_role_statically(store: SqlStore) -> None:
    inbox: contract.Inbox = store
    outbox: contract.Outbox = store
    inbound: contract.InboundQueue = store
    leases: contract.Leases = store
    posts: contract.PostMap = store
    blobs: contract.Blobs = store
    audit: contract.AuditLog = store
    refusals: contract.Refusals = store
    admin: contract.Admin = store
    lifecycle: contract.Lifecycle = store
    assert {id(x) for x in (inbox, outbox, inbound, leases, posts, blobs)} == {id(store)}
    assert {id(x) for x in (audit, refusals, admin, lifecycle)} == {id(store)}
