"""The envelope's selectively disclosable parts: each message line and each file one
object-property Disclosure, written as claims and read back from them.

Each message line and each file is one object-property Disclosure. Its claim name carries its
position, so the order of lines is signed and a withheld line leaves a visible gap::

    [salt, "line.0", "first line of text"]
    [salt, "file.0", {"mime": "image/jpeg", "sha256": "<64 hex>", "size": 48213}]

The signed payload that lists their digests is :mod:`relay.core.envelope_payload`; its names
are importable from here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from relay.core.allowlist import Fields, malformed
from relay.core.canonical import JSONValue
from relay.core.envelope_payload import (
    ENVELOPE_ID_PATTERN,
    Author,
    EnvelopeId,
    EnvelopeKind,
    Payload,
    parse_payload,
    payload_from_jcs,
    payload_from_json,
    payload_jcs_text,
)
from relay.core.reasons import Reason
from relay.core.sdjwt import Disclosure
from relay.errors import VerificationError

__all__ = [
    "ENVELOPE_ID_PATTERN",
    "Author",
    "DisclosedFile",
    "DisclosedLine",
    "EnvelopeId",
    "EnvelopeKind",
    "FileRef",
    "Payload",
    "check_line",
    "file_claim",
    "line_claim",
    "parse_claim",
    "parse_claims",
    "parse_part",
    "parse_payload",
    "payload_from_jcs",
    "payload_from_json",
    "payload_jcs_text",
]

_PART_NAME: Final = re.compile(r"(line|file)\.(0|[1-9][0-9]{0,3})")
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_MIME: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
MAX_LINE_CHARS: Final = 40_000
MAX_FILE_BYTES: Final = 1 << 40
_FILE_FIELDS: Final = frozenset({"mime", "sha256", "size", "title", "alt"})
_MAX_FILE_TEXT: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRef:
    """A file by content: lowercase hex SHA-256 of its bytes, media type, size in bytes."""

    sha256: str
    mime: str
    size: int
    title: str = ""  # the file's title and alt text as the origin's policy let them go
    alt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosedLine:
    index: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosedFile:
    index: int
    file: FileRef


def line_claim(index: int, text: str) -> tuple[str, JSONValue]:
    """The (claim name, value) of line ``index``."""
    return f"line.{index}", text


def file_claim(index: int, file: FileRef) -> tuple[str, JSONValue]:
    """The (claim name, value) of file ``index``."""
    value: dict[str, JSONValue] = {"mime": file.mime, "sha256": file.sha256, "size": file.size}
    if file.title:
        value["title"] = file.title
    if file.alt:
        value["alt"] = file.alt
    return f"file.{index}", value


def parse_part(disclosure: Disclosure) -> DisclosedLine | DisclosedFile:
    """A decoded Disclosure as a line or a file; any other claim is ``unknown_field``."""
    return parse_claim(disclosure.name, disclosure.value)


def parse_claim(name: str | None, value: JSONValue) -> DisclosedLine | DisclosedFile:
    """``parse_part`` on a Disclosure's claim name (None: array element) and value."""
    if name is None:
        raise malformed("disclosure is an array element, not a line or file")
    part = _part_name(name)
    if part is None:
        raise VerificationError(
            "disclosure claim is not line.N or file.N", code=Reason.UNKNOWN_FIELD
        )
    is_line, index = part
    if is_line:
        return DisclosedLine(index=index, text=check_line(index, value))
    fields = Fields(value, where=f"file.{index}", allowed=_FILE_FIELDS)
    file = FileRef(
        sha256=fields.text("sha256", pattern=_SHA256_HEX),
        mime=fields.text("mime", pattern=_MIME),
        size=fields.integer("size", high=MAX_FILE_BYTES),
        title=fields.text("title", max_len=_MAX_FILE_TEXT) if fields.has("title") else "",
        alt=fields.text("alt", max_len=_MAX_FILE_TEXT) if fields.has("alt") else "",
    )
    return DisclosedFile(index=index, file=file)


def parse_claims(
    claims: Iterable[tuple[str, str | None, JSONValue]],
) -> tuple[list[DisclosedLine], list[DisclosedFile]]:
    """``parse_claim`` of each ``(digest, name, value)``, lines and files apart, in order."""
    lines: list[DisclosedLine] = []
    files: list[DisclosedFile] = []
    for _, name, value in claims:
        part = None if name is None else _part_name(name)
        if part is not None and part[0] and type(value) is str and len(value) <= MAX_LINE_CHARS:
            lines.append(DisclosedLine(index=part[1], text=value))  # parse_claim, inlined
            continue
        found = parse_claim(name, value)
        if isinstance(found, DisclosedLine):
            lines.append(found)
        else:
            files.append(found)
    return lines, files


@lru_cache(maxsize=1024)  # the same few names in every envelope
def _part_name(name: str) -> tuple[bool, int] | None:
    """(is a line, index) of ``line.N`` / ``file.N``; None for any other claim name."""
    match = _PART_NAME.fullmatch(name)
    return None if match is None else (match.group(1) == "line", int(match.group(2)))


def check_line(index: int, text: JSONValue) -> str:
    """The text of line ``index``: a string of at most ``MAX_LINE_CHARS`` (else ``malformed``)."""
    if not isinstance(text, str) or len(text) > MAX_LINE_CHARS:
        raise malformed(f"line.{index} is not a string of at most {MAX_LINE_CHARS}")
    return text
