"""`relay envelope sign|verify`: signed envelopes on the command line (a contract).

* ``relay envelope verify --jwks FILE [--at UNIX_TIME]``: one envelope (JWS General JSON) on
  stdin, checked with :func:`relay.core.jws_verify.verify_jws_envelope` (signatures, JCS,
  Disclosures, hop records, ``exp``/``iat``; no partner policy, no payload schema). Prints one
  JSON line: the verified claims with the presented Disclosures resolved, exit 0; or
  ``{"error": "<reason>"}``, exit 1, for anything wrong with the envelope or stdin. A missing
  or unusable ``--jwks`` file is configuration: one stderr line, exit 2.
* ``relay envelope sign --key FILE --topic TOPIC [--peer ORI] [--onward] ...``: a decision as
  ``relay policy apply`` prints it on stdin; prints the signed relay envelope as one JSON line,
  exit 0. A block decision (or ``"message": null``) signs nothing: one stderr line, exit 1.
  Bad arguments, key file or stdin: one stderr line, exit 2.

Errors never carry message text: reason codes, field names and file names only.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from relay.core.canonical import parse_json
from relay.core.defaults import ENVELOPE_TTL
from relay.core.envelope import Author, EnvelopeId, EnvelopeKind, build_envelope, sign_origin
from relay.core.jws_verify import parse_jwks, verify_jws_envelope
from relay.core.keys import make_kid, parse_ori, public_key_from_jwk
from relay.core.model import AgencyId
from relay.core.reasons import Reason
from relay.core.signing import public_key_bytes
from relay.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_OK, InputError, VerificationError

__all__ = ["add_parser"]

_KINDS: Final = {
    "post": EnvelopeKind.POST,
    "edit": EnvelopeKind.EDIT,
    "delete": EnvelopeKind.DELETE,
}
_DEFAULT_TTL: Final = int(
    ENVELOPE_TTL.total_seconds()
)  # as a running relay (defaults.ENVELOPE_TTL)
_MAX_STDIN: Final = 16 << 20


def add_parser(subparsers: Any) -> None:
    envelope = subparsers.add_parser("envelope", help="sign and verify relay envelopes")
    sub = envelope.add_subparsers(dest="envelope_command", required=True)

    verify = sub.add_parser("verify", help="verify one envelope on stdin against a JWKS")
    verify.add_argument("--jwks", required=True, metavar="FILE", help="JWKS or one public JWK")
    verify.add_argument(
        "--at", type=_unix_time, default=None, metavar="UNIX_TIME", help="verify as of (now)"
    )
    verify.set_defaults(func=_verify)

    sign = sub.add_parser("sign", help="sign a `relay policy apply` decision from stdin")
    sign.add_argument("--key", required=True, metavar="FILE", help="PKCS#8 PEM from relay keygen")
    sign.add_argument("--topic", required=True, metavar="TOPIC")
    sign.add_argument("--peer", metavar="ORI", default=None, help="partner addressed (aud)")
    sign.add_argument(
        "--onward", action="store_true", help="the peer may pass it on (needs --peer)"
    )
    sign.add_argument("--marking", default="LES", help="handling marking (default LES)")
    sign.add_argument("--author", default=None, metavar="NAME", help="default: the issuer ORI")
    sign.add_argument("--id", default=None, metavar="JTI", help="envelope id (default: uuid4)")
    sign.add_argument("--thread", default=None, metavar="ID", help="thread root envelope id")
    sign.add_argument("--target", default=None, metavar="ID", help="envelope an edit/delete")
    sign.add_argument(
        "--ttl", type=int, default=_DEFAULT_TTL, metavar="SECONDS", help="default 30 days"
    )
    sign.add_argument(
        "--at", type=_unix_time, default=None, metavar="UNIX_TIME", help="issued at (now)"
    )
    sign.set_defaults(func=_sign)


def _unix_time(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        raise argparse.ArgumentTypeError(f"not a UNIX time: {text[:40]!r}") from None


# --------------------------------------------------------------------------------- verify


def _verify(args: argparse.Namespace) -> int:
    try:
        keys = parse_jwks(parse_json(Path(args.jwks).read_bytes()))
    except OSError as exc:
        return _fail("envelope verify", f"--jwks {args.jwks}: {exc.strerror or 'unreadable'}")
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or an unusable key
        reason = str(exc) if not isinstance(exc, UnicodeDecodeError | RecursionError) else ""
        return _fail("envelope verify", f"--jwks {args.jwks}: {reason or 'not a JWKS'}")
    now = args.at or datetime.now(UTC)
    try:
        data = parse_json(sys.stdin.buffer.read(_MAX_STDIN + 1))
        verified = verify_jws_envelope(data, keys, now=now)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, duplicate names, too deep
        return _refused(VerificationError("stdin is not a JSON document", code=Reason.MALFORMED))
    except VerificationError as exc:
        return _refused(exc)
    _print_json(dict(verified.claims))
    return EXIT_OK


def _refused(exc: VerificationError) -> int:
    _print_json({"error": exc.code})
    print(f"relay envelope verify: {exc.code}: {exc.message}", file=sys.stderr)
    return EXIT_FAILURE


# ----------------------------------------------------------------------------------- sign


def _sign(args: argparse.Namespace) -> int:
    try:
        key, kid = _load_key(Path(args.key))
        issuer = AgencyId(kid.split("#", 1)[0])
        peer = parse_ori(args.peer) if args.peer is not None else None
    except InputError as exc:
        return _fail("envelope sign", exc.message)
    except ValueError:
        return _fail("envelope sign", "--peer is not an ORI")
    if args.onward and peer is None:
        return _fail("envelope sign", "--onward needs --peer (only an addressed peer can relay)")
    if args.ttl <= 0:
        return _fail("envelope sign", "--ttl must be positive")
    try:
        message = _read_decision()
    except InputError as exc:
        if exc.code == "blocked":
            print(f"relay envelope sign: blocked: {exc.message}", file=sys.stderr)
            return EXIT_FAILURE
        return _fail("envelope sign", f"stdin: {exc.message}")
    kind = _KINDS.get(str(message.get("kind")))
    text = message.get("text", "")
    if kind is None or not isinstance(text, str):
        return _fail("envelope sign", "stdin: message.kind/text is not a post, edit or delete")
    lines = text.split("\n") if text else []
    now = args.at or datetime.now(UTC)
    try:
        unsigned = build_envelope(
            issuer=issuer,
            audience=peer,
            onward=args.onward,
            envelope_id=EnvelopeId(args.id or str(uuid.uuid4())),
            issued_at=now,
            expires_at=now + timedelta(seconds=args.ttl),
            kind=kind,
            topic=args.topic,
            marking=args.marking,
            author=Author(name=args.author or issuer, agency=issuer),
            lines=lines,
            salts=[secrets.token_urlsafe(16) for _ in lines],
            thread=EnvelopeId(args.thread) if args.thread else None,
            target=EnvelopeId(args.target) if args.target else None,
        )
        signed = sign_origin(unsigned, key=key, kid=kid)
    except (ValueError, OverflowError) as exc:  # messages name fields, never text
        return _fail("envelope sign", f"cannot build the envelope: {exc}")
    files = message.get("files")
    if isinstance(files, list) and files:
        print(
            f"relay envelope sign: note: {len(files)} file(s) not signed (no file bytes on stdin)",
            file=sys.stderr,
        )
    _print_json(signed.to_wire())
    return EXIT_OK


def _load_key(path: Path) -> tuple[Ed25519PrivateKey, str]:
    """The private key and its kid: the sibling ``.jwk.json``'s kid, else from the file name."""
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise InputError(f"--key {path}: {exc.strerror or 'unreadable'}") from None
    except (ValueError, TypeError):  # not PEM, encrypted, unsupported
        raise InputError(f"--key {path}: not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"--key {path}: not an Ed25519 key")
    name = path.name
    stem = name.removesuffix(".key.pem")
    jwk_path = path.with_name(f"{stem}.jwk.json")
    if name != stem and jwk_path.is_file():
        try:
            jwk = json.loads(jwk_path.read_text("utf-8"))
            agency, sep, suffix = str(jwk["kid"]).partition("#")
            kid = make_kid(agency, suffix) if sep and isinstance(jwk["kid"], str) else None
            matches = public_key_from_jwk(jwk) == public_key_bytes(key)
        except (OSError, ValueError, KeyError, TypeError, VerificationError):
            kid = None
        if kid is None:
            raise InputError(f"{jwk_path}: not a public JWK with a kid <ORI>#<suffix>")
        if not matches:
            raise InputError(f"{jwk_path}: its public key is not the --key's")
        return key, kid
    agency, sep, suffix = stem.partition("-")
    try:
        if name == stem or not sep:
            raise ValueError
        return key, make_kid(agency, suffix)
    except ValueError:
        raise InputError(
            f"--key {path}: cannot derive the kid: expected <ORI>-<suffix>.key.pem "
            "(as relay keygen writes) or a sibling .jwk.json"
        ) from None


def _read_decision() -> dict[str, Any]:
    """The decision's ``message``; InputError(code="blocked") for a block or a null message."""
    try:
        doc = json.loads(sys.stdin.buffer.read(_MAX_STDIN + 1))
    except (ValueError, RecursionError):
        raise InputError("not a JSON document") from None
    if not isinstance(doc, dict) or "action" not in doc or "message" not in doc:
        raise InputError("not a decision {action, message, reasons}")
    if doc["action"] == "block" or doc["message"] is None:
        raise InputError(
            f"decision is {str(doc['action'])[:20]!r} with no message: nothing signed",
            code="blocked",
        )
    if not isinstance(doc["message"], dict):
        raise InputError("decision message is not an object")
    message: dict[str, Any] = doc["message"]
    return message


# --------------------------------------------------------------------------------- shared


def _print_json(value: object) -> None:
    # ASCII JSON on one line: valid UTF-8 whatever the claims hold.
    sys.stdout.write(json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n")


def _fail(command: str, message: str) -> int:
    print(f"relay {command}: {message}", file=sys.stderr)
    return EXIT_INPUT
