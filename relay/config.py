"""``relay.yaml`` -> a frozen :class:`RelayConfig`, with ``file:line`` problems.

The sharing policy (who may receive what) lives in the policy file; this file holds the
technical side: the agency's signing key, listeners, TLS material, the store, per partner
the relay URL, the pinned TLS client certificate fingerprints and the pinned signing keys, and
the pinned signing keys of agencies heard from only through a relaying partner (``origins``).
Relative paths are resolved against the directory of ``relay.yaml``.

The schema (dataclasses) is :mod:`relay.config_schema`, the section readers
:mod:`relay.config_sections`; every name is importable from here as before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from relay.config_federation import federation_section
from relay.config_ocr import ocr_section
from relay.config_origins import origins_section
from relay.config_placeholders import placeholder_problems
from relay.config_schema import (
    AdminConfig,
    AuditConfig,
    DeliveryConfig,
    FederationConfig,
    LoggingConfig,
    OriginKeys,
    PartnerLink,
    PinnedKeyConfig,
    RelayConfig,
    Secret,
    SlackConfig,
    Supervisors,
)
from relay.config_sections import (
    admin_section,
    audit_section,
    delivery_section,
    logging_section,
    mapping,
    partner_section,
    value,
)
from relay.config_slack import slack_section
from relay.core import defaults
from relay.core.ids import is_kid, is_ori
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml
from relay.errors import ConfigLoadError

__all__ = [
    "AdminConfig",
    "AuditConfig",
    "ConfigLoadError",
    "DeliveryConfig",
    "FederationConfig",
    "LoggingConfig",
    "OriginKeys",
    "PartnerLink",
    "PinnedKeyConfig",
    "RelayConfig",
    "Secret",
    "SlackConfig",
    "Supervisors",
    "load_config",
    "read_config",
]

_TOP: Final = {
    "admin",
    "audit",
    "logging",
    "delivery",
    "agency",
    "policy",
    "policy_candidate",
    "policy_candidate_sample_minutes",
    "signing_key",
    "signing_kid",
    "store",
    "federation",
    "partners",
    "origins",
    "slack",
    "ocr",
}


def load_config(text: str, *, source: str, base_dir: Path) -> RelayConfig:
    """Parse ``relay.yaml`` text; raises :class:`ConfigLoadError` listing every problem."""
    problems = Problems()
    doc = parse_yaml(text, problems)
    if doc is None:
        raise ConfigLoadError(source, problems.items)
    root = mapping(doc, "relay config", _TOP, problems, doc.line)
    agency = value(root, "agency", str, problems, doc.line, "")
    if agency and not is_ori(agency):
        problems.add(root["agency"].line, "agency must be an ORI (^[A-Z]{2}[A-Z0-9]{7}$)")
    kid = value(root, "signing_kid", str, problems, doc.line, "")
    if kid and (not is_kid(kid) or not kid.startswith(f"{agency}#")):
        problems.add(root["signing_kid"].line, "signing_kid must be ORI#suffix of this agency")
    partners: dict[str, PartnerLink] = {}
    pinned: dict[str, str] = {}
    plist = root.get("partners")
    for loc in plist.value if plist and isinstance(plist.value, list) else []:
        link = partner_section(loc, problems)
        if link is not None:
            if link.ori in partners:
                problems.add(loc.line, f"duplicate partner '{link.ori}'")
            for fp in link.tls_sha256:
                if pinned.setdefault(fp, link.ori) != link.ori:
                    problems.add(
                        loc.line,
                        f"certificate {fp[:16]}... is pinned to both {pinned[fp]} and {link.ori}",
                    )
            partners[link.ori] = link
    candidate: Path | None = None
    if root.get("policy_candidate") is not None:
        candidate = base_dir / value(root, "policy_candidate", str, problems, doc.line, "")
    sample = float(
        value(
            root,
            "policy_candidate_sample_minutes",
            (int, float),
            problems,
            doc.line,
            defaults.SHADOW_SAMPLE_MINUTES,
        )
    )
    if sample <= 0:
        problems.add(
            root["policy_candidate_sample_minutes"].line,
            "policy_candidate_sample_minutes must be > 0",
        )
    slack_loc = root.get("slack")
    slack = slack_section(slack_loc, base_dir, problems) if slack_loc is not None else None
    config = RelayConfig(
        slack=slack,
        source=source,
        agency=agency,
        policy=base_dir / value(root, "policy", str, problems, doc.line, ""),
        policy_candidate=candidate,
        policy_candidate_sample_minutes=sample,
        signing_key=base_dir / value(root, "signing_key", str, problems, doc.line, ""),
        signing_kid=kid,
        store=value(root, "store", str, problems, doc.line, defaults.STORE_URL),
        federation=federation_section(root.get("federation"), base_dir, problems, doc.line),
        partners=partners,
        origins=origins_section(root.get("origins"), problems, agency=agency, partners=partners),
        delivery=delivery_section(root.get("delivery"), problems, doc.line),
        admin=admin_section(root.get("admin"), problems, doc.line),
        audit=audit_section(root.get("audit"), problems, doc.line, agency, kid),
        logging=logging_section(root.get("logging"), problems, doc.line),
        ocr=ocr_section(root.get("ocr"), problems),
    )
    _check_envelope_bounds(config, root, problems, doc.line)
    if problems.items:
        raise ConfigLoadError(source, problems.items)
    return config


def _check_envelope_bounds(
    config: RelayConfig, root: dict[str, Loc], problems: Problems, line: int
) -> None:
    """The envelope bounds must not contradict the rest: a partner's outbox keeps an envelope
    up to ``delivery.max_age_hours`` (as ours does), the clocks differ by up to the skew, and
    what we sign (``envelope_ttl_days``) must be what a relay like us accepts."""
    fed, delivery = config.federation, config.delivery
    fed_loc = root.get("federation")
    keys = fed_loc.value if fed_loc is not None and isinstance(fed_loc.value, dict) else {}

    def where(key: str) -> int:
        return keys[key].line if key in keys else (fed_loc.line if fed_loc else line)

    age, lifetime = fed.envelope_max_age, fed.envelope_max_lifetime
    if age <= dt.timedelta(0):
        problems.add(where("envelope_max_age_hours"), "envelope_max_age_hours must be > 0")
    elif age < delivery.max_age + fed.clock_skew:
        problems.add(
            where("envelope_max_age_hours"),
            f"envelope_max_age_hours ({age.total_seconds() / 3600:g}) is shorter than "
            f"delivery.max_age_hours + clock_skew_seconds "
            f"({(delivery.max_age + fed.clock_skew).total_seconds() / 3600:g} hours): "
            "envelopes a partner may still send would be refused as too_old",
        )
    if lifetime <= dt.timedelta(0):
        problems.add(where("envelope_max_lifetime_days"), "envelope_max_lifetime_days must be > 0")
    elif lifetime < fed.envelope_ttl:
        problems.add(
            where("envelope_max_lifetime_days"),
            f"envelope_max_lifetime_days ({lifetime.days}) is shorter than envelope_ttl_days "
            f"({fed.envelope_ttl.days}): what this relay signs would be lifetime_too_long",
        )


def read_config(path: str | Path, *, refuse_examples: bool = False) -> RelayConfig:
    """The configuration at ``path``. ``refuse_examples`` (``relay run``): values left over
    from relay.example.yaml are problems too, as ``relay config check`` reports them."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigLoadError(str(p), [(1, f"cannot read file ({type(exc).__name__})")]) from None
    examples = placeholder_problems(text) if refuse_examples else []
    try:
        config = load_config(text, source=str(p), base_dir=p.parent)
    except ConfigLoadError as exc:  # every problem at once, the example values among them
        raise ConfigLoadError(str(p), [*exc.problems, *examples]) from None
    if examples:
        raise ConfigLoadError(str(p), examples)
    return config
