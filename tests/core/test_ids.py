"""One pattern per identifier (relay/core/ids.py), the same everywhere it is checked."""

from __future__ import annotations

import pytest

from relay.core import ids, keys, model
from relay.core.audit import AuditEvent, AuditRecord
from relay.core.envelope import EnvelopeId
from relay.metrics import OTHER, ori

KID_64 = "CT9990100#" + "k" * 64


def test_old_names_are_the_same_types():
    assert model.AgencyId is ids.AgencyId
    assert model.ChannelId is ids.ChannelId
    assert keys.KeyId is ids.KeyId
    assert keys.ORI_PATTERN is ids.ORI_PATTERN
    assert EnvelopeId is ids.EnvelopeId


@pytest.mark.parametrize("value", ["CT9990100", "NY99903AB"])
def test_ori(value):
    assert ids.is_ori(value)
    assert ori(value) == value


@pytest.mark.parametrize("value", ["ct9990100", "CT999010", "CT99901000", "CT9990100\n", 7, None])
def test_not_ori(value):
    assert not ids.is_ori(value)
    assert ori(value if isinstance(value, str) else None) == OTHER


def test_kid_suffix_up_to_64_everywhere():
    assert ids.is_kid(KID_64)
    assert not ids.is_kid(KID_64 + "k")
    assert not ids.is_kid("CT9990100#")
    assert not ids.is_kid("CT9990100#a b")
    AuditRecord(
        event=AuditEvent.SIGN,
        at="2026-01-01T00:00:00.000000Z",
        relay="CT9990100",
        outcome="ok",
        kid=KID_64,
    )


def test_keygen_still_makes_suffixes_of_at_most_32():
    assert keys.make_kid("CT9990100", "k" * 32) == "CT9990100#" + "k" * 32
    with pytest.raises(ValueError, match="1-32"):
        keys.make_kid("CT9990100", "k" * 33)


def test_envelope_and_channel_ids():
    assert ids.is_envelope_id("CT9990100.CHAVE03.1796545597.268231")
    assert not ids.is_envelope_id("a/b")
    assert not ids.is_envelope_id("x" * 129)
    assert ids.is_channel_id("C0BOLO0001")
    assert ids.is_channel_id("G12")
    assert not ids.is_channel_id("D0BOLO0001")
    assert not ids.is_channel_id("C1")
