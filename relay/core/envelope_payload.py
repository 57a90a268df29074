"""The envelope's signed payload: who sent it to whom, what kind, which topic and marking, by
whom, and the digests of its disclosures; read from JCS by one regex or member by member.

Payload (JCS, every member from this allowlist; ``aud``, ``onward``, ``thread`` and ``target``
optional)::

    {"iss": "CT9990100", "aud": "NY0300000", "onward": false,
     "jti": "<envelope id>", "iat": 1760000000, "exp": 1760086400,
     "kind": "post" | "edit" | "delete" | "cancel", "topic": "bolo", "marking": "U//LES",
     "author": {"name": "Det. A. Smith", "agency": "CT9990100"},
     "thread": "<envelope id of the thread root>", "target": "<envelope id edited/deleted>",
     "_sd_alg": "sha-256", "_sd": ["<digest>", ...]}

``marking`` is the highest portion mark among the lines the origin sent (``U//LES``,
``CUI//SP-INV``), absent when none of them is marked.

``aud`` is the partner the origin sent the envelope to and ``onward`` says whether that partner
may pass it on to its own partners: both are signed by the origin, so no relay can change who
the envelope was meant for or lift the origin's "no further dissemination".

Both may be left out, failing closed: without ``aud`` the envelope is addressed to no one (a
receiver that names itself refuses it, ``not_addressed``, and no hop can be added to it), and
without ``onward`` it may not be passed on (``onward`` is ``false``). When present they must
have their types (``malformed`` otherwise, even ``0``/``1`` for ``onward``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from json.encoder import encode_basestring as _quote
from re import Pattern
from typing import Final

from relay.core.allowlist import Fields, malformed
from relay.core.canonical import JSONValue
from relay.core.envelope_codec import parse_canonical
from relay.core.envelope_wire import MAX_DISCLOSURES, boolean, text_member
from relay.core.ids import ENVELOPE_ID_PATTERN, EnvelopeId
from relay.core.keys import ORI_PATTERN
from relay.core.model import AgencyId
from relay.core.sdjwt import SD_ALG

__all__ = [
    "ENVELOPE_ID_PATTERN",
    "Author",
    "EnvelopeId",
    "EnvelopeKind",
    "Payload",
    "parse_payload",
    "payload_from_jcs",
    "payload_from_json",
    "payload_jcs_text",
]

_TOPIC: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
_MARKING: Final = re.compile(r"[A-Z0-9][A-Z0-9 /_.-]{0,63}")
_DIGEST_LIST: Final = re.compile(r"[A-Za-z0-9_-]{43}(?:,[A-Za-z0-9_-]{43})*")
_MAX_NAME: Final = 200


class EnvelopeKind(StrEnum):
    POST = "post"
    EDIT = "edit"
    DELETE = "delete"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Author:
    name: str
    agency: AgencyId


@dataclass(frozen=True, slots=True, kw_only=True)
class Payload:
    iss: AgencyId
    aud: AgencyId | None  # the partner the origin addressed (first signer after it, or receiver)
    onward: bool  # may ``aud`` pass the envelope on (false when the member is absent)
    jti: EnvelopeId
    iat: int
    exp: int
    kind: EnvelopeKind
    topic: str
    marking: str | None  # the highest surviving portion mark; None: the message is unmarked
    author: Author
    thread: EnvelopeId | None
    target: EnvelopeId | None
    sd: tuple[str, ...]
    broadcast: bool = False  # a thread reply also sent to the channel

    def to_json(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {
            "iss": self.iss,
            "onward": self.onward,
            "jti": self.jti,
            "iat": self.iat,
            "exp": self.exp,
            "kind": self.kind.value,
            "topic": self.topic,
            "author": {"name": self.author.name, "agency": self.author.agency},
            "_sd_alg": SD_ALG,
            "_sd": list(self.sd),
        }
        if self.aud is not None:
            out["aud"] = self.aud
        if self.marking is not None:
            out["marking"] = self.marking
        if self.thread is not None:
            out["thread"] = self.thread
        if self.target is not None:
            out["target"] = self.target
        if self.broadcast:
            out["broadcast"] = True
        return out


_PAYLOAD_FIELDS: Final = frozenset({
    "iss", "aud", "onward", "jti", "iat", "exp", "kind", "topic", "marking", "author",
    "thread", "target", "_sd_alg", "_sd", "broadcast",
})  # fmt: skip
_AUTHOR_FIELDS: Final = frozenset({"name", "agency"})
_KINDS: Final = {kind.value: kind for kind in EnvelopeKind}


def parse_payload(raw: bytes) -> Payload:
    """Rebuild the payload from its allowlist; ``unknown_field`` / ``malformed`` otherwise."""
    try:
        payload = payload_from_jcs(raw.decode("utf-8"))
    except UnicodeDecodeError:
        payload = None
    return payload or payload_from_json(parse_canonical(raw, where="payload"))


def _quoted(pattern: Pattern[str]) -> str:
    return f'"((?:{pattern.pattern}))"'


# The JCS text of every payload that payload_from_jcs accepts: members in UTF-16 order, the
# strings of the patterns below (no character JCS escapes) or, for author.name, non-control
# characters with ``\"`` and ``\\`` (JCS's only escapes of such text), integers of at most
# 15 digits (so within 2**53 - 1) with no sign, fraction or leading zero.
_UNESCAPE: Final = re.compile(r'\\(["\\])')
_DIGEST_ITEM: Final = r'"[A-Za-z0-9_-]{43}"'
_PAYLOAD_JCS: Final = re.compile(
    rf'\{{"_sd":\[((?:{_DIGEST_ITEM}(?:,{_DIGEST_ITEM})*)?)\],"_sd_alg":"sha-256"'
    rf'(?:,"aud":{_quoted(ORI_PATTERN)})?'
    rf',"author":\{{"agency":{_quoted(ORI_PATTERN)},"name":"((?:[^"\\\x00-\x1f\x7f]|\\["\\])+)"\}}'
    r'(?:,"broadcast":(true))?'
    r',"exp":(0|[1-9][0-9]{0,14}),"iat":(0|[1-9][0-9]{0,14})'
    rf',"iss":{_quoted(ORI_PATTERN)},"jti":{_quoted(ENVELOPE_ID_PATTERN)}'
    rf',"kind":"({"|".join(kind.value for kind in EnvelopeKind)})"'
    rf'(?:,"marking":{_quoted(_MARKING)})?(?:,"onward":(true|false))?'
    rf'(?:,"target":{_quoted(ENVELOPE_ID_PATTERN)})?(?:,"thread":{_quoted(ENVELOPE_ID_PATTERN)})?'
    rf',"topic":{_quoted(_TOPIC)}\}}'
)


def payload_jcs_text(payload: Payload) -> str | None:
    """The JCS text of ``payload.to_json()`` if its members have their exact types, else None.

    Written directly rather than through ``json`` (a third of the cost); the builder accepts it
    only if ``payload_from_jcs`` reads ``payload`` back from it, so a member that this writes
    differently from JCS can only send the builder down its exact path.
    """
    p, author = payload, payload.author
    strings = (p.iss, p.jti, p.topic, author.name, author.agency, *p.sd)
    optional = (p.aud, p.thread, p.target, p.marking)
    types = (type(p.iat), type(p.exp), type(p.onward), type(p.kind), type(p.broadcast))
    if (
        not all(type(item) is str for item in strings)
        or not all(item is None or type(item) is str for item in optional)
        or types != (int, int, bool, EnvelopeKind, bool)
    ):
        return None
    sd = '"' + '","'.join(p.sd) + '"' if p.sd else ""
    return "".join(
        (
            f'{{"_sd":[{sd}],',
            f'"_sd_alg":"{SD_ALG}",',
            "" if p.aud is None else f'"aud":"{p.aud}",',
            f'"author":{{"agency":"{author.agency}","name":{_quote(author.name)}}},',
            '"broadcast":true,' if p.broadcast else "",
            f'"exp":{p.exp},"iat":{p.iat},"iss":"{p.iss}","jti":"{p.jti}",',
            f'"kind":"{p.kind.value}",',
            "" if p.marking is None else f'"marking":"{p.marking}",',
            f'"onward":{"true" if p.onward else "false"},',
            "" if p.target is None else f'"target":"{p.target}",',
            "" if p.thread is None else f'"thread":"{p.thread}",',
            f'"topic":"{p.topic}"}}',
        )
    )


def payload_from_jcs(text: str) -> Payload | None:
    """``parse_payload`` for the usual payload, by one regex; None: take the exact path.

    A match is JCS text (see ``_PAYLOAD_JCS``) whose members have the types and forms
    ``payload_from_json`` requires; the checks across members follow here. Anything else,
    valid or not, gets None, and the exact path accepts it or says what is wrong with it.
    """
    match = _PAYLOAD_JCS.fullmatch(text)
    if match is None:
        return None
    (
        sd_text,
        aud,
        agency,
        name,
        broadcast,
        exp,
        iat,
        iss,
        jti,
        kind,
        marking,
        onward,
        target,
        thread,
        topic,
    ) = match.groups()
    sd = tuple(sd_text[1:-1].split('","')) if sd_text else ()
    if len(sd) > MAX_DISCLOSURES or list(sd) != sorted(set(sd)):
        return None
    if "\\" in name:
        name = _UNESCAPE.sub(r"\1", name)  # tokens read from the left, as the regex matched
    if len(name) > _MAX_NAME or int(exp) <= int(iat):
        return None
    payload = Payload(
        iss=AgencyId(iss),
        aud=None if aud is None else AgencyId(aud),
        onward=onward == "true",
        jti=EnvelopeId(jti),
        iat=int(iat),
        exp=int(exp),
        kind=_KINDS[kind],
        topic=topic,
        marking=marking,
        author=Author(name=name, agency=AgencyId(agency)),
        thread=None if thread is None else EnvelopeId(thread),
        target=None if target is None else EnvelopeId(target),
        sd=sd,
        broadcast=broadcast == "true",
    )
    if (payload.kind is EnvelopeKind.POST) != (target is None):
        return None
    return payload


def payload_from_json(value: JSONValue) -> Payload:
    """The payload's checks on its parsed JSON (``parse_payload`` without the JCS bytes)."""
    fields = Fields(value, where="payload", allowed=_PAYLOAD_FIELDS)
    author = Fields(fields.raw("author"), where="payload.author", allowed=_AUTHOR_FIELDS)
    if fields.raw("_sd_alg") != SD_ALG:
        raise malformed("payload._sd_alg is not sha-256")
    sd = _digests(fields.raw("_sd"))
    if list(sd) != sorted(set(sd)):
        raise malformed("payload._sd is not sorted and unique")
    kind = _KINDS.get(_text(fields, "kind"))
    if kind is None:
        raise malformed("payload.kind is not a known kind")
    payload = Payload(
        iss=AgencyId(_text(fields, "iss", ORI_PATTERN)),
        aud=_optional_ori(fields, "aud"),
        onward=boolean(fields, "onward", where="payload") if fields.has("onward") else False,
        jti=EnvelopeId(_text(fields, "jti", ENVELOPE_ID_PATTERN)),
        iat=fields.integer("iat"),
        exp=fields.integer("exp"),
        kind=kind,
        topic=_text(fields, "topic", _TOPIC),
        marking=_text(fields, "marking", _MARKING) if fields.has("marking") else None,
        author=Author(
            name=text_member(author, "name", where="payload.author", max_len=_MAX_NAME),
            agency=AgencyId(
                text_member(author, "agency", where="payload.author", pattern=ORI_PATTERN)
            ),
        ),
        thread=_optional_id(fields, "thread"),
        target=_optional_id(fields, "target"),
        sd=sd,
        broadcast=_broadcast(fields),
    )
    if payload.exp <= payload.iat:
        raise malformed("payload.exp is not after iat")
    if (payload.kind is EnvelopeKind.POST) != (payload.target is None):
        raise malformed("payload.target is required for edit/delete/cancel, refused for post")
    return payload


def _broadcast(fields: Fields) -> bool:
    """``broadcast`` is written only when true; ``false`` would be a second spelling."""
    if not fields.has("broadcast"):
        return False
    if fields.raw("broadcast") is not True:
        raise malformed("payload.broadcast is present but not true")
    return True


def _digests(value: JSONValue) -> tuple[str, ...]:
    """``Fields.text_list(pattern=DIGEST_PATTERN, max_items=MAX_DISCLOSURES)`` in one regex."""
    if isinstance(value, list) and len(value) <= MAX_DISCLOSURES:
        digests = tuple(item for item in value if isinstance(item, str))
        if len(digests) == len(value) and (
            not digests or _DIGEST_LIST.fullmatch(",".join(digests))
        ):
            return digests
    raise malformed(f"payload._sd is not a list of at most {MAX_DISCLOSURES} digests")


def _text(fields: Fields, key: str, pattern: Pattern[str] | None = None) -> str:
    return text_member(fields, key, where="payload", pattern=pattern)


def _optional_ori(fields: Fields, key: str) -> AgencyId | None:
    return AgencyId(_text(fields, key, ORI_PATTERN)) if fields.has(key) else None


def _optional_id(fields: Fields, key: str) -> EnvelopeId | None:
    return EnvelopeId(_text(fields, key, ENVELOPE_ID_PATTERN)) if fields.has(key) else None
