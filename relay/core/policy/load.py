"""Policy YAML text to a :class:`Policy`, failing closed with ``file:line`` problems.

``load_policy`` takes text, not a path (the caller reads files), and today's date (expired
agreements refuse to load). ``extends: other.yaml`` inherits the rules (patterns, detectors and
defaults, never the agency or partners) of another policy through an injected ``resolve``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Final

from relay.core.model import AgencyId
from relay.core.policy.load_partners import ORI_PATTERN, read_partner
from relay.core.policy.load_rules import read_rules
from relay.core.policy.match import compile_rules
from relay.core.policy.model import Level, Partner, Policy
from relay.core.policy.reader import Reader, read_level
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml
from relay.errors import LoadError, PolicyError

__all__ = ["ORI_PATTERN", "PolicyLoadError", "Resolver", "load_policy"]

_TOPIC: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_HOST: Final = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z0-9-]+$")
_DEFAULT_FILE_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")

Resolver = Callable[[str], tuple[str, str]]  # name -> (text, source)


class PolicyLoadError(LoadError, PolicyError):
    """All problems of one policy file; ``str()`` gives one ``file:line: message`` per line."""


_TOP_KEYS: Final = {
    "version",
    "extends",
    "agency",
    "topics",
    "ceiling",
    "tearline",
    "links",
    "files",
    "bots",
    "substance",
    "partners",
    "patterns",
    "detectors",
    "disable",
    "cancellations",
    "on_source_identity",
    "languages",
    "orphan_replies",
    "attribution",
    "photo_text",
    "photo_text_unreadable",
}
_LANGUAGE: Final = re.compile(r"^[a-z]{2}$")


def load_policy(
    text: str, *, source: str, today: dt.date, resolve: Resolver | None = None
) -> Policy:
    """Load a policy or raise :class:`PolicyLoadError` listing every problem found."""
    problems = Problems()
    doc = parse_yaml(text, problems)
    if doc is None:
        raise PolicyLoadError(source, problems.items)
    root = Reader(doc, "policy", _TOP_KEYS, problems)
    base: Policy | None = None
    extends = root.get("extends", str)
    if extends is not None:
        if resolve is None:
            problems.add(root.line_of("extends"), "'extends' cannot be resolved here")
        else:
            try:
                base_text, base_source = resolve(extends)
                base = load_policy(base_text, source=base_source, today=today, resolve=None)
            except PolicyLoadError as exc:
                problems.add(
                    root.line_of("extends"),
                    f"base policy '{extends}' does not load ({len(exc.problems)} "
                    f"problem(s), first: {exc.lines()[0]})",
                )
            except (OSError, ValueError):
                problems.add(root.line_of("extends"), f"base policy '{extends}' not found")
    agency = Reader(
        root.data.get("agency", Loc(None, root.line)), "agency", {"ori", "name", "state"}, problems
    )
    ori = agency.get("ori", str, required=True)
    if ori is not None and not ORI_PATTERN.match(ori):
        problems.add(agency.line_of("ori"), "agency ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    topics: set[str] = set()
    for topic, line in root.strings("topics", required=True):
        if not _TOPIC.match(topic):
            problems.add(line, f"topic '{topic}' must be lower-case letters, digits, - or _")
        topics.add(topic)
    ceiling = read_level(root, "ceiling", base.ceiling if base else Level.CONTROLLED)
    tearline = root.get("tearline", (str, bool), None)
    if tearline is False:  # YAML 1.1 reads a bare `off` as false
        tearline = "off"
    if tearline not in (None, "release_after_last", "off"):
        problems.add(root.line_of("tearline"), "tearline must be 'release_after_last' or 'off'")
    sub_loc = root.data.get("links")
    links = Reader(sub_loc, "links", {"allow_hosts"}, problems) if sub_loc else None
    hosts = [(h.lower(), ln) for h, ln in links.strings("allow_hosts")] if links else []
    for host, line in hosts:
        if not _HOST.match(host):
            problems.add(line, "allow_hosts entries must be host names")
    files_loc = root.data.get("files")
    files = Reader(files_loc, "files", {"allow_types"}, problems) if files_loc else None
    bots_loc = root.data.get("bots")
    bots = Reader(bots_loc, "bots", {"federate"}, problems) if bots_loc else None
    sub_loc = root.data.get("substance")
    substance = Reader(sub_loc, "substance", {"min_words"}, problems) if sub_loc else None
    cancellations = root.get("cancellations", str, base.cancellations if base else "mark")
    if cancellations not in ("mark", "delete"):
        problems.add(root.line_of("cancellations"), "cancellations must be 'mark' or 'delete'")
    orphans = root.get("orphan_replies", str, base.orphan_replies if base else "post")
    if orphans not in ("post", "withhold"):
        problems.add(root.line_of("orphan_replies"), "orphan_replies must be 'post' or 'withhold'")
    attribution = root.get("attribution", str, base.attribution if base else "officer")
    if attribution not in ("officer", "agency_only"):
        problems.add(root.line_of("attribution"), "attribution must be 'officer' or 'agency_only'")
    photo_text = root.get("photo_text", str, base.photo_text if base else "checked")
    if photo_text not in ("checked", "not_checked"):
        problems.add(root.line_of("photo_text"), "photo_text must be 'checked' or 'not_checked'")
    unreadable = root.get(
        "photo_text_unreadable", str, base.photo_text_unreadable if base else "blackout"
    )
    if unreadable not in ("blackout", "withhold"):
        problems.add(
            root.line_of("photo_text_unreadable"),
            "photo_text_unreadable must be 'blackout' or 'withhold'",
        )
    on_source = root.get("on_source_identity", str, base.on_source_identity if base else "strip")
    if on_source not in ("strip", "block"):
        problems.add(
            root.line_of("on_source_identity"), "on_source_identity must be 'strip' or 'block'"
        )
    languages = [(lang, line) for lang, line in root.strings("languages")]
    for lang, line in languages:
        if not _LANGUAGE.match(lang):
            problems.add(line, f"language '{lang}' must be a two-letter ISO 639-1 code")
    sets, detectors = read_rules(root, base, problems)
    partners: dict[str, Partner] = {}
    partners_loc = root.data.get("partners")
    for loc in partners_loc.value if partners_loc and isinstance(partners_loc.value, list) else []:
        partner = read_partner(loc, topics, ceiling, today, problems)
        if partner is not None:
            if partner.ori in partners:
                problems.add(loc.line, f"duplicate partner '{partner.ori}'")
            partners[partner.ori] = partner
    if problems.items:
        raise PolicyLoadError(source, problems.items)
    return Policy(
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        version=str(root.get("version", (str, int, float), "") or ""),
        ori=AgencyId(ori or ""),
        name=agency.get("name", str, "") or "",
        state=agency.get("state", str, "") or "",
        topics=frozenset(topics),
        partners=partners,
        ceiling=ceiling,
        tearline=(tearline or ("release_after_last" if base is None or base.tearline else "off"))
        == "release_after_last",
        link_hosts=tuple(h for h, _ in hosts) if links else (base.link_hosts if base else ()),
        file_types=frozenset(t for t, _ in files.strings("allow_types"))
        if files
        else (base.file_types if base else frozenset(_DEFAULT_FILE_TYPES)),
        bots=frozenset(b for b, _ in bots.strings("federate")) if bots else frozenset(),
        min_words=(
            substance.get("min_words", int, 3) if substance else (base.min_words if base else 3)
        ),
        cancellations=cancellations,
        pattern_sets=sets,
        detectors=tuple(detectors),
        rules=compile_rules(sets),
        on_source_identity=on_source,
        orphan_replies=orphans or "post",
        attribution=attribution or "officer",
        photo_text=photo_text or "checked",
        photo_text_unreadable=unreadable or "blackout",
        languages=frozenset(lang for lang, _ in languages)
        if languages
        else (base.languages if base else frozenset({"en"})),
    )
