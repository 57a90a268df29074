"""The sharing policy as frozen values (see README, "Policy reference")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from relay.core.model import AgencyId

if TYPE_CHECKING:
    from relay.core.policy.match import CompiledRules

__all__ = [
    "Action",
    "Detector",
    "Level",
    "Partner",
    "PatternSet",
    "Policy",
    "Scope",
    "Stage",
    "Unit",
]


class Action(StrEnum):
    FORWARD = "forward"
    REDACT = "redact"
    BLOCK = "block"


class Level(IntEnum):
    """Marking levels, ordered. Classified markings are never a level: they block."""

    UNCLASSIFIED = 0  # (U)
    CONTROLLED = 1  # (U//FOUO), (U//LES), (U//SBU), (CUI) and CUI Basic categories
    SPECIFIED = 2  # CUI Specified (SP-...) or any limited-dissemination control


class Scope(StrEnum):
    TEXT = "text"
    FILES = "files"


class Stage(StrEnum):
    WHOLE_MESSAGE = "whole_message"  # before the tearline and portion marks (classified spills)
    RELEASED = "released"  # what survives the tearline and the partner's marking ceiling


class Unit(StrEnum):
    LINE = "line"
    MATCH = "match"


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternSet:
    name: str
    regexes: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    case_sensitive: bool = False
    dob_under_age: int | None = None  # matches a date of birth younger than this at `now`
    # Look-alikes: a match is not one when the text just before it (``unless_before``, a
    # regex matched at the end of the 48 characters before), just after it (``unless_after``,
    # matched at the start of what follows) or around it (``unless_near``, within 60
    # characters either side) says it is something else: "certificate of deposit (CD No.
    # 2231)", "C.I. Auto Parts", "stolen prescription stock".
    unless_before: str = ""
    unless_after: str = ""
    unless_near: str = ""
    # ``across_lines``: also matched over the whole message read as one text (blocks joined
    # by a space), for a caveat typed over two chat lines ("pls dont" / "fwd this one").
    across_lines: bool = False
    # ``list_letters``: a lone letter in parentheses ("(C)") is a list label, not a match,
    # when the letter before it ("(B)") stands in parentheses earlier in the message.
    list_letters: bool = False
    # ``unless_quoted``: a match inside a quotation opened after a reporting verb (``an
    # email saying "do not forward this"``) is someone else's words, not the author's.
    unless_quoted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Detector:
    id: str
    action: Action  # STRIP is expressed as REDACT
    # Pattern sets matched on one line: every group must match, a group matches when any of
    # its sets does. ``when: [a, [b, c]]`` in YAML reads "a and (b or c)".
    when: tuple[tuple[str, ...], ...]
    context: tuple[str, ...] = ()  # at least one must match somewhere in the released message
    min_distinct: int = 1  # distinct matches of when[0] across the message
    scope: frozenset[Scope] = frozenset({Scope.TEXT, Scope.FILES})
    stage: Stage = Stage.RELEASED
    unit: Unit = Unit.LINE  # LINE: the unit of removal (a sentence, a template line, a row)
    replacement: str = ""
    # The rule id under which people bound to this detector's matches (a source, an
    # undercover officer) are removed wherever the message mentions them; "" for none.
    protects: str = ""
    # A supervisor may release what this detector stops (issue 16); never for the rule
    # families of :data:`relay.core.policy.review.NEVER_REVIEWABLE`.
    reviewable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    ori: AgencyId
    name: str
    kind: str
    state: str
    agreement_id: str
    agreement_expires: dt.date
    share: frozenset[str]
    accept: frozenset[str]
    ceiling: Level
    allow_categories: frozenset[str]
    redisseminate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    source: str
    digest: str  # sha256 of the policy text: the version audit records name
    version: str
    ori: AgencyId
    name: str
    state: str
    topics: frozenset[str]
    partners: dict[str, Partner]
    ceiling: Level
    tearline: bool
    link_hosts: tuple[str, ...]
    file_types: frozenset[str]
    bots: frozenset[str]
    min_words: int
    cancellations: str  # "mark" the received BOLO cancelled, or "delete" it
    pattern_sets: dict[str, PatternSet]
    detectors: tuple[Detector, ...]
    rules: CompiledRules  # pattern sets compiled once at load
    # "strip": a source's identity is removed and the rest goes; "block": such a message
    # does not go at all.
    on_source_identity: str = "strip"
    # Languages the rules are written for: a unit in any other language cannot be judged
    # and blocks (``language_not_covered``).
    languages: frozenset[str] = frozenset({"en"})
    # A partner's reply whose thread this agency never received: "post" it with a line
    # saying so, or "withhold" it.
    orphan_replies: str = "post"
    # How partners' posts are signed here: "officer" (agency and officer's name) or
    # "agency_only" (for agencies that do not show other agencies' officers' names).
    attribution: str = "officer"
    # The text in photos (issue 17): "checked" (read by OCR and judged as the message's own
    # text; a photo that cannot be read is withheld) or "not_checked" (photos go unread).
    photo_text: str = "checked"
    # Words the OCR read with low confidence (handwriting, blur): "blackout" (painted over
    # like stripped text) or "withhold" (the photo does not leave).
    photo_text_unreadable: str = "blackout"

    @property
    def ref(self) -> str:
        """``ORI@`` and the first 12 hex of ``digest``: how hops and audit records name the
        policy a decision was made under."""
        return f"{self.ori}@{self.digest[:12]}"
