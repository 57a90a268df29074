"""Portion marks, banner lines and tearlines (domain brief §4, §6 steps 2-3).

A portion mark opens a line: ``(U)``, ``(U//LES)``, ``(CUI)``, ``(CUI//SP-INF)``. A banner is a
whole line of marking: ``UNCLASSIFIED//LAW ENFORCEMENT SENSITIVE``, ``CUI//SP-INF``. Classified
marks are not handled here: the classified detectors block them before this step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from relay.core.policy.model import Level, Partner

__all__ = [
    "UNKNOWN_MARK",
    "Mark",
    "is_tearline",
    "line_portions",
    "parse_banner",
    "parse_portion",
    "portion_text",
    "releasable",
    "render_banner",
]

# A portion mark opens a line, possibly after list, quote or emoji markers a client or an
# officer put in front of it ("- (U//LES)", "> (U//LES)", ":warning: (CUI//SP-INV)"); any case
# ("(u//les)"); single or double slashes, or backslashes and pipes typed for them.
_PREFIX: Final = (
    r"^(?:\s|&gt;|:[a-z0-9_+ -]+:|\d+[.)]|[A-Za-z][\w /]{0,24}:\s|[(\[]?[a-z][)\]]\s"
    r"|[A-Z][.)]\s|[ivx]{1,4}[.)]\s|#\d+\s|[^\w\s(\[:&])*"
)
_PORTION: Final = re.compile(_PREFIX + r"[(\[]([A-Za-z][A-Za-z ]*(?:[/\\|]{1,2}[^)\]]*)?)[)\]]")
# A portion mark elsewhere on a line: after the end of a sentence, a comma or a dash ("(ADW).
# (CUI//SP-CHRI) Arrests: ..."), or closing the line ("... (nolle). (CUI//SP-CHRI)"); in
# parentheses or square brackets; or closing a sentence ("... in 2009 (CUI//SP-CHRI). Vehicle").
# Only a body with a slash or a bare "CUI"/"U" in capitals.
_ANY_PORTION: Final = re.compile(
    r"(?:(?<=[.!?;,]\s)|(?<=\s-\s))[(\[]([A-Za-z][A-Za-z ]*(?:[/\\|]{1,2}[^)\]]*))[)\]]"
    r"|(?<=\s)[(\[]([A-Za-z][A-Za-z ]*[/\\|]{1,2}[^)\]]*|CUI|U)[)\]](?:\W*$|(?=[.!?;]\s))"
    r"|(?:(?<=[.!?;]\s)|(?<=\s-\s))[(\[](CUI|U)[)\]]"
)
_LEAD: Final = re.compile(_PREFIX)
# Tokens that look like a mark; one the parser cannot read blocks (fail closed).
_MARK_HEAD: Final = re.compile(
    r"^(?:U|CUI|C|S|TS|FOUO|LES|SBU|UNCLASSIFIED|CONFIDENTIAL|SECRET|TOP SECRET|CONTROLLED)"
    r"(?:/|$)",
    re.IGNORECASE,
)
_BANNER: Final = re.compile(r"^(?:UNCLASSIFIED|CUI|CONTROLLED|U)(?://[A-Z0-9 /,-]*)?$")
_TEARLINE: Final = re.compile(
    r"^\W*(?:(?:BEGIN|START|END|OPEN)\W+)?TEAR[\s-]?LINE\b(?:[\W_]+(?:RELEASABLE|RELEASE|REL|"
    r"BELOW|FOR|TO|THE|PUBLIC|LAW|ENFORCEMENT|LE|LEA|PARTNERS?|AGENCIES|ALL|DISSEMINATION|WIDER|"
    r"AUDIENCE|USA|STATE|LOCAL|TRIBAL|TERRITORIAL|FEDERAL|AND|SLTT|OFFICIALS|BEGINS|STARTS|HERE)\b"
    r"|\s*[(\[][A-Za-z]{1,5}(?:/{1,2}[A-Za-z -]{1,30})*[)\]])*\W*$",  # "TEARLINE (U//LES)"
    re.IGNORECASE,
)
_LEGACY: Final = {
    "FOUO": "FOUO",
    "LES": "LES",
    "SBU": "SBU",
    "FOR OFFICIAL USE ONLY": "FOUO",
    "LAW ENFORCEMENT SENSITIVE": "LES",
    "SENSITIVE BUT UNCLASSIFIED": "SBU",
}
_LIMITED: Final = (
    "NOFORN",
    "FED ONLY",
    "FEDCON",
    "NOCON",
    "DL ONLY",
    "DISPLAY ONLY",
    "REL TO",
    "ORCON",
    "NF",
)
_CATEGORY: Final = re.compile(r"^(SP-)?([A-Z][A-Z0-9]{1,11})$")
# Specified categories (domain brief §4): specified even when "SP-" was left out ("(CUI//CHRI)")
_SPECIFIED: Final = frozenset({"INF", "CHRI", "WIT", "HLTH", "INV"})
# After a single slash, a control: two capitals or a known control in any case ("u/les")
_CONTROL_AFTER_SLASH: Final = re.compile(
    r"/\s?(?:[A-Z]{2}|(?i:les|fouo|sbu|sp-|nf\b|noforn|orcon|fed|rel\b|dl\b|nocon|inf\b|chri|"
    r"wit\b|hlth|inv\b|juv|scv|prior|lei\b|lvic|cvic|display))"
)
_SOURCE_ABBREVIATION: Final = re.compile(r"^\s*[Cc]\s?/\s?[IiSsWw]\s*$")
# One letter after a single slash is report shorthand, not a control: "(U/K)" unknown,
# "(S/B)" southbound, "(N/B)", "(U/C)". A sloppy single slash reads as a mark only before a
# control of two letters or more ("(U/LES)", "(CUI/SP-INF)").
_SHORTHAND: Final = re.compile(r"^\s*[A-Za-z]{1,2}\s?/\s?[A-Za-z]\s*$")
_LEGACY_BANNER: Final = {
    "FOUO": "UNCLASSIFIED//FOR OFFICIAL USE ONLY",
    "LES": "UNCLASSIFIED//LAW ENFORCEMENT SENSITIVE",
    "SBU": "UNCLASSIFIED//SENSITIVE BUT UNCLASSIFIED",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    level: Level
    family: str  # "U" (legacy, incl. FOUO/LES) or "CUI"
    controls: tuple[str, ...] = ()  # legacy controls, or CUI basic categories
    specified: tuple[str, ...] = ()  # CUI specified categories, "SP-" prefix removed
    limited: tuple[str, ...] = ()  # limited dissemination controls

    @property
    def rank(self) -> tuple[int, int, int]:
        return (
            int(self.level),
            len(self.specified) + len(self.limited),
            1 if self.family == "CUI" else 0,
        )


UNKNOWN_MARK: Final = Mark(level=Level.SPECIFIED, family="?", limited=("UNKNOWN",))


def _parse(body: str) -> Mark | None:
    """Parse a marking body such as ``U//LES`` or ``CUI//SP-INF/SP-CHRI//NOFORN``.

    Returns None when ``body`` is not a marking at all, UNKNOWN_MARK when it looks like one the
    relay does not understand (which blocks: fail closed).
    """
    body = body.split(" - ", 1)[0]  # "UNCLASSIFIED//LES - NOT FOR PUBLIC RELEASE": a remark
    if _SOURCE_ABBREVIATION.match(body) or _SHORTHAND.match(body):
        return None  # "(C/I) #5521", "(C/S)": a source's abbreviation, not a mark
    body = body.replace("\\", "/").replace("|", "/")  # "(CUI\\SP-INF)", "(U|LES)"
    if "//" not in body and "/" in body and not _CONTROL_AFTER_SLASH.search(body):
        return None  # "(c/o Ruiz Towing)", "(U/K, partial 7GH)": shorthand, not a mark
    body = body.upper()
    if "//" not in body and "/" in body:  # "(U/LES)": a sloppy single slash
        body = body.replace("/", "//", 1)
    parts = [p.strip() for p in body.split("//")]
    head, rest = parts[0], [p for p in parts[1:] if p]
    if head in ("U", "UNCLASSIFIED"):
        controls: list[str] = []
        limited: list[str] = []
        for part in rest:
            for item in (x.strip() for x in part.split("/")):
                if item in _LEGACY:
                    controls.append(_LEGACY[item])
                elif any(item.startswith(x) for x in _LIMITED):
                    limited.append(item)
                else:
                    return UNKNOWN_MARK
        level = (
            Level.SPECIFIED if limited else (Level.CONTROLLED if controls else Level.UNCLASSIFIED)
        )
        return Mark(level=level, family="U", controls=tuple(controls), limited=tuple(limited))
    if head in _LEGACY and not rest:
        return Mark(level=Level.CONTROLLED, family="U", controls=(_LEGACY[head],))
    if head in ("CUI", "CONTROLLED"):
        basic: list[str] = []
        specified: list[str] = []
        limited = []
        for part in rest:
            for item in (x.strip() for x in part.split("/")):
                if any(item.startswith(x) for x in _LIMITED):
                    limited.append(item)
                    continue
                m = _CATEGORY.match(item)
                if m is None:
                    return UNKNOWN_MARK
                spec = m.group(1) or m.group(2) in _SPECIFIED
                (specified if spec else basic).append(m.group(2))
        level = Level.SPECIFIED if specified or limited else Level.CONTROLLED
        return Mark(
            level=level,
            family="CUI",
            controls=tuple(basic),
            specified=tuple(specified),
            limited=tuple(limited),
        )
    # "(W/M, 30s, red beard)" is a description, not a mark: only a marking head the relay
    # does not understand ("(U//XYZ)" is handled above) fails closed
    return UNKNOWN_MARK if rest and _MARK_HEAD.match(head + "/") else None


def _looks_marked(body: str) -> bool:
    """A body the parser could not read that still looks like a mark (fail closed): a marking
    head, then a control after the slash (not "c/o Ruiz", "U/K name")."""
    if "/" not in body or not _MARK_HEAD.match(body.strip()):
        return False
    return "//" in body or _CONTROL_AFTER_SLASH.search(body) is not None


def parse_portion(folded: str) -> tuple[Mark, int] | None:
    """The portion mark that opens a line, and where the mark ends; None if unmarked."""
    m = _PORTION.match(folded)
    if m is None:
        return None
    body = m.group(1)
    if _SOURCE_ABBREVIATION.match(body) or _SHORTHAND.match(body):
        return None
    mark = _parse(body)
    if mark is None and _looks_marked(body):
        mark = UNKNOWN_MARK
    return (mark, m.end()) if mark is not None else None


def line_portions(folded: str) -> list[tuple[int, int, Mark]]:
    """Every portion mark on a line: the one that opens it (see ``parse_portion``), those
    after a sentence's end and one that closes the line; (start, end, mark) in order."""
    out: list[tuple[int, int, Mark]] = []
    first = parse_portion(folded)
    if first is not None:
        lead = _LEAD.match(folded)
        out.append((lead.end() if lead else 0, first[1], first[0]))
    if "(" not in folded[1:] and "[" not in folded[1:]:
        return out
    for m in _ANY_PORTION.finditer(folded):
        if out and m.start() < out[-1][1]:
            continue
        body = m.group(1) or m.group(2) or m.group(3) or ""
        if _SOURCE_ABBREVIATION.match(body) or _SHORTHAND.match(body):
            continue
        mark = _parse(body)
        if mark is None and _looks_marked(body):
            mark = UNKNOWN_MARK
        if mark is not None:
            out.append((m.start(), m.end(), mark))
    return out


def may_carry_mark(folded: str) -> bool:
    """Cheap: could this line hold a portion mark (see ``line_portions``)?"""
    head = folded[:48]
    if "(" in head or "[" in head:
        return True
    slash = "/" in folded or "\\" in folded or "|" in folded
    return ("(" in folded or "[" in folded) and (slash or "U)" in folded or "U]" in folded)


_SLASHES: Final = re.compile(r"\s*/\s*/\s*")
_BANNER_ANY_CASE: Final = re.compile(r"^(?i:unclassified|cui|controlled|u)\s*(?://|$)")


def parse_banner(folded: str) -> Mark | None:
    line = folded.strip()
    if _BANNER_ANY_CASE.match(line):
        # "CUI // SP-INF", "cui//sp-inf": the same banner however it was typed
        line = _SLASHES.sub("//", line).upper()
    if not _BANNER.match(line) or line == "U":
        return None
    return _parse(line)


def is_tearline(folded: str) -> bool:
    return bool(_TEARLINE.match(folded))


def releasable(mark: Mark, partner: Partner | None, ceiling: Level) -> bool:
    """May a line with this mark go to the partner (or, with no partner, under ``ceiling``)?"""
    limit = partner.ceiling if partner is not None else ceiling
    if mark is UNKNOWN_MARK:
        return False
    if mark.level <= limit:
        return True
    if mark.level is Level.SPECIFIED and not mark.limited and partner is not None:
        return set(mark.specified) <= partner.allow_categories
    return False


_NOT_IN_CLAIM: Final = re.compile(r"[^A-Z0-9 /_.-]+")


def portion_text(mark: Mark) -> str:
    """The mark as a portion mark's body (``U//LES``, ``CUI//SP-INF//NOFORN``): the envelope's
    ``marking`` claim. Characters the claim cannot hold (the comma of ``REL TO USA, FVEY``)
    become a space; a text over 64 characters is left long, so the envelope refuses it."""
    if mark.family == "CUI":
        parts = ["CUI"]
        cats = [*(f"SP-{c}" for c in mark.specified), *mark.controls]
    else:
        parts = ["U"]
        cats = list(mark.controls)
    if cats:
        parts.append("/".join(cats))
    if mark.limited:
        parts.append("/".join(mark.limited))
    text = "//".join(parts)
    return " ".join(_NOT_IN_CLAIM.sub(" ", text).split())


def render_banner(mark: Mark) -> str:
    if mark.family == "CUI":
        parts = ["CUI"]
        cats = [*(f"SP-{c}" for c in mark.specified), *mark.controls]
        if cats:
            parts.append("/".join(cats))
        if mark.limited:
            parts.append("/".join(mark.limited))
        return "//".join(parts)
    if mark.controls:
        return _LEGACY_BANNER.get(mark.controls[0], "UNCLASSIFIED")
    return "UNCLASSIFIED"
