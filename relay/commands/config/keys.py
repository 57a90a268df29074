"""Every key ``relay config check`` looks at: this relay's signing key, the keys it rotated out
(``audit.previous_keys``), the partners' pinned keys and the origins' (``origins:``, agencies
heard from only through a hop), with their validity windows."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from relay.commands.config.report import Lines, Report, mode_warning
from relay.config import ConfigLoadError, PinnedKeyConfig, RelayConfig
from relay.config_placeholders import PLACEHOLDERS

__all__ = ["check_partners", "check_previous_keys", "check_signing_key"]

KEY_WARN_DAYS: Final = 14


def _own_public_key(path: Path) -> str | None:
    """The public half (base64url) of the PEM signing key at ``path``; None when it is not an
    Ed25519 key. Raises ``OSError``, ``ValueError`` or ``TypeError`` when it does not load."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from relay.core.signing import b64url_encode, public_key_bytes

    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        return None
    return b64url_encode(public_key_bytes(key))


def _valid_public_key(value: str, what: str, src: str, at: int, report: Report) -> bool:
    """Whether ``value`` decodes to a valid Ed25519 public key; if not, an error naming
    ``what`` (none for a placeholder: that is reported already)."""
    from relay.core.signing import b64url_decode, check_public_key

    try:
        check_public_key(b64url_decode(value))
    except Exception as exc:  # noqa: BLE001 - ValueError or VerificationError
        if len(set(value)) > 1:  # a placeholder is reported already
            report.error(src, at, f"{what}: not a valid Ed25519 public key ({type(exc).__name__})")
        return False
    return True


def check_signing_key(config: RelayConfig, lines: Lines, report: Report) -> None:
    src, at, path = config.source, lines.at("signing_key"), config.signing_key
    if not path.is_file():
        report.error(src, at, f"signing_key {path}: file not found")
        return
    try:
        x = _own_public_key(path)
    except (OSError, ValueError, TypeError) as exc:
        report.error(src, at, f"signing_key {path}: cannot load ({type(exc).__name__})")
        return
    if x is None:
        report.error(src, at, f"signing_key {path} is not an Ed25519 key (use relay keygen)")
        return
    if x in PLACEHOLDERS or len(set(x)) == 1:
        report.error(src, at, f"signing_key {path} is a placeholder key")
    pinned_keys = [("partners", o, k) for o, link in config.partners.items() for k in link.keys]
    pinned_keys += [("origins", o, k) for o, origin in config.origins.items() for k in origin.keys]
    for section, ori, pinned in pinned_keys:
        if pinned.public_key == x:
            report.error(
                src,
                lines.key_at(ori, pinned.kid, "public_key", section=section),
                f"{section[:-1]} key {pinned.kid} is this relay's own signing key",
            )
    mode_warning(path, "signing_key", src, at, report)


def check_previous_keys(config: RelayConfig, lines: Lines, report: Report) -> None:
    """``audit.previous_keys``: valid Ed25519 public keys, none of them the current key."""
    src = config.source
    current: str | None = None
    with suppress(OSError, ValueError, TypeError):
        current = _own_public_key(config.signing_key)
    for index, pinned in enumerate(config.audit.previous_keys):
        at = lines.at("audit", "previous_keys", index, "public_key")
        what = f"audit.previous_keys: {pinned.kid}"
        if not _valid_public_key(pinned.public_key, what, src, at, report):
            continue
        if pinned.public_key == current:
            report.warning(
                src,
                at,
                f"audit.previous_keys: {pinned.kid} is the current signing key "
                "(list only keys rotated out)",
            )


def _usable_keys(
    keys: tuple[PinnedKeyConfig, ...],
    at: Callable[..., int],
    what: str,
    src: str,
    report: Report,
    now: dt.datetime,
) -> tuple[int, bool]:
    """(keys usable now, whether any key is not a valid Ed25519 key), reporting each key's
    problems; ``at(kid, field)`` is the key field's line, ``what`` names the keys' owner."""
    usable, bad = 0, False
    for pinned in keys:
        if not _valid_public_key(
            pinned.public_key,
            f"{what} key {pinned.kid}",
            src,
            at(pinned.kid, "public_key"),
            report,
        ):
            bad = True
            continue
        end_at = at(pinned.kid, "not_after")
        if pinned.revoked:
            continue
        if pinned.not_after <= now:
            report.error(src, end_at, f"{what} key {pinned.kid} expired (not_after passed)")
            continue
        left = (pinned.not_after - now).days
        if left < KEY_WARN_DAYS:
            report.warning(src, end_at, f"{what} key {pinned.kid} expires in {left} days")
        if pinned.not_before > now:
            report.warning(
                src, at(pinned.kid, "not_before"), f"{what} key {pinned.kid} is not valid yet"
            )
        else:
            usable += 1
    return usable, bad


def check_partners(config: RelayConfig, lines: Lines, report: Report, now: dt.datetime) -> None:
    src = config.source
    if not config.partners:
        report.warning(src, lines.at("partners"), "no partners: this relay shares with nobody")
    bad_keys = False
    for ori, link in sorted(config.partners.items()):
        if not link.url.startswith("https://"):  # pragma: no cover - the loader refuses it
            report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url must be https")
        try:
            if urlsplit(link.url).hostname is None:
                report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url has no host")
        except ValueError:
            report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url does not parse")
        usable, bad = _usable_keys(
            link.keys, functools.partial(lines.key_at, ori), "partner", src, report, now
        )
        bad_keys = bad_keys or bad
        if not usable:
            report.error(
                src,
                lines.partner_at(ori, "keys"),
                f"partner {ori} has no unrevoked signing key valid now",
            )
    for ori, origin in sorted(config.origins.items()):
        usable, bad = _usable_keys(
            origin.keys,
            functools.partial(lines.key_at, ori, section="origins"),
            "origin",
            src,
            report,
            now,
        )
        bad_keys = bad_keys or bad
        if not usable:
            report.error(
                src,
                lines.partner_at(ori, "keys", section="origins"),
                f"origin {ori} has no unrevoked signing key valid now",
            )
    if bad_keys:
        return
    try:
        from relay.assemble import keyring_from_config

        keyring_from_config(config)
    except ConfigLoadError as exc:
        for _, message in exc.problems:
            report.error(src, lines.at("partners"), message)
    except ValueError as exc:
        report.error(src, lines.at("partners"), f"pinned keys refused: {exc}")
