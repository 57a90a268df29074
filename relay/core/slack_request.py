"""A request Slack signed, checked as bytes before anything reads it: the signing headers as
bounded ASCII, the timestamp as a bounded integer inside the window, the v0 HMAC-SHA256 in
constant time; then the body as strict JSON (an Events API body) or as the ``payload`` form
field (interactivity, slash commands' kin). Pure: the secret, the headers, the body and the
time are passed in; every refusal is a :class:`~relay.core.reasons.Reason`.

slack-sdk's ``SignatureVerifier`` is not used: it takes ``str.isdigit()`` digits (``"¹²³"``
passes, then ``int()`` fails), any number of them, and compares ``str`` signatures with
``hmac.compare_digest``, which raises on non-ASCII text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Final
from urllib.parse import parse_qs

from relay.core.json_strict import DEFAULT_MAX_DEPTH, JsonRefused, loads_strict
from relay.core.reasons import Reason

__all__ = [
    "MAX_SIGNATURE_HEADER",
    "MAX_TIMESTAMP_DIGITS",
    "WINDOW_SECONDS",
    "check_signature",
    "form_payload",
    "parse_timestamp",
]

WINDOW_SECONDS: Final = 300  # Slack's replay window: five minutes either way
MAX_TIMESTAMP_DIGITS: Final = 12  # POSIX seconds until the year 33658
MAX_SIGNATURE_HEADER: Final = 128  # "v0=" and 64 hex digits, with room for a later version
_TIMESTAMP: Final = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}")
_SIGNATURE: Final = re.compile(r"v0=[0-9a-f]{64}")
_MAX_FORM_FIELDS: Final = 32


def parse_timestamp(value: str | None) -> int | None:
    """The header's POSIX seconds: 1 to 12 ASCII digits, nothing else (no sign, no space, no
    superscript or other Unicode digits); None otherwise."""
    if value is None or len(value) > MAX_TIMESTAMP_DIGITS or not _TIMESTAMP.fullmatch(value):
        return None
    return int(value)


def check_signature(
    secret: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
) -> Reason | None:
    """None when ``signature`` is Slack's v0 signature of ``body`` at ``timestamp`` and the
    timestamp is within :data:`WINDOW_SECONDS` of ``now``; else ``timestamp_invalid``,
    ``timestamp_skewed`` or ``signature_invalid``. Header values are the raw header strings
    (None when absent)."""
    ts = parse_timestamp(timestamp)
    if ts is None:
        return Reason.TIMESTAMP_INVALID
    if abs(now - ts) > WINDOW_SECONDS:
        return Reason.TIMESTAMP_SKEWED
    if (
        signature is None
        or len(signature) > MAX_SIGNATURE_HEADER
        or not _SIGNATURE.fullmatch(signature)
    ):
        return Reason.SIGNATURE_INVALID
    assert timestamp is not None  # noqa: S101 - parse_timestamp said so
    base = b"v0:" + timestamp.encode("ascii") + b":" + body  # the header as sent, not int()
    mac = hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(("v0=" + mac).encode("ascii"), signature.encode("ascii")):
        return Reason.SIGNATURE_INVALID
    return None


def form_payload(
    body: bytes, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """The JSON object in the ``payload`` field of a form-encoded body (what Slack posts to
    an interactivity URL), read as strictly as an Events API body: the form as strict
    UTF-8 with one ``payload`` field, the field as strict JSON. Raises
    :class:`~relay.core.json_strict.JsonRefused`."""
    if len(body) > max_bytes:
        raise JsonRefused(Reason.TOO_LARGE)
    try:
        text = body.decode("ascii")  # form encoding: anything else arrives percent-encoded
        fields = parse_qs(
            text,
            strict_parsing=True,
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise JsonRefused(Reason.ENCODING_INVALID) from None
    except ValueError:  # a malformed pair, too many fields (UnicodeDecodeError handled above)
        raise JsonRefused(Reason.BAD_REQUEST) from None
    values = fields.get("payload", [])
    if len(values) != 1:
        raise JsonRefused(Reason.DUPLICATE_KEY if values else Reason.BAD_REQUEST)
    doc = loads_strict(values[0].encode("utf-8"), max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(doc, dict):
        raise JsonRefused(Reason.MALFORMED)
    return doc
